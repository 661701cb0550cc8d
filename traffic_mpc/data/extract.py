"""``data extract``: replay logs and write state-action-cost episodes as a sharded dataset.

Episodes. Every logged vehicle whose centre stays in the road's valid region for at least
``min_steps`` consecutive steps (and is still logged one step later, so its action there
is defined) becomes one episode: its longest such run of frames. The ego is the vehicle
itself, taken over in a :class:`~traffic_mpc.sim.world.ReplayWorld` at its first frame
and driven by its own recovered actions, so the stored states obey the kinematic model
exactly (``step(state[t], action[t]) == state[t + 1]``) and stay within the replay's
tolerance of the log. Each step stores the ego view
(:class:`~traffic_mpc.sim.render.EgoViewRenderer`), the ego state, the recovered action,
the world's exact geometric costs and the log frame, with the time alignment of
:data:`traffic_mpc.data.manifest.TIME_ALIGNMENT`.

Work. The logs are read once (by the main process) and staged as memory-mapped log
folders in ``DATASET/.staging``; each recording's episodes are sorted by length (so the
episodes of a batch end together) and cut into shards of ``episodes_per_shard``; a shard is
one batch of egos replayed together (the batch shrinks as its episodes end, see
:func:`replay_episodes`) and written by one worker process (``multiprocessing`` with
``spawn``, one torch thread each, one replay world per recording; the longest shards are
handed out first). The ego-footprint channel of the view is the same at every step of an
episode (the ego is centred and aligned), so it is stored once per episode, not per row:
a quarter less view data at the default four channels. Shards are written
atomically (temporary folder, then rename) and carry a key of everything they depend on
(format version, source checksum, episodes, view spec, extraction settings): a rerun keeps
every finished shard whose key matches and redoes the others, so a killed extraction
continues where it stopped. The manifest is written last, after the splits and the
normalisation statistics (training split only); then the staging folder is removed.
Same inputs and settings give byte-identical datasets, whatever the number of workers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import traffic_mpc
from traffic_mpc import atomic
from traffic_mpc.data import manifest as fmt
from traffic_mpc.data import splits as splits_module
from traffic_mpc.data import statistics
from traffic_mpc.data.shards import (
    EPISODE_COLUMNS,
    LENGTH,
    Layout,
    Shard,
    read_shard_meta,
    write_shard,
)
from traffic_mpc.data.sources import log_checksum, recording_name
from traffic_mpc.errors import InputError
from traffic_mpc.logs.traffic_log import TrafficLog
from traffic_mpc.road import Road

#: Episodes shorter than this many steps are not extracted: one default training window
#: (20 context + 30 future steps, 5 s).
DEFAULT_MIN_STEPS = 50
#: Egos replayed together (and written to one shard).
DEFAULT_EPISODES_PER_SHARD = 256
#: The world's batch is compacted when fewer than this fraction of its egos are running.
COMPACT_BELOW = 0.75
STAGING_DIR = ".staging"
#: The renderer channel that is constant over an episode and stored once per episode.
EGO_CHANNEL = "ego"


@dataclass(frozen=True)
class EpisodePlan:
    """One episode to extract: the vehicle, its first frame and its number of steps."""

    recording: int
    vehicle_id: int
    start_frame: int
    steps: int


@dataclass(frozen=True)
class ShardTask:
    """One shard: the episodes of one recording replayed together, with their global ids."""

    index: int
    recording: int
    first_episode: int
    episodes: tuple[EpisodePlan, ...]

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}"

    @property
    def rows(self) -> int:
        return sum(episode.steps for episode in self.episodes)


# ----------------------------------------------------------------------------- planning
def plan_episodes(log: TrafficLog, road: Road, recording: int, min_steps: int
                  ) -> list[EpisodePlan]:
    """The episodes of one recording (see the module docstring), by vehicle id."""
    plans = []
    for vehicle_id, rows in log.vehicle_slices().items():
        frames = log.frame[rows]
        # Usable steps: centre in the valid region and the vehicle logged at the next frame
        # (the action there needs it).
        next_logged = np.append(np.diff(frames) == 1, False)
        usable = road.in_valid_region(log.x[rows]) & next_logged
        # Runs of usable steps on consecutive frames: boundaries where either breaks.
        edges = np.diff(np.concatenate([[0], usable.astype(np.int8), [0]]))
        run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        if not len(run_starts):
            continue
        longest = int(np.argmax(run_ends - run_starts))
        length = int(run_ends[longest] - run_starts[longest])
        if length >= min_steps:
            plans.append(EpisodePlan(recording, int(vehicle_id),
                                     int(frames[run_starts[longest]]), length))
    return plans


def plan_shards(plans_per_recording: list[list[EpisodePlan]], episodes_per_shard: int
                ) -> list[ShardTask]:
    """Shards in episode-id order: recording by recording, episodes sorted by length (then
    vehicle id) so that the egos of a shard finish close together."""
    tasks, first = [], 0
    for recording, plans in enumerate(plans_per_recording):
        ordered = sorted(plans, key=lambda p: (p.steps, p.vehicle_id))
        for start in range(0, len(ordered), episodes_per_shard):
            chunk = tuple(ordered[start:start + episodes_per_shard])
            tasks.append(ShardTask(len(tasks), recording, first, chunk))
            first += len(chunk)
    return tasks


# ------------------------------------------------------------------------- extraction
def extract_dataset(
    logs_path: str | Path,
    out: str | Path,
    *,
    workers: int = 1,
    view_spec=None,
    min_steps: int = DEFAULT_MIN_STEPS,
    episodes_per_shard: int = DEFAULT_EPISODES_PER_SHARD,
    seed: int = 0,
    progress: bool = True,
    site: str | None = None,
    max_episodes: int | None = None,
) -> Path:
    """Extract the episodes of the logs at ``logs_path`` into the dataset folder ``out``.

    ``logs_path``: anything :func:`traffic_mpc.logs.sources.open_logs` reads (a log folder,
    an NGSIM file, a folder of them); all recordings must share one road. ``workers``:
    processes replaying shards in parallel. ``view_spec``: a
    :class:`~traffic_mpc.sim.render.ViewSpec` (default: the renderer's default).
    ``seed``: the splits' seed. ``max_episodes``: keep only the first episodes (by vehicle
    id) of each recording, for quick looks and tests. Rerunning on an unfinished ``out``
    resumes it; on a finished one, it rewrites what changed (nothing, for the same inputs).
    """
    from traffic_mpc.logs.sources import find_logs, open_log
    from traffic_mpc.sim.render import ViewSpec

    out = Path(out)
    view_spec = view_spec or ViewSpec()
    if workers < 1:
        raise InputError("--workers", f"must be at least 1, got {workers}")
    found = find_logs(logs_path)
    pairs = [open_log(path, site) for path in found]
    road = pairs[0][1]
    for log, other in pairs[1:]:
        if other.to_toml() != road.to_toml():
            raise InputError(log.source or logs_path,
                             f"road {other.name} differs from {road.name}: a dataset holds "
                             "the recordings of one road")
    recordings = _recording_names([recording_name(path) for path in found])
    paths = [str(path.resolve()) for path in found]
    checksums = [log.source_checksum or log_checksum(log) for log, _ in pairs]
    plans = [plan_episodes(log, road, index, min_steps)[:max_episodes]
             for index, (log, _) in enumerate(pairs)]
    tasks = plan_shards(plans, episodes_per_shard)
    if not tasks:
        raise InputError(logs_path, f"no vehicle stays {min_steps} steps in the valid region "
                         f"x in {road.valid_x} m: nothing to extract")
    layout = layout_for(view_spec)
    settings = {"min_steps": min_steps, "episodes_per_shard": episodes_per_shard,
                "max_episodes": max_episodes}
    keys = [_task_key(task, checksums[task.recording], view_spec, settings) for task in tasks]

    if out.is_dir() and any(out.iterdir()) and not (
        (out / fmt.SHARDS_DIR).is_dir() or (out / fmt.MANIFEST_FILE).is_file()
    ):
        raise InputError(out, "exists and is not a dataset: extract into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    shards_dir = out / fmt.SHARDS_DIR
    shards_dir.mkdir(exist_ok=True)
    _remove_stale(out, shards_dir, {task.name for task in tasks})
    todo = [
        (task, key) for task, key in zip(tasks, keys)
        if (read_shard_meta(shards_dir / task.name) or {}).get("key") != key
    ]
    if todo:
        # The dataset is unfinished until its manifest is written again.
        (out / fmt.MANIFEST_FILE).unlink(missing_ok=True)
        staged = _stage_logs(out / STAGING_DIR, pairs, checksums, road,
                             {task.recording for task, _ in todo})
        _run_tasks(todo, staged, shards_dir, view_spec, layout, workers, progress,
                   total_rows=sum(task.rows for task in tasks),
                   done_rows=sum(task.rows for task in tasks) - sum(t.rows for t, _ in todo))
    manifest = build_manifest(out, source_entries(pairs, recordings, paths, checksums),
                              pairs[0][0].dt, road, tasks, layout, view_spec, settings, seed)
    atomic.write_text(out / fmt.ROAD_FILE, road.to_toml())
    atomic.write_text(out / fmt.MANIFEST_FILE, json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(out / STAGING_DIR, ignore_errors=True)
    return out


def _recording_names(found: list[str]) -> list[str]:
    """A distinct name per recording, from its file or folder name (``found``, in the order
    of ``find_logs``): a name seen before gets the recording's number appended."""
    names: list[str] = []
    for index, name in enumerate(found):
        while name in names:
            name += f"-{index + 1}"
        names.append(name)
    return names


def layout_for(view_spec) -> Layout:
    """Array layout for views of ``view_spec``: the ego channel is stored per episode."""
    channels = list(view_spec.channels)
    per_episode = EGO_CHANNEL in channels
    stored = [name for name in channels if name != EGO_CHANNEL]
    return Layout(channels=len(stored), height=view_spec.height, width=view_spec.width,
                  state_size=len(fmt.STATE_FIELDS), footprint_per_episode=per_episode)


def _task_key(task: ShardTask, checksum: str, view_spec, settings: dict) -> str:
    """Hash of everything a shard's bytes depend on, ``checksum`` that of its recording's
    source (bump :data:`FORMAT_VERSION` or the package version when the replay or the
    renderer changes what they produce)."""
    description = {
        "format_version": fmt.FORMAT_VERSION,
        "traffic_mpc": traffic_mpc.__version__,
        "source": checksum,
        "first_episode": task.first_episode,
        "episodes": [[e.vehicle_id, e.start_frame, e.steps] for e in task.episodes],
        "view_spec": view_spec.as_dict(),
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def _remove_stale(out: Path, shards_dir: Path, expected: set[str]) -> None:
    """Remove temporaries of a killed run and shards that the current plan does not have."""
    for child in shards_dir.iterdir():
        if child.name.startswith(".") or child.name not in expected:
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for child in out.iterdir():
        if child.name.startswith(".") and child.name.endswith(".tmp"):
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def _stage_logs(staging: Path, pairs, checksums: list[str], road: Road, recordings: set[int]
                ) -> dict[int, str]:
    """Write the needed recordings as log folders the workers memory-map. A folder is named
    by the recording's checksum (``checksums``, one per recording), so a run resumed with
    other logs never reuses a stale one."""
    staged = {}
    for index in sorted(recordings):
        log = pairs[index][0]
        folder = staging / f"recording-{index:03d}-{checksums[index][:16]}"
        if not (folder / "log.json").is_file():
            log.save(folder, road=road)
        staged[index] = str(folder)
    return staged


# ---------------------------------------------------------------------------- workers
_WORKER: dict = {}


def _init_worker(staged: dict[int, str], view_spec, layout_json: dict, counter) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER.clear()
    _WORKER.update(staged=staged, view_spec=view_spec, layout=Layout(**layout_json),
                   counter=counter, recordings={})


def _run_tasks(todo, staged, shards_dir: Path, view_spec, layout: Layout, workers: int,
               progress: bool, total_rows: int, done_rows: int) -> None:
    from tqdm import tqdm

    bar = tqdm(total=total_rows, initial=done_rows, unit="step", desc="extract",
               disable=not progress, smoothing=0.1)
    jobs = [(task, key, str(shards_dir)) for task, key in todo]
    try:
        if workers == 1 or len(todo) == 1:
            import torch

            threads = torch.get_num_threads()
            _init_worker(staged, view_spec, layout.as_json(), None)
            torch.set_num_threads(workers)  # one shard to do: threads instead of processes
            try:
                for job in jobs:
                    _extract_shard(job, on_rows=bar.update)
            finally:
                torch.set_num_threads(threads)
                _WORKER.clear()
        else:
            context = multiprocessing.get_context("spawn")
            counter = context.Value("q", 0)
            with context.Pool(
                min(workers, len(todo)), initializer=_init_worker,
                initargs=(staged, view_spec, layout.as_json(), counter),
            ) as pool:
                # Longest shards first, so that the workers finish together.
                jobs = sorted(jobs, key=lambda job: -job[0].rows)
                pending = [pool.apply_async(_extract_shard, (job,)) for job in jobs]
                shown = 0
                while pending:
                    time.sleep(0.25)
                    for result in [r for r in pending if r.ready()]:
                        result.get()  # re-raises a worker's error here
                        pending.remove(result)
                    value = counter.value
                    bar.update(value - shown)
                    shown = value
    finally:
        bar.close()


def _extract_shard(job, on_rows=None) -> str:
    """Replay one shard's egos and write the shard (atomically); returns its name."""
    task, key, shards_dir = job
    spec = _WORKER["view_spec"]
    layout: Layout = _WORKER["layout"]
    _, road, world = _worker_recording(task.recording)
    counter = _WORKER["counter"]

    def report(rows: int) -> None:
        if on_rows is not None:
            on_rows(rows)
        elif counter is not None:
            with counter.get_lock():
                counter.value += rows

    meta = {"name": task.name, "key": key, "recording": task.recording,
            "first_episode": task.first_episode}
    with write_shard(Path(shards_dir) / task.name, layout, task.rows, len(task.episodes),
                     meta) as writer:
        replay_episodes(world, road, task, spec, writer, report)
    return task.name


def _worker_recording(recording: int):
    """``(log, road, world)`` of a recording, built once per worker process and kept while
    its shards are replayed (the world replays the whole log's recovered actions when it is
    built)."""
    from traffic_mpc.sim.world import ReplayWorld

    cache = _WORKER["recordings"]
    if recording not in cache:
        cache.clear()
        folder = Path(_WORKER["staged"][recording])
        log = TrafficLog.load(folder, mmap=True)
        road = Road.load(folder / "road.toml")
        cache[recording] = (log, road, ReplayWorld(log, road, device="cpu", ncond=0))
    return cache[recording]


def replay_episodes(world, road: Road, task: ShardTask, spec, writer, report) -> None:
    """Replay the egos of ``task`` in ``world`` (a ``ReplayWorld`` of the task's recording
    with ``ncond=0``) together and fill the shard's arrays (``writer``).

    Every ego is its logged vehicle driven by its own recovered actions (``ncond=0``: the
    world applies them through the kinematics, so ``step(state[t], action[t]) ==
    state[t+1]`` in the world's float32). Row ``t`` gets the view, state and costs of the
    scene before step ``t`` and the action of step ``t``.

    The world's batch shrinks as episodes end: when fewer than :data:`COMPACT_BELOW` of its
    egos still have steps to go, the remaining ones are taken over again at their current
    frames (their states re-read from the world's float64 replay of the log: a change of
    float32 rounding, about 1e-5 m), so finished egos cost nothing. An ego that the world
    ends early (its logged vehicle overlaps another or leaves the mapped road in a noisy
    log; the log says it drove on) is taken over again the same way; the count is kept in
    the shard's metadata (``retaken``). ``report(rows)`` is called as rows are written.
    """
    import torch

    from traffic_mpc.sim.render import EgoViewRenderer, to_uint8

    traffic = world.traffic
    per_step = [name for name in spec.channels if name != EGO_CHANNEL]
    renderer = EgoViewRenderer(road, replace(spec, channels=tuple(per_step)))
    vehicle_ids = np.array([e.vehicle_id for e in task.episodes], dtype=np.int64)
    starts = np.array([e.start_frame for e in task.episodes], dtype=np.int64)
    steps = np.array([e.steps for e in task.episodes], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(steps)[:-1]])
    slot_of = traffic.vehicle_slot[
        torch.as_tensor(np.searchsorted(traffic.vehicle_ids.numpy(), vehicle_ids))]

    members = np.arange(len(steps))  # the episode of each ego of the world's batch
    scene = world.reset(vehicle_ids, starts)
    costs = world.costs(scene)

    writer["episodes"][:] = np.stack([
        task.first_episode + np.arange(len(steps)), np.full(len(steps), task.recording),
        vehicle_ids, starts, offsets, steps], axis=1)
    writer["ego_sizes"][:] = scene.ego_size.numpy()
    if EGO_CHANNEL in spec.channels:
        # The footprint depends only on the view geometry, which the renderer shares.
        footprint = renderer.ego_layer(scene.ego_size)
        writer["footprints"][:] = to_uint8(footprint)[:, None].numpy()

    views_out, states_out = writer["views"], writer["states"]
    actions_out, costs_out, frames_out = writer["actions"], writer["costs"], writer["frames"]
    retaken = 0
    with torch.no_grad():
        for t in range(int(steps.max())):
            live = t < steps[members]
            if live.sum() < COMPACT_BELOW * len(members):
                frames_now = world.frame.numpy()[live]
                members = members[live]
                scene = world.reset(vehicle_ids[members], frames_now)
                costs = world.costs(scene)
                live = np.ones(len(members), dtype=bool)
            slots = slot_of[torch.as_tensor(members)]
            rows = offsets[members[live]] + t
            index = torch.as_tensor(np.flatnonzero(live))
            state = world.state[index]
            actions = traffic.action[world.frame - traffic.first_frame, slots]
            views = renderer.render(scene.index(index) if len(index) < len(members) else scene)
            views_out[rows] = to_uint8(views).numpy()
            states_out[rows] = fmt.state_vector(state).numpy()
            actions_out[rows] = actions[index].numpy()
            costs_out[rows] = costs[index].numpy()
            frames_out[rows] = world.frame[index].numpy()
            report(len(index))
            if t + 1 == int(steps.max()):
                break
            result = world.step(actions)
            costs = result.costs
            # Egos the world ended although their episode goes on: take them over again.
            ended = result.done.numpy() & (t + 1 < steps[members])
            if ended.any():
                retaken += int(ended.sum())
                world.reset(vehicle_ids[members[ended]], result.frame.numpy()[ended],
                            egos=np.flatnonzero(ended))
                costs = world.costs(world.scene())
            scene = world.scene()
    writer.meta["retaken"] = retaken


# --------------------------------------------------------------------------- manifest
def source_entries(pairs, recordings: list[str], paths: list[str], checksums: list[str]
                   ) -> list[dict]:
    """The manifest's ``sources``: one entry per recording, with the absolute ``path`` it was
    read from (a log's own ``source`` may name a file that no longer exists, e.g. the NGSIM
    text a log folder was imported from, or the generator) and its ``checksums`` entry
    (the source file's, else the log arrays')."""
    return [
        {
            "name": name,
            "path": path,
            "sha256": checksum,
            "checksum_of": "source file" if log.source_checksum else "log arrays",
            "site": log.site,
            "dt": log.dt,
            "vehicles": log.n_vehicles,
            "frames": [log.first_frame, log.last_frame],
        }
        for name, path, checksum, (log, _) in zip(recordings, paths, checksums, pairs)
    ]


def build_manifest(out: Path, sources: list[dict], dt: float, road: Road, tasks, layout: Layout,
                   view_spec, settings: dict, seed: int) -> dict:
    """The manifest of the finished shards of ``tasks`` in ``out``: splits (over the
    recordings named in ``sources``) and normalisation computed here."""
    recordings = [source["name"] for source in sources]
    shards_dir = out / fmt.SHARDS_DIR
    shards = [Shard(shards_dir / task.name, layout, task.rows, len(task.episodes))
              for task in tasks]
    episodes = np.concatenate([shard.episodes for shard in shards])
    splits = splits_module.make_splits(episodes, recordings, seed)
    normalisation = {kind: statistics.normalisation(shards, splits[kind]["train"])
                     for kind in fmt.SPLIT_KINDS}
    channels = list(view_spec.channels)
    image = {
        "height": view_spec.height,
        "width": view_spec.width,
        "pixel_size": view_spec.pixel_size,
        "channels": channels,
        "stored_channels": [name for name in channels if name != EGO_CHANNEL],
        "view_spec": view_spec.as_dict(),
        "encoding": "uint8, value = round(255 * v) for v in [0, 1]",
    }
    if layout.footprint_per_episode:
        image["ego_channel"] = EGO_CHANNEL
        image["ego_channel_storage"] = (
            "constant over an episode (the ego is centred and aligned): stored once per "
            "episode in footprints.npy"
        )
    return {
        "format": fmt.FORMAT,
        "format_version": fmt.FORMAT_VERSION,
        "time_alignment": fmt.TIME_ALIGNMENT,
        "dt": dt,
        "state_fields": list(fmt.STATE_FIELDS),
        "action_fields": list(fmt.ACTION_FIELDS),
        "cost_fields": list(fmt.COST_FIELDS),
        "units": fmt.UNITS,
        "frame": "road frame: x along travel, y to the left, origin upstream-left; "
                 "positions are vehicle centres",
        "episode_columns": list(EPISODE_COLUMNS),
        "image": image,
        "layout": layout.as_json(),
        "road": {"name": road.name, "title": road.title, "file": fmt.ROAD_FILE,
                 "valid_x": list(road.valid_x)},
        "sources": sources,
        "extraction": {**settings, "seed": seed, "workers_do_not_change_output": True,
                       "episode_rule": "longest run of frames with the centre in the valid "
                                       "region and the vehicle logged at the next frame"},
        "shards": [
            {"name": task.name, "recording": task.recording, "rows": task.rows,
             "episodes": len(task.episodes)}
            for task in tasks
        ],
        "totals": {"episodes": int(len(episodes)), "rows": int(episodes[:, LENGTH].sum())},
        "splits": splits,
        "normalisation": normalisation,
    }

"""The evaluator: every episode of a split, driven by one agent, in the replay world.

**Protocol** (REFERENCE.md, "Replay world"; differences from the reference marked *):

- The episodes are those of the dataset's split (``split_kind`` ``random`` as the
  reference, or ``recording``), in the fixed list the manifest stores: which logged
  vehicle, from which frame. Each is replayed from the dataset's *source logs* (the
  manifest names them with their SHA-256, checked here), on the dataset's road.
- The ego follows its own log for ``ncond = 20`` steps (2 s) of warm-up, then the agent
  drives (actions clipped to the action space of :mod:`traffic_mpc.sim.kinematics`,
  except the expert's, which replay the log) until it arrives at the end of the valid
  region (success), collides, leaves the road, or the recording ends; the world decides
  (:class:`~traffic_mpc.sim.world.ReplayWorld`). Other vehicles replay the log
  (``traffic="replay"``, non-reactive, as the reference) or hand over to IDM when they
  would run into the ego (``"reactive"``).
- \\* Collisions are a geometric footprint overlap (the reference: pixel proximity > 0.99),
  classified ahead / behind / side.
- \\* To measure success ignoring rear-end hits in the same run, the world drives an ego
  on through rear-end hits (``through_rear_end``: a vehicle that runs into it is ignored
  from then on) until it arrives or fails otherwise. The plain protocol ends at the first
  of the world's ending and the first rear-end hit (a ``collision_behind`` ending), and
  the standard metrics stop there, so they are exactly those of the plain protocol.
- \\* Scoring: an episode whose logged vehicle does not reach the end of the valid region
  (the recording ends first) cannot be succeeded by the logged driver; such episodes are
  driven and listed in ``episodes.csv`` (``scored = False``) but left out of the
  aggregates, so that the human reference is 100 % by construction. How the reference
  treats them is not documented.

**Work.** Episodes are grouped by recording: one world per recording, all its episodes in
one batch (at most ``batch_size``; a finished batch entry is refilled with the next episode,
longest first). Per step: the agent's actions for the whole batch, one world step, and the
metrics accumulated as tensors (:mod:`traffic_mpc.evaluate.metrics` defines them). Ego
views are rendered only for agents that declare ``needs_views``. Same dataset, agent, seed
and batch size give identical results.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from traffic_mpc import __version__
from traffic_mpc.data.manifest import MANIFEST_FILE, ROAD_FILE, DatasetInfo, open_dataset
from traffic_mpc.errors import InputError
from traffic_mpc.evaluate import metrics as M
from traffic_mpc.evaluate.agents import Observation, agent_name, clip_actions, make_agent
from traffic_mpc.evaluate.report import SUMMARY_FORMAT, SUMMARY_VERSION
from traffic_mpc.logs.traffic_log import TrafficLog
from traffic_mpc.road import Road
from traffic_mpc.sim.world import REASON_NAMES, ReplayWorld, TerminationReason

#: Warm-up steps that follow the log before the agent drives (REFERENCE.md: 20, 2 s).
NCOND = 20
#: Largest batch of egos driven together per recording.
DEFAULT_BATCH_SIZE = 1024



@dataclass(frozen=True)
class EpisodeSpec:
    """One evaluation episode: the logged ``vehicle_id`` of ``recording`` taken over at
    ``start_frame``; ``steps`` is its length in the dataset (the logged run in the valid
    region)."""

    episode: int
    recording: str
    recording_index: int
    vehicle_id: int
    start_frame: int
    steps: int


def split_episodes(info: DatasetInfo, split: str = "test", split_kind: str = "random"
                   ) -> list[EpisodeSpec]:
    """The episodes of a split, from the manifest's episode table (and, for ``test``, its
    explicit ``test_vehicles`` list, which must agree)."""
    ids = info.split_episodes(split_kind, split)
    names = [source["name"] for source in info.manifest["sources"]]
    table = info.episodes
    episodes = [
        EpisodeSpec(int(row[0]), names[int(row[1])], int(row[1]), int(row[2]), int(row[3]),
                    int(row[5]))
        for row in table[np.asarray(ids, dtype=np.int64)]
    ] if ids else []
    if split == "test":
        listed = info.manifest["splits"][split_kind].get("test_vehicles")
        if listed is not None:
            expected = [(e.episode, e.recording, e.vehicle_id, e.start_frame) for e in episodes]
            found = [(v["episode"], v["recording"], v["vehicle_id"], v["start_frame"])
                     for v in listed]
            if expected != found:
                raise InputError(info.path / MANIFEST_FILE, "the test split's episode ids and "
                                 "its test_vehicles list disagree", field="splits")
    return episodes


def dataset_checksum(path: str | Path) -> str:
    """SHA-256 of the dataset's manifest (it names every shard and source checksum)."""
    return hashlib.sha256((Path(path) / MANIFEST_FILE).read_bytes()).hexdigest()


def open_recording(info: DatasetInfo, road: Road, index: int,
                   logs: str | Path | None = None) -> TrafficLog:
    """The source log of recording ``index`` of a dataset, checked against its checksum.

    By default the path the manifest names; ``logs`` (anything
    :func:`~traffic_mpc.logs.sources.find_logs` accepts) points elsewhere: the recording is
    found there by checksum.
    """
    from traffic_mpc.data.sources import open_source_log

    return open_source_log(info.path, info.manifest["sources"][index], road, logs)


# ------------------------------------------------------------------------------ running
@dataclass
class _Slots:
    """Per batch entry: which episode it runs and what has been measured so far."""

    batch: int
    device: torch.device
    dtype: torch.dtype

    def __post_init__(self) -> None:
        b, device, dtype = self.batch, self.device, self.dtype

        def zeros(kind=dtype, *shape):
            return torch.zeros(b, *shape, dtype=kind, device=device)

        self.episode = [-1] * b
        self.busy = zeros(torch.bool)  # holds an episode not yet recorded
        self.standard = zeros(torch.bool)  # the plain protocol's episode still runs
        self.reason = zeros(torch.int64)  # the plain protocol's ending
        self.alt_reason = zeros(torch.int64)  # the world's ending (through rear-end hits)
        self.collision = zeros(torch.bool, 3)
        self.collided_with = torch.full((b,), -1, dtype=torch.int64, device=device)
        self.control_steps = zeros(torch.int64)
        self.distance = zeros(dtype)
        self.previous_acceleration = zeros(dtype)
        self.has_previous = zeros(torch.bool)
        self.beyond = zeros(torch.int64, 4)  # longitudinal, lateral, jerk, any
        self.cost_sum = zeros(dtype, 3)
        self.displacement_sum = zeros(torch.float64)
        self.displacement_count = zeros(torch.int64)
        self.final_displacement = torch.full((b,), float("nan"), dtype=torch.float64,
                                             device=device)
        self.handed_over = zeros(torch.int64)

    def clear(self, index: torch.Tensor) -> None:
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                if name == "final_displacement":
                    value[index] = float("nan")
                elif name == "collided_with":
                    value[index] = -1
                else:
                    value[index] = 0


class EpisodeRunner:
    """Drives episodes of one recording's world with one agent (module docstring).

    ``renderer``: renders the agent's ego views (None: the agent gets none).
    ``tracer``: called after every step with ``(runner, result, episodes)`` where
    ``episodes`` lists the episode id of every batch entry (-1: none), to record videos.
    Both protocols are measured in one run: the world must drive egos on through rear-end
    hits (``ReplayWorld(..., through_rear_end=True)``).
    """

    def __init__(self, world: ReplayWorld, agent, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 renderer=None, tracer=None) -> None:
        if not world.through_rear_end:
            raise ValueError("EpisodeRunner needs a world made with through_rear_end=True "
                             "(it measures success ignoring rear-end hits in the same run)")
        self.world = world
        self.agent = agent
        self.batch_size = int(batch_size)
        self.renderer = renderer
        self.tracer = tracer

    # -------------------------------------------------------------------- public
    def run(self, episodes: list[EpisodeSpec], progress=None) -> list[dict]:
        """Every episode in ``episodes`` to its end; one row (a dict of
        :data:`metrics.EPISODE_COLUMNS`) per episode, in the order given."""
        world = self.world
        if hasattr(self.agent, "attach"):
            self.agent.attach(world)
        rows: dict[int, dict] = {}
        runnable = []
        for spec in episodes:
            first, last = world.vehicle_frames([spec.vehicle_id])
            if spec.start_frame < first[0] or spec.start_frame + world.ncond > last[0]:
                rows[spec.episode] = _not_run_row(spec, "too_short_for_warmup")
            else:
                runnable.append(spec)
        # Longest first, so that the batch's tail is short (ties by episode id).
        pending = sorted(runnable, key=lambda e: (-e.steps, e.episode))
        if not pending:
            return [rows[spec.episode] for spec in episodes]
        batch = min(self.batch_size, len(pending))
        start, pending = pending[:batch], pending[batch:]
        by_episode = {spec.episode: spec for spec in episodes}
        self.slots = slots = _Slots(batch, world.device, world.dtype)
        world.reset([e.vehicle_id for e in start], [e.start_frame for e in start])
        self._begin(torch.arange(batch, device=world.device), start)
        while True:
            finished = self._step()
            if len(finished):
                for entry in finished.tolist():
                    spec = by_episode[slots.episode[entry]]
                    rows[spec.episode] = self._row(entry, spec)
                    slots.episode[entry] = -1
                    if progress is not None:
                        progress(1)
                refill = finished[: len(pending)]
                if len(refill):
                    chosen, pending = pending[: len(refill)], pending[len(refill):]
                    world.reset([e.vehicle_id for e in chosen], [e.start_frame for e in chosen],
                                egos=refill)
                    self._begin(refill, chosen)
            if not bool(slots.busy.any()):
                break
        return [rows[spec.episode] for spec in episodes]

    # -------------------------------------------------------------------- steps
    def _begin(self, entries: torch.Tensor, specs: list[EpisodeSpec]) -> None:
        slots, world = self.slots, self.world
        slots.clear(entries)
        slots.busy[entries] = True
        slots.standard[entries] = True
        for entry, spec in zip(entries.tolist(), specs):
            slots.episode[entry] = spec.episode
        mask = torch.zeros(slots.batch, dtype=torch.bool, device=world.device)
        mask[entries] = True
        self.agent.reset(mask)

    def observation(self) -> Observation:
        """The observation of every batch entry at the current step."""
        world = self.world
        scene = world.scene()
        views = None
        channels = None
        if self.renderer is not None:
            views = self._render(scene, ~world.done)
            channels = tuple(self.renderer.spec.channels)
        return Observation(
            ego_state=world.state, ego_size=scene.ego_size, scene=scene, frame=world.frame,
            steps=world.steps, in_warmup=world.in_warmup, done=world.done, road=world.road,
            road_tensors=world.road_tensors, dt=world.dt, ego_view=views,
            view_channels=channels,
        )

    def _render(self, scene, alive: torch.Tensor) -> torch.Tensor:
        spec = self.renderer.spec
        views = torch.zeros(scene.batch_size, len(spec.channels), spec.height, spec.width,
                            dtype=self.renderer.dtype, device=self.renderer.device)
        index = alive.nonzero().reshape(-1)
        if len(index):
            with torch.no_grad():
                views[index.to(views.device)] = self.renderer.render(scene.index(index))
        return views

    def _step(self) -> torch.Tensor:
        """One step of every entry; returns the entries whose episode is now finished."""
        world, slots = self.world, self.slots
        dt = world.dt
        alive = ~world.done
        with torch.no_grad():
            actions = self.agent.act(self.observation())
        actions = torch.as_tensor(actions, dtype=world.dtype, device=world.device)
        if actions.shape != (slots.batch, 2):
            raise ValueError(f"agent {agent_name(self.agent, '?')} returned actions of shape "
                             f"{tuple(actions.shape)}, expected ({slots.batch}, 2)")
        controlled_now = alive & ~world.in_warmup
        if not bool(torch.isfinite(actions[controlled_now]).all()):
            raise ValueError(f"agent {agent_name(self.agent, '?')} returned non-finite actions")
        actions = torch.nan_to_num(actions)  # entries whose actions are ignored
        if getattr(self.agent, "bounded_actions", True):
            actions = clip_actions(actions)
        result = world.step(actions)

        # Metrics of the plain protocol, over the control steps before it ends.
        measured = alive & ~result.warmup & slots.standard
        acceleration, curvature = result.action[:, 0], result.action[:, 1]
        speed = result.state[:, 3]
        jerk = torch.where(slots.has_previous,
                           (acceleration - slots.previous_acceleration) / dt, 0.0)
        low, high = M.COMFORT_BOUNDS["longitudinal_acceleration"]
        beyond = torch.stack([
            (acceleration < low) | (acceleration > high),
            (curvature * speed * speed).abs() > M.COMFORT_BOUNDS["lateral_acceleration"],
            jerk.abs() > M.COMFORT_BOUNDS["jerk"],
        ], dim=-1)
        beyond = torch.cat([beyond, beyond.any(-1, keepdim=True)], dim=-1)
        slots.beyond += (beyond & measured[:, None]).to(torch.int64)
        slots.previous_acceleration = torch.where(alive, acceleration,
                                                  slots.previous_acceleration)
        slots.has_previous |= alive
        slots.control_steps += measured.to(torch.int64)
        slots.cost_sum += torch.where(measured[:, None], result.costs, 0.0)
        slots.distance = torch.where(alive & slots.standard, result.distance, slots.distance)
        slots.handed_over = torch.maximum(slots.handed_over, world.handed_over)
        self._displacement(result, measured)

        # Endings: the world drives on through rear-end hits; the plain protocol ends at the
        # world's ending or at the first rear-end hit, as a collision behind (unless the
        # world's ending is a more serious collision at the same step).
        ended = alive & result.done
        hit = alive & result.rear_end_ignored
        first_end = (ended | hit) & slots.standard
        by_hit = hit & (result.collided_with < 0)
        slots.reason = torch.where(first_end, torch.where(
            by_hit, int(TerminationReason.COLLISION_BEHIND), result.reason), slots.reason)
        slots.collision = torch.where(first_end[:, None], result.collision, slots.collision)
        slots.collided_with = torch.where(first_end, torch.where(
            by_hit, result.rear_end_hitter, result.collided_with), slots.collided_with)
        slots.standard &= ~first_end
        slots.alt_reason = torch.where(ended, result.reason, slots.alt_reason)
        if self.tracer is not None:
            self.tracer(self, result, list(slots.episode))
        finished = slots.busy & world.done
        slots.busy &= ~finished
        return finished.nonzero().reshape(-1)

    def _displacement(self, result, measured: torch.Tensor) -> None:
        slots = self.slots
        logged, present = self.world.logged_state()
        use = measured & present
        error = torch.linalg.vector_norm(
            result.state[:, :2].double() - logged[:, :2].double(), dim=-1)
        slots.displacement_sum += torch.where(use, error, 0.0)
        slots.displacement_count += use.to(torch.int64)
        slots.final_displacement = torch.where(use, error, slots.final_displacement)

    # -------------------------------------------------------------------- rows
    def _row(self, entry: int, spec: EpisodeSpec) -> dict:
        slots, world = self.slots, self.world
        traffic = world.traffic
        vehicle = int(world.vehicle_index[entry])
        last = int(traffic.vehicle_last[vehicle])
        logged_end_x = float(traffic.state[last, int(world.slot[entry]), 0])
        log_arrives = logged_end_x >= world.road.valid_x[1]
        reason = int(slots.reason[entry])
        alt_reason = int(slots.alt_reason[entry])
        collision = slots.collision[entry].tolist()
        steps = int(slots.control_steps[entry])
        time_s = steps * world.dt
        distance = float(slots.distance[entry])
        count = int(slots.displacement_count[entry])
        beyond = slots.beyond[entry].tolist()
        costs = slots.cost_sum[entry].tolist()

        def share(value):
            return value / steps if steps else float("nan")

        return {
            "episode": spec.episode,
            "recording": spec.recording,
            "vehicle_id": spec.vehicle_id,
            "start_frame": spec.start_frame,
            "scored": bool(log_arrives),
            "log_arrives": bool(log_arrives),
            "outcome": REASON_NAMES[reason],
            "success": reason == TerminationReason.ARRIVED,
            "success_ignoring_rear_end": alt_reason == TerminationReason.ARRIVED,
            "outcome_ignoring_rear_end": REASON_NAMES[alt_reason],
            "collision": bool(any(collision)),
            "collision_ahead": bool(collision[0]),
            "collision_behind": bool(collision[1]),
            "collision_side": bool(collision[2]),
            "collided_with": int(slots.collided_with[entry]),
            "off_road": reason == TerminationReason.OFF_ROAD,
            "end_of_log": reason == TerminationReason.END_OF_LOG,
            "control_steps": steps,
            "distance": distance,
            "time": time_s,
            "mean_speed": distance / time_s if steps else float("nan"),
            "beyond_longitudinal_acceleration": share(beyond[0]),
            "beyond_lateral_acceleration": share(beyond[1]),
            "beyond_jerk": share(beyond[2]),
            "beyond_comfort": share(beyond[3]),
            "proximity_cost": share(costs[0]),
            "lane_cost": share(costs[1]),
            "off_road_cost": share(costs[2]),
            "ade": float(slots.displacement_sum[entry]) / count if count else float("nan"),
            "fde": float(slots.final_displacement[entry]) if count else float("nan"),
            "handed_over": int(slots.handed_over[entry]),
        }


def _not_run_row(spec: EpisodeSpec, outcome: str) -> dict:
    row = {name: float("nan") for name in M.EPISODE_COLUMNS}
    row.update(episode=spec.episode, recording=spec.recording, vehicle_id=spec.vehicle_id,
               start_frame=spec.start_frame, scored=False, log_arrives=False, outcome=outcome,
               outcome_ignoring_rear_end=outcome, control_steps=0, handed_over=0)
    for name in ("success", "success_ignoring_rear_end", "collision", "collision_ahead",
                 "collision_behind", "collision_side", "off_road", "end_of_log"):
        row[name] = False
    return row


# ----------------------------------------------------------------------------- evaluate
def code_version() -> dict:
    """The package version and, when run from a git checkout, its commit and whether the
    working tree had changes."""
    version = {"traffic_mpc": __version__, "git_commit": None, "git_dirty": None}
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode == 0:
            version["git_commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=root, capture_output=True, text=True, timeout=10)
            version["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def describe_dataset(info: DatasetInfo) -> dict:
    """What the summary says about the dataset: where, checksum, road, recordings and, for
    generated logs, the generator settings (from ``synth.json`` beside the logs)."""
    manifest = info.manifest
    sources = manifest["sources"]
    minutes = sum((s["frames"][1] - s["frames"][0] + 1) * s["dt"] / 60.0 for s in sources)
    description = {
        "path": str(info.path),  # as given: a summary names no machine paths it was not told
        "name": info.path.name,
        "manifest_sha256": dataset_checksum(info.path),
        "road": manifest["road"]["name"],
        "valid_x": manifest["road"].get("valid_x"),
        "recordings": [s["name"] for s in sources],
        "recording_sha256": [s["sha256"] for s in sources],
        "minutes": round(minutes, 2),
        "episodes": manifest["totals"]["episodes"],
    }
    for source in sources:
        synth = Path(source.get("path") or "").parent / "synth.json"
        if source.get("path") and synth.is_file():
            try:
                config = json.loads(synth.read_text())
            except (OSError, json.JSONDecodeError):
                break
            description["generator"] = {
                "generator_version": config.get("generator_version"),
                "seed": config.get("seed"),
                "demand": config.get("config", {}).get("demand"),
                "ramp_demand": config.get("config", {}).get("ramp_demand"),
                "bottleneck_time_headway_factor": config.get("config", {}).get(
                    "bottleneck_time_headway_factor"),
                "minutes_per_recording": config.get("config", {}).get("duration", 0) / 60.0,
            }
            break
    return description


def evaluate(
    agent_spec: str,
    dataset_path: str | Path,
    *,
    split: str = "test",
    split_kind: str = "random",
    traffic: str = "replay",
    seed: int = 0,
    out: str | Path | None = None,
    videos: int = 0,
    progress: bool = True,
    device: str | torch.device = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    logs: str | Path | None = None,
    threads: int | None = 1,
    max_episodes: int | None = None,
) -> dict:
    """Evaluate ``agent_spec`` on every episode of a dataset's split; returns the summary.

    ``traffic``: ``"replay"`` or ``"reactive"``. ``out``: folder for ``episodes.csv``,
    ``summary.json``, ``summary.md``, TensorBoard summaries (``tensorboard/``) and, with
    ``videos=K``, top-down + ego-view videos of K failures and K successes (``videos/``).
    ``logs``: where the dataset's source logs are, if not at the paths its manifest names.
    ``threads``: torch CPU threads while evaluating (1 by default: the per-step tensors are
    small, and extra threads only contend; None leaves the setting alone).
    ``max_episodes``: evaluate only the first episodes of the split (quick looks; the summary
    says so). The summary holds every aggregate with its 95 % interval (module docstring
    and :mod:`traffic_mpc.evaluate.metrics`).
    """
    from tqdm import tqdm

    from traffic_mpc.evaluate import report

    if traffic not in ("replay", "reactive"):
        raise InputError("--traffic", f"must be 'replay' or 'reactive', got {traffic!r}")
    if videos < 0:
        raise InputError("--videos", f"must be >= 0, got {videos}")
    dataset_path = Path(dataset_path)
    info = open_dataset(dataset_path)
    road = Road.load(dataset_path / ROAD_FILE)
    episodes = split_episodes(info, split, split_kind)
    if max_episodes is not None:
        episodes = episodes[:max_episodes]
    if not episodes:
        raise InputError(dataset_path, f"split {split_kind}/{split} has no episodes")
    device = torch.device(device)
    # Fail early on a bad spec, before any log is read.
    probe = make_agent(agent_spec, device=device, seed=seed)
    name = agent_name(probe, agent_spec)

    previous_threads = torch.get_num_threads()
    if threads is not None and device.type == "cpu":
        torch.set_num_threads(int(threads))
    started = time.perf_counter()
    rows: list[dict] = []
    ego_steps = 0
    try:
        bar = tqdm(total=len(episodes), unit="episode", desc=f"evaluate {name}",
                   disable=not progress)
        recordings = sorted({e.recording_index for e in episodes})
        for recording in recordings:
            mine = [e for e in episodes if e.recording_index == recording]
            runner = recording_runner(info, road, recording, agent_spec, traffic=traffic,
                                      seed=seed, device=device, logs=logs,
                                      batch_size=batch_size)
            rows.extend(runner.run(mine, progress=bar.update))
            ego_steps += sum(int(row["control_steps"]) for row in rows[-len(mine):])
        bar.close()
    finally:
        torch.set_num_threads(previous_threads)
    wall = time.perf_counter() - started
    rows.sort(key=lambda row: row["episode"])

    summary = build_summary(
        rows, agent_spec=agent_spec, agent_name=name, info=info, split=split,
        split_kind=split_kind, traffic=traffic, seed=seed, batch_size=batch_size,
        max_episodes=max_episodes,
    )
    summary["timing"] = {
        "wall_s": round(wall, 3),
        "episodes_per_s": round(len(rows) / wall, 3) if wall > 0 else None,
        "control_steps": ego_steps,
        "device": str(device),
        "torch_threads": int(threads) if threads is not None else previous_threads,
        "cpus": os.cpu_count(),
    }
    if out is not None:
        out = Path(out)
        report.write_outputs(out, rows, summary)
        if videos:
            from traffic_mpc.evaluate.videos import write_videos

            summary["videos"] = write_videos(
                out / "videos", rows, agent_spec=agent_spec, info=info, road=road,
                split=split, split_kind=split_kind, traffic=traffic, seed=seed, count=videos,
                device=device, logs=logs, batch_size=batch_size)
            report.write_summary(out, summary)
    return summary


def recording_runner(info: DatasetInfo, road: Road, recording: int, agent_spec: str, *,
                     traffic: str, seed: int, device: torch.device, logs=None,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> EpisodeRunner:
    """An :class:`EpisodeRunner` for the episodes of one recording: its world (through
    rear-end hits), the agent made for it after seeding torch with the recording's seed,
    and the agent's renderer. The evaluation and its videos share it, so that a video
    re-runs exactly what was evaluated."""
    log = open_recording(info, road, recording, logs)
    world = ReplayWorld(log, road, device=device, traffic=traffic, ncond=NCOND,
                        through_rear_end=True)
    torch.manual_seed(_recording_seed(seed, recording))
    agent = make_agent(agent_spec, world=world, device=device, seed=seed)
    return EpisodeRunner(world, agent, batch_size=batch_size,
                         renderer=_agent_renderer(agent, info, road, device))


def _recording_seed(seed: int, recording: int) -> int:
    return (int(seed) * 1_000_003 + recording) % (2**63 - 1)


def _agent_renderer(agent, info: DatasetInfo, road: Road, device: torch.device):
    """The renderer of the agent's ego views, or None for agents that do not need them."""
    if not getattr(agent, "needs_views", False):
        return None
    from traffic_mpc.sim.render import EgoViewRenderer

    return EgoViewRenderer(road, getattr(agent, "view_spec", None) or dataset_view_spec(info),
                           device=device)


def dataset_view_spec(info: DatasetInfo):
    """The :class:`~traffic_mpc.sim.render.ViewSpec` the dataset's views were rendered with
    (all channels, in the order the loader returns them)."""
    from traffic_mpc.sim.render import ViewSpec

    spec = dict(info.manifest["image"]["view_spec"])
    spec["channels"] = tuple(spec["channels"])
    if spec.get("static_resolution") is not None:
        spec["static_resolution"] = tuple(spec["static_resolution"])
    return ViewSpec(**spec)


def build_summary(rows: list[dict], *, agent_spec: str, agent_name: str, info: DatasetInfo,
                  split: str, split_kind: str, traffic: str, seed: int, batch_size: int,
                  max_episodes: int | None = None) -> dict:
    """The summary of an evaluation (everything but timing and videos)."""
    scored = [row for row in rows if row["scored"]]
    aggregates = M.aggregate(scored)
    not_scored = [row for row in rows if not row["scored"]]
    return {
        "format": SUMMARY_FORMAT,
        "format_version": SUMMARY_VERSION,
        "agent": agent_spec,
        "agent_name": agent_name,
        "dataset": describe_dataset(info),
        "split": split,
        "split_kind": split_kind,
        "traffic": traffic,
        "seed": int(seed),
        "code_version": code_version(),
        "protocol": {
            "ncond": NCOND,
            "dt": float(info.manifest["dt"]),
            "batch_size": int(batch_size),
            "max_episodes": max_episodes,
            "comfort_bounds": M.COMFORT_BOUNDS,
            "confidence": "95%: Wilson score for proportions, normal for means",
            "scored": "episodes whose logged vehicle reaches the end of the valid region",
        },
        "episodes": {
            "total": len(rows),
            "scored": len(scored),
            "not_scored": len(not_scored),
            "not_scored_outcomes": M.outcome_counts(not_scored),
        },
        "outcomes": M.outcome_counts(scored),
        "metrics": {name: estimate.as_json() for name, estimate in aggregates.items()},
        "failures": [
            {"episode": row["episode"], "recording": row["recording"],
             "vehicle_id": row["vehicle_id"], "outcome": row["outcome"]}
            for row in scored if not row["success"]
        ] if agent_spec == "expert" else None,
    }


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "EpisodeRunner",
    "EpisodeSpec",
    "NCOND",
    "build_summary",
    "code_version",
    "dataset_checksum",
    "dataset_view_spec",
    "evaluate",
    "open_recording",
    "split_episodes",
]

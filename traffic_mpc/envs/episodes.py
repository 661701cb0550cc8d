"""Which traffic the environments replay, and which episode a reset starts.

An *episode* is a logged vehicle of a recording taken over at a start frame: an
:class:`~traffic_mpc.data.extract.EpisodePlan` (recording index, vehicle id, start frame,
steps), the same record ``data extract`` plans and a dataset stores. The ego follows its log
for ``ncond`` warm-up steps from the start frame, then the agent drives.

Where episodes come from (:func:`load_episodes`):

- **logs** (a path, ``(TrafficLog, Road)`` pairs, or None for the built-in default traffic):
  every vehicle whose longest run of frames in the road's valid region has at least
  ``min_steps`` steps, starting at the start of that run
  (:func:`traffic_mpc.data.extract.plan_episodes`, the rule datasets are made with);
- **dataset**: the episodes of its split, replayed from its source logs (found by the
  SHA-256 the manifest records, at the manifest's paths or under ``logs``) on its road.

How a reset chooses (:func:`choose_episode`), from ``options``:

- ``{"episode": k}``: the k-th of :attr:`EpisodeSource.episodes`;
- ``{"recording": r}``: a random episode of recording ``r`` (index);
- ``{"vehicle_id": v}`` (with ``"recording"`` when there are several): that vehicle, from
  ``"start_frame"`` if given, else from its planned start (else its first logged frame);
- nothing: an episode drawn uniformly from all of them with the environment's generator.

An explicit episode must have its vehicle logged from the start frame through the warm-up,
and at least one frame of the recording after the warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from traffic_mpc.data.extract import EpisodePlan, plan_episodes
from traffic_mpc.data.sources import open_source_log, recording_name
from traffic_mpc.errors import InputError
from traffic_mpc.logs.traffic_log import TrafficLog
from traffic_mpc.road import Road

#: Keys ``reset(options=...)`` understands.
OPTION_KEYS = ("episode", "recording", "vehicle_id", "start_frame")


@dataclass(frozen=True)
class Recording:
    """One recording: its name, log and road."""

    name: str
    log: TrafficLog
    road: Road


@dataclass
class EpisodeSource:
    """The recordings an environment replays and the episodes a reset chooses from.

    ``recordings`` is indexed by :attr:`EpisodePlan.recording`; with a dataset, recordings
    that its split does not use are None. ``view`` is the dataset's view spec (None without
    a dataset).
    """

    recordings: list[Recording | None]
    episodes: list[EpisodePlan]
    view: Any = None
    _spans: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False)

    def vehicle_span(self, recording: int, vehicle_id: int) -> tuple[int, int]:
        """First and last logged frame of a vehicle of a recording (a clear error if the
        recording or the vehicle does not exist)."""
        log = self.recording(recording).log
        if recording not in self._spans:
            ids, inverse = np.unique(log.vehicle_id, return_inverse=True)
            first = np.full(len(ids), np.iinfo(np.int64).max)
            last = np.full(len(ids), np.iinfo(np.int64).min)
            np.minimum.at(first, inverse, log.frame)
            np.maximum.at(last, inverse, log.frame)
            self._spans[recording] = (ids, first, last)
        ids, first, last = self._spans[recording]
        index = int(np.searchsorted(ids, vehicle_id))
        if index == len(ids) or ids[index] != vehicle_id:
            raise ValueError(f"vehicle {vehicle_id} is not in recording "
                             f"{self.recording(recording).name!r}")
        return int(first[index]), int(last[index])

    def recording(self, index: int) -> Recording:
        if not 0 <= index < len(self.recordings) or self.recordings[index] is None:
            usable = [i for i, r in enumerate(self.recordings) if r is not None]
            raise ValueError(f"recording {index} is not available; recordings: {usable}")
        return self.recordings[index]


def load_episodes(config: dict) -> EpisodeSource:
    """The recordings and episodes of a configuration (:mod:`traffic_mpc.envs.config`)."""
    if config["dataset"] is not None:
        source = _dataset_episodes(config)
    else:
        recordings = _open_recordings(config["logs"], config["site"])
        episodes = [plan for index, recording in enumerate(recordings)
                    for plan in plan_episodes(recording.log, recording.road, index,
                                              config["min_steps"])]
        source = EpisodeSource(list(recordings), episodes)
    if not source.episodes:
        where = config["dataset"] or config["logs"] or "the default traffic"
        raise InputError(str(where), f"no episode of at least {config['min_steps']} steps "
                         "in the valid region to replay")
    return source


def _open_recordings(logs, site: str | None) -> list[Recording]:
    """Recordings of a path, of ``(log, road)`` pairs, or of the default traffic."""
    from traffic_mpc.logs.sources import find_logs, open_log

    if logs is None:
        from traffic_mpc.logs.default_traffic import default_traffic

        logs = default_traffic()
    if isinstance(logs, str | Path):
        found = find_logs(logs)
        pairs = [open_log(path, site) for path in found]
        names = [recording_name(path) for path in found]
    else:
        pairs = list(logs)
        if not pairs or not all(isinstance(log, TrafficLog) and isinstance(road, Road)
                                for log, road in pairs):
            raise ValueError("logs must be a path, a non-empty list of (TrafficLog, Road) "
                             "pairs, or None for the default traffic")
        names = [f"recording-{index + 1}" for index in range(len(pairs))]
    return [Recording(name, log, road) for name, (log, road) in zip(names, pairs)]


def _dataset_episodes(config: dict) -> EpisodeSource:
    """The episodes of a dataset's split with the source logs they need."""
    from traffic_mpc.data.manifest import ROAD_FILE, open_dataset
    from traffic_mpc.data.shards import LENGTH, RECORDING, START_FRAME, VEHICLE_ID
    from traffic_mpc.sim.render import ViewSpec

    path = Path(config["dataset"])
    info = open_dataset(path)
    road = Road.load(path / ROAD_FILE)
    ids = np.asarray(info.split_episodes(config["split_kind"], config["split"]), np.int64)
    rows = info.episodes[ids] if len(ids) else np.zeros((0, 6), np.int64)
    # An episode needs a step after the warm-up.
    rows = rows[rows[:, LENGTH] > config["ncond"]]
    sources = info.manifest["sources"]
    recordings: list[Recording | None] = [None] * len(sources)
    for index in sorted({int(r) for r in rows[:, RECORDING]}):
        log = open_source_log(path, sources[index], road, config["logs"])
        recordings[index] = Recording(sources[index]["name"], log, road)
    episodes = [EpisodePlan(int(row[RECORDING]), int(row[VEHICLE_ID]), int(row[START_FRAME]),
                            int(row[LENGTH])) for row in rows]
    view = ViewSpec.from_dict(info.manifest["image"]["view_spec"])
    return EpisodeSource(recordings, episodes, view)


def choose_episode(source: EpisodeSource, rng: np.random.Generator, options: dict | None,
                   ncond: int) -> EpisodePlan:
    """The episode a reset starts (module docstring); ``rng`` draws it when ``options`` do
    not name one. Unknown option keys are an error."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; known: {list(OPTION_KEYS)}")
    options = {key: value for key, value in options.items() if value is not None}
    episodes = source.episodes
    if "episode" in options:
        index = int(options["episode"])
        if not 0 <= index < len(episodes):
            raise ValueError(f"episode {index} out of range: there are {len(episodes)}")
        return episodes[index]
    if "vehicle_id" not in options:
        if "start_frame" in options:
            raise ValueError("reset option start_frame needs vehicle_id")
        if "recording" in options:
            recording = int(options["recording"])
            source.recording(recording)  # a clear error for a bad index
            episodes = [e for e in episodes if e.recording == recording]
            if not episodes:
                raise ValueError(f"recording {recording} has no episodes")
        return episodes[int(rng.integers(len(episodes)))]
    recordings = [i for i, r in enumerate(source.recordings) if r is not None]
    if "recording" not in options and len(recordings) > 1:
        raise ValueError(f"reset option vehicle_id needs recording (one of {recordings})")
    recording = int(options.get("recording", recordings[0]))
    vehicle_id = int(options["vehicle_id"])
    first, last = source.vehicle_span(recording, vehicle_id)
    planned = [e for e in episodes if e.recording == recording and e.vehicle_id == vehicle_id]
    start = int(options.get("start_frame", planned[0].start_frame if planned else first))
    log = source.recording(recording).log
    if start < first or start + ncond > last:
        raise ValueError(f"vehicle {vehicle_id} is logged from frame {first} to {last}; a "
                         f"start at frame {start} needs frames through {start + ncond} for "
                         f"the {ncond}-step warm-up")
    if start + ncond >= log.last_frame:
        raise ValueError(f"a start at frame {start} leaves no step after the warm-up: the "
                         f"recording ends at frame {log.last_frame}")
    steps = planned[0].steps if planned and planned[0].start_frame == start else last - start
    return EpisodePlan(recording, vehicle_id, start, steps)

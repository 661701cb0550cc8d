"""The scene of the environments: ``N`` egos, each in its own episode, in batched replay worlds.

Both :class:`~traffic_mpc.envs.replay_env.ReplayEnv` (``N = 1``) and
:class:`~traffic_mpc.envs.vector_env.TrafficVectorEnv` run on :class:`ReplayEgos`, so a
sub-environment of the vector env and a single environment on the same episode see the
same numbers.

**Worlds.** One :class:`~traffic_mpc.sim.world.ReplayWorld` per recording, built on first
use with a batch of ``N`` egos: ego ``i`` is batch entry ``i`` of the world of its current
episode's recording, so with one recording all ``N`` egos are one batch of one world, and
one world step advances them all. (With several recordings, an entry of a world whose ego
has moved to another recording keeps running there unobserved; a world step costs the same
whatever its entries do, and only worlds that hold an ego are stepped.)

**Warm-up.** The ego follows its log for ``ncond`` steps from the episode's start frame. A
world's warm-up sets the ego's state to its logged state at every frame, so after the
warm-up the ego is exactly in its logged state at ``start_frame + ncond``: the worlds are
built with ``ncond=0`` and an episode takes over its vehicle there directly
(:meth:`ReplayEgos.start`), which restarts some egos without stepping the others (what
vector-env autoreset needs). The observation a reset returns is the one after the warm-up.
Unlike a world's own warm-up, the warm-up frames are not checked for collisions (a logged
vehicle overlapping another in a noisy log): episodes are runs in the valid region where
the vehicle is logged (:mod:`traffic_mpc.envs.episodes`). In reactive traffic, logged
vehicles start handing over at the end of the warm-up.

**Rewards and ends.** The reward of a step is minus the weighted cost of the scene it
leads to, ``-(w_proximity * proximity + w_lane * lane + w_off_road * off_road)`` with the
world's exact geometric costs in [0, 1] and the configured
:class:`~traffic_mpc.sim.cost_masks.CostWeights`. ``terminated``: collision (ahead, side,
behind), off road or arrived at the end of the valid region; ``truncated``: the recording
has no next frame. The world decides (:class:`~traffic_mpc.sim.world.TerminationReason`).

**Info** (every key at reset and at every step): ``reason`` (``"none"``,
``"collision_ahead"``, ``"collision_behind"``, ``"collision_side"``, ``"off_road"``,
``"arrived"``, ``"end_of_log"``), the cost terms ``proximity``, ``lane``, ``off_road``
(unweighted, in [0, 1]) and their weighted sum ``cost``, ``distance`` [m] driven since the
warm-up, ``steps`` since the warm-up, the log ``frame``, and the episode: ``recording``
(index), ``vehicle_id``, ``start_frame`` (where its warm-up began).
"""

from __future__ import annotations

import numpy as np
import torch

from traffic_mpc.data.extract import EpisodePlan
from traffic_mpc.envs import observation as obs
from traffic_mpc.envs.episodes import EpisodeSource
from traffic_mpc.envs.rendering import rgb_frame
from traffic_mpc.sim.geometric_costs import COST_NAMES
from traffic_mpc.sim.render import EgoViewRenderer, ViewSpec, to_uint8
from traffic_mpc.sim.scene import EgoScene
from traffic_mpc.sim.world import REASON_NAMES, ReplayWorld, TerminationReason

#: Reasons that make ``terminated`` true; END_OF_LOG makes ``truncated`` true.
TERMINAL_REASONS = (
    TerminationReason.COLLISION_AHEAD,
    TerminationReason.COLLISION_BEHIND,
    TerminationReason.COLLISION_SIDE,
    TerminationReason.OFF_ROAD,
    TerminationReason.ARRIVED,
)


class ReplayEgos:
    """``num_egos`` egos in the replay worlds of ``source``'s recordings (module docstring).

    ``config``: a checked configuration (:func:`traffic_mpc.envs.config.make_config`).
    Arrays returned have a leading dimension ``num_egos``.
    """

    def __init__(self, source: EpisodeSource, config: dict, num_egos: int) -> None:
        if num_egos < 1:
            raise ValueError(f"need at least one ego, got {num_egos}")
        self.source = source
        self.config = config
        self.num_egos = int(num_egos)
        self.ncond = config["ncond"]
        self.view: ViewSpec = config["view"] or source.view or ViewSpec()
        self.device = torch.device(config["device"])
        weights = config["cost_weights"]
        self.weights = np.array([getattr(weights, name) for name in COST_NAMES])
        self.worlds: dict[int, ReplayWorld] = {}
        # One renderer per distinct road (by its TOML), found once per recording.
        self._renderers: dict[str, EgoViewRenderer] = {}
        self._recording_renderers: dict[int, EgoViewRenderer] = {}
        n = self.num_egos
        self.episodes: list[EpisodePlan | None] = [None] * n
        self.recording = np.full(n, -1, dtype=np.int64)
        self.steps = np.zeros(n, dtype=np.int64)
        self.costs = np.zeros((n, len(COST_NAMES)))
        self.reason = np.zeros(n, dtype=np.int64)
        self.distance = np.zeros(n)
        self.frame = np.zeros(n, dtype=np.int64)

    @property
    def dt(self) -> float:
        recording = next(r for r in self.source.recordings if r is not None)
        return float(recording.log.dt)

    def world(self, recording: int) -> ReplayWorld:
        """The world of a recording (built on first use: it replays the whole log once)."""
        if recording not in self.worlds:
            entry = self.source.recording(recording)
            self.worlds[recording] = ReplayWorld(
                entry.log, entry.road, device=self.device, traffic=self.config["traffic"],
                playback=self.config["playback"], ncond=0)
        return self.worlds[recording]

    def renderer(self, recording: int) -> EgoViewRenderer:
        """The ego-view renderer of a recording's road (one per distinct road)."""
        if recording not in self._recording_renderers:
            road = self.source.recording(recording).road
            key = road.to_toml()
            if key not in self._renderers:
                self._renderers[key] = EgoViewRenderer(road, self.view, device=self.device)
            self._recording_renderers[recording] = self._renderers[key]
        return self._recording_renderers[recording]

    # ------------------------------------------------------------------ episodes
    def start(self, egos, episodes: list[EpisodePlan]) -> None:
        """Start ``episodes`` for the egos ``egos`` (indices): each takes over its vehicle at
        ``start_frame + ncond``, the end of its warm-up; the other egos are not touched."""
        egos = np.asarray(egos, dtype=np.int64).reshape(-1)
        if len(egos) != len(episodes):
            raise ValueError(f"{len(egos)} egos but {len(episodes)} episodes")
        recordings = np.array([episode.recording for episode in episodes], dtype=np.int64)
        for recording in np.unique(recordings):
            chosen = np.flatnonzero(recordings == recording)
            index = egos[chosen]
            ids = np.array([episodes[i].vehicle_id for i in chosen], dtype=np.int64)
            frames = np.array([episodes[i].start_frame + self.ncond for i in chosen],
                              dtype=np.int64)
            world = self.world(int(recording))
            if world.batch_size != self.num_egos:
                # First use: every entry of the batch needs an episode; entries of egos that
                # live in other worlds run a copy of the first one, unobserved.
                all_ids = np.full(self.num_egos, ids[0])
                all_frames = np.full(self.num_egos, frames[0])
                all_ids[index], all_frames[index] = ids, frames
                world.reset(all_ids, all_frames)
            else:
                world.reset(ids, frames, egos=torch.as_tensor(index))
            costs = world.costs(world.scene())[torch.as_tensor(index)]
            self.costs[index] = costs.detach().cpu().double().numpy()
            self.frame[index] = frames
            self.recording[index] = recording
        for ego, episode in zip(egos, episodes):
            self.episodes[ego] = episode
        self.steps[egos] = 0
        self.reason[egos] = TerminationReason.NONE
        self.distance[egos] = 0.0

    def step(self, actions: np.ndarray) -> None:
        """One step of every ego: ``actions`` ``(N, 2)`` (already clipped). Egos whose
        episode has ended stay frozen (the world ignores their actions)."""
        if (self.recording < 0).any():
            raise RuntimeError("call reset() before step()")
        for recording in np.unique(self.recording):
            world = self.worlds[int(recording)]
            mine = self.recording == recording
            batch = np.zeros((self.num_egos, 2))
            batch[mine] = actions[mine]
            alive = ~world.done.cpu().numpy()
            result = world.step(torch.as_tensor(batch, dtype=world.dtype, device=world.device))
            self.costs[mine] = result.costs.detach().cpu().double().numpy()[mine]
            self.reason[mine] = result.reason.cpu().numpy()[mine]
            self.distance[mine] = result.distance.detach().cpu().double().numpy()[mine]
            self.frame[mine] = result.frame.cpu().numpy()[mine]
            self.steps[mine & alive] += 1

    # ------------------------------------------------------------------ outcomes
    def rewards(self) -> np.ndarray:
        """``(N,)`` minus the weighted cost of each ego's current scene."""
        return -self.costs @ self.weights

    def terminated(self) -> np.ndarray:
        return np.isin(self.reason, [int(reason) for reason in TERMINAL_REASONS])

    def truncated(self) -> np.ndarray:
        return self.reason == TerminationReason.END_OF_LOG

    def info(self) -> dict[str, np.ndarray]:
        """The info of every ego (the keys of the module docstring), arrays ``(N,)``."""
        info: dict[str, np.ndarray] = {
            "reason": np.array([REASON_NAMES[int(r)] for r in self.reason], dtype=object),
        }
        for index, name in enumerate(COST_NAMES):
            info[name] = self.costs[:, index].copy()
        info["cost"] = -self.rewards()
        info["distance"] = self.distance.copy()
        info["steps"] = self.steps.copy()
        info["frame"] = self.frame.copy()
        info["recording"] = self.recording.copy()
        info["vehicle_id"] = np.array([e.vehicle_id for e in self.episodes], dtype=np.int64)
        info["start_frame"] = np.array([e.start_frame for e in self.episodes], dtype=np.int64)
        return info

    # ------------------------------------------------------------------ observation
    def observe(self) -> dict[str, np.ndarray]:
        """Observations of every ego: ``ego_view`` ``uint8 (N, C, H, W)`` (one render call
        per distinct road, so one call for all egos of one site) and ``ego_state``
        ``float32 (N, 6)``."""
        n, view = self.num_egos, self.view
        views = np.zeros((n, len(view.channels), view.height, view.width), np.uint8)
        states = np.zeros((n, len(obs.EGO_STATE_FIELDS)), np.float32)
        # The egos and scenes of each distinct road, with its renderer (by the renderer's id).
        by_road: dict[int, tuple[EgoViewRenderer, list[tuple[np.ndarray, EgoScene]]]] = {}
        for recording in np.unique(self.recording):
            world = self.worlds[int(recording)]
            mine = np.flatnonzero(self.recording == recording)
            index = torch.as_tensor(mine, device=world.device)
            states[mine] = obs.ego_state(world.state[index])
            renderer = self.renderer(int(recording))
            by_road.setdefault(id(renderer), (renderer, []))[1].append(
                (mine, world.scene().index(index)))
        for renderer, groups in by_road.values():
            egos = np.concatenate([mine for mine, _ in groups])
            scene = _concatenate([scene for _, scene in groups])
            with torch.no_grad():
                rendered = renderer.render(scene)
            views[egos] = to_uint8(rendered).cpu().numpy()
        return {"ego_view": views, "ego_state": states}

    def render_frames(self, views: np.ndarray, top_down: dict) -> list[np.ndarray]:
        """RGB pictures of every ego's episode (:mod:`traffic_mpc.envs.rendering`), given
        their current ego views ``uint8 (N, C, H, W)``."""
        frames = []
        for ego in range(self.num_egos):
            world = self.worlds[int(self.recording[ego])]
            frames.append(rgb_frame(world, ego, world.scene(), views[ego], self.view, top_down))
        return frames


def _concatenate(scenes: list[EgoScene]) -> EgoScene:
    if len(scenes) == 1:
        return scenes[0]
    names = EgoScene.__dataclass_fields__
    return EgoScene(**{name: torch.cat([getattr(s, name) for s in scenes]) for name in names})

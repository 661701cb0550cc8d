"""Agents: the one interface through which anything drives egos in the replay world.

**The interface.** An agent drives a batch of ``B`` egos, each in its own episode. The
evaluator (and the viewer) calls, for every step of every episode::

    agent.reset(mask)              # (B,) bool: these batch entries start a new episode
    actions = agent.act(observation)   # Observation of all B egos -> (B, 2) tensor

``actions[:, 0]`` is the longitudinal acceleration [m/s²] and ``actions[:, 1]`` the
curvature [1/m] (positive turns left), applied through :mod:`traffic_mpc.sim.kinematics`
and clipped to its action-space bounds by the caller. ``act`` is called at *every* step,
warm-up included: during the warm-up (``observation.in_warmup``) the ego follows its log
and the returned action is ignored, so an agent that needs a context (the last 20 ego
views and states of a learned policy) builds it from the warm-up observations. Entries of
finished episodes (``observation.done``) are ignored too. Batch entries are independent:
an agent keeps per-entry state only, and ``reset(mask)`` clears it for the entries that
start over (the evaluator refills a finished entry with the next episode). ``reset`` is
always called before the first ``act`` of a batch, with the batch size of the ``act``
calls that follow; a new batch size means new entries.

Attributes an agent may declare (read with ``getattr``, defaults in brackets):

- ``name`` [the spec]: how results name it;
- ``needs_views`` [False]: the evaluator renders ego views only for agents that declare
  they need them (rendering is the expensive part of a step);
- ``view_spec`` [None]: the :class:`~traffic_mpc.sim.render.ViewSpec` it was trained on
  (None: the dataset's);
- ``attach(world)``: called with each :class:`~traffic_mpc.sim.world.ReplayWorld` before its
  episodes start. Only agents that are *allowed* to read the log implement it (the expert
  replays its logged driver); everything else sees only the :class:`Observation`.

**What an agent may see** (:class:`Observation`): its own state and size, the other
vehicles around it now (the :class:`~traffic_mpc.sim.scene.EgoScene`: poses, sizes, speeds of
the nearest vehicles in view range — what perception would give), the ego view raster
when it asks for it, the map (:class:`~traffic_mpc.road.Road` and its tensor form), the time
step and the frame. Never the future of the log, never other egos.

**Specs** (``--agent SPEC``), made by :func:`make_agent`: ``no-action``, ``expert``, ``idm``;
``policy:CHECKPOINT`` and ``planner:NAME:CHECKPOINT`` arrive with the policy and planning
work.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from traffic_mpc.errors import InputError
from traffic_mpc.road import Road
from traffic_mpc.sim import kinematics
from traffic_mpc.sim.geometry import RoadTensors
from traffic_mpc.sim.reactive import IDMParameters, idm_acceleration, lane_keeping_curvature
from traffic_mpc.sim.scene import EgoScene


@dataclass(frozen=True)
class Observation:
    """What ``B`` egos see at one step (all tensors on one device, leading dimension ``B``).

    - ``ego_state`` ``(B, 4)``: x, y [m], heading [rad], speed [m/s] (road frame)
    - ``ego_size`` ``(B, 2)``: length, width [m]
    - ``scene``: the :class:`EgoScene` (the ``K`` nearest other vehicles in view range)
    - ``ego_view`` ``(B, C, H, W)`` in [0, 1], channels ``view_channels``; None unless the
      agent declared ``needs_views``
    - ``frame`` ``(B,)`` int64 log frame; ``steps`` ``(B,)`` int64 steps since the reset
    - ``in_warmup`` ``(B,)`` bool: the next step follows the log (the action is ignored)
    - ``done`` ``(B,)`` bool: the episode has ended (the action is ignored)
    - ``road`` and ``road_tensors``: the map; ``dt`` [s]
    """

    ego_state: torch.Tensor
    ego_size: torch.Tensor
    scene: EgoScene
    frame: torch.Tensor
    steps: torch.Tensor
    in_warmup: torch.Tensor
    done: torch.Tensor
    road: Road
    road_tensors: RoadTensors
    dt: float
    ego_view: torch.Tensor | None = None
    view_channels: tuple[str, ...] | None = None

    @property
    def batch_size(self) -> int:
        return self.ego_state.shape[0]

    @property
    def controlled(self) -> torch.Tensor:
        """``(B,)`` bool: entries whose action is applied at this step."""
        return ~self.in_warmup & ~self.done


@runtime_checkable
class Agent(Protocol):
    """A batched driver (module docstring): ``reset(mask)`` and ``act(observation)``."""

    def reset(self, mask: torch.Tensor) -> None: ...

    def act(self, observation: Observation) -> torch.Tensor: ...


def clip_actions(actions: torch.Tensor) -> torch.Tensor:
    """Actions ``(B, 2)`` clipped to the action space of :mod:`~traffic_mpc.sim.kinematics`."""
    low = actions.new_tensor(kinematics.ACTION_LOW)
    high = actions.new_tensor(kinematics.ACTION_HIGH)
    return torch.maximum(torch.minimum(actions, high), low)


# ----------------------------------------------------------------------------- no action
class NoActionAgent:
    """Keeps speed and heading: acceleration 0, curvature 0 (the reference's baseline)."""

    name = "no-action"
    needs_views = False

    def reset(self, mask: torch.Tensor) -> None:
        pass

    def act(self, observation: Observation) -> torch.Tensor:
        return observation.ego_state.new_zeros(observation.batch_size, 2)


# -------------------------------------------------------------------------------- expert
class ExpertAgent:
    """The logged driver: each ego applies its logged vehicle's recovered actions.

    The actions are those the replay world recovered from the log
    (:func:`kinematics.recover_actions`, float64, closed loop) and replays every logged
    vehicle with, so the ego retraces its log up to float32 rounding (millimetres over a
    recording). Past the vehicle's last logged frame it keeps speed and heading. It reads
    the log, so it needs the world (:meth:`attach`); it is the reference's "human" row.
    Its actions are not clipped (``bounded_actions = False``): they are the log's, and at a
    crawl the curvature of a displacement of millimetres exceeds the action space's bound.

    (Steering to the next logged position instead, by the kinematic inverse from the ego's
    own state, is not stable: when a stopped log leaves the ego a millimetre ahead, the
    inverse of a backward displacement drives it forward, and the error doubles every
    step.)
    """

    name = "expert"
    needs_views = False
    bounded_actions = False

    def __init__(self) -> None:
        self._world = None

    def attach(self, world) -> None:
        self._world = world

    def reset(self, mask: torch.Tensor) -> None:
        pass

    def act(self, observation: Observation) -> torch.Tensor:
        world = self._world
        if world is None:
            raise RuntimeError("the expert agent replays the log: call attach(world) first")
        return world.logged_actions()


# ----------------------------------------------------------------------------------- IDM
@dataclass(frozen=True)
class IDMAgentConfig:
    """Parameters of :class:`IDMAgent`.

    Car following: ``idm`` (:class:`~traffic_mpc.sim.reactive.IDMParameters`, Treiber &
    Kesting's freeway values, the same as the reactive traffic) and ``desired_speed``
    [m/s] (29 m/s, the 65 mph limit of I-80). Lane changes (MOBIL, Kesting, Treiber &
    Helbing 2007): ``politeness`` [1] (1: the followers' disadvantage counts fully — in
    non-reactive replay they cannot brake for the ego; on a generated 3 x 5 min dataset,
    separate from the benchmark, 1.0 gave 62 % success against 57 % for the usual 0.3,
    and anticipating cut-ins 57 % against 52 %), ``lane_change_threshold`` [m/s²] the advantage
    needed, ``safe_deceleration`` [m/s²] the most the new follower may have to brake,
    ``lane_change_gap`` [m] the least bumper gap accepted ahead and behind in the target
    lane, ``lane_change_cooldown`` [s] between changes, ``min_lane_change_speed`` [m/s].
    Lanes that end before the valid region does (on-ramps) are never entered, and an ego
    on one must leave it (its end is a standing obstacle, the change is mandatory: no
    advantage needed, ``merge_safe_deceleration`` instead of ``safe_deceleration``).
    Lateral control: pure pursuit of the target lane's centre line at
    ``max(lookahead_time * speed, min_lookahead)`` metres. ``corridor_margin`` [m]: a
    vehicle is in a lane when its width overlaps the lane by more than this;
    ``cut_in_horizon`` [s]: a vehicle ahead that will be in the lane after this time at its
    current heading and speed already counts as a leader (anticipating cut-ins).
    """

    idm: IDMParameters = IDMParameters()
    desired_speed: float = 29.0
    politeness: float = 1.0
    lane_change_threshold: float = 0.2
    safe_deceleration: float = 3.0
    merge_safe_deceleration: float = 4.0
    lane_change_gap: float = 2.0
    lane_change_cooldown: float = 4.0
    min_lane_change_speed: float = 1.0
    lookahead_time: float = 2.0
    min_lookahead: float = 8.0
    corridor_margin: float = 0.3
    cut_in_horizon: float = 1.0


class IDMAgent:
    """Lane following with the IDM and lane changes with MOBIL, batched over egos.

    The strong simple baseline of driving benchmarks (nuPlan's IDM planner; highway-env's
    IDM/MOBIL vehicles), using only the :class:`Observation` (scene and map). Every step,
    for every ego:

    1. lanes at the ego's ``x`` (boundaries from the map), the ego's lane, and its left and
       right neighbours (the lanes whose boundary coincides with its own, so any map works);
    2. for the current and both neighbour lanes, the nearest vehicle ahead and behind that
       occupies it (width overlap, :attr:`IDMAgentConfig.corridor_margin`); gaps are
       bumper to bumper along x; the end of a lane that ends inside the section is a
       standing obstacle;
    3. if not changing lane and the cooldown has passed, MOBIL on both neighbours: change
       when ``a'_ego - a_ego + p (a'_new_follower - a_new_follower + a'_old_follower -
       a_old_follower) > threshold`` and the new follower need not brake harder than
       ``safe_deceleration``, and both gaps are at least ``lane_change_gap``;
    4. acceleration: IDM behind the leader of the target lane (while changing, the more
       cautious of the current and target lanes), never reversing; curvature: pure pursuit
       of the target lane's centre.
    """

    name = "idm"
    needs_views = False

    def __init__(self, config: IDMAgentConfig | None = None) -> None:
        self.config = config or IDMAgentConfig()
        self._target = torch.zeros(0, dtype=torch.int64)
        self._cooldown = torch.zeros(0)

    def reset(self, mask: torch.Tensor) -> None:
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if self._target.shape[0] != mask.shape[0]:
            self._target = torch.full(mask.shape, -1, dtype=torch.int64, device=mask.device)
            self._cooldown = torch.zeros(mask.shape, device=mask.device)
            return
        self._target = torch.where(mask.to(self._target.device), -1, self._target)
        self._cooldown = torch.where(mask.to(self._cooldown.device), 0.0, self._cooldown)

    def act(self, observation: Observation) -> torch.Tensor:
        config, idm = self.config, self.config.idm
        state, size = observation.ego_state, observation.ego_size
        road, dt = observation.road_tensors, observation.dt
        batch, dtype, device = observation.batch_size, state.dtype, state.device
        if self._target.shape[0] != batch:
            self.reset(torch.ones(batch, dtype=torch.bool, device=device))
        self._target = self._target.to(device)
        self._cooldown = self._cooldown.to(device=device, dtype=dtype)
        x, y, speed = state[:, 0], state[:, 1], state[:, 3].clamp(min=0.0)
        length = size[:, 0]
        lanes = _LaneView(road, x, observation.road.valid_x[1])
        current = lanes.nearest(y)
        # Keep the lane the ego is in until it decides otherwise (and during the warm-up).
        adopt = (self._target < 0) | observation.in_warmup | ~lanes.exists_at(self._target)
        target = torch.where(adopt, current, self._target)

        traffic = _LaneTraffic(observation.scene, lanes, config.corridor_margin,
                               config.cut_in_horizon, x, length)
        desired = torch.full_like(speed, config.desired_speed)

        def ego_acceleration(lane: torch.Tensor) -> torch.Tensor:
            gap, leader_speed = traffic.leader(lane)
            return idm_acceleration(speed, gap, leader_speed, desired, idm)

        changing = target != current
        accel_current = ego_acceleration(current)

        # MOBIL for both neighbours (only egos that keep their lane and may change).
        may_change = (
            ~changing & (self._cooldown <= 0) & (speed >= config.min_lane_change_speed)
            & ~observation.in_warmup & ~observation.done
        )
        mandatory = ~lanes.continues(current)
        best_gain = torch.full_like(speed, -math.inf)
        best_lane = current.clone()
        if bool(may_change.any()):
            # Old follower: behind the ego now, behind the ego's current leader after.
            old_gap, old_speed = traffic.follower(current)
            lead_gap, lead_speed = traffic.leader(current)
            old_before = idm_acceleration(old_speed, old_gap, speed, desired, idm)
            old_after = idm_acceleration(
                old_speed, old_gap + length + lead_gap, lead_speed, desired, idm)
            has_old = torch.isfinite(old_gap)
            for neighbour in (lanes.left_of(current), lanes.right_of(current)):
                usable = may_change & (neighbour >= 0) & lanes.continues(neighbour)
                if not bool(usable.any()):
                    continue
                lane = neighbour.clamp(min=0)
                gap_ahead, speed_ahead = traffic.leader(lane)
                gap_behind, follower_speed = traffic.follower(lane)
                accel_new = idm_acceleration(speed, gap_ahead, speed_ahead, desired, idm)
                # New follower (drivers around want the same speed as the ego): behind its
                # current leader (the ego's new leader), then behind the ego.
                through = gap_behind + length + gap_ahead
                follower_before = idm_acceleration(
                    follower_speed, through, speed_ahead, desired, idm)
                follower_after = idm_acceleration(follower_speed, gap_behind, speed, desired, idm)
                has_follower = torch.isfinite(gap_behind)
                courtesy = torch.where(has_follower, follower_after - follower_before, 0.0)
                courtesy = courtesy + torch.where(has_old, old_after - old_before, 0.0)
                gain = accel_new - accel_current + config.politeness * courtesy
                threshold = torch.where(mandatory, -math.inf, config.lane_change_threshold)
                safe_limit = torch.where(
                    mandatory, config.merge_safe_deceleration, config.safe_deceleration)
                safe = (~has_follower | (follower_after >= -safe_limit)) & (
                    gap_ahead >= config.lane_change_gap) & (gap_behind >= config.lane_change_gap)
                better = usable & safe & (gain > threshold) & (gain > best_gain)
                best_gain = torch.where(better, gain, best_gain)
                best_lane = torch.where(better, lane, best_lane)
        starts = best_lane != current
        target = torch.where(starts, best_lane, target)
        self._cooldown = torch.where(
            starts, config.lane_change_cooldown, (self._cooldown - dt).clamp(min=0.0))
        self._target = target

        # Longitudinal: IDM behind the target lane's leader (and the current lane's while
        # the ego still occupies it).
        acceleration = ego_acceleration(target)
        acceleration = torch.where(target != current,
                                   torch.minimum(acceleration, accel_current), acceleration)
        acceleration = torch.maximum(acceleration, -speed / dt)  # stop, never reverse
        # Lateral: pure pursuit of the target lane's centre line.
        lookahead = (config.lookahead_time * speed).clamp(min=config.min_lookahead)
        centre = road.lane_center_y(target, x + lookahead)
        curvature = lane_keeping_curvature(state, centre, lookahead)
        return clip_actions(torch.stack([acceleration, curvature], dim=-1))


class _LaneView:
    """The lanes of the map at each ego's ``x``: boundaries ``(B, L)``, neighbours, ends."""

    def __init__(self, road: RoadTensors, x: torch.Tensor, valid_end: float) -> None:
        self.road = road
        self.left, self.right, self.exists = road.lane_bounds(x)
        self.x = x
        #: ``(L,)`` where a lane's route (it and the lanes that continue it, e.g. US-101's
        #: on-ramp, auxiliary lane and off-ramp) ends inside the section [m], inf where it
        #: goes on: a standing obstacle for a driver that has not left it.
        self.end = road.lane_route_end.to(x.dtype)
        #: ``(L,)`` lanes whose route goes on to the end of the valid region.
        self._continues = self.end >= valid_end
        centre = (self.left + self.right) / 2
        self.centre = torch.where(self.exists, centre, torch.inf)
        # Lane m is left of lane l where m's right boundary is l's left boundary.
        touching = (self.right[:, :, None] - self.left[:, None, :]).abs() < 0.3  # (B, m, l)
        both = self.exists[:, :, None] & self.exists[:, None, :]
        self._left_of = _first_index(touching & both, dim=1)  # (B, l) -> m or -1
        touching_right = (self.left[:, :, None] - self.right[:, None, :]).abs() < 0.3
        self._right_of = _first_index(touching_right & both, dim=1)

    def nearest(self, y: torch.Tensor) -> torch.Tensor:
        """``(B,)`` the lane whose centre line is nearest ``y`` among the lanes at ``x``."""
        return (self.centre - y[:, None]).abs().argmin(dim=1)

    def exists_at(self, lane: torch.Tensor) -> torch.Tensor:
        return (lane >= 0) & self.exists.gather(1, lane.clamp(min=0)[:, None])[:, 0]

    def continues(self, lane: torch.Tensor) -> torch.Tensor:
        return self._continues[lane.clamp(min=0)] & (lane >= 0)

    def left_of(self, lane: torch.Tensor) -> torch.Tensor:
        return self._left_of.gather(1, lane[:, None])[:, 0]

    def right_of(self, lane: torch.Tensor) -> torch.Tensor:
        return self._right_of.gather(1, lane[:, None])[:, 0]


def _first_index(mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Index of the first True along ``dim`` (removed), -1 where there is none."""
    index = mask.to(torch.int8).argmax(dim=dim)
    return torch.where(mask.any(dim=dim), index, -1)


class _LaneTraffic:
    """Other vehicles by lane: which lanes each occupies, and leaders and followers."""

    def __init__(self, scene: EgoScene, lanes: _LaneView, margin: float, horizon: float,
                 x: torch.Tensor, length: torch.Tensor) -> None:
        others_x, others_y = scene.others_pose[..., 0], scene.others_pose[..., 1]
        half_width = scene.others_size[..., 1] / 2
        left, right, exists = lanes.road.lane_bounds(others_x)  # (B, K, L)

        def overlaps(y: torch.Tensor) -> torch.Tensor:
            return ((y[..., None] + half_width[..., None] - margin > right)
                    & (y[..., None] - half_width[..., None] + margin < left))

        present = exists & scene.others_valid[..., None]
        self.occupies = present & overlaps(others_y)
        # Cut-ins: where a vehicle will be laterally after ``horizon`` seconds at its
        # current heading also counts for who is ahead.
        drift = scene.others_speed * torch.sin(scene.others_pose[..., 2]) * horizon
        self.will_occupy = self.occupies | (present & overlaps(others_y + drift))
        reach = (length[:, None] + scene.others_size[..., 0]) / 2
        dx = others_x - x[:, None]
        self.gap_ahead = torch.where(dx > 0, dx - reach, torch.inf)  # (B, K)
        self.gap_behind = torch.where(dx <= 0, -dx - reach, torch.inf)
        self.speed = scene.others_speed
        self.lanes = lanes
        self.ego_x, self.ego_length = x, length

    def _nearest(self, lane: torch.Tensor, gaps: torch.Tensor, occupancy: torch.Tensor):
        occupies = occupancy.gather(
            2, lane.clamp(min=0)[:, None, None].expand(-1, gaps.shape[1], 1))[..., 0]
        gaps = torch.where(occupies, gaps, torch.inf)
        if gaps.shape[1] == 0:
            inf = torch.full_like(self.ego_x, torch.inf)
            return inf, torch.zeros_like(self.ego_x)
        gap, which = gaps.min(dim=1)
        return gap, self.speed.gather(1, which[:, None])[:, 0]

    def leader(self, lane: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gap [m] to and speed [m/s] of the nearest vehicle ahead in ``lane`` ``(B,)`` (a
        lane's end counts as a standing vehicle; so does a vehicle about to cut in);
        ``inf`` and 0 where there is none."""
        gap, speed = self._nearest(lane, self.gap_ahead, self.will_occupy)
        end_gap = self.lanes.end[lane.clamp(min=0)] - self.ego_x - self.ego_length / 2
        closer = end_gap < gap
        return torch.where(closer, end_gap, gap), torch.where(closer, 0.0, speed)

    def follower(self, lane: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gap [m] to and speed [m/s] of the nearest vehicle behind in ``lane``."""
        return self._nearest(lane, self.gap_behind, self.occupies)


# ------------------------------------------------------------------------------ registry
#: Agents by name: ``factory(device, seed) -> agent``.
BASELINES: dict[str, Callable[[torch.device, int], Any]] = {
    "no-action": lambda device, seed: NoActionAgent(),
    "expert": lambda device, seed: ExpertAgent(),
    "idm": lambda device, seed: IDMAgent(),
}
#: Spec prefixes reserved for agents that load a checkpoint.
LATER_PREFIXES = {
    "policy": "policy:CHECKPOINT arrives with the policy-learning work",
    "planner": "planner:NAME:CHECKPOINT arrives with the planning work",
}


@dataclass
class AgentSpec:
    """A parsed ``--agent`` spec: ``kind`` (a baseline name, ``policy`` or ``planner``) and
    its arguments."""

    text: str
    kind: str
    arguments: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> AgentSpec:
        parts = str(text).split(":")
        return cls(text=str(text), kind=parts[0], arguments=parts[1:])


def known_specs() -> list[str]:
    return sorted(BASELINES) + ["policy:CHECKPOINT", "planner:NAME:CHECKPOINT"]


def make_agent(spec: str, *, world=None, device: torch.device | str = "cpu", seed: int = 0):
    """The agent named by ``spec`` (``--agent SPEC``), on ``device``, seeded with ``seed``.

    With ``world``, an agent that reads the log (the expert) is attached to it (see the
    module docstring; the evaluator attaches every recording's world itself). Raises
    :class:`InputError` naming the known specs when ``spec`` is unknown.
    """
    parsed = AgentSpec.parse(spec)
    factory = BASELINES.get(parsed.text)
    if factory is None:
        if parsed.kind in LATER_PREFIXES:
            raise InputError("--agent", f"{spec!r} is not available yet: "
                             f"{LATER_PREFIXES[parsed.kind]}")
        raise InputError("--agent", f"unknown agent {spec!r}; known agents: "
                         f"{', '.join(known_specs())}")
    agent = factory(torch.device(device), int(seed))
    if world is not None and hasattr(agent, "attach"):
        agent.attach(world)
    return agent


def agent_name(agent: object, spec: str) -> str:
    return str(getattr(agent, "name", spec))


__all__ = [
    "Agent",
    "AgentSpec",
    "BASELINES",
    "ExpertAgent",
    "IDMAgent",
    "IDMAgentConfig",
    "NoActionAgent",
    "Observation",
    "agent_name",
    "clip_actions",
    "known_specs",
    "make_agent",
]

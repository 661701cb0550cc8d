"""Reactive traffic: logged vehicles that would run into an ego hand over to IDM.

In a replay the logged vehicles do not react: when the ego drives differently from its log,
a car behind may run into it (REFERENCE.md, "Replay world"). In reactive traffic a logged
vehicle leaves its log and is driven by the Intelligent Driver Model (longitudinal) with
lane keeping (lateral) as soon as following its log would bring it too close behind the ego:

**Hand-over rule** (:class:`HandOverRule`): a logged vehicle hands over when its logged pose
at the next frame lies behind an *obstacle* (its centre behind the obstacle's centre along
the obstacle's heading), in the obstacle's lane corridor (lateral offset of the centres below
half the sum of the widths plus ``lateral_margin``), with a bumper-to-bumper gap below the
IDM's desired gap with a short time gap::

    min_gap + time_gap v + max(0, v (v - v_obstacle) / (2 sqrt(a b)))

(``v`` its logged speed, ``a``, ``b`` the IDM's acceleration and comfortable deceleration).
A follower keeping at least ``time_gap`` (0.5 s) + ``min_gap`` (1 m) behind an ego that
drives like its log does not hand over; one closing in fast hands over early enough for the
IDM to stop it. The obstacles of an ego are the ego and the vehicles already handed over in
that ego's episode, so hand-overs cascade down a queue (one link per step). A vehicle that
hands over continues from its logged state at the current frame (or at the next one, if it
enters the recording there). Only the logged vehicles near the ego (the world passes the
ones in its view range) are considered, as candidates and as leaders.

**Reactive driving**: acceleration by IDM (:func:`idm_acceleration`; Treiber, Hennecke &
Helbing 2000) with the nearest vehicle ahead in its own corridor as leader (among the ego,
the logged vehicles and the other handed-over ones), desired speed the highest speed the
vehicle reached in its log; curvature by pure pursuit of the centre line of the lane it was
in when it handed over (:func:`lane_keeping_curvature`); no lane changes (no MOBIL). Both go
through the same kinematics as every other vehicle; speed never goes negative.

Every ego has its own handed-over vehicles (independent episodes): up to ``capacity`` (M)
per ego, default 8; when they are all in use no further vehicle hands over in that episode
(it keeps replaying its log, and may run into the ego). A handed-over vehicle stays reactive
for the rest of the episode and leaves when its logged counterpart leaves the recording.
State is ``(B, M)`` tensors, fixed in size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from traffic_mpc.sim import kinematics
from traffic_mpc.sim.geometry import RoadTensors, to_frame

#: Gaps [m] are floored at this value inside the IDM so that touching gives a finite demand.
_SMALLEST_GAP = 0.05


@dataclass(frozen=True)
class IDMParameters:
    """Intelligent Driver Model parameters (Treiber & Kesting, freeway values).

    ``desired_time_gap`` T [s], ``min_gap`` s0 [m], ``max_acceleration`` a [m/s²],
    ``comfortable_deceleration`` b [m/s²], ``exponent`` delta; ``max_deceleration`` [m/s²]
    caps the braking the model may demand (a physical limit, about 0.8 g).
    """

    desired_time_gap: float = 1.0
    min_gap: float = 2.0
    max_acceleration: float = 1.5
    comfortable_deceleration: float = 2.0
    max_deceleration: float = 8.0
    exponent: float = 4.0


@dataclass(frozen=True)
class HandOverRule:
    """When a logged vehicle hands over (see the module docstring) and how many may."""

    time_gap: float = 0.5
    min_gap: float = 1.0
    lateral_margin: float = 0.3
    capacity: int = 8


def idm_acceleration(
    speed: torch.Tensor,
    gap: torch.Tensor,
    leader_speed: torch.Tensor,
    desired_speed: torch.Tensor,
    params: IDMParameters = IDMParameters(),
) -> torch.Tensor:
    """IDM acceleration [m/s²]; all tensors broadcast. ``gap`` [m] bumper to bumper, ``inf``
    for a free road. Clipped to ``[-max_deceleration, max_acceleration]``."""
    approach = speed - leader_speed
    braking = 2 * math.sqrt(params.max_acceleration * params.comfortable_deceleration)
    desired_gap = params.min_gap + (
        speed * params.desired_time_gap + speed * approach / braking
    ).clamp(min=0.0)
    free = (speed.clamp(min=0.0) / desired_speed.clamp(min=0.1)) ** params.exponent
    interaction = (desired_gap / gap.clamp(min=_SMALLEST_GAP)) ** 2
    acceleration = params.max_acceleration * (1 - free - interaction)
    return acceleration.clamp(-params.max_deceleration, params.max_acceleration)


def lane_keeping_curvature(
    state: torch.Tensor, target_y: torch.Tensor, lookahead: torch.Tensor
) -> torch.Tensor:
    """Pure-pursuit curvature [1/m] towards the point ``lookahead`` [m] ahead (along +x)
    at lateral position ``target_y`` [m]; clipped to the action space's curvature bound."""
    dy = target_y - state[..., 1]
    bearing = torch.atan2(dy, lookahead) - state[..., 2]
    distance = torch.sqrt(lookahead**2 + dy**2)
    curvature = 2 * torch.sin(bearing) / distance
    return curvature.clamp(-kinematics.MAX_CURVATURE, kinematics.MAX_CURVATURE)


def _behind_in_corridor(
    follower_pose: torch.Tensor,
    follower_size: torch.Tensor,
    leader_pose: torch.Tensor,
    leader_size: torch.Tensor,
    lateral_margin: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bumper gap [m] from follower to leader and whether the follower is behind the leader
    in its corridor, measured in the leader's frame. Shapes broadcast."""
    u, v = to_frame(follower_pose[..., 0], follower_pose[..., 1], leader_pose)
    gap = -u - (leader_size[..., 0] + follower_size[..., 0]) / 2
    corridor = v.abs() < (leader_size[..., 1] + follower_size[..., 1]) / 2 + lateral_margin
    return gap, (u < 0) & corridor


def _leader_gap(
    follower_pose: torch.Tensor,
    follower_size: torch.Tensor,
    pose: torch.Tensor,
    size: torch.Tensor,
    valid: torch.Tensor,
    lateral_margin: float,
) -> torch.Tensor:
    """Gap [m] from followers ``(..., M)`` to candidates ``(..., C)`` ahead of them in their
    corridor, measured in the follower's frame: ``(..., M, C)``, ``inf`` where none."""
    follower_pose, follower_size = follower_pose[..., :, None, :], follower_size[..., :, None, :]
    pose, size = pose[..., None, :, :], size[..., None, :, :]
    u, v = to_frame(pose[..., 0], pose[..., 1], follower_pose)
    gap = u - (size[..., 0] + follower_size[..., 0]) / 2
    corridor = v.abs() < (size[..., 1] + follower_size[..., 1]) / 2 + lateral_margin
    ahead = (u > 0) & corridor & valid[..., None, :]
    return torch.where(ahead, gap, torch.inf)


@dataclass(frozen=True)
class NearbyTraffic:
    """The logged vehicles near each ego at its new frame, ``C`` per ego (padded):

    ``state`` ``(B, C, 4)``, ``size`` ``(B, C, 2)`` [m], ``vehicle`` ``(B, C)`` index in the
    log's vehicle table, ``slot`` ``(B, C)`` their logged traffic slots, ``valid`` ``(B, C)``
    (without the ego's own vehicle), ``previous_state`` ``(B, C, 4)`` and
    ``previous_vehicle`` ``(B, C)`` the same slots at the frame before, ``max_speed``
    ``(B, C)`` [m/s] the highest speed each vehicle reached in its log.
    """

    state: torch.Tensor
    size: torch.Tensor
    vehicle: torch.Tensor
    slot: torch.Tensor
    valid: torch.Tensor
    previous_state: torch.Tensor
    previous_vehicle: torch.Tensor
    max_speed: torch.Tensor


class ReactiveTraffic:
    """The handed-over vehicles of ``B`` independent episodes: ``(B, M)`` tensors.

    - ``active`` ``(B, M)`` bool; ``slot`` ``(B, M)`` the logged traffic slot of the
      vehicle's logged counterpart (which it replaces); ``vehicle`` ``(B, M)`` its index in
      the log's vehicle table; ``state`` ``(B, M, 4)``; ``size`` ``(B, M, 2)`` [m];
      ``desired_speed`` ``(B, M)`` [m/s]; ``target_lane`` ``(B, M)`` lane index (-1: keep
      the hand-over ``y``) and ``target_y`` ``(B, M)`` that ``y`` [m].

    Interactions are computed among the vehicles near each ego (:class:`NearbyTraffic`,
    the world passes those in its view range): hand-overs happen there, and leaders are
    looked for among them, the ego and the handed-over vehicles.
    """

    def __init__(
        self,
        batch_size: int,
        road: RoadTensors,
        dt: float,
        *,
        rule: HandOverRule = HandOverRule(),
        idm: IDMParameters = IDMParameters(),
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.road, self.dt, self.rule, self.idm = road, float(dt), rule, idm
        shape = (batch_size, rule.capacity)
        zeros = dict(device=device, dtype=dtype)
        self.active = torch.zeros(shape, dtype=torch.bool, device=device)
        self.slot = torch.zeros(shape, dtype=torch.int64, device=device)
        self.vehicle = torch.full(shape, -1, dtype=torch.int64, device=device)
        self.state = torch.zeros((*shape, 4), **zeros)
        self.size = torch.zeros((*shape, 2), **zeros)
        self.desired_speed = torch.zeros(shape, **zeros)
        self.target_lane = torch.full(shape, -1, dtype=torch.int64, device=device)
        self.target_y = torch.zeros(shape, **zeros)

    def reset(self, egos: torch.Tensor) -> None:
        """Forget the handed-over vehicles of the selected egos (bool ``(B,)`` or indices)."""
        self.active[egos] = False
        self.vehicle[egos] = -1

    @property
    def count(self) -> torch.Tensor:
        """Handed-over vehicles per ego, ``(B,)``."""
        return self.active.sum(dim=1)

    def drop_departed(self, logged_vehicle: torch.Tensor, logged_valid: torch.Tensor) -> None:
        """Vehicles whose logged counterpart has left the recording leave too.
        ``logged_vehicle``, ``logged_valid``: ``(B, S)`` all slots at each ego's frame."""
        current = logged_vehicle.gather(1, self.slot)
        self.active &= (current == self.vehicle) & logged_valid.gather(1, self.slot)

    def replaces(self, slot: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` bool: which of the slots ``(B, C)`` hold a handed-over vehicle (whose
        logged counterpart must then be hidden)."""
        same = (slot[:, :, None] == self.slot[:, None, :]) & self.active[:, None, :]
        return same.any(-1)

    def advance(
        self,
        alive: torch.Tensor,
        ego_state: torch.Tensor,
        ego_size: torch.Tensor,
        nearby: NearbyTraffic,
    ) -> None:
        """Advance every ego's reactive traffic by one frame: new hand-overs, then IDM and
        lane keeping for all handed-over vehicles of the egos that stepped (``alive``
        ``(B,)``). ``ego_state`` ``(B, 4)`` and ``ego_size`` ``(B, 2)`` at the new frame;
        ``nearby`` the logged traffic near each ego at the new frame.
        Call :meth:`drop_departed` first."""
        rule, dt = self.rule, self.dt
        handed_over = self.replaces(nearby.slot)

        # Hand-over: logged next poses too close behind the ego or a handed-over vehicle.
        predicted = kinematics.step(self.state, torch.zeros_like(self.state[..., :2]), dt)
        obstacle_pose = torch.cat([ego_state[:, None, :3], predicted[..., :3]], dim=1)
        obstacle_size = torch.cat([ego_size[:, None], self.size], dim=1)
        obstacle_valid = torch.cat([alive[:, None], self.active & alive[:, None]], dim=1)
        gap, behind = _behind_in_corridor(
            nearby.state[:, :, None, :3], nearby.size[:, :, None],
            obstacle_pose[:, None], obstacle_size[:, None], rule.lateral_margin,
        )  # (B, C, 1 + M)
        speed = nearby.state[..., 3, None].clamp(min=0.0)  # (B, C, 1)
        obstacle_speed = torch.cat([ego_state[:, None, 3], predicted[..., 3]], dim=1)
        approach = speed - obstacle_speed[:, None]
        braking = 2 * math.sqrt(self.idm.max_acceleration * self.idm.comfortable_deceleration)
        threshold = rule.min_gap + rule.time_gap * speed + (speed * approach / braking).clamp(
            min=0.0)
        too_close = behind & (gap < threshold) & obstacle_valid[:, None]
        candidate = too_close.any(-1) & nearby.valid & ~handed_over & alive[:, None]
        entered = torch.zeros_like(self.active)
        if bool(candidate.any()):
            closest = torch.where(too_close, gap, torch.inf).amin(-1)
            entered = self._hand_over(candidate, closest, nearby)
            handed_over = self.replaces(nearby.slot)

        # Reactive driving (leaders: the ego and logged traffic at the new frame, the other
        # handed-over vehicles at the frame before).
        moving = self.active & alive[:, None] & ~entered
        if bool(moving.any()):
            count = nearby.valid.shape[1]
            replayed = nearby.valid & ~handed_over
            everyone = torch.cat([ego_state[:, None], nearby.state, self.state], dim=1)
            pose, speed = everyone[..., :3], everyone[..., 3]
            size = torch.cat([ego_size[:, None], nearby.size, self.size], dim=1)
            valid = torch.cat([alive[:, None], replayed, self.active], dim=1)
            gaps = _leader_gap(self.state[..., :3], self.size, pose, size, valid,
                               rule.lateral_margin)  # (B, M, 1 + C + M)
            itself = torch.eye(rule.capacity, dtype=torch.bool, device=gaps.device)
            gaps[..., 1 + count:] = gaps[..., 1 + count:].masked_fill(itself, torch.inf)
            gap, leader = gaps.min(dim=-1)
            leader_speed = speed.gather(1, leader)
            own_speed = self.state[..., 3]
            acceleration = idm_acceleration(
                own_speed, gap, leader_speed, self.desired_speed, self.idm)
            acceleration = torch.maximum(acceleration, -own_speed / dt)  # stop, never reverse
            lookahead = (own_speed * 1.0).clamp(min=5.0)
            lane_y = self.road.lane_center_y(self.target_lane, self.state[..., 0] + lookahead)
            target_y = torch.where(self.target_lane >= 0, lane_y, self.target_y)
            curvature = lane_keeping_curvature(self.state, target_y, lookahead)
            next_state = kinematics.step(self.state, torch.stack([acceleration, curvature], -1), dt)
            self.state = torch.where(moving[..., None], next_state, self.state)

    def _hand_over(
        self, candidate: torch.Tensor, closest_gap: torch.Tensor, nearby: NearbyTraffic
    ) -> torch.Tensor:
        """Put the candidates ``(B, C)`` (closest first) into free places, as many as fit.

        Returns ``(B, M)`` bool: places filled by a vehicle that enters the recording at the
        new frame (its state is already that of the new frame)."""
        capacity = self.rule.capacity
        priority = torch.where(candidate, closest_gap, torch.inf)
        count = min(capacity, priority.shape[1])
        order = priority.argsort(dim=1)[:, :count]  # (B, count) candidates, closest first
        wanted = candidate.gather(1, order)
        free_order = self.active.to(torch.int8).argsort(dim=1, stable=True)[:, :count]
        free = ~self.active.gather(1, free_order)
        take = wanted & free
        entered = torch.zeros_like(self.active)
        egos, rank = take.nonzero(as_tuple=True)
        place = free_order[egos, rank]
        which = order[egos, rank]
        enters_now = nearby.previous_vehicle[egos, which] != nearby.vehicle[egos, which]
        start = torch.where(enters_now[:, None], nearby.state[egos, which],
                            nearby.previous_state[egos, which])
        self.active[egos, place] = True
        self.slot[egos, place] = nearby.slot[egos, which]
        self.vehicle[egos, place] = nearby.vehicle[egos, which]
        self.state[egos, place] = start
        self.size[egos, place] = nearby.size[egos, which]
        self.desired_speed[egos, place] = nearby.max_speed[egos, which].clamp(min=1.0)
        self.target_lane[egos, place] = self.road.lane_index_at(start[:, 0], start[:, 1])
        self.target_y[egos, place] = start[:, 1]
        entered[egos, place] = enters_now
        return entered

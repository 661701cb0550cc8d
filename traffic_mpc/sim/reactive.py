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
vehicle reached in its log; curvature by pure pursuit (:func:`lane_keeping_curvature`,
:class:`LaneKeeping`) of the centre line of its *target lane*: the lane its heading leads
to when it hands over (the lane at one lookahead ahead along its heading, else the lane it
is in), so a vehicle handed over in the middle of a lane change completes it instead of
turning back; then the lane that continues it where it ends (US-101: on-ramp, auxiliary
lane, off-ramp). No discretionary lane changes (no MOBIL). Both go through the same
kinematics as every other vehicle; speed never goes negative.

**Merges**: a lane whose route (it and its successors) ends inside the section, an on-ramp,
has a lane its traffic merges into, derived from the road (:meth:`Road.merges_into`: the
neighbour that shares its boundary near its end and goes on; lane 6 on synth and I-80;
US-101 has none, its ramp lanes run on to the section's end). These are precomputed per
lane in :class:`~traffic_mpc.sim.geometry.RoadTensors` (``lane_successor``,
``lane_route_end``, ``lane_merge_into``), so a step costs a few gathers. A handed-over
vehicle keeps its lane as long as it can and merges in its last ``merge_room + merge_time
v`` metres (15 m + 3 s): its target lane becomes the lane it merges into. Pure pursuit
brings a vehicle from one lane's centre to within 0.3 m of the next one's in 2 s of travel
(lookahead ``v`` x 1 s), or 10.4 m from a standstill (lookahead 5 m), so a merge begun
there ends on the target lane's centre before the lane ends, at a margin. While its centre
is not yet on its target lane it is *merging*, and moves across only if neither it
(behind its new leader) nor its new follower (the ego included) would have to brake harder
than ``merge_safe_deceleration`` (4 m/s², MOBIL's safety criterion with the relaxed value of
mandatory merges, as in :mod:`traffic_mpc.logs.synth`), by the IDM; while it moves across,
the vehicles ahead in the target lane's corridor (lateral offset from that lane's centre
line) lead it too. Otherwise it is *blocked*: it keeps the lane it is on, and stops before
the last ``merge_room`` metres of it (a standing obstacle there), from where it can still
merge when a gap opens. Limits: a vehicle that hands over blocked inside the merge zone
brakes (at most ``max_deceleration``) and may stop past that line, still on its lane, or,
handed over a few metres before the end at speed, run past it before it is across; a
vehicle stopped right behind a stopped vehicle (the ego) in its lane cannot steer around it
(pure pursuit needs motion) and waits behind it; once its centre is on the target lane a
merge goes on even if the gap closes.

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
class LaneKeeping:
    """Lateral control of handed-over vehicles and their merges (see the module docstring).

    Pure pursuit at ``max(lookahead_time * v, min_lookahead)`` [m] ahead. A vehicle whose
    lane ends inside the section merges over its last ``merge_room + merge_time * v`` [m];
    it moves across only while neither it (behind its new leader) nor its new follower
    would have to brake harder than ``merge_safe_deceleration`` [m/s²], and otherwise
    waits before the last ``merge_room`` [m] of its lane.
    """

    lookahead_time: float = 1.0
    min_lookahead: float = 5.0
    merge_time: float = 3.0
    merge_room: float = 15.0
    merge_safe_deceleration: float = 4.0


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


def _relative(
    follower_pose: torch.Tensor,
    follower_size: torch.Tensor,
    pose: torch.Tensor,
    size: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Candidates ``(..., C)`` seen from followers ``(..., M)``: ``u``, ``v`` [m] of their
    centres in the follower's frame and the sums of half lengths and of half widths [m],
    each ``(..., M, C)``."""
    follower_pose, follower_size = follower_pose[..., :, None, :], follower_size[..., :, None, :]
    pose, size = pose[..., None, :, :], size[..., None, :, :]
    u, v = to_frame(pose[..., 0], pose[..., 1], follower_pose)
    half_lengths = (size[..., 0] + follower_size[..., 0]) / 2
    half_widths = (size[..., 1] + follower_size[..., 1]) / 2
    return u, v, half_lengths, half_widths


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
      ``desired_speed`` ``(B, M)`` [m/s]; ``target_lane`` ``(B, M)`` index of the lane it
      heads for (module docstring; -1: keep the hand-over ``y``) and ``target_y`` ``(B, M)``
      that ``y`` [m].

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
        lane_keeping: LaneKeeping = LaneKeeping(),
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.road, self.dt, self.rule, self.idm = road, float(dt), rule, idm
        self.lane_keeping = lane_keeping
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
    ) -> torch.Tensor:
        """Advance every ego's reactive traffic by one frame: new hand-overs, then IDM and
        lane keeping for all handed-over vehicles of the egos that stepped (``alive``
        ``(B,)``). ``ego_state`` ``(B, 4)`` and ``ego_size`` ``(B, 2)`` at the new frame;
        ``nearby`` the logged traffic near each ego at the new frame.
        Call :meth:`drop_departed` first. Returns :meth:`replaces` of ``nearby.slot`` after
        the hand-overs, ``(B, C)`` bool."""
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
            replayed = nearby.valid & ~handed_over
            everyone = torch.cat([ego_state[:, None], nearby.state, self.state], dim=1)
            size = torch.cat([ego_size[:, None], nearby.size, self.size], dim=1)
            valid = torch.cat([alive[:, None], replayed, self.active], dim=1)
            acceleration, curvature = self._drive(everyone, size, valid)
            next_state = kinematics.step(self.state, torch.stack([acceleration, curvature], -1), dt)
            self.state = torch.where(moving[..., None], next_state, self.state)
        return handed_over

    def _drive(
        self, everyone: torch.Tensor, size: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Acceleration [m/s²] and curvature [1/m] ``(B, M)`` of every handed-over vehicle
        among ``N`` vehicles (the ego, the nearby logged ones, the handed-over ones, in that
        order): ``everyone`` ``(B, N, 4)`` states, ``size`` ``(B, N, 2)``, ``valid``
        ``(B, N)``. Updates :attr:`target_lane` (successors, merges)."""
        road, idm, keeping = self.road, self.idm, self.lane_keeping
        x, y, own_speed = self.state[..., 0], self.state[..., 1], self.state[..., 3]
        lane = self._update_target_lane(x, own_speed)
        left, right, exists = road.bounds_of_lane(lane, x)
        on_target = exists & (y <= left) & (y >= right)
        merging = self.active & (lane >= 0) & ~on_target  # its centre not yet on it

        # Pairs: every handed-over vehicle against everyone, (B, M, N).
        u, v, half_lengths, half_widths = _relative(self.state[..., :3], self.size,
                                                    everyone[..., :3], size)
        capacity = self.rule.capacity
        itself = torch.eye(capacity, dtype=torch.bool, device=u.device)
        itself = torch.nn.functional.pad(itself, (valid.shape[1] - capacity, 0))  # (M, N)
        others = valid[:, None, :] & ~itself
        corridor = half_widths + self.rule.lateral_margin
        bumper_gap = u.abs() - half_lengths
        ahead = others & (u > 0)
        in_own = v.abs() < corridor
        leads = ahead & in_own

        # A merge moves across only while it is safe for the merging vehicle and for the
        # vehicle it cuts in front of (MOBIL's safety criterion), both judged by the IDM;
        # while it moves across, the vehicles ahead in the target lane lead it too. Blocked,
        # it keeps the lane it is on and, if that lane ends, stops before its last
        # merge_room metres, from where it can still merge. Computed for the B' egos with a
        # merging vehicle only.
        pursued = lane
        stop_gap = torch.full_like(x, torch.inf)
        rows = merging.any(dim=1)
        if bool(rows.any()):
            lane_y = (left[rows] + right[rows]) / 2  # (B', M): the target lane here
            pairs = everyone[rows][:, None]  # (B', 1, N, 4)
            in_target = merging[rows][..., None] & (
                (pairs[..., 1] - lane_y[..., None]).abs() < corridor[rows])
            other_speed, speed = pairs[..., 3], own_speed[rows][..., None]
            gaps = bumper_gap[rows]
            behind_it = idm_acceleration(speed, gaps, other_speed,
                                         self.desired_speed[rows][..., None], idm)
            cut_off = idm_acceleration(other_speed, gaps, speed,
                                       torch.full_like(gaps, torch.inf), idm)
            braking = torch.where(u[rows] > 0, behind_it, cut_off)
            unsafe = others[rows] & in_target & ~in_own[rows] & (
                braking < -keeping.merge_safe_deceleration)
            blocked = merging[rows] & unsafe.any(-1)  # (B', M)
            leads[rows] = leads[rows] | (ahead[rows] & in_target & ~blocked[..., None])
            on_lane = road.lane_index_at(x[rows], y[rows])
            held = blocked & (on_lane >= 0)
            pursued = lane.clone()
            pursued[rows] = torch.where(held, on_lane, lane[rows])
            stop_line = road.lane_route_end[on_lane.clamp(min=0)] - keeping.merge_room
            stop_gap[rows] = torch.where(
                held, stop_line - x[rows] - self.size[rows][..., 0] / 2, torch.inf)
        gap, leader = torch.where(leads, bumper_gap, torch.inf).min(dim=-1)
        leader_speed = everyone[..., 3].gather(1, leader)
        stop = stop_gap < gap
        gap = torch.where(stop, stop_gap, gap)
        leader_speed = torch.where(stop, 0.0, leader_speed)

        acceleration = idm_acceleration(own_speed, gap, leader_speed, self.desired_speed, idm)
        acceleration = torch.maximum(acceleration, -own_speed / self.dt)  # stop, never reverse
        lookahead = (own_speed * keeping.lookahead_time).clamp(min=keeping.min_lookahead)
        pursued_y = road.lane_center_y(pursued, x + lookahead)
        target_y = torch.where(pursued >= 0, pursued_y, self.target_y)
        return acceleration, lane_keeping_curvature(self.state, target_y, lookahead)

    def _lane_headed_for(self, state: torch.Tensor) -> torch.Tensor:
        """The lane at the point one lookahead ahead along each heading (states ``(K, 4)``),
        or, where that is off the road, the lane at the centre (-1 if none): ``(K,)``."""
        keeping = self.lane_keeping
        reach = (state[:, 3].clamp(min=0.0) * keeping.lookahead_time).clamp(
            min=keeping.min_lookahead)
        ahead = self.road.lane_index_at(state[:, 0] + reach * torch.cos(state[:, 2]),
                                        state[:, 1] + reach * torch.sin(state[:, 2]))
        here = self.road.lane_index_at(state[:, 0], state[:, 1])
        return torch.where(ahead >= 0, ahead, here)

    def _update_target_lane(self, x: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
        """Move every target lane on to its successor once the vehicle (``x``, ``speed``
        ``(B, M)``) has passed its end, and to the lane it merges into once the rest of its
        route is shorter than ``merge_room + merge_time v``. Returns (and stores) them."""
        road, keeping = self.road, self.lane_keeping
        lane = self.target_lane
        index = lane.clamp(min=0)
        successor = road.lane_successor[index]
        passed = (lane >= 0) & (successor >= 0) & (x >= road.lane_x_range[index, 1])
        lane = torch.where(passed, successor, lane)
        index = lane.clamp(min=0)
        merge_into = road.lane_merge_into[index]
        reach = keeping.merge_room + keeping.merge_time * speed
        merge = (lane >= 0) & (merge_into >= 0) & (road.lane_route_end[index] - x < reach)
        self.target_lane = torch.where(merge, merge_into, lane)
        return self.target_lane

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
        self.target_lane[egos, place] = self._lane_headed_for(start)
        self.target_y[egos, place] = start[:, 1]
        entered[egos, place] = enters_now
        return entered

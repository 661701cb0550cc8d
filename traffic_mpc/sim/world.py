"""The batched replay world: logged traffic around a batch of controlled egos.

**Logged traffic** (:class:`LoggedTraffic`) holds every logged vehicle of one recording as
dense ``(frames, slots)`` tensors with a validity mask. A *slot* is a column that holds one
vehicle at a time: vehicles whose time spans do not overlap share a slot, so memory grows
with the number of vehicles on the road at once (about 100 on I-80), not with the number in
the recording (about 2,000 in 15 minutes). ``vehicle[t, s]`` says which vehicle a cell holds.
With ``playback="actions"`` (default) every logged vehicle is driven by its recovered actions
through the same kinematics as the ego (:func:`kinematics.recover_actions`, closed loop,
float64), replayed once at construction; ``playback="positions"`` plays back the logged
positions (states from backward differences, :func:`kinematics.logged_actions`).

**Egos**: :meth:`ReplayWorld.reset` takes over ``B`` logged vehicles, each at its own start
frame; every ego is an independent episode that sees the logged world at its own frame,
without its own logged vehicle and without the other egos. An ego follows its log for
``ncond`` warm-up steps (its logged states, i.e. its recovered actions; external actions are
ignored, see :attr:`ReplayWorld.in_warmup`), then :meth:`ReplayWorld.step` applies the
external actions through :mod:`~traffic_mpc.sim.kinematics`. The world does not clip
actions (the action space does, with the bounds in :mod:`~traffic_mpc.sim.kinematics`).

**Each step**, for every ego at its new frame: the scene (its ``max_others`` nearest other
vehicles whose centres lie in the view range), the exact geometric costs
(:mod:`~traffic_mpc.sim.geometric_costs`), collisions by footprint overlap classified as
ahead / behind / side (definition in :mod:`~traffic_mpc.sim.geometric_costs`), and the
termination reason, the first that holds in this order:

1. collision ahead, 2. collision side, 3. collision behind (footprints overlap; the
   contact that ended the episode is reported by the id of the vehicle collided with);
4. off road: the ego's **centre** is on no lane (:meth:`Road.is_off_road`);
5. arrived: the ego's ``x >= road.valid_x[1]``;
6. end of log: the ego has reached the last frame of the recording (there is no next frame).

Conditions are checked during warm-up too (a logged vehicle overlapping another in a noisy
log ends its episode there). A done ego stays frozen (state, frame, reason) until it is reset;
:meth:`ReplayWorld.reset` with ``egos=`` resets a subset (vector-env autoreset).
``distance`` is the path length the ego drove under external control (after warm-up) [m].

**Through rear-end hits** (``through_rear_end=True``; off by default): a vehicle that, at
its first contact with an ego, is classified *behind* (it ran into the ego) does not end
that ego's episode; the world remembers it (up to :data:`REAR_END_MEMORY` per ego, a
further hitter is a genuine collision) and ignores every later contact of the ego with it,
whatever its class. A step with a genuine contact (ahead or side, or behind by a vehicle
that cannot be remembered) ends the episode with the most serious genuine class as above;
off road, arrival and end of log end it in the same step even if a rear-end hit was
ignored. Each ignored new hit is reported in the step's result; a reset forgets the ego's
hitters. This measures "success ignoring rear-end hits" in the same run as the plain
protocol (which ends at the first reported hit).

**Traffic**: ``"replay"`` (non-reactive, as the reference: a car behind may run into the
ego) or ``"reactive"`` (:mod:`~traffic_mpc.sim.reactive`: per ego, logged vehicles that would
run into it hand over to IDM and appear in that ego's scene at their reactive poses).

All per-step state has a fixed size: memory stays flat over a recording of any length.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch

from traffic_mpc.logs.traffic_log import TrafficLog
from traffic_mpc.road import Road
from traffic_mpc.sim import cost_masks, kinematics
from traffic_mpc.sim.geometric_costs import (
    AHEAD,
    BEHIND,
    NO_COLLISION,
    SIDE,
    GeometricCosts,
    collision_flags,
)
from traffic_mpc.sim.geometry import RoadTensors, to_frame
from traffic_mpc.sim.reactive import (
    HandOverRule,
    IDMParameters,
    NearbyTraffic,
    ReactiveTraffic,
)
from traffic_mpc.sim.scene import EgoScene

#: View range (forward, backward, lateral) [m] bounding which vehicle centres an ego sees:
#: the 72 m x 15 m ego view (36 m ahead and behind, 7.5 m each side) plus 10 m (a long
#: truck's half-length) ahead and behind and 5 m each side.
DEFAULT_VIEW_RANGE = (46.0, 46.0, 12.5)
#: Other vehicles kept per ego (nearest first); dense traffic has about 40 in view.
DEFAULT_MAX_OTHERS = 64
#: Rear-end hitters remembered per ego with ``through_rear_end`` (further ones collide).
REAR_END_MEMORY = 8


#: Per-ego state tensors of :class:`ReplayWorld`, all ``(B, ...)``.
_PER_EGO = ("_active", "_vehicle", "_slot", "_frame", "_steps", "_state", "_size", "_done",
            "_reason", "_distance", "_rear_end_hitters")


class TerminationReason(IntEnum):
    """Why an ego's episode ended (``NONE``: it has not)."""

    NONE = 0
    COLLISION_AHEAD = 1
    COLLISION_BEHIND = 2
    COLLISION_SIDE = 3
    OFF_ROAD = 4
    ARRIVED = 5
    END_OF_LOG = 6


#: The lower-case name of every termination reason by its number (``episodes.csv``, env info).
REASON_NAMES = {int(reason): reason.name.lower() for reason in TerminationReason}


#: Seriousness of a contact by collision class (``geometric_costs``: none, ahead, behind,
#: side), and the termination reason of each seriousness: ahead > side > behind.
_SEVERITY_OF_CLASS = {NO_COLLISION: 0, AHEAD: 3, BEHIND: 1, SIDE: 2}
_REASON_OF_SEVERITY = (TerminationReason.NONE, TerminationReason.COLLISION_BEHIND,
                       TerminationReason.COLLISION_SIDE, TerminationReason.COLLISION_AHEAD)


@dataclass(frozen=True)
class StepResult:
    """What happened to every ego in one step; all tensors have leading dimension ``B``.

    - ``state`` ``(B, 4)`` x, y [m], heading [rad], speed [m/s] after the step
    - ``action`` ``(B, 2)`` the action applied (recovered action during warm-up; 0 if done)
    - ``costs`` ``(B, 3)`` proximity, lane, off-road in [0, 1] (``geometric_costs.COST_NAMES``)
    - ``collision`` ``(B, 3)`` bool: ahead, behind, side (``geometric_costs.COLLISION_NAMES``),
      the footprint contacts of this step (with ``through_rear_end``: a new rear-end hit
      included, contacts with hitters remembered at earlier steps left out)
    - ``reason`` ``(B,)`` int64 :class:`TerminationReason`; ``done`` ``(B,)`` bool
    - ``collided_with`` ``(B,)`` int64 logged id of the vehicle whose contact ended the
      episode at this step (the most serious contact; the nearest of equally serious
      ones), -1 otherwise
    - ``rear_end_ignored`` ``(B,)`` bool: with ``through_rear_end``, a vehicle ran into the
      ego for the first time at this step and is ignored from now on (also reported when
      the step ends the episode for another reason); ``rear_end_hitter`` ``(B,)`` int64
      its logged id (the nearest, if several), -1 otherwise
    - ``distance`` ``(B,)`` [m] driven under external control since the reset
    - ``frame`` ``(B,)`` int64 the ego's log frame number after the step
    - ``warmup`` ``(B,)`` bool: this step followed the log (external action ignored)
    """

    state: torch.Tensor
    action: torch.Tensor
    costs: torch.Tensor
    collision: torch.Tensor
    reason: torch.Tensor
    done: torch.Tensor
    distance: torch.Tensor
    frame: torch.Tensor
    warmup: torch.Tensor
    collided_with: torch.Tensor
    rear_end_ignored: torch.Tensor
    rear_end_hitter: torch.Tensor


@dataclass(frozen=True)
class LoggedTraffic:
    """All vehicles of one recording as dense ``(T, S)`` frame x slot tensors.

    - ``first_frame`` log frame number of row 0; ``dt`` [s]
    - ``vehicle`` ``(T, S)`` int64 index into the vehicle tables, -1 where a slot is empty;
      ``valid`` ``(T, S)`` bool
    - ``state`` ``(T, S, 4)`` x, y [m], heading [rad], speed [m/s]; ``action`` ``(T, S, 2)``
      acceleration [m/s²], curvature [1/m] from frame t to t + 1 (0 at a vehicle's last frame)
    - vehicle tables ``(N,)``: ``vehicle_ids`` (logged ids, ascending), ``vehicle_size``
      ``(N, 2)`` length, width [m] (mean over its rows), ``vehicle_max_speed`` [m/s],
      ``vehicle_slot``, ``vehicle_first`` and ``vehicle_last`` (frame indices, inclusive)
    """

    first_frame: int
    dt: float
    vehicle: torch.Tensor
    valid: torch.Tensor
    state: torch.Tensor
    action: torch.Tensor
    vehicle_ids: torch.Tensor
    vehicle_size: torch.Tensor
    vehicle_max_speed: torch.Tensor
    vehicle_slot: torch.Tensor
    vehicle_first: torch.Tensor
    vehicle_last: torch.Tensor

    @property
    def n_frames(self) -> int:
        return self.valid.shape[0]

    @property
    def n_slots(self) -> int:
        return self.valid.shape[1]

    @classmethod
    def from_log(
        cls,
        log: TrafficLog,
        playback: str = "actions",
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> LoggedTraffic:
        """Pack a log into slots and replay it (``playback``: ``"actions"`` or ``"positions"``)."""
        if playback not in ("actions", "positions"):
            raise ValueError(f"playback must be 'actions' or 'positions', got {playback!r}")
        packed = _pack(log)
        position, valid, vehicle = packed["position"], packed["valid"], packed["vehicle"]
        if playback == "actions":
            state, action = kinematics.recover_actions(
                position, valid, log.dt, vehicle, packed["heading"])
        else:
            state, action = kinematics.logged_actions(
                position, valid, log.dt, vehicle, packed["heading"])
        n_vehicles = len(packed["ids"])
        max_speed = np.zeros(n_vehicles)
        np.maximum.at(max_speed, vehicle[valid], state[..., 3][valid])

        def tensor(array, kind=dtype) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(array), dtype=kind, device=device)

        return cls(
            first_frame=log.first_frame if len(log) else 0,
            dt=float(log.dt),
            vehicle=tensor(vehicle, torch.int64),
            valid=tensor(valid, torch.bool),
            state=tensor(state),
            action=tensor(action),
            vehicle_ids=tensor(packed["ids"], torch.int64),
            vehicle_size=tensor(packed["size"]),
            vehicle_max_speed=tensor(max_speed),
            vehicle_slot=tensor(packed["slot"], torch.int64),
            vehicle_first=tensor(packed["first"], torch.int64),
            vehicle_last=tensor(packed["last"], torch.int64),
        )


def _pack(log: TrafficLog) -> dict[str, np.ndarray]:
    """Assign vehicles to slots (greedy by first frame) and fill the dense arrays."""
    if not len(log):
        raise ValueError(f"log {log.source or log.site!r} has no rows")
    if not log.is_sorted():
        log = log.sorted()
    ids, row_vehicle = np.unique(log.vehicle_id, return_inverse=True)
    row_frame = log.frame - log.first_frame
    n = len(ids)
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, -1)
    np.minimum.at(first, row_vehicle, row_frame)
    np.maximum.at(last, row_vehicle, row_frame)
    slot = np.zeros(n, dtype=np.int64)
    free: list[tuple[int, int]] = []  # (last frame of the previous holder, slot)
    n_slots = 0
    for index in np.argsort(first, kind="stable"):
        if free and free[0][0] < first[index]:
            _, slot[index] = heapq.heappop(free)
        else:
            slot[index], n_slots = n_slots, n_slots + 1
        heapq.heappush(free, (int(last[index]), int(slot[index])))
    shape = (log.last_frame - log.first_frame + 1, n_slots)
    column = slot[row_vehicle]
    vehicle = np.full(shape, -1, dtype=np.int64)
    vehicle[row_frame, column] = row_vehicle
    valid = vehicle >= 0
    position = np.zeros((*shape, 2))
    position[row_frame, column, 0] = log.x
    position[row_frame, column, 1] = log.y
    heading = np.zeros(shape)
    heading[row_frame, column] = log.heading
    counts = np.bincount(row_vehicle, minlength=n)
    size = np.stack([np.bincount(row_vehicle, log.length, n) / counts,
                     np.bincount(row_vehicle, log.width, n) / counts], axis=1)
    return dict(ids=ids, first=first, last=last, slot=slot, vehicle=vehicle, valid=valid,
                position=position, heading=heading, size=size)


@dataclass(frozen=True)
class ReplayDrift:
    """Position error [m] of a replay against the logged positions, per vehicle ``(N,)``:
    the largest over its frames and the one at its last frame."""

    vehicle_ids: np.ndarray
    max_error: np.ndarray
    final_error: np.ndarray

    def summary(self) -> dict[str, float]:
        """Median and 99th percentile over vehicles of the max and final errors [m]."""
        return {
            "max_error_median": float(np.median(self.max_error)),
            "max_error_p99": float(np.percentile(self.max_error, 99)),
            "final_error_median": float(np.median(self.final_error)),
            "final_error_p99": float(np.percentile(self.final_error, 99)),
        }


def replay_drift(log: TrafficLog, closed_loop: bool = True) -> ReplayDrift:
    """Replay every vehicle's recovered actions from its first state (float64) and measure
    how far the replay ends up from its logged positions (see
    :func:`kinematics.recover_actions` for ``closed_loop``)."""
    packed = _pack(log)
    position, valid, vehicle = packed["position"], packed["valid"], packed["vehicle"]
    state, _ = kinematics.recover_actions(
        position, valid, log.dt, vehicle, packed["heading"], closed_loop=closed_loop)
    error = np.linalg.norm(state[..., :2] - position, axis=-1)
    n = len(packed["ids"])
    max_error = np.zeros(n)
    np.maximum.at(max_error, vehicle[valid], error[valid])
    final_error = error[packed["last"], packed["slot"]]
    return ReplayDrift(packed["ids"], max_error, final_error)


class ReplayWorld:
    """Logged traffic around ``B`` controlled egos, each in its own episode (module doc).

    ``log``, ``road``: the recording and its site. ``device``, ``dtype``: where and in what
    precision the world runs (logged replays are computed in float64 first). ``traffic``:
    ``"replay"`` or ``"reactive"``. ``playback``: ``"actions"`` or ``"positions"``.
    ``ncond``: warm-up steps. ``view_range``: (forward, backward, lateral) [m] in the ego
    frame within which other vehicles' centres are seen. ``max_others``: K, the nearest kept.
    ``lane_width`` [m] of the lane and off-road masks. ``hand_over``, ``idm``: reactive
    traffic parameters (defaults: :class:`HandOverRule`, :class:`IDMParameters`).
    ``through_rear_end``: drive egos on through rear-end hits (module doc); a public
    attribute, it may be changed between steps.
    """

    def __init__(
        self,
        log: TrafficLog,
        road: Road,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        traffic: str = "replay",
        playback: str = "actions",
        ncond: int = 20,
        view_range: tuple[float, float, float] = DEFAULT_VIEW_RANGE,
        max_others: int = DEFAULT_MAX_OTHERS,
        lane_width: float = cost_masks.LANE_WIDTH,
        hand_over: HandOverRule | None = None,
        idm: IDMParameters | None = None,
        through_rear_end: bool = False,
    ) -> None:
        if traffic not in ("replay", "reactive"):
            raise ValueError(f"traffic must be 'replay' or 'reactive', got {traffic!r}")
        if ncond < 0 or max_others < 1:
            raise ValueError(f"need ncond >= 0 and max_others >= 1, got {ncond}, {max_others}")
        self.road = road
        self.device = torch.device(device)
        self.dtype = dtype
        self.traffic_mode = traffic
        self.ncond = int(ncond)
        self.view_range = tuple(float(r) for r in view_range)
        self.max_others = int(max_others)
        self.hand_over = hand_over or HandOverRule()
        self.idm = idm or IDMParameters()
        self.through_rear_end = bool(through_rear_end)
        self.traffic = LoggedTraffic.from_log(log, playback, self.device, dtype)
        self.dt = self.traffic.dt
        self.road_tensors = RoadTensors.from_road(road, self.device, dtype)
        self.costs = GeometricCosts(self.road_tensors, lane_width=lane_width)
        self._ids = self.traffic.vehicle_ids.cpu().numpy()
        self._first = self.traffic.vehicle_first.cpu().numpy()
        self._last = self.traffic.vehicle_last.cpu().numpy()
        severity = torch.zeros(max(_SEVERITY_OF_CLASS) + 1, dtype=torch.int64)
        for kind, value in _SEVERITY_OF_CLASS.items():
            severity[kind] = value
        self._severity_of_class = severity.to(self.device)
        self._reason_of_severity = torch.tensor([int(r) for r in _REASON_OF_SEVERITY],
                                                device=self.device)
        self._allocate(0)

    # ------------------------------------------------------------------ per-ego state
    def _allocate(self, batch: int) -> None:
        device, dtype = self.device, self.dtype
        self._active = torch.zeros(batch, dtype=torch.bool, device=device)
        self._vehicle = torch.zeros(batch, dtype=torch.int64, device=device)
        self._slot = torch.zeros(batch, dtype=torch.int64, device=device)
        self._frame = torch.zeros(batch, dtype=torch.int64, device=device)
        self._steps = torch.zeros(batch, dtype=torch.int64, device=device)
        self._state = torch.zeros(batch, 4, dtype=dtype, device=device)
        self._size = torch.zeros(batch, 2, dtype=dtype, device=device)
        self._done = torch.zeros(batch, dtype=torch.bool, device=device)
        self._reason = torch.zeros(batch, dtype=torch.int64, device=device)
        self._distance = torch.zeros(batch, dtype=dtype, device=device)
        self._rear_end_hitters = torch.full((batch, REAR_END_MEMORY), -1, dtype=torch.int64,
                                            device=device)  # logged ids, -1: none
        self._reactive = (
            ReactiveTraffic(batch, self.road_tensors, self.dt, rule=self.hand_over,
                            idm=self.idm, device=device, dtype=dtype)
            if self.traffic_mode == "reactive" else None
        )
        self._scene: EgoScene | None = None

    @property
    def batch_size(self) -> int:
        return self._active.shape[0]

    @property
    def in_warmup(self) -> torch.Tensor:
        """``(B,)`` bool: the next step follows the log and ignores the external action."""
        return self._active & ~self._done & (self._steps < self.ncond)

    @property
    def done(self) -> torch.Tensor:
        """``(B,)`` bool: the episode has ended (or the ego was never reset)."""
        return self._done | ~self._active

    @property
    def reason(self) -> torch.Tensor:
        """``(B,)`` int64 :class:`TerminationReason`."""
        return self._reason

    @property
    def state(self) -> torch.Tensor:
        """``(B, 4)`` ego states: x, y [m], heading [rad], speed [m/s]."""
        return self._state

    @property
    def frame(self) -> torch.Tensor:
        """``(B,)`` int64 each ego's current log frame number."""
        return self._frame + self.traffic.first_frame

    @property
    def vehicle_ids(self) -> torch.Tensor:
        """``(B,)`` int64 the logged vehicle each ego took over."""
        return self.traffic.vehicle_ids[self._vehicle]

    @property
    def vehicle_index(self) -> torch.Tensor:
        """``(B,)`` int64 that vehicle's index in ``traffic.vehicle_ids``."""
        return self._vehicle

    @property
    def slot(self) -> torch.Tensor:
        """``(B,)`` int64 that vehicle's slot in the logged traffic tensors."""
        return self._slot

    @property
    def steps(self) -> torch.Tensor:
        """``(B,)`` int64 steps each ego has taken since its reset (warm-up included)."""
        return self._steps

    @property
    def handed_over(self) -> torch.Tensor:
        """``(B,)`` number of vehicles handed over to IDM in each ego's episode."""
        if self._reactive is None:
            return torch.zeros(self.batch_size, dtype=torch.int64, device=self.device)
        return self._reactive.count

    def logged_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 4)`` the logged state of each ego's vehicle at the ego's current frame, and
        ``(B,)`` bool whether its log has that frame (where not, the state is meaningless)."""
        present = self.traffic.vehicle[self._frame, self._slot] == self._vehicle
        return self.traffic.state[self._frame, self._slot], present

    def logged_actions(self) -> torch.Tensor:
        """``(B, 2)`` the recovered actions of each ego's logged vehicle from the ego's
        current frame (what the human did there); 0 where its log has no next frame."""
        action = self.traffic.action[self._frame, self._slot]
        same = self.traffic.vehicle[self._frame, self._slot] == self._vehicle
        return torch.where(same[:, None], action, 0.0)

    def vehicle_frames(self, vehicle_ids) -> tuple[np.ndarray, np.ndarray]:
        """First and last log frame numbers of logged vehicles, two int64 arrays."""
        index = self._vehicle_index(vehicle_ids)
        return self._first[index] + self.traffic.first_frame, (
            self._last[index] + self.traffic.first_frame)

    def _vehicle_index(self, vehicle_ids) -> np.ndarray:
        wanted = np.asarray(torch.as_tensor(vehicle_ids).cpu(), dtype=np.int64).reshape(-1)
        index = np.searchsorted(self._ids, wanted).clip(0, len(self._ids) - 1)
        missing = wanted[self._ids[index] != wanted]
        if len(missing):
            raise ValueError(f"vehicle(s) {missing.tolist()} are not in the log")
        return index

    # ------------------------------------------------------------------ episodes
    def reset(self, vehicle_ids, start_frames, egos=None) -> EgoScene:
        """Take over logged vehicles as egos, each at its own start frame (log frame number).

        Without ``egos`` the batch becomes ``len(vehicle_ids)`` new episodes; with ``egos``
        (indices or a bool mask into the batch) only those are restarted, the others go on.
        A vehicle must be logged from its start frame through the ``ncond`` warm-up steps.
        Returns the scene at the start frames.
        """
        index = self._vehicle_index(vehicle_ids)
        start = np.asarray(torch.as_tensor(start_frames).cpu(), dtype=np.int64).reshape(-1)
        if start.shape != index.shape:
            raise ValueError(f"{len(index)} vehicle ids but {len(start)} start frames")
        start = start - self.traffic.first_frame
        uncovered = (start < self._first[index]) | (start + self.ncond > self._last[index])
        if uncovered.any():
            bad = int(np.flatnonzero(uncovered)[0])
            raise ValueError(
                f"vehicle {self._ids[index[bad]]} is logged from frame "
                f"{self._first[index[bad]] + self.traffic.first_frame} to "
                f"{self._last[index[bad]] + self.traffic.first_frame}; a start at frame "
                f"{start[bad] + self.traffic.first_frame} needs frames through "
                f"{start[bad] + self.ncond + self.traffic.first_frame} for the warm-up"
            )
        if egos is None:
            self._allocate(len(index))
            egos = torch.arange(len(index), device=self.device)
        else:
            egos = torch.as_tensor(egos, device=self.device)
            if egos.dtype == torch.bool:
                egos = egos.nonzero().reshape(-1)
            if len(egos) != len(index):
                raise ValueError(f"{len(egos)} egos to reset but {len(index)} vehicle ids")
        vehicle = torch.as_tensor(index, device=self.device)
        frame = torch.as_tensor(start, device=self.device)
        slot = self.traffic.vehicle_slot[vehicle]
        # Fresh tensors, so that step results and scenes handed out earlier keep their values.
        for name in _PER_EGO:
            setattr(self, name, getattr(self, name).clone())
        self._active[egos] = True
        self._vehicle[egos] = vehicle
        self._slot[egos] = slot
        self._frame[egos] = frame
        self._steps[egos] = 0
        self._state[egos] = self.traffic.state[frame, slot]
        self._size[egos] = self.traffic.vehicle_size[vehicle]
        self._done[egos] = False
        self._reason[egos] = TerminationReason.NONE
        self._distance[egos] = 0.0
        self._rear_end_hitters[egos] = -1
        if self._reactive is not None:
            self._reactive.reset(egos)
        self._scene = self._observe(alive=None)
        return self._scene

    def scene(self) -> EgoScene:
        """The current scene of every ego (its K nearest other vehicles in view)."""
        if self._scene is None:
            raise RuntimeError("call reset() before scene()")
        return self._scene

    def step(self, actions: torch.Tensor) -> StepResult:
        """Advance every ego by one step of its own episode.

        ``actions`` ``(B, 2)``: acceleration [m/s²], curvature [1/m]; ignored for egos in
        warm-up (they follow their log) and for done egos (they stay frozen).
        """
        if self._scene is None:
            raise RuntimeError("call reset() before step()")
        actions = torch.as_tensor(actions, dtype=self.dtype, device=self.device)
        if actions.shape != (self.batch_size, 2):
            raise ValueError(f"actions must have shape ({self.batch_size}, 2), "
                             f"got {tuple(actions.shape)}")
        traffic = self.traffic
        alive = self._active & ~self._done
        warmup = alive & (self._steps < self.ncond)
        frame = self._frame
        next_frame = (frame + 1).clamp(max=traffic.n_frames - 1)
        logged_next = traffic.state[next_frame, self._slot]
        logged_action = traffic.action[frame, self._slot]
        controlled = kinematics.step(self._state, actions, self.dt)
        state = torch.where(warmup[:, None], logged_next, controlled)
        state = torch.where(alive[:, None], state, self._state)
        applied = torch.where(warmup[:, None], logged_action, actions)
        applied = torch.where(alive[:, None], applied, 0.0)
        moved = torch.linalg.vector_norm(state[:, :2] - self._state[:, :2], dim=-1)
        self._distance = self._distance + torch.where(alive & ~warmup, moved, 0.0)
        self._state = state
        self._frame = torch.where(alive, next_frame, frame)
        self._steps = self._steps + alive.to(torch.int64)

        scene = self._observe(alive)
        self._scene = scene
        on_road = self.road_tensors.on_road(state[:, 0], state[:, 1])
        costs, contacts = self.costs.costs_and_collision_classes(scene, on_road)
        if self.through_rear_end:
            contacts, genuine, rear_end_hitter = self._ignore_rear_end_hits(
                contacts, scene.others_id, alive)
        else:
            genuine, rear_end_hitter = contacts, torch.full_like(self._reason, -1)
        # The most serious genuine contact (nearest first among equals) ends the episode.
        severity, nearest = self._severity_of_class[genuine].max(dim=1)
        collided = alive & (severity > 0)
        collided_with = torch.where(
            collided, scene.others_id.gather(1, nearest[:, None])[:, 0], -1)
        off_road = ~on_road
        arrived = state[:, 0] >= self.road.valid_x[1]
        end_of_log = self._frame >= traffic.n_frames - 1
        reason = torch.full_like(self._reason, TerminationReason.NONE)
        for condition, why in reversed((
            (off_road, TerminationReason.OFF_ROAD),
            (arrived, TerminationReason.ARRIVED),
            (end_of_log, TerminationReason.END_OF_LOG),
        )):
            reason = torch.where(condition, int(why), reason)
        reason = torch.where(severity > 0, self._reason_of_severity[severity], reason)
        self._reason = torch.where(alive, reason, self._reason)
        self._done = self._done | (alive & (reason != TerminationReason.NONE))
        return StepResult(
            state=state,
            action=applied,
            costs=costs,
            collision=collision_flags(contacts) & alive[:, None],
            reason=self._reason,
            done=self.done,
            distance=self._distance,
            frame=self.frame,
            warmup=warmup,
            collided_with=collided_with,
            rear_end_ignored=rear_end_hitter >= 0,
            rear_end_hitter=rear_end_hitter,
        )

    def _ignore_rear_end_hits(self, classes: torch.Tensor, others_id: torch.Tensor,
                              alive: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Apply ``through_rear_end`` to the collision classes ``(B, K)`` of a step's scene
        (``others_id`` ``(B, K)`` logged ids): remember each new rear-end hitter of a live
        ego while there is room. Returns the contacts to report (without hitters remembered
        earlier), the genuine contacts (without any remembered hitter), both ``(B, K)``
        classes, and the nearest new hitter's id per ego ``(B,)`` (-1: none). Only egos in
        contact are looked at."""
        hitter = torch.full_like(alive, -1, dtype=torch.int64)
        rows = (alive & (classes != NO_COLLISION).any(dim=1)).nonzero().reshape(-1)
        if rows.numel() == 0:  # the usual case
            return classes, classes, hitter
        kind, ids = classes[rows], others_id[rows]  # (n, K)
        memory = self._rear_end_hitters[rows]  # (n, M), remembered ids first, then -1
        known = (ids[:, :, None] == memory[:, None, :]).any(dim=-1) & (kind != NO_COLLISION)
        new_hit = (kind == BEHIND) & ~known
        position = (memory >= 0).sum(dim=1, keepdim=True) + new_hit.cumsum(dim=1) - 1
        remembered = new_hit & (position < REAR_END_MEMORY)
        spare = REAR_END_MEMORY  # a scratch column for everything not remembered
        memory = torch.cat([memory, torch.full_like(memory[:, :1], -1)], dim=1).scatter(
            1, torch.where(remembered, position, spare), torch.where(remembered, ids, -1))
        self._rear_end_hitters = self._rear_end_hitters.index_put((rows,), memory[:, :spare])
        first = remembered.to(torch.uint8).argmax(dim=1, keepdim=True)
        hitter = hitter.index_put((rows,), torch.where(
            remembered.any(dim=1), ids.gather(1, first)[:, 0], -1))
        reported = classes.index_put((rows,), torch.where(known, NO_COLLISION, kind))
        genuine = classes.index_put((rows,), torch.where(known | remembered, NO_COLLISION, kind))
        return reported, genuine, hitter

    # ------------------------------------------------------------------ observation
    def _observe(self, alive: torch.Tensor | None) -> EgoScene:
        """The scene of every ego at its current frame; with ``alive`` (after a step) the
        reactive traffic advances for those egos first."""
        traffic, frame = self.traffic, self._frame
        logged_vehicle = traffic.vehicle.index_select(0, frame)  # (B, S)
        logged_valid = traffic.valid.index_select(0, frame)
        valid = logged_valid & (logged_vehicle != self._vehicle[:, None])
        x, y = (traffic.state[..., i].index_select(0, frame) for i in (0, 1))  # (B, S) each
        slot, seen = self._nearest(x, y, valid)  # (B, K)
        state = _lookup(traffic.state.reshape(-1, 4), frame[:, None] * traffic.n_slots + slot)
        vehicle = logged_vehicle.gather(1, slot)
        index = vehicle.clamp(min=0)
        size = _lookup(traffic.vehicle_size, index)
        if self._reactive is not None:
            reactive = self._reactive
            reactive.drop_departed(logged_vehicle, logged_valid)
            if alive is None:
                replaced = reactive.replaces(slot)
            else:
                previous = (frame - 1).clamp(min=0)[:, None] * traffic.n_slots + slot
                nearby = NearbyTraffic(
                    state=state, size=size, vehicle=vehicle, slot=slot, valid=seen,
                    previous_state=_lookup(traffic.state.reshape(-1, 4), previous),
                    previous_vehicle=_lookup(traffic.vehicle.reshape(-1), previous),
                    max_speed=traffic.vehicle_max_speed[index],
                )
                replaced = reactive.advance(alive, self._state, self._size, nearby)
            # Handed-over vehicles replace their logged counterparts, wherever those are.
            seen = seen & ~replaced
            state = torch.cat([state, reactive.state], dim=1)
            size = torch.cat([size, reactive.size], dim=1)
            vehicle = torch.cat([vehicle, reactive.vehicle], dim=1)
            seen = torch.cat([seen, reactive.active], dim=1)
            keep, seen = self._nearest(state[..., 0], state[..., 1], seen)
            state = state.gather(1, keep[..., None].expand(-1, -1, 4))
            size = size.gather(1, keep[..., None].expand(-1, -1, 2))
            vehicle = vehicle.gather(1, keep)
        zero = torch.zeros((), dtype=state.dtype, device=state.device)
        ids = _lookup(self.traffic.vehicle_ids, vehicle.clamp(min=0))
        return EgoScene(
            ego_pose=self._state[:, :3],
            ego_speed=self._state[:, 3],
            ego_size=self._size,
            others_pose=torch.where(seen[..., None], state[..., :3], zero),
            others_size=torch.where(seen[..., None], size, zero),
            others_speed=torch.where(seen, state[..., 3], zero),
            others_valid=seen,
            others_id=torch.where(seen, ids, -1),
        )

    def _nearest(self, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor
                 ) -> tuple[torch.Tensor, ...]:
        """Indices ``(B, K)`` of the K nearest vehicles (centres ``x, y`` ``(B, C)``) whose
        centres are in each ego's view range, nearest first, and which of them exist
        (padding repeats index 0 with ``False``)."""
        forward, backward, lateral = self.view_range
        u, v = to_frame(x, y, self._state[:, None, :3])
        in_view = valid & (u <= forward) & (u >= -backward) & (v.abs() <= lateral)
        distance = torch.where(in_view, u * u + v * v, torch.inf)
        count = min(self.max_others, distance.shape[1])
        nearest, order = distance.topk(count, dim=1, largest=False)
        seen = torch.isfinite(nearest)
        pad = self.max_others - count
        if pad:
            order = torch.nn.functional.pad(order, (0, pad))
            seen = torch.nn.functional.pad(seen, (0, pad))
        return torch.where(seen, order, 0), seen


def _lookup(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a table ``(N, ...)`` and any index shape, as one row gather."""
    return table.index_select(0, index.reshape(-1)).reshape(*index.shape, *table.shape[1:])

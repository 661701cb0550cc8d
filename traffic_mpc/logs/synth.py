"""The built-in dense-traffic generator: congested I-80-like traffic, logged like NGSIM.

A vectorised microscopic simulation in numpy (one array per vehicle attribute, no Python
object per car; a Python loop over time steps only):

* **Car following**: the Intelligent Driver Model with per-driver parameters and vehicle
  sizes by class (:mod:`traffic_mpc.logs.synth_drivers`), plus a small human acceleration
  noise (an Ornstein-Uhlenbeck process, as in Treiber & Kesting's Human Driver Model) that
  seeds the stop-and-go waves the model then amplifies.
* **Lane changes**: MOBIL (Kesting, Treiber & Helbing 2007, TRR 1999): a driver changes
  lane when its own acceleration gain plus ``politeness`` times that of the old and new
  followers exceeds ``lane_change_threshold``, and only if the new follower need not brake
  harder than ``safe_deceleration``. Left and right changes are decided on alternate
  decision steps, so two drivers never claim the same gap from both sides at once. The
  change is a smooth lateral motion (minimum-jerk profile) over the class's
  ``lane_change_duration``; the heading follows the velocity, ``atan2(vy, vx)`` (held while
  the vehicle stands). While it changes, a vehicle occupies both lanes: it follows the
  leaders of both and is followed in both. Drivers keep their own small offset from the
  lane centre.
* **On-ramp**: ramp vehicles must merge into the adjacent mainline lane (a mandatory MOBIL
  change with relaxed gap acceptance, ``merge_safe_deceleration``); the end of the ramp is a
  standing obstacle placed so that a merge begun there still ends on the ramp.
* **Safety**: on top of the IDM (braking clipped to ``max_deceleration``), a vehicle never
  moves further in one step than its current gap to any leader in its lanes minus its
  minimum gap (at least ``hard_gap``); leaders never move backwards, so a vehicle never
  closes in below its minimum gap (and a gap cut short by a merging vehicle never shrinks
  below ``hard_gap``). The times the ``hard_gap`` limit acts, i.e. where the IDM alone would
  have come closer than ``hard_gap``, are counted (:class:`SimulationReport`).

**Congestion.** The simulated road is longer than the logged section ``[0, road.length]``:
an upstream stretch of ``upstream_length`` metres where vehicles are inserted, and a
downstream stretch of ``downstream_length`` metres which holds a capacity restriction (a
"flow-conserving bottleneck", Treiber & Kesting 2013, ch. 12) starting
``bottleneck_offset`` metres past the section: drivers there keep their time headway
multiplied by ``bottleneck_time_headway_factor`` and do not exceed
``bottleneck_speed_limit``. With the default demand above the bottleneck's capacity, a
queue forms at the bottleneck and fills the section; the IDM with these parameters is
string-unstable at the queue's density, so small perturbations grow into stop-and-go waves
that travel upstream (at about 10-15 km/h, measured by cross-correlating lane speeds 250 m
apart), as in the I-80 evening peak. The merge of the on-ramp adds a second, local
restriction in the rightmost lanes. The simulation starts from packed slow traffic on every
lane and runs ``warm_up`` seconds before recording, so the section is already in its
congested steady state when the log starts. With the defaults, over 15 minutes the section
holds on average about 110-135 vehicles at a mean speed of 7.3-9 m/s (speed std 4.3-5.6
m/s; seeds 0-4) and carries about 1,150-1,200 veh/h/lane; minute by minute the congestion
breathes (slow minutes and freer ones), as a real evening peak does.

**Calibration.** The bottleneck's headway factor sets the density of the queue, and with
it how hard the traffic is for a driver who keeps speed and heading: the default (1.3)
puts the no-action baseline within 10-25 % success (12.0 % on the default benchmark of
3 x 15 minutes; I-80: 16.2 %) over the same control region (``experiments/RESULTS.md``).
A stronger restriction (1.4, the default before) gives slower, more I-80-like mean speeds
(6-7 m/s) but, at that density, harsher waves than I-80's: no-action then succeeds 6 % of
the time. Demand above the bottleneck's capacity only
fills the entry queues; it does not change the congested state.

**Inflow.** Vehicles arrive at the upstream end of every mainline lane as a Poisson process
(one Bernoulli draw per lane and step) at ``demand`` vehicles/hour/lane, and on the on-ramp
at ``ramp_demand`` vehicles/hour; they wait in a per-lane queue (at most
``max_entry_queue``; later arrivals are turned away) until the gap behind the last vehicle
of their lane is at least the equilibrium gap for that vehicle's speed.

**Logging.** Row ``t`` of a vehicle holds its centre at frame ``t`` and the speed and heading
of the motion that brought it there from frame ``t - 1``, so the logged poses obey the
(semi-implicit) kinematics of the replay world exactly:
``p[t] = p[t-1] + speed[t] * dt * (cos heading[t], sin heading[t])``. The vehicle's front
``p + length / 2 * (cos, sin)(heading)`` is what the NGSIM file stores; the NGSIM reader
recovers centre and heading from the fronts with the same relation, so a generated log
survives the round trip through NGSIM text. Only vehicles whose centre is inside the
section are logged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from traffic_mpc import atomic
from traffic_mpc.errors import InputError
from traffic_mpc.logs.synth_drivers import (
    DEFAULT_VEHICLE_MIX,
    VEHICLE_ATTRIBUTES,
    VehicleClassSpec,
    idm_acceleration,
    minimum_jerk_profile,
    minimum_jerk_slope,
    sample_vehicles,
)
from traffic_mpc.logs.traffic_log import TrafficLog, file_checksum
from traffic_mpc.road import ROADS_DIR, Road

#: Bumped whenever the same seed and configuration would give different traffic.
GENERATOR_VERSION = 3

#: Grid step [m] of the lane-centre lookup table.
_CENTRE_GRID_STEP = 1.0

#: Speeds [m/s] below this are standstill (no creeping by fractions of a millimetre, whose
#: direction of motion would be rounding noise).
_STANDSTILL_SPEED = 0.01

#: Drivers drawn at a time from the vehicle mix.
_POOL_SIZE = 2048


@dataclass(frozen=True)
class SynthConfig:
    """Options of the generator. Units in brackets; defaults give I-80-like evening traffic.

    Recording
        duration [s] recorded; warm_up [s] simulated before recording starts; seed: used
        when :func:`generate` is not given one.
    Demand
        demand [veh/h/lane] arriving on every mainline lane; ramp_demand [veh/h] arriving on
        each on-ramp; max_entry_queue [vehicles] waiting per lane before arrivals are lost;
        vehicle_mix: classes with their shares, sizes and driver distributions.
    Lane changes (MOBIL)
        politeness [1]; lane_change_threshold [m/s²] the gain needed to change;
        safe_deceleration [m/s²] the most a new follower may be asked to brake;
        lane_change_gap [m] the least bumper gap accepted ahead and behind;
        lane_change_cooldown [s] after a change before the next; lane_change_interval [s]
        between decisions (left and right alternate); min_lane_change_speed [m/s] below which
        no change starts; lane_change_room [1]: a change starts only if the gap to the
        current leader, plus what that leader drives meanwhile, covers this fraction of the
        travel until the vehicle has cleared its old lane (so that it does not stop half-way
        and block two lanes). merge_safe_deceleration [m/s²] and merge_gap [m]: the relaxed
        values for ramp vehicles, which must merge; merge_courtesy_deceleration [m/s²]: a
        driver in the lane next to the ramp slows down for a ramp vehicle ahead of it if
        that takes no harder braking than this.
    Dynamics
        max_deceleration [m/s²] physical braking limit; hard_gap [m] the least bumper gap the
        position update allows; acceleration_noise [m/s²] standard deviation and
        noise_correlation_time [s] of the drivers' acceleration noise.
    Domain and bottleneck
        upstream_length [m] simulated before the section; downstream_length [m] after it;
        bottleneck_offset [m] past the section end where the restriction starts;
        bottleneck_time_headway_factor [1]; bottleneck_speed_limit [m/s]; ramp_speed_limit
        [m/s] on on-ramps; initial_speed [m/s] of the packed traffic the simulation starts
        from.
    """

    duration: float = 900.0
    warm_up: float = 240.0
    seed: int = 0
    demand: float = 2000.0
    ramp_demand: float = 450.0
    max_entry_queue: int = 20
    vehicle_mix: tuple[VehicleClassSpec, ...] = DEFAULT_VEHICLE_MIX
    politeness: float = 0.3
    lane_change_threshold: float = 0.3
    safe_deceleration: float = 2.5
    lane_change_gap: float = 2.0
    lane_change_cooldown: float = 10.0
    lane_change_interval: float = 0.5
    min_lane_change_speed: float = 1.0
    merge_safe_deceleration: float = 4.0
    merge_gap: float = 1.0
    merge_courtesy_deceleration: float = 2.0
    lane_change_room: float = 0.5
    max_deceleration: float = 8.0
    hard_gap: float = 0.5
    acceleration_noise: float = 0.3
    noise_correlation_time: float = 2.0
    upstream_length: float = 200.0
    downstream_length: float = 300.0
    bottleneck_offset: float = 80.0
    bottleneck_time_headway_factor: float = 1.3
    bottleneck_speed_limit: float = 15.0
    ramp_speed_limit: float = 20.0
    initial_speed: float = 8.0

    def __post_init__(self) -> None:
        positive = ("duration", "demand", "lane_change_interval", "max_deceleration",
                    "noise_correlation_time", "bottleneck_time_headway_factor",
                    "bottleneck_speed_limit", "ramp_speed_limit", "hard_gap")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"SynthConfig.{name} must be positive, got {getattr(self, name)}")
        non_negative = ("warm_up", "ramp_demand", "politeness", "acceleration_noise",
                        "upstream_length", "downstream_length", "bottleneck_offset",
                        "initial_speed", "lane_change_cooldown", "max_entry_queue")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"SynthConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not self.vehicle_mix:
            raise ValueError("SynthConfig.vehicle_mix is empty")

    def as_json(self) -> dict:
        """The configuration as plain JSON values (the vehicle mix as nested dicts)."""
        return asdict(self)

    def with_settings(self, settings: list[str]) -> SynthConfig:
        """This configuration with ``NAME=VALUE`` settings of its numeric options (the
        command line's ``--set``), e.g. ``["bottleneck_time_headway_factor=1.3"]``; duration
        and seed have options of their own."""
        numeric = {entry.name: entry.type for entry in fields(self)
                   if entry.type in ("float", "int")
                   and entry.name not in ("duration", "seed")}
        changes: dict[str, float | int] = {}
        for setting in settings:
            name, _, value = setting.partition("=")
            name = name.strip().replace("-", "_")
            if name not in numeric:
                raise InputError("--set", f"{name!r} is not a numeric generator option; "
                                 f"options: {', '.join(sorted(numeric))}")
            kind = int if numeric[name] == "int" else float
            try:
                number = kind(value)
            except ValueError:
                wanted = "a whole number" if kind is int else "a number"
                raise InputError("--set", f"{name} needs {wanted}, got {value!r}") from None
            if not np.isfinite(number):
                raise InputError("--set", f"{name} must be finite, got {value!r}")
            changes[name] = number
        try:
            return replace(self, **changes)
        except ValueError as error:
            raise InputError("--set", str(error)) from None


@dataclass
class SimulationReport:
    """What happened inside the simulation (beyond the log), for diagnostics and tests.

    ``hard_limit_steps``: vehicle-steps where the IDM alone would have come closer than
    ``hard_gap`` to a leader; ``lane_changes_started`` / ``merges_started``: over the whole
    run and simulated road; ``arrivals_lost``: arrivals turned away by full entry queues;
    ``inserted``: vehicles put on the road (initial traffic included); ``max_vehicles``: the
    most on the simulated road at once.
    """

    hard_limit_steps: int = 0
    lane_changes_started: int = 0
    merges_started: int = 0
    arrivals_lost: int = 0
    inserted: int = 0
    max_vehicles: int = 0


# ---------------------------------------------------------------------------- geometry
class _LaneLayout:
    """The simulated lanes: the road's mainline lanes (left to right) and on-ramps.

    Lanes are numbered by index here (``0 .. n_main - 1`` mainline from the left, then the
    ramps); ``lane_id`` maps an index to the road's lane id. Every lane is extended over the
    simulated domain ``[x_min, x_max]`` at its end positions; ramps end in an obstacle.
    """

    def __init__(self, road: Road, config: SynthConfig, longest_merge: float) -> None:
        main = [lane for lane in road.lanes if lane.kind == "main"]
        ramps = [lane for lane in road.lanes if lane.kind == "on-ramp"]
        if not main:
            raise InputError(road.source or road.name, "the generator needs 'main' lanes")
        for lane in main:
            if lane.x_start > 0.0 or lane.x_end < road.length:
                raise InputError(
                    road.source or road.name,
                    f"lane {lane.id}: the generator needs mainline lanes over the whole "
                    f"section [0, {road.length}], got [{lane.x_start}, {lane.x_end}]",
                )
        main.sort(key=lambda lane: -float(lane.center_y(0.0)))
        self.x_min = -config.upstream_length
        self.x_max = road.length + config.downstream_length
        self.n_main = len(main)
        self.lane_id = np.array([lane.id for lane in main + ramps], dtype=np.int64)
        self.n_lanes = len(self.lane_id)
        self.merge_target = np.full(self.n_lanes, -1, dtype=np.int64)
        self.ramp_start = np.full(self.n_lanes, np.nan)
        self.ramp_end = np.full(self.n_lanes, np.nan)
        rightmost = main[-1]
        for offset, ramp in enumerate(ramps):
            index = self.n_main + offset
            joins = abs(float(ramp.left_y(ramp.x_start)) - float(rightmost.right_y(ramp.x_start)))
            if ramp.x_start > 0.0 or joins > 0.05:
                raise InputError(
                    road.source or road.name,
                    f"lane {ramp.id}: the generator supports on-ramps that start at the "
                    "section's upstream end on the right of the rightmost mainline lane",
                )
            self.merge_target[index] = self.n_main - 1
            self.ramp_start[index] = ramp.x_start
            self.ramp_end[index] = ramp.x_end
        ramp_index = np.arange(self.n_main, self.n_lanes)
        #: A standing obstacle at the end of each ramp, early enough that a merge started
        #: by a vehicle stopped there ends before the ramp does.
        self.obstacle_lane = ramp_index
        self.obstacle_x = self.ramp_end[ramp_index] - longest_merge - 2.0
        centres = np.array([float(lane.center_y(0.0)) for lane in main])
        #: Typical distance [m] between neighbouring lane centres (a lane change's travel).
        self.lane_spacing = float(np.median(-np.diff(centres))) if len(main) > 1 else 3.66
        self.grid = np.arange(self.x_min, self.x_max + 2 * _CENTRE_GRID_STEP, _CENTRE_GRID_STEP)
        self.centre_table = np.stack(
            [lane.center_y(np.clip(self.grid, lane.x_start, lane.x_end))
             for lane in main + ramps]
        )

    def centre_y(self, lane: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Lane-centre y [m] of lane indices ``lane`` at ``x`` [m] (same shapes)."""
        position = (np.clip(x, self.x_min, self.x_max) - self.x_min) / _CENTRE_GRID_STEP
        below = position.astype(np.int64)
        fraction = position - below
        flat = self.centre_table.ravel()
        base = lane * self.centre_table.shape[1] + below
        return flat[base] * (1.0 - fraction) + flat[base + 1] * fraction

    def is_ramp(self, lane: np.ndarray) -> np.ndarray:
        return lane >= self.n_main


# ---------------------------------------------------------------------------- simulation
#: Per-vehicle state arrays of the simulation (besides the drawn attributes).
_STATE = ("vehicle", "x", "y", "speed", "heading", "lane", "target_lane", "progress",
          "release_progress", "cooldown", "noise")


@dataclass
class _Occupancy:
    """Who is in which lane, sorted by (lane, x): one entry per vehicle and lane it occupies.

    A vehicle changing lane has an entry in both lanes; each ramp's end obstacle has one.
    All arrays are ``(E,)`` in sorted order. ``vehicle`` indexes the fleet, or ``n + k``
    for obstacle ``k``; ``leader``/``follower`` are positions in the sorted arrays (-1:
    none); ``gap`` [m] is bumper to bumper to the leader (``inf``: none); ``primary`` is the
    position of each vehicle's entry in its current lane, ``secondary`` that of each
    changing vehicle (``changing``) in its target lane.
    """

    key: np.ndarray
    vehicle: np.ndarray
    lane: np.ndarray
    x: np.ndarray
    half_length: np.ndarray
    speed: np.ndarray
    leader: np.ndarray
    follower: np.ndarray
    gap: np.ndarray
    primary: np.ndarray
    secondary: np.ndarray
    changing: np.ndarray


class TrafficSimulation:
    """The state of one simulation run and the verbs that advance it by one step.

    ``vehicles`` holds one ``(n,)`` array per attribute of the vehicles on the simulated
    road (state: ``x``, ``y`` [m], ``speed`` [m/s], ``heading`` [rad], ``lane`` and
    ``target_lane`` lane indices, lane-change ``progress`` [0-1], ...; and the drawn driver
    attributes). :func:`generate` drives it; tests and experiments may :meth:`place`
    vehicles on an empty road (``fill=False``) and :meth:`step` it themselves.
    """

    def __init__(
        self, road: Road, config: SynthConfig, rng: np.random.Generator, fill: bool = True
    ) -> None:
        self.road = road
        self.config = config
        self.rng = rng
        self.dt = float(road.dt)
        longest_merge = max(
            spec.lateral_reference_speed * spec.lane_change_duration for spec in config.vehicle_mix
        )
        self.layout = _LaneLayout(road, config, longest_merge)
        layout = self.layout
        #: Sort key of (lane, x): lane index times a stride longer than the domain.
        self.key_stride = 10.0 ** np.ceil(np.log10(layout.x_max - layout.x_min + 10.0))
        self.bottleneck_start = road.length + config.bottleneck_offset
        #: Lateral clearance [m] from a lane's centre beyond which no vehicle driving in that
        #: lane can reach: the widest half-width plus the largest lane offset, plus a margin.
        self.lane_clearance = 0.15 + max(
            0.5 * spec.width.high + max(abs(spec.lane_offset.low), abs(spec.lane_offset.high))
            for spec in config.vehicle_mix
        )
        self.report = SimulationReport()
        self.vehicles = {name: np.zeros(0) for name in _STATE + VEHICLE_ATTRIBUTES}
        for name in ("vehicle", "lane", "target_lane", "vehicle_class"):
            self.vehicles[name] = np.zeros(0, dtype=np.int64)
        self.pool: dict[str, np.ndarray] = {}
        self.pool_position = _POOL_SIZE
        self.next_vehicle = 0
        self.registry: list[dict[str, np.ndarray]] = []
        rate = np.full(layout.n_lanes, config.demand)
        rate[layout.n_main:] = config.ramp_demand
        self.arrival_probability = np.minimum(rate * self.dt / 3600.0, 1.0)
        self.queue = np.zeros(layout.n_lanes, dtype=np.int64)
        self.pending = self._draw(layout.n_lanes)
        self.noise_decay = float(np.exp(-self.dt / config.noise_correlation_time))
        self.decision_every = max(int(round(config.lane_change_interval / self.dt)), 1)
        self.steps_done = 0
        if fill:
            self._fill_initial_traffic()

    # ------------------------------------------------------------------ vehicles
    def _draw(self, count: int) -> dict[str, np.ndarray]:
        """The next ``count`` drivers of the pool (drawn from the vehicle mix in batches)."""
        if self.pool_position + count > _POOL_SIZE:
            self.pool = sample_vehicles(self.config.vehicle_mix, self.rng, _POOL_SIZE)
            self.pool_position = 0
        chosen = slice(self.pool_position, self.pool_position + count)
        self.pool_position += count
        return {name: values[chosen].copy() for name, values in self.pool.items()}

    def place(self, drivers: dict[str, np.ndarray], x, lane, speed, cooldown=0.0) -> None:
        """Put vehicles on the road: centre ``x`` [m] in lane indices ``lane`` (0 = leftmost
        mainline lane), at ``speed`` [m/s], no lane change before ``cooldown`` [s].

        ``drivers`` holds one ``(k,)`` array per name in ``VEHICLE_ATTRIBUTES`` (as drawn by
        :func:`~traffic_mpc.logs.synth_drivers.sample_vehicles`); scalars broadcast.
        """
        count = len(drivers["length"])
        lane = np.broadcast_to(np.asarray(lane, dtype=np.int64), (count,)).copy()
        x = np.broadcast_to(np.asarray(x, dtype=np.float64), (count,)).copy()
        speed = np.broadcast_to(np.asarray(speed, dtype=np.float64), (count,))
        cooldown = np.broadcast_to(np.asarray(cooldown, dtype=np.float64), (count,))
        new = {
            "vehicle": np.arange(self.next_vehicle, self.next_vehicle + count),
            "x": x,
            "y": self.layout.centre_y(lane, x) + drivers["lane_offset"],
            "speed": np.asarray(speed, dtype=np.float64),
            "heading": np.zeros(count),
            "lane": lane,
            "target_lane": np.full(count, -1, dtype=np.int64),
            "progress": np.zeros(count),
            "release_progress": self._release_progress(drivers),
            "cooldown": np.asarray(cooldown, dtype=np.float64),
            "noise": np.zeros(count),
            **drivers,
        }
        self.next_vehicle += count
        self.registry.append({name: drivers[name] for name in ("length", "width", "vehicle_class")})
        for name, values in self.vehicles.items():
            self.vehicles[name] = np.concatenate([values, new[name]])
        self.report.inserted += count

    def _release_progress(self, drivers: dict[str, np.ndarray]) -> np.ndarray:
        """Lane-change progress [0-1] from which a vehicle has cleared its old lane, ``(n,)``.

        The smallest progress where the vehicle's box, at the largest heading its lane change
        can take, lies laterally beyond :attr:`lane_clearance` from the old lane's centre:
        from then on no vehicle in the old lane can touch it, so it leaves that lane's
        occupancy (it no longer follows the old leader nor holds up the old follower).
        """
        progress = np.linspace(0.0, 1.0, 201)
        lane_width = self.layout.lane_spacing
        lateral = minimum_jerk_profile(progress) * lane_width
        slope = minimum_jerk_slope(progress) * lane_width  # d lateral / d progress [m]
        steepest = slope[None, :] / (
            drivers["lateral_reference_speed"] * drivers["lane_change_duration"]
        )[:, None]
        heading = np.arctan(steepest)
        reach = (
            0.5 * drivers["length"][:, None] * np.sin(heading)
            + 0.5 * drivers["width"][:, None] * np.cos(heading)
            + np.abs(drivers["lane_offset"])[:, None]
        )
        cleared = lateral[None, :] - reach >= self.lane_clearance
        cleared[:, -1] = True
        return progress[np.argmax(cleared, axis=1)]

    def _fill_initial_traffic(self) -> None:
        """Packed slow traffic on every lane: the congested state the warm-up settles."""
        config, layout = self.config, self.layout
        for lane in range(layout.n_lanes):
            ramp = layout.is_ramp(np.array(lane))
            front = layout.obstacle_x[lane - layout.n_main] if ramp else layout.x_max
            sparseness = 3.0 if ramp else 1.0
            positions, drivers = [], []
            while True:
                driver = self._draw(1)
                gap = driver["minimum_gap"][0] + sparseness * config.initial_speed * (
                    driver["time_headway"][0]
                )
                centre = front - gap - 0.5 * driver["length"][0]
                if centre < layout.x_min:
                    break
                positions.append(centre)
                drivers.append(driver)
                front = centre - 0.5 * driver["length"][0]
            if not positions:
                continue
            merged = {name: np.concatenate([d[name] for d in drivers]) for name in drivers[0]}
            count = len(positions)
            self.place(
                merged,
                x=np.array(positions),
                lane=np.full(count, lane),
                speed=np.full(count, config.initial_speed),
                cooldown=self.rng.uniform(0.0, config.lane_change_cooldown, count),
            )

    def _local_driver_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """Desired speed [m/s] and time headway [s] where each vehicle is (the bottleneck)."""
        vehicles, config = self.vehicles, self.config
        inside = np.clip((vehicles["x"] - self.bottleneck_start) / 50.0, 0.0, 1.0)
        desired_speed = np.where(
            self.layout.is_ramp(vehicles["lane"]),
            np.minimum(vehicles["desired_speed"], config.ramp_speed_limit),
            vehicles["desired_speed"],
        )
        limited = np.minimum(desired_speed, config.bottleneck_speed_limit)
        desired_speed = desired_speed + inside * (limited - desired_speed)
        headway = vehicles["time_headway"] * (
            1.0 + inside * (config.bottleneck_time_headway_factor - 1.0)
        )
        return desired_speed, headway

    # ------------------------------------------------------------------ occupancy
    def _occupancy(self) -> _Occupancy:
        vehicles, layout = self.vehicles, self.layout
        n = len(vehicles["x"])
        n_obstacles = len(layout.obstacle_x)
        changing = np.flatnonzero(vehicles["target_lane"] >= 0)
        entry_vehicle = np.concatenate([np.arange(n + n_obstacles), changing])
        # A changing vehicle that has cleared its old lane is no longer in it: its entry
        # there moves to a lane index past the last ("nowhere"), where it meets no one.
        nowhere = layout.n_lanes
        released = vehicles["progress"] >= vehicles["release_progress"]
        current_lane = np.where((vehicles["target_lane"] >= 0) & released, nowhere,
                                vehicles["lane"])
        entry_lane = np.concatenate(
            [current_lane, layout.obstacle_lane, vehicles["target_lane"][changing]]
        )
        x_all = np.concatenate([vehicles["x"], layout.obstacle_x])
        half_all = np.concatenate([0.5 * vehicles["length"], np.zeros(n_obstacles)])
        speed_all = np.concatenate([vehicles["speed"], np.zeros(n_obstacles)])
        key = entry_lane * self.key_stride + (x_all[entry_vehicle] - layout.x_min)
        order = np.argsort(key, kind="stable")
        key = key[order]
        vehicle = entry_vehicle[order]
        lane = entry_lane[order]
        x, half, speed = x_all[vehicle], half_all[vehicle], speed_all[vehicle]
        count = len(order)
        same_lane = (lane[1:] == lane[:-1]) & (lane[1:] < nowhere)
        leader = np.full(count, -1, dtype=np.int64)
        follower = np.full(count, -1, dtype=np.int64)
        leader[:-1] = np.where(same_lane, np.arange(1, count), -1)
        follower[1:] = np.where(same_lane, np.arange(count - 1), -1)
        has_leader = leader >= 0
        safe_leader = np.where(has_leader, leader, 0)
        gap = np.where(has_leader, x[safe_leader] - half[safe_leader] - x - half, np.inf)
        # A vehicle already merging off a ramp no longer stops for the ramp's end.
        is_changing = np.zeros(n + n_obstacles, dtype=bool)
        is_changing[changing] = True
        ignores = has_leader & (vehicle[safe_leader] >= n) & is_changing[vehicle]
        gap[ignores] = np.inf
        leader[ignores] = -1
        position = np.empty(count, dtype=np.int64)
        position[order] = np.arange(count)
        return _Occupancy(
            key=key, vehicle=vehicle, lane=lane, x=x, half_length=half, speed=speed,
            leader=leader, follower=follower, gap=gap,
            primary=position[:n], secondary=position[n + n_obstacles:], changing=changing,
        )

    def _following_accelerations(
        self, occupancy: _Occupancy, desired_speed: np.ndarray, headway: np.ndarray
    ) -> np.ndarray:
        """IDM acceleration [m/s²] of every entry behind its leader in that lane, ``(E,)``."""
        n = len(self.vehicles["x"])
        if n == 0:
            return np.zeros(len(occupancy.key))
        vehicle = np.minimum(occupancy.vehicle, n - 1)  # obstacles' entries are not used
        leader = occupancy.leader
        leader_speed = np.where(leader >= 0, occupancy.speed[np.maximum(leader, 0)], 0.0)
        return self._idm(vehicle, occupancy.speed, occupancy.gap,
                         occupancy.speed - leader_speed, desired_speed, headway)

    def _idm(self, vehicle, speed, gap, approach_rate, desired_speed, headway) -> np.ndarray:
        vehicles = self.vehicles
        return idm_acceleration(
            speed, gap, approach_rate,
            desired_speed[vehicle], headway[vehicle], vehicles["minimum_gap"][vehicle],
            vehicles["max_acceleration"][vehicle], vehicles["comfortable_deceleration"][vehicle],
        )

    @staticmethod
    def _per_vehicle(occupancy: _Occupancy, per_entry: np.ndarray) -> np.ndarray:
        """The least of a per-entry value over the lanes each vehicle occupies, ``(n,)``."""
        result = per_entry[occupancy.primary]
        if len(occupancy.changing):
            result[occupancy.changing] = np.minimum(
                result[occupancy.changing], per_entry[occupancy.secondary]
            )
        return result

    # ------------------------------------------------------------------ lane changes
    def _decide_lane_changes(
        self,
        occupancy: _Occupancy,
        acceleration: np.ndarray,
        direction: int,
        desired_speed: np.ndarray,
        headway: np.ndarray,
    ) -> int:
        """MOBIL for every free vehicle towards ``direction`` (-1 left, +1 right); starts changes.

        ``acceleration`` is the per-entry IDM acceleration of the current occupancy.
        Returns the number of changes started.
        """
        vehicles, layout, config = self.vehicles, self.layout, self.config
        n = len(vehicles["x"])
        lane = vehicles["lane"]
        x, speed, half = vehicles["x"], vehicles["speed"], 0.5 * vehicles["length"]
        ramp = layout.is_ramp(lane)
        target = lane + direction
        allowed = (
            (vehicles["target_lane"] < 0)
            & (vehicles["cooldown"] <= 0.0)
            & (speed >= config.min_lane_change_speed)
            & ~ramp
            & (target >= 0)
            & (target < layout.n_main)
        )
        if direction < 0 and layout.n_lanes > layout.n_main:
            duration = vehicles["lane_change_duration"]
            reach = duration * np.maximum(
                vehicles["lateral_reference_speed"],
                speed + vehicles["max_acceleration"] * duration,
            )
            safe_lane = np.minimum(lane, layout.n_lanes - 1)
            ramp_start = layout.ramp_start[safe_lane]
            ramp_end = layout.ramp_end[safe_lane]
            # Merging is mandatory: a ramp vehicle may start from standstill.
            may_merge = (
                ramp
                & (vehicles["target_lane"] < 0)
                & (x - half >= ramp_start)
                & (x + reach <= ramp_end - 1.0)
            )
            target = np.where(ramp, layout.merge_target[safe_lane], target)
            allowed |= may_merge
        candidates = np.flatnonzero(allowed)
        if not len(candidates):
            return 0
        target = target[candidates]
        is_merge = ramp[candidates]
        x_c, speed_c, half_c = x[candidates], speed[candidates], half[candidates]
        own = occupancy.primary[candidates]
        current_acceleration = acceleration[own]

        # Neighbours in the target lane: the entries just ahead of and behind x.
        key = target * self.key_stride + (x_c - layout.x_min)
        ahead = np.searchsorted(occupancy.key, key)
        count = len(occupancy.key)
        safe_ahead = np.minimum(ahead, count - 1)
        has_new_leader = (ahead < count) & (occupancy.lane[safe_ahead] == target)
        behind = np.maximum(ahead - 1, 0)
        has_new_follower = (ahead >= 1) & (occupancy.lane[behind] == target)
        new_leader_speed = np.where(has_new_leader, occupancy.speed[safe_ahead], 0.0)
        gap_ahead = np.where(
            has_new_leader,
            occupancy.x[safe_ahead] - occupancy.half_length[safe_ahead] - x_c - half_c,
            np.inf,
        )
        gap_behind = np.where(
            has_new_follower,
            x_c - half_c - occupancy.x[behind] - occupancy.half_length[behind],
            np.inf,
        )
        new_follower = np.minimum(occupancy.vehicle[behind], n - 1)
        new_follower_speed = occupancy.speed[behind]
        own_new = self._idm(candidates, speed_c, gap_ahead, speed_c - new_leader_speed,
                            desired_speed, headway)
        new_follower_after = np.where(
            has_new_follower,
            self._idm(new_follower, new_follower_speed, gap_behind,
                      new_follower_speed - speed_c, desired_speed, headway),
            0.0,
        )
        new_follower_before = np.where(has_new_follower, acceleration[behind], 0.0)

        # The old follower, who would then follow our old leader.
        old_follower = occupancy.follower[own]
        has_old_follower = old_follower >= 0
        safe_follower = np.maximum(old_follower, 0)
        old_leader = occupancy.leader[own]
        has_old_leader = old_leader >= 0
        safe_leader = np.maximum(old_leader, 0)
        follower_x = occupancy.x[safe_follower] + occupancy.half_length[safe_follower]
        gap_after = np.where(
            has_old_leader,
            occupancy.x[safe_leader] - occupancy.half_length[safe_leader] - follower_x,
            np.inf,
        )
        follower_speed = occupancy.speed[safe_follower]
        leader_speed = np.where(has_old_leader, occupancy.speed[safe_leader], 0.0)
        old_follower_after = np.where(
            has_old_follower,
            self._idm(np.minimum(occupancy.vehicle[safe_follower], n - 1), follower_speed,
                      gap_after, follower_speed - leader_speed, desired_speed, headway),
            0.0,
        )
        old_follower_before = np.where(has_old_follower, acceleration[safe_follower], 0.0)

        # Room to clear the old lane: the old leader (unless it is a ramp's end) must leave
        # enough road ahead for the travel until the vehicle has left its old lane.
        clearing_time = vehicles["release_progress"][candidates] * vehicles[
            "lane_change_duration"
        ][candidates]
        clearing_travel = clearing_time * np.maximum(
            speed_c, vehicles["lateral_reference_speed"][candidates]
        )
        old_leader_is_obstacle = has_old_leader & (occupancy.vehicle[safe_leader] >= n)
        old_gap = np.where(has_old_leader, occupancy.gap[own], np.inf)
        room_to_clear = old_leader_is_obstacle | (
            old_gap + leader_speed * clearing_time
            >= config.lane_change_room * clearing_travel + vehicles["minimum_gap"][candidates]
        )

        least_gap = np.where(is_merge, config.merge_gap, config.lane_change_gap)
        braking_limit = -np.where(is_merge, config.merge_safe_deceleration,
                                  config.safe_deceleration)
        safe = (
            room_to_clear
            & (gap_ahead >= least_gap)
            & (gap_behind >= least_gap)
            & (new_follower_after >= braking_limit)
            & (own_new >= braking_limit)
        )
        gain = (
            own_new
            - current_acceleration
            + config.politeness
            * (new_follower_after - new_follower_before + old_follower_after - old_follower_before)
        )
        start = safe & (is_merge | (gain > config.lane_change_threshold))
        starting = candidates[start]
        vehicles["target_lane"][starting] = target[start]
        vehicles["progress"][starting] = 0.0
        merges = int(np.count_nonzero(is_merge & start))
        self.report.merges_started += merges
        self.report.lane_changes_started += len(starting) - merges
        return len(starting)

    def _yield_to_merging(
        self,
        occupancy: _Occupancy,
        acceleration: np.ndarray,
        desired_speed: np.ndarray,
        headway: np.ndarray,
    ) -> np.ndarray:
        """Courtesy: the driver next to and behind a ramp vehicle slows to let it in.

        For every ramp vehicle in the merging zone, the vehicle just behind it in the lane it
        merges into follows it as if it were its leader, when that asks for no harder
        braking than ``merge_courtesy_deceleration``. Returns the per-vehicle accelerations
        [m/s²], ``(n,)``, lowered where a driver yields.
        """
        vehicles, layout = self.vehicles, self.layout
        if layout.n_lanes == layout.n_main:
            return acceleration
        n = len(vehicles["x"])
        lane = vehicles["lane"]
        ramp = layout.is_ramp(lane)
        safe_lane = np.minimum(lane, layout.n_lanes - 1)
        half = 0.5 * vehicles["length"]
        merging = np.flatnonzero(
            ramp
            & (vehicles["target_lane"] < 0)
            & (vehicles["x"] - half >= layout.ramp_start[safe_lane])
        )
        if not len(merging):
            return acceleration
        target = layout.merge_target[lane[merging]]
        x, speed = vehicles["x"][merging], vehicles["speed"][merging]
        behind = np.searchsorted(occupancy.key, target * self.key_stride + (x - layout.x_min)) - 1
        safe_behind = np.maximum(behind, 0)
        follower = occupancy.vehicle[safe_behind]
        gap = x - half[merging] - occupancy.x[safe_behind] - occupancy.half_length[safe_behind]
        valid = (behind >= 0) & (occupancy.lane[safe_behind] == target) & (follower < n) & (gap > 0)
        if not np.any(valid):
            return acceleration
        follower, gap, x, speed = follower[valid], gap[valid], x[valid], speed[valid]
        follower_speed = vehicles["speed"][follower]
        courtesy = self._idm(follower, follower_speed, gap, follower_speed - speed,
                             desired_speed, headway)
        yields = courtesy >= -self.config.merge_courtesy_deceleration
        acceleration = acceleration.copy()
        np.minimum.at(acceleration, follower[yields], courtesy[yields])
        return acceleration

    # ------------------------------------------------------------------ one step
    def step(self, record: bool = False):
        """Advance by dt. Every ``lane_change_interval`` drivers decide on lane changes,
        towards the left and the right in turn.

        Returns, when ``record``, the rows of the vehicles inside the section at the end of
        the step: ``(vehicle, x, y, heading, speed)`` arrays, the heading and speed of the
        motion over the step.
        """
        config, layout, dt = self.config, self.layout, self.dt
        vehicles = self.vehicles
        decision = 0
        if self.steps_done % self.decision_every == 0:
            decision = -1 if (self.steps_done // self.decision_every) % 2 == 0 else 1
        self.steps_done += 1
        desired_speed, headway = self._local_driver_parameters()
        occupancy = self._occupancy()
        acceleration = self._following_accelerations(occupancy, desired_speed, headway)
        if decision and len(vehicles["x"]):
            started = self._decide_lane_changes(
                occupancy, acceleration, decision, desired_speed, headway
            )
            if started:
                occupancy = self._occupancy()
                acceleration = self._following_accelerations(occupancy, desired_speed, headway)
        x, y, speed = vehicles["x"], vehicles["y"], vehicles["speed"]
        n = len(x)

        # Longitudinal: IDM + driver noise, braking limit, then the hard gap limit.
        noise = vehicles["noise"] * self.noise_decay + config.acceleration_noise * np.sqrt(
            1.0 - self.noise_decay**2
        ) * self.rng.standard_normal(n)
        vehicles["noise"] = noise
        following = self._yield_to_merging(
            occupancy, self._per_vehicle(occupancy, acceleration), desired_speed, headway
        )
        wanted = np.maximum(following + noise, -config.max_deceleration)
        new_speed = np.maximum(speed + wanted * dt, 0.0)
        travel = 0.5 * (speed + new_speed) * dt
        # The IDM nears the minimum gap only asymptotically; in discrete steps it can pass it
        # by a few centimetres, so a step never ends closer than that (or than hard_gap).
        gap = self._per_vehicle(occupancy, occupancy.gap)
        room = np.maximum(gap - np.maximum(vehicles["minimum_gap"], config.hard_gap), 0.0)
        limited = travel > room
        if np.any(limited):
            self.report.hard_limit_steps += int(np.count_nonzero(travel > gap - config.hard_gap))
            travel = np.minimum(travel, room)
            new_speed = np.where(
                limited, np.clip(2.0 * travel / dt - speed, 0.0, new_speed), new_speed
            )
        # Drivers do not creep: below 1 cm/s a vehicle stands, and a step shorter than a
        # micrometre is no step (its direction would be rounding noise).
        new_speed[new_speed < _STANDSTILL_SPEED] = 0.0
        travel[travel < _STANDSTILL_SPEED * dt * 1e-3] = 0.0
        new_x = x + travel
        forward_speed = travel / dt

        # Lateral: lane changes progress with time, or with distance when slow.
        changing = occupancy.changing
        new_y = layout.centre_y(vehicles["lane"], new_x) + vehicles["lane_offset"]
        if len(changing):
            progress = vehicles["progress"][changing] + dt / vehicles["lane_change_duration"][
                changing
            ] * np.minimum(
                1.0, forward_speed[changing] / vehicles["lateral_reference_speed"][changing]
            )
            done = progress >= 1.0 - 1e-9
            progress = np.where(done, 1.0, progress)
            fraction = minimum_jerk_profile(progress)
            target = vehicles["target_lane"][changing]
            new_y[changing] = (1.0 - fraction) * new_y[changing] + fraction * (
                layout.centre_y(target, new_x[changing]) + vehicles["lane_offset"][changing]
            )
            finished = changing[done]
            vehicles["lane"][finished] = target[done]
            vehicles["target_lane"][finished] = -1
            progress[done] = 0.0
            vehicles["progress"][changing] = progress
            vehicles["cooldown"][finished] = config.lane_change_cooldown
        vehicles["cooldown"] = vehicles["cooldown"] - dt

        # The heading is that of the motion over the step; a standing vehicle keeps its own.
        lateral_speed = (new_y - y) / dt
        moving = travel > 0.0
        heading = np.where(moving, np.arctan2(lateral_speed, forward_speed), vehicles["heading"])
        rows = None
        if record:
            inside = np.flatnonzero((new_x >= 0.0) & (new_x <= self.road.length))
            rows = (
                vehicles["vehicle"][inside],
                new_x[inside],
                new_y[inside],
                heading[inside],
                np.hypot(forward_speed[inside], lateral_speed[inside]),
            )
        vehicles["x"], vehicles["y"], vehicles["speed"] = new_x, new_y, new_speed
        vehicles["heading"] = heading
        self._insert_arrivals(occupancy)
        self._remove_departed()
        self.report.max_vehicles = max(self.report.max_vehicles, len(vehicles["x"]))
        return rows

    def _insert_arrivals(self, occupancy: _Occupancy) -> None:
        """Poisson arrivals join each lane's queue; a queue's head enters when there is room.

        ``occupancy`` is the one of the start of the step: its first entry per lane is the
        rearmost vehicle there (positions are read after the step's motion).
        """
        config, layout, vehicles = self.config, self.layout, self.vehicles
        arrivals = self.rng.random(layout.n_lanes) < self.arrival_probability
        self.queue += arrivals
        overflow = np.maximum(self.queue - config.max_entry_queue, 0)
        self.report.arrivals_lost += int(overflow.sum())
        self.queue -= overflow
        lanes = np.arange(layout.n_lanes)
        n = len(vehicles["x"])
        count = len(occupancy.key)
        first = np.searchsorted(occupancy.key, lanes * self.key_stride)
        safe_first = np.minimum(first, max(count - 1, 0))
        occupied = (first < count) & (occupancy.lane[safe_first] == lanes) if count else (
            np.zeros(layout.n_lanes, dtype=bool)
        )
        rearmost = occupancy.vehicle[safe_first] if count else np.zeros(layout.n_lanes, int)
        is_vehicle = occupied & (rearmost < n)
        safe_rear = np.where(is_vehicle, rearmost, 0)
        pending = self.pending
        entry_x = layout.x_min
        if n:
            rear = vehicles["x"][safe_rear] - 0.5 * vehicles["length"][safe_rear]
            rear_speed = vehicles["speed"][safe_rear]
        else:
            rear = rear_speed = np.zeros(layout.n_lanes)
        obstacle_x = np.full(layout.n_lanes, np.inf)
        obstacle_x[layout.obstacle_lane] = layout.obstacle_x
        rear = np.where(is_vehicle, rear, obstacle_x)
        rear_speed = np.where(is_vehicle, rear_speed, 0.0)
        gap = rear - entry_x - 0.5 * pending["length"]
        needed = pending["minimum_gap"] + rear_speed * pending["time_headway"]
        enters = (self.queue > 0) & (gap >= needed)
        if not np.any(enters):
            return
        spare = np.maximum(gap - needed, 0.0)
        free_speed = np.where(
            layout.is_ramp(lanes),
            np.minimum(pending["desired_speed"], config.ramp_speed_limit),
            pending["desired_speed"],
        )
        entry_speed = np.minimum(
            free_speed,
            rear_speed + np.sqrt(2.0 * pending["comfortable_deceleration"] * spare),
        )
        entering = np.flatnonzero(enters)
        self.place(
            {name: values[entering] for name, values in pending.items()},
            x=np.full(len(entering), entry_x),
            lane=entering,
            speed=entry_speed[entering],
            cooldown=np.zeros(len(entering)),
        )
        self.queue[entering] -= 1
        fresh = self._draw(len(entering))
        for name in pending:
            pending[name][entering] = fresh[name]

    def _remove_departed(self) -> None:
        vehicles = self.vehicles
        gone = vehicles["x"] > self.layout.x_max
        if np.any(gone):
            keep = ~gone
            for name in vehicles:
                vehicles[name] = vehicles[name][keep]

    def vehicle_attributes(self) -> dict[str, np.ndarray]:
        """Length, width and class of every vehicle ever created, indexed by vehicle number."""
        return {
            name: np.concatenate([entry[name] for entry in self.registry])
            for name in ("length", "width", "vehicle_class")
        }


# ---------------------------------------------------------------------------- entry points
def generate(
    road: Road,
    config: SynthConfig | None = None,
    seed: int | np.random.SeedSequence | None = None,
    progress: Callable[[float], None] | None = None,
    report: SimulationReport | None = None,
) -> TrafficLog:
    """Simulate one recording of dense traffic on ``road`` and return it as a log.

    ``seed`` (default ``config.seed``) fixes every random draw: the same road, config and
    seed give the same log bit for bit. ``progress(seconds)`` is called now and then with the
    simulated seconds done since the last call (warm-up included). ``report``, if given, is
    filled with what happened in the simulation. The log is in SI units in the road frame,
    frames from 1, ``time = (frame - 1) * dt``, rows sorted by vehicle then frame, vehicle
    ids from 1 in the order vehicles entered the simulated road.
    """
    config = config or SynthConfig()
    rng = np.random.default_rng(config.seed if seed is None else seed)
    simulation = TrafficSimulation(road, config, rng)
    dt = simulation.dt
    warm_up_steps = int(round(config.warm_up / dt))
    recorded_steps = int(round(config.duration / dt))
    report_every = max(int(round(10.0 / dt)), 1)
    rows = []
    for step in range(warm_up_steps + recorded_steps):
        recording = step >= warm_up_steps
        step_rows = simulation.step(recording)
        if recording:
            rows.append((step - warm_up_steps + 1, step_rows))
        if progress is not None and (step + 1) % report_every == 0:
            progress(report_every * dt)
    if progress is not None:
        progress(((warm_up_steps + recorded_steps) % report_every) * dt)
    if report is not None:
        for name in (entry.name for entry in fields(SimulationReport)):
            setattr(report, name, getattr(simulation.report, name))
    return _assemble_log(road, simulation, rows)


def _assemble_log(road: Road, simulation: TrafficSimulation, rows: list) -> TrafficLog:
    """Rows of every recorded step -> a sorted TrafficLog."""
    if not rows or not sum(len(step_rows[0]) for _, step_rows in rows):
        return TrafficLog.empty(road.dt, road.name)
    frame = np.concatenate(
        [np.full(len(step_rows[0]), number, dtype=np.int64) for number, step_rows in rows]
    )
    vehicle, x, y, heading, speed = (
        np.concatenate([step_rows[field] for _, step_rows in rows]) for field in range(5)
    )
    order = np.lexsort((frame, vehicle))
    frame, vehicle, x, y, heading, speed = (
        values[order] for values in (frame, vehicle, x, y, heading, speed)
    )
    attributes = simulation.vehicle_attributes()
    _, vehicle_id = np.unique(vehicle, return_inverse=True)
    return TrafficLog(
        vehicle_id=vehicle_id + 1,
        frame=frame,
        time=(frame - 1) * road.dt,
        x=x,
        y=y,
        heading=heading,
        speed=speed,
        length=attributes["length"][vehicle],
        width=attributes["width"][vehicle],
        vehicle_class=attributes["vehicle_class"][vehicle],
        lane=road.lane_at(x, y),
        dt=road.dt,
        site=road.name,
        source=f"traffic_mpc.logs.synth v{GENERATOR_VERSION}",
    )


def synthesize(
    out_dir: str | Path,
    *,
    minutes: float = 15.0,
    seed: int = 0,
    recordings: int = 1,
    road_path: str | Path | None = None,
    demand: float | None = None,
    progress: bool = True,
    config: SynthConfig | None = None,
) -> list[Path]:
    """Generate ``recordings`` independent periods of ``minutes`` each into ``out_dir``.

    Writes, each file atomically: ``road.toml`` (a copy of the road file, by default
    ``envs/synth.toml``), ``recording-01.txt``, ... in NGSIM's 18-column text layout, and
    ``synth.json`` (generator version, configuration, seeds, files with their SHA-256 and
    statistics). Recording ``k`` is simulated with the ``k``-th child of
    ``numpy.random.SeedSequence(seed)``; the same arguments give the same bytes.
    ``demand`` [veh/h/lane] overrides the default mainline inflow; ``config`` (default
    :class:`SynthConfig()`) sets every other option, its duration and seed replaced by
    ``minutes`` and ``seed``. Returns the recording paths. A progress bar over simulated
    time is shown when ``progress``.
    """
    from tqdm import tqdm

    from traffic_mpc.logs.ngsim import write_ngsim
    from traffic_mpc.logs.stats import log_statistics

    if not (isinstance(minutes, int | float) and np.isfinite(minutes) and minutes > 0):
        raise InputError("data synth", f"minutes must be a positive number, got {minutes!r}")
    if not (isinstance(recordings, int) and recordings >= 1):
        raise InputError("data synth", f"recordings must be a whole number >= 1, "
                         f"got {recordings!r}")
    if demand is not None and not (np.isfinite(demand) and demand > 0):
        raise InputError("data synth", f"demand must be a positive number of veh/h/lane, "
                         f"got {demand!r}")
    road_file = Path(road_path) if road_path is not None else ROADS_DIR / "synth.toml"
    road = Road.load(road_file)
    options = {"duration": float(minutes) * 60.0, "seed": int(seed)}
    if demand is not None:
        options["demand"] = float(demand)
    config = replace(config or SynthConfig(), **options)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    road_bytes = road_file.read_bytes()
    atomic.write_bytes(out / "road.toml", road_bytes)
    children = np.random.SeedSequence(int(seed)).spawn(recordings)
    simulated = recordings * (config.warm_up + config.duration)
    written, entries = [], []
    with tqdm(total=simulated, unit="s", desc="simulating traffic", disable=not progress,
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s simulated [{elapsed}<{remaining}]",
              ) as bar:
        for number, child in enumerate(children, start=1):
            log = generate(road, config, child, progress=bar.update)
            path = out / f"recording-{number:02d}.txt"
            write_ngsim(log, path)
            written.append(path)
            entries.append({
                "file": path.name,
                "sha256": file_checksum(path),
                "seed_spawn_key": list(child.spawn_key),
                "statistics": log_statistics(log, road),
            })
    manifest = {
        "generator": "traffic_mpc.logs.synth",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "seeding": "recording k uses numpy.random.SeedSequence(seed).spawn(recordings)[k-1]",
        "road": {
            "file": "road.toml",
            "copied_from": road_file.name,
            "sha256": hashlib.sha256(road_bytes).hexdigest(),
        },
        "config": config.as_json(),
        "recordings": entries,
    }
    atomic.write_text(out / "synth.json", json.dumps(manifest, indent=2) + "\n")
    return written

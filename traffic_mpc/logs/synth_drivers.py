"""Drivers and vehicles of the traffic generator: who is on the road and how they follow.

The generator (:mod:`traffic_mpc.logs.synth`) draws every vehicle's class, size and driver
parameters from the distributions here, and moves it with the Intelligent Driver Model:

    a = a_max [1 - (v / v0)^4 - (s*(v, dv) / s)^2],
    s*(v, dv) = s0 + max(0, v T + v dv / (2 sqrt(a_max b))),

with speed v [m/s], bumper-to-bumper gap s [m] to the leader and approach rate dv = v -
v_leader [m/s] (Treiber, Hennecke & Helbing 2000, Phys. Rev. E 62, 1805).

Typical values and where they come from:

* IDM on freeways: v0 = 120 km/h, T = 1.0-1.5 s, s0 = 2 m, a = 1.0 m/s², b = 1.5-2 m/s²
  (Treiber & Kesting 2013, *Traffic Flow Dynamics*, table 11.2). Calibrations on NGSIM I-80
  trajectories give a wide spread between drivers: T ~ 0.8-2 s, s0 ~ 1-3 m, a ~ 0.5-2 m/s²,
  b ~ 1-3 m/s² (Kesting & Treiber 2008, TRR 2088, "Calibrating car-following models by using
  trajectory data"). Trucks keep longer headways and accelerate at about half a car's rate
  (ibid., truck parameter sets); motorcycles accelerate harder and keep shorter gaps.
* Desired speeds around the I-80 speed limit of 65 mph (29 m/s), a few m/s of spread.
* Sizes from the NGSIM ``v_Length`` / ``v_Width`` columns: cars ~4.5 m × 1.8 m, trucks and
  buses 8-22 m × ~2.5 m, motorcycles ~2.1 m × 0.8 m. On I-80 about 95 % of vehicles are cars,
  3 % trucks and 2 % motorcycles.

Each parameter is a :class:`TruncatedNormal` per vehicle class (redrawn outside its bounds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from traffic_mpc.logs.traffic_log import CAR, MOTORCYCLE, TRUCK

#: IDM acceleration exponent (delta).
IDM_EXPONENT = 4.0

#: Gaps [m] are floored at this value inside the IDM so that a touching leader gives a large
#: but finite braking demand (the caller clips it to the physical braking limit).
_SMALLEST_GAP = 0.05


@dataclass(frozen=True)
class TruncatedNormal:
    """A normal distribution (mean, std) restricted to [low, high] by redrawing."""

    mean: float
    std: float
    low: float
    high: float

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` independent draws, shape ``(count,)``."""
        values = rng.normal(self.mean, self.std, count)
        outside = (values < self.low) | (values > self.high)
        while np.any(outside):
            values[outside] = rng.normal(self.mean, self.std, int(outside.sum()))
            outside = (values < self.low) | (values > self.high)
        return values


@dataclass(frozen=True)
class VehicleClassSpec:
    """One vehicle class of the mix: its share, sizes, IDM parameters and lane-change style.

    ``vehicle_class`` uses NGSIM's numbers (1 motorcycle, 2 car, 3 truck); ``share`` is the
    fraction of arriving vehicles of this class (shares are normalised over the mix).
    Sizes in metres; desired_speed in m/s; time_headway in s; minimum_gap in m;
    max_acceleration and comfortable_deceleration in m/s²; lane_offset [m] where the driver
    keeps the vehicle's centre relative to the lane centre (positive to the left; bounded
    so that the vehicle stays inside a 3.66 m lane with room to spare).
    ``lane_change_duration`` [s] is how long a lane change takes at speeds of at least
    ``lateral_reference_speed`` [m/s]; slower, it takes ``lateral_reference_speed *
    lane_change_duration`` metres of travel instead (a road vehicle cannot move sideways
    without moving forward), which bounds the heading during a change by about
    ``atan(1.875 * lane_width / (lateral_reference_speed * lane_change_duration))``.
    """

    vehicle_class: int
    share: float
    length: TruncatedNormal
    width: TruncatedNormal
    desired_speed: TruncatedNormal
    time_headway: TruncatedNormal
    minimum_gap: TruncatedNormal
    max_acceleration: TruncatedNormal
    comfortable_deceleration: TruncatedNormal
    lane_offset: TruncatedNormal
    lane_change_duration: float
    lateral_reference_speed: float


CAR_SPEC = VehicleClassSpec(
    vehicle_class=CAR,
    share=0.95,
    length=TruncatedNormal(4.5, 0.5, 3.5, 6.2),
    width=TruncatedNormal(1.8, 0.1, 1.5, 2.1),
    desired_speed=TruncatedNormal(30.0, 3.0, 22.0, 38.0),
    time_headway=TruncatedNormal(1.4, 0.3, 0.8, 2.2),
    minimum_gap=TruncatedNormal(2.0, 0.4, 1.2, 3.0),
    max_acceleration=TruncatedNormal(1.0, 0.25, 0.5, 1.8),
    comfortable_deceleration=TruncatedNormal(1.8, 0.3, 1.2, 2.6),
    lane_offset=TruncatedNormal(0.0, 0.15, -0.35, 0.35),
    lane_change_duration=4.0,
    lateral_reference_speed=7.0,
)

TRUCK_SPEC = VehicleClassSpec(
    vehicle_class=TRUCK,
    share=0.03,
    length=TruncatedNormal(13.0, 4.0, 8.0, 22.0),
    width=TruncatedNormal(2.5, 0.05, 2.4, 2.6),
    desired_speed=TruncatedNormal(25.0, 2.0, 20.0, 29.0),
    time_headway=TruncatedNormal(1.9, 0.3, 1.3, 2.6),
    minimum_gap=TruncatedNormal(3.0, 0.5, 2.0, 4.0),
    max_acceleration=TruncatedNormal(0.5, 0.1, 0.3, 0.8),
    comfortable_deceleration=TruncatedNormal(1.5, 0.2, 1.0, 2.0),
    lane_offset=TruncatedNormal(0.0, 0.08, -0.15, 0.15),
    lane_change_duration=5.0,
    lateral_reference_speed=10.0,
)

MOTORCYCLE_SPEC = VehicleClassSpec(
    vehicle_class=MOTORCYCLE,
    share=0.02,
    length=TruncatedNormal(2.1, 0.15, 1.8, 2.5),
    width=TruncatedNormal(0.8, 0.08, 0.6, 1.0),
    desired_speed=TruncatedNormal(32.0, 3.0, 24.0, 40.0),
    time_headway=TruncatedNormal(1.1, 0.2, 0.7, 1.6),
    minimum_gap=TruncatedNormal(1.5, 0.3, 1.0, 2.2),
    max_acceleration=TruncatedNormal(1.8, 0.3, 1.2, 2.5),
    comfortable_deceleration=TruncatedNormal(2.0, 0.3, 1.4, 2.8),
    lane_offset=TruncatedNormal(0.0, 0.3, -0.7, 0.7),
    lane_change_duration=3.0,
    lateral_reference_speed=9.0,
)

#: The default mix, close to NGSIM I-80's composition.
DEFAULT_VEHICLE_MIX = (CAR_SPEC, TRUCK_SPEC, MOTORCYCLE_SPEC)

#: Attributes drawn from a class's distributions, and those fixed per class.
DRAWN_ATTRIBUTES = (
    "length",
    "width",
    "desired_speed",
    "time_headway",
    "minimum_gap",
    "max_acceleration",
    "comfortable_deceleration",
    "lane_offset",
)
CLASS_ATTRIBUTES = ("lane_change_duration", "lateral_reference_speed")

#: Per-vehicle attributes returned by :func:`sample_vehicles` (float64 but the class).
VEHICLE_ATTRIBUTES = ("vehicle_class",) + DRAWN_ATTRIBUTES + CLASS_ATTRIBUTES


def sample_vehicles(
    mix: tuple[VehicleClassSpec, ...], rng: np.random.Generator, count: int
) -> dict[str, np.ndarray]:
    """Draw ``count`` vehicles: class by share, then sizes and driver parameters by class.

    Returns one ``(count,)`` array per name in :data:`VEHICLE_ATTRIBUTES`.
    """
    shares = np.array([spec.share for spec in mix], dtype=np.float64)
    if np.any(shares < 0) or shares.sum() <= 0:
        raise ValueError("vehicle mix shares must be non-negative and not all zero")
    kind = rng.choice(len(mix), size=count, p=shares / shares.sum())
    vehicles = {name: np.zeros(count) for name in VEHICLE_ATTRIBUTES}
    vehicles["vehicle_class"] = np.zeros(count, dtype=np.int64)
    for index, spec in enumerate(mix):
        chosen = np.flatnonzero(kind == index)
        vehicles["vehicle_class"][chosen] = spec.vehicle_class
        for name in DRAWN_ATTRIBUTES:
            vehicles[name][chosen] = getattr(spec, name).sample(rng, len(chosen))
        for name in CLASS_ATTRIBUTES:
            vehicles[name][chosen] = getattr(spec, name)
    return vehicles


def idm_acceleration(
    speed: np.ndarray,
    gap: np.ndarray,
    approach_rate: np.ndarray,
    desired_speed: np.ndarray,
    time_headway: np.ndarray,
    minimum_gap: np.ndarray,
    max_acceleration: np.ndarray,
    comfortable_deceleration: np.ndarray,
) -> np.ndarray:
    """IDM acceleration [m/s²] of followers behind their leaders; all arrays broadcast.

    ``speed`` [m/s] of the follower, ``gap`` [m] bumper to bumper (``inf`` without a
    leader), ``approach_rate`` = follower speed - leader speed [m/s]. The result is not
    clipped: a gap far below the desired one asks for more braking than a car can give.
    """
    dynamic_gap = speed * time_headway + speed * approach_rate / (
        2.0 * np.sqrt(max_acceleration * comfortable_deceleration)
    )
    desired_gap = minimum_gap + np.maximum(dynamic_gap, 0.0)
    free_road = (speed / desired_speed) ** IDM_EXPONENT
    interaction = (desired_gap / np.maximum(gap, _SMALLEST_GAP)) ** 2
    return max_acceleration * (1.0 - free_road - interaction)


def minimum_jerk_profile(progress: np.ndarray) -> np.ndarray:
    """Lateral fraction of a lane change done at ``progress`` in [0, 1] (0 -> 0, 1 -> 1).

    The quintic 10τ³ - 15τ⁴ + 6τ⁵ starts and ends with zero lateral speed and acceleration;
    its slope peaks at 1.875 at mid-change.
    """
    tau = np.clip(progress, 0.0, 1.0)
    return tau**3 * (10.0 + tau * (-15.0 + 6.0 * tau))


def minimum_jerk_slope(progress: np.ndarray) -> np.ndarray:
    """d(fraction)/d(progress) of :func:`minimum_jerk_profile`: 30τ²(1 - τ)², 0 outside [0, 1]."""
    tau = np.clip(progress, 0.0, 1.0)
    return 30.0 * tau**2 * (1.0 - tau) ** 2

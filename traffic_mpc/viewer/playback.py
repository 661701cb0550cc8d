"""A traffic log arranged for drawing: the rows of each frame are one contiguous slice.

:meth:`TrafficLog.frame_arrays` gives dense ``(frames × vehicles)`` arrays, which cost
``frames × vehicles`` entries per field: a 15-minute NGSIM period (9,000 frames, ~2,000
vehicles, each on the road for under a minute) would take ~0.5 GB for the handful of fields
drawn here. Sorting the rows by frame instead keeps the log's own size and makes a frame a
zero-copy slice of every field, which is as fast to draw from (measured by the ``viewer``
benchmark). ``vehicles_per_frame`` is the number of vehicles in the log at each frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from traffic_mpc.logs.traffic_log import TrafficLog

#: Fields kept per row, as float32 (drawing needs no more precision).
_FLOAT_FIELDS = ("x", "y", "heading", "speed", "length", "width", "acceleration")


@dataclass(frozen=True)
class FrameVehicles:
    """The vehicles of one frame; every array has one entry per vehicle.

    ``x, y`` [m] centre in the road frame, ``heading`` [rad], ``speed`` [m/s],
    ``acceleration`` [m/s²] (from the logged speeds), ``length, width`` [m], ``lane`` id.
    """

    vehicle_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    length: np.ndarray
    width: np.ndarray
    acceleration: np.ndarray
    lane: np.ndarray

    def __len__(self) -> int:
        return len(self.vehicle_id)

    def index_of(self, vehicle_id: int) -> int | None:
        """Position of a vehicle in this frame's arrays, or None if it is not on the road."""
        hits = np.flatnonzero(self.vehicle_id == vehicle_id)
        return int(hits[0]) if len(hits) else None

    def without(self, vehicle_id: int) -> FrameVehicles:
        """The same frame without one vehicle (e.g. an ego replaced by its controlled twin)."""
        keep = self.vehicle_id != vehicle_id
        return FrameVehicles(**{name: getattr(self, name)[keep] for name in _ALL_FIELDS})

    def vehicle_under(self, x: float, y: float, tolerance: float = 0.5) -> int | None:
        """Id of the vehicle whose footprint (grown by ``tolerance`` [m]) holds road point
        ``(x, y)`` [m]; the nearest centre wins. None if there is none."""
        if not len(self):
            return None
        dx, dy = x - self.x, y - self.y
        cos, sin = np.cos(self.heading), np.sin(self.heading)
        along = cos * dx + sin * dy
        across = -sin * dx + cos * dy
        inside = (np.abs(along) <= self.length / 2 + tolerance) & (
            np.abs(across) <= self.width / 2 + tolerance
        )
        if not inside.any():
            return None
        distance = np.where(inside, np.hypot(dx, dy), np.inf)
        return int(self.vehicle_id[int(np.argmin(distance))])


_ALL_FIELDS = ("vehicle_id", *_FLOAT_FIELDS, "lane")


class TrafficFrames:
    """A log indexed by frame: ``at(t)`` gives the vehicles at frame ``first_frame + t``.

    Frames are counted from 0 (``t``) here; ``frame_number(t)`` is the log's own number.
    """

    def __init__(self, log: TrafficLog) -> None:
        if not len(log):
            raise ValueError("the log holds no rows")
        self.log = log
        self.dt = float(log.dt)
        self.first_frame = log.first_frame
        self.n_frames = log.last_frame - log.first_frame + 1
        by_vehicle = log if log.is_sorted() else log.sorted()
        acceleration = _logged_acceleration(by_vehicle)
        order = np.lexsort((by_vehicle.vehicle_id, by_vehicle.frame))
        frame = by_vehicle.frame[order] - self.first_frame
        self._starts = np.searchsorted(frame, np.arange(self.n_frames + 1))
        self._fields = {"vehicle_id": by_vehicle.vehicle_id[order],
                        "lane": by_vehicle.lane[order]}
        for name in _FLOAT_FIELDS:
            source = acceleration if name == "acceleration" else getattr(by_vehicle, name)
            self._fields[name] = np.ascontiguousarray(source[order], dtype=np.float32)
        self.vehicles_per_frame = np.diff(self._starts)
        self._by_vehicle = by_vehicle
        self._vehicle_rows = by_vehicle.vehicle_slices()

    def at(self, t: int) -> FrameVehicles:
        """The vehicles at frame index ``t`` (0 <= t < n_frames); views, not copies."""
        rows = slice(int(self._starts[t]), int(self._starts[t + 1]))
        return FrameVehicles(**{name: array[rows] for name, array in self._fields.items()})

    def frame_number(self, t: int) -> int:
        return self.first_frame + t

    def time(self, t: int) -> float:
        """Seconds since the first frame of the log."""
        return t * self.dt

    def trajectory(self, vehicle_id: int) -> dict[str, np.ndarray]:
        """A vehicle's logged rows: ``t`` (frame index), ``x``, ``y``, ``heading``, ``speed``."""
        rows = self._vehicle_rows.get(int(vehicle_id))
        if rows is None:
            return {name: np.zeros(0) for name in ("t", "x", "y", "heading", "speed")}
        log = self._by_vehicle
        return {
            "t": log.frame[rows] - self.first_frame,
            "x": log.x[rows],
            "y": log.y[rows],
            "heading": log.heading[rows],
            "speed": log.speed[rows],
        }

    def busy_frame(self, fraction: float = 0.9) -> int:
        """The first frame index whose vehicle count reaches ``fraction`` of the median count
        over the frames that have vehicles: where a generated log's road has filled up."""
        counts = self.vehicles_per_frame
        occupied = counts[counts > 0]
        if not len(occupied):
            return 0
        return int(np.argmax(counts >= fraction * np.median(occupied)))

    def speed_quantile(self, q: float) -> float:
        """A quantile of the logged speeds [m/s]."""
        return float(np.quantile(self._fields["speed"], q))


def _logged_acceleration(log: TrafficLog) -> np.ndarray:
    """Acceleration [m/s²] of every row from the logged speeds of consecutive frames of the
    same vehicle (forward difference; backward at a vehicle's last row; 0 for a single row).
    Rows must be sorted by vehicle, then frame."""
    speed, vehicle = log.speed, log.vehicle_id
    acceleration = np.zeros(len(log))
    if len(log) < 2:
        return acceleration
    same = vehicle[1:] == vehicle[:-1]
    # Between two vehicles the frame difference means nothing (it may be 0).
    frames = np.where(same, np.diff(log.frame), 1)
    forward = np.where(same, np.diff(speed) / (frames * log.dt), np.nan)
    acceleration[:-1] = forward
    last = np.append(~same, True)
    backward = np.concatenate([[np.nan], forward])
    acceleration[last] = backward[last]
    return np.nan_to_num(acceleration)

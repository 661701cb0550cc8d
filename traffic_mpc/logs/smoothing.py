"""Centred smoothing of logged positions and the heading and speed derived from them.

Shared by the NGSIM and highD readers. Every function works on *tracks*: the rows of a
log sorted by vehicle, then frame, with the frames of each vehicle consecutive (the
readers reject gaps), so neighbouring rows of one vehicle are exactly ``dt`` apart.
Arrays are flat ``(N,)`` over all rows; ``vehicle_id`` (N,) says which track a row
belongs to. Nothing here ever mixes two vehicles.

The filter is a centred moving average over ``2h + 1`` samples. Near the ends of a track
the window shrinks *symmetrically* (at ``k`` samples from an end it spans ``2k + 1``
samples, the end sample itself is kept as it is), so the filter

* never shifts a signal in time (every output is the mean of a window centred on it);
* reproduces straight lines exactly, anywhere in a track: a vehicle driving at constant
  velocity keeps its positions, speed and heading unchanged.

The reference smoothed NGSIM positions with a forward-looking 1.5 s average, which delays
the signal by ~0.7 s (REFERENCE.md); this one does not.
"""

from __future__ import annotations

import numpy as np

#: Below this speed [m/s] the direction of motion is dominated by position noise (NGSIM
#: positions jitter by ~0.1 m, i.e. ~0.5 m/s over a 0.2 s central difference when raw):
#: the heading is held instead.
HEADING_MIN_SPEED = 0.5


def track_bounds(vehicle_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First row and one-past-last row of the track of every row.

    ``vehicle_id`` (N,) must be grouped (rows of one vehicle contiguous). Returns two
    ``(N,)`` int64 arrays ``start, end`` with ``start[i] <= i < end[i]``.
    """
    n = len(vehicle_id)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    new_track = np.ones(n, dtype=bool)
    new_track[1:] = vehicle_id[1:] != vehicle_id[:-1]
    starts = np.flatnonzero(new_track)
    ends = np.append(starts[1:], n)
    track = np.cumsum(new_track) - 1
    return starts[track], ends[track]


def half_width_steps(window: float, dt: float) -> int:
    """Half-width ``h`` [samples] of the centred window closest to ``window`` seconds.

    The window spans ``2h + 1`` samples with ``h = round(window / dt) // 2``: 1.5 s at
    0.1 s gives 15 samples (h = 7). A window of 0 (or shorter than two steps) is h = 0,
    i.e. no smoothing.
    """
    if window < 0 or not np.isfinite(window):
        raise ValueError(f"smoothing window must be a finite number >= 0, got {window}")
    if dt <= 0:
        raise ValueError(f"dt must be positive, got {dt}")
    return int(round(window / dt)) // 2


def centred_moving_average(
    values: np.ndarray, vehicle_id: np.ndarray, half_width: int
) -> np.ndarray:
    """Centred moving average of ``values`` (N,) over ``2 * half_width + 1`` samples.

    The window of row ``i`` is ``[i - k, i + k]`` with ``k = min(half_width, rows to the
    nearer end of its track)``: symmetric everywhere, so it has no lag and keeps straight
    lines exact. Returns a new float64 array (N,).
    """
    values = np.asarray(values, dtype=np.float64)
    if half_width <= 0 or len(values) == 0:
        return values.copy()
    start, end = track_bounds(vehicle_id)
    rows = np.arange(len(values))
    reach = np.minimum(np.minimum(rows - start, end - 1 - rows), half_width)
    total = values.copy()
    for offset in range(1, half_width + 1):
        inside = np.flatnonzero(reach >= offset)
        if len(inside) == 0:
            break
        total[inside] += values[inside - offset] + values[inside + offset]
    return total / (2 * reach + 1)


def central_difference(values: np.ndarray, vehicle_id: np.ndarray, dt: float) -> np.ndarray:
    """Time derivative of ``values`` (N,) per track [unit/s]: central differences inside
    a track, one-sided at its first and last row, 0 for a track of a single row."""
    values = np.asarray(values, dtype=np.float64)
    rate = np.zeros_like(values)
    if len(values) < 2:
        return rate
    start, end = track_bounds(vehicle_id)
    rows = np.arange(len(values))
    after = np.minimum(rows + 1, end - 1)
    before = np.maximum(rows - 1, start)
    span = after - before
    moving = span > 0
    rate[moving] = (values[after[moving]] - values[before[moving]]) / (span[moving] * dt)
    return rate


def heading_and_speed(
    velocity_x: np.ndarray,
    velocity_y: np.ndarray,
    vehicle_id: np.ndarray,
    min_speed: float = HEADING_MIN_SPEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Heading [rad, in (-pi, pi]] and speed [m/s] from velocity components [m/s], (N,) each.

    Where the speed is below ``min_speed`` the direction of motion is noise, so the heading
    is held from the last row of the same track that moved (or, before the vehicle first
    moves, taken from the first row that does); a vehicle that never moves heads along +x.
    """
    velocity_x = np.asarray(velocity_x, dtype=np.float64)
    velocity_y = np.asarray(velocity_y, dtype=np.float64)
    speed = np.hypot(velocity_x, velocity_y)
    heading = np.arctan2(velocity_y, velocity_x)
    n = len(speed)
    if n == 0:
        return heading, speed
    moving = speed >= min_speed
    if moving.all():
        return heading, speed
    start, end = track_bounds(vehicle_id)
    rows = np.arange(n)
    last_moving = np.maximum.accumulate(np.where(moving, rows, -1))
    next_moving = np.minimum.accumulate(np.where(moving, rows, n)[::-1])[::-1]
    source = np.where(last_moving >= start, last_moving, next_moving)
    held = np.where(source < end, heading[np.minimum(source, n - 1)], 0.0)
    return np.where(moving, heading, held), speed

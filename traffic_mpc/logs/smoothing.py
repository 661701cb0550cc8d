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


def track_starts(vehicle_id: np.ndarray) -> np.ndarray:
    """First row of every track, ascending: an int64 array (one per track, empty for N = 0).

    ``vehicle_id`` (N,) must be grouped (rows of one vehicle contiguous); a track starts
    at row 0 and wherever the id differs from the row before.
    """
    vehicle_id = np.asarray(vehicle_id)
    new_track = np.ones(len(vehicle_id), dtype=bool)
    new_track[1:] = vehicle_id[1:] != vehicle_id[:-1]
    return np.flatnonzero(new_track).astype(np.int64, copy=False)


def track_bounds(vehicle_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First row and one-past-last row of the track of every row.

    ``vehicle_id`` (N,) must be grouped (rows of one vehicle contiguous). Returns two
    ``(N,)`` int64 arrays ``start, end`` with ``start[i] <= i < end[i]``.
    """
    starts = track_starts(vehicle_id)
    ends = np.append(starts, len(vehicle_id))[1:]
    size = ends - starts
    return np.repeat(starts, size), np.repeat(ends, size)


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


def centres_behind_fronts(
    front_x: np.ndarray,
    front_y: np.ndarray,
    length: np.ndarray,
    vehicle_id: np.ndarray,
    initial_heading: np.ndarray,
    dt: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centre, heading and speed of vehicles whose fronts are logged, (N,) arrays each.

    The vehicle centre moves along the vehicle's heading, and the front is half a length
    ahead of the centre along that heading — the kinematics of the replay world
    (``p[t] = p[t-1] + speed[t] * dt * u(heading[t])``, ``u(θ) = (cos θ, sin θ)``). Given the
    fronts, that fixes every step::

        heading[t] = direction of (front[t] - centre[t-1])
        centre[t]  = front[t] - length / 2 * u(heading[t])
        speed[t]   = (|front[t] - centre[t-1]| - length / 2) / dt

    The centre trails the front like a towed trailer: the heading never flips on position
    noise while a vehicle stands (noise of ``e`` metres turns it by about ``2 e / length``),
    and an error in the first heading dies out with the distance driven. A front that
    jitters backwards gives a small negative speed, reported as 0 (the centre still sits
    exactly half a length behind the front). The first row of a track uses
    ``initial_heading``; its speed is the one of the next step.
    """
    front_x = np.asarray(front_x, dtype=np.float64)
    front_y = np.asarray(front_y, dtype=np.float64)
    half_length = 0.5 * np.asarray(length, dtype=np.float64)
    n = len(front_x)
    heading = np.asarray(initial_heading, dtype=np.float64).copy()
    x = front_x - half_length * np.cos(heading)
    y = front_y - half_length * np.sin(heading)
    speed = np.zeros(n)
    if n == 0:
        return x, y, heading, speed
    first_rows = track_starts(vehicle_id)
    track_lengths = np.diff(first_rows, append=n)
    # Step k of every track at once: the recursion runs along time, vectorised over tracks.
    for k in range(1, int(track_lengths.max())):
        rows = first_rows[track_lengths > k] + k
        to_front_x = front_x[rows] - x[rows - 1]
        to_front_y = front_y[rows] - y[rows - 1]
        reach = np.hypot(to_front_x, to_front_y)
        turned = np.arctan2(to_front_y, to_front_x)
        heading[rows] = np.where(reach > 0.0, turned, heading[rows - 1])
        x[rows] = front_x[rows] - half_length[rows] * np.cos(heading[rows])
        y[rows] = front_y[rows] - half_length[rows] * np.sin(heading[rows])
        speed[rows] = np.maximum(reach - half_length[rows], 0.0) / dt
    moving_on = first_rows[track_lengths > 1]
    speed[moving_on] = speed[moving_on + 1]
    return x, y, heading, speed

"""Small NGSIM files written by the tests themselves, from analytic trajectories.

The files are made here with plain string formatting (not with `write_ngsim`), so the
reader is tested against an independent writer. Trajectories are given as *front centre*
positions in the road frame [m] as functions of time, so expected values can be computed
by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from traffic_mpc.logs.ngsim import CSV_COLUMNS, FOOT, ORIGINAL_COLUMNS

EPOCH_MS = 1_118_846_979_700
LANE_WIDTH = 3.66


def lane_centre(lane: int) -> float:
    """y [m] of the centre of lane ``lane`` (1 = leftmost) on a straight NGSIM-like road."""
    return -(lane - 0.5) * LANE_WIDTH


@dataclass(frozen=True)
class SampleVehicle:
    """One vehicle: its frames, size [ft], class and front trajectory (t [s] -> x, y [m]).

    ``t`` counts from the vehicle's first frame.
    """

    vehicle_id: int
    first_frame: int
    n_frames: int
    length_ft: float
    width_ft: float
    v_class: int
    front: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def constant_speed(x0: float, speed: float, lane: int):
    return lambda t: (x0 + speed * t, np.full_like(t, lane_centre(lane)))


def accelerating(x0: float, speed: float, acceleration: float, lane: int):
    y = lane_centre(lane)
    return lambda t: (x0 + speed * t + 0.5 * acceleration * t**2, np.full_like(t, y))


def lane_change(x0: float, speed: float, lane: int, start: float, duration: float):
    """Constant speed; from ``lane`` to ``lane + 1`` along a half cosine from ``start`` [s]."""

    def front(t):
        progress = np.clip((t - start) / duration, 0.0, 1.0)
        shift = 0.5 - 0.5 * np.cos(np.pi * progress)
        return x0 + speed * t, lane_centre(lane) - LANE_WIDTH * shift

    return front


def stopping(x0: float, speed: float, deceleration: float, lane: int):
    """Brakes from ``speed`` to a standstill, then stays."""

    def front(t):
        t_stop = speed / deceleration
        moving_t = np.minimum(t, t_stop)
        x = x0 + speed * moving_t - 0.5 * deceleration * moving_t**2
        return x, np.full_like(t, lane_centre(lane))

    return front


def scene(first_frame: int = 100) -> list[SampleVehicle]:
    """Five vehicles over 300 frames: steady, accelerating, a lane change, a late short
    motorcycle and a car braking to a stop."""
    f = first_frame
    return [
        SampleVehicle(1, f, 300, 15.0, 6.0, 2, constant_speed(20.0, 10.0, 2)),
        SampleVehicle(2, f, 300, 40.0, 8.5, 3, accelerating(5.0, 4.0, 0.5, 3)),
        SampleVehicle(3, f + 20, 240, 14.5, 6.2, 2, lane_change(40.0, 8.0, 2, 8.0, 4.0)),
        SampleVehicle(4, f + 50, 150, 7.0, 3.0, 1, constant_speed(0.0, 12.0, 1)),
        SampleVehicle(5, f, 150, 16.0, 6.5, 2, stopping(10.0, 6.0, 1.0, 4)),
    ]


def sample_rows(
    vehicles: list[SampleVehicle],
    dt: float = 0.1,
    epoch_ms: int = EPOCH_MS,
    noise: float = 0.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The 18 original columns for ``vehicles``, sorted by vehicle then frame.

    ``noise`` [m] adds Gaussian noise to the logged front positions.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ORIGINAL_COLUMNS}
    for vehicle in vehicles:
        n = vehicle.n_frames
        frame = vehicle.first_frame + np.arange(n)
        t = np.arange(n) * dt
        front_x, front_y = vehicle.front(t)
        front_x = front_x + noise * rng.standard_normal(n)
        front_y = front_y + noise * rng.standard_normal(n)
        lane = np.floor(-front_y / LANE_WIDTH).astype(np.int64) + 1
        speed = np.gradient(front_x, dt) if n > 1 else np.zeros(n)
        values = {
            "Vehicle_ID": np.full(n, vehicle.vehicle_id),
            "Frame_ID": frame,
            "Total_Frames": np.full(n, n),
            "Global_Time": np.round(epoch_ms + frame * dt * 1000.0).astype(np.int64),
            "Local_X": -front_y / FOOT,
            "Local_Y": front_x / FOOT,
            "Global_X": 6042000.0 - front_y / FOOT,
            "Global_Y": 2133000.0 + front_x / FOOT,
            "v_Length": np.full(n, vehicle.length_ft),
            "v_Width": np.full(n, vehicle.width_ft),
            "v_Class": np.full(n, vehicle.v_class),
            "v_Vel": speed / FOOT,
            "v_Acc": np.gradient(speed, dt) / FOOT if n > 1 else np.zeros(n),
            "Lane_ID": lane,
            "Preceding": np.zeros(n, dtype=np.int64),
            "Following": np.zeros(n, dtype=np.int64),
            "Space_Headway": np.zeros(n),
            "Time_Headway": np.zeros(n),
        }
        for name in ORIGINAL_COLUMNS:
            parts[name].append(values[name])
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}


_FORMATS = {
    "Local_X": "{:.3f}", "Local_Y": "{:.3f}", "Global_X": "{:.3f}", "Global_Y": "{:.3f}",
    "v_Length": "{:.1f}", "v_Width": "{:.1f}", "v_Vel": "{:.2f}", "v_Acc": "{:.2f}",
    "Space_Headway": "{:.2f}", "Time_Headway": "{:.2f}",
}  # fmt: skip


def _formatted(rows: dict[str, np.ndarray], name: str) -> list[str]:
    fmt = _FORMATS.get(name, "{:d}")
    values = rows[name]
    if fmt == "{:d}":
        values = values.astype(np.int64)
    return [fmt.format(value) for value in values.tolist()]


def original_text(rows: dict[str, np.ndarray], precise: bool = False) -> str:
    """The original layout: 18 whitespace-separated columns, no header, CRLF-free.

    NGSIM keeps 3 decimals of a foot; ``precise`` writes positions with 6 instead.
    """
    columns = []
    for name in ORIGINAL_COLUMNS:
        if precise and name in ("Local_X", "Local_Y"):
            columns.append([f"{value:.6f}" for value in rows[name].tolist()])
        else:
            columns.append(_formatted(rows, name))
    return "".join("  ".join(fields) + "\n" for fields in zip(*columns))


def csv_text(
    rows: dict[str, np.ndarray],
    location: str = "i-80",
    order: np.ndarray | None = None,
    other_rows: dict[str, np.ndarray] | None = None,
    other_location: str = "us-101",
) -> str:
    """The CSV export: header, 25 columns; zone columns empty. Rows in ``order`` (default:
    by frame, then vehicle, as the export mixes vehicles), ``other_rows`` of another site
    interleaved after them."""

    def lines_of(rows, location, order):
        if order is None:
            order = np.lexsort((rows["Vehicle_ID"], rows["Frame_ID"]))
        formatted = {name: _formatted(rows, name) for name in ORIGINAL_COLUMNS}
        lines = []
        for i in order.tolist():
            fields = []
            for name in CSV_COLUMNS:
                if name == "Location":
                    fields.append(location)
                elif name in formatted:
                    fields.append(formatted[name][i])
                else:
                    fields.append("")
            lines.append(",".join(fields) + "\n")
        return lines

    lines = lines_of(rows, location, order)
    if other_rows is not None:
        other = lines_of(other_rows, other_location, None)
        merged = []
        for i in range(max(len(lines), len(other))):
            merged.extend(lines[i : i + 1] + other[i : i + 1])
        lines = merged
    return ",".join(CSV_COLUMNS) + "\n" + "".join(lines)

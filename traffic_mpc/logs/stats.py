"""What a traffic log holds: counts, speeds, lane changes, density and flow, and sanity checks.

:func:`log_statistics` summarises a :class:`TrafficLog` on its road as plain JSON values;
:func:`format_statistics` prints them for ``traffic-mpc data info``;
:func:`calibration_check` compares them with the built-in generator's targets (congested
I-80-like traffic). Everything is vectorised: a 15-minute log of ~2 million rows takes a
few seconds, most of it in the overlap test.

Definitions (``section`` = rows whose centre x lies in ``[0, road.length]``):

* *vehicles in the section per frame*: rows in the section counted per frame, over every
  frame from the log's first to its last.
* *lane change*: a vehicle's lane id differs between two of its consecutive rows and both
  lanes are mainline lanes (``kind = "main"``), counted for the lane it left; a change from
  an on-ramp to a mainline lane is a *merge*; any other change of lane id (onto no lane,
  into a ramp) is counted as *other*.
* *density* [veh/km/lane] and *flow* [veh/h/lane]: Edie's generalised definitions over the
  section and the recording, per mainline lane: density = total time spent in the section /
  (length × duration), flow = total distance travelled along x in the section / (length ×
  duration); their ratio is the space-mean speed.
* *overlap*: two vehicles whose oriented boxes (centre, heading, length × width) intersect
  by more than :data:`OVERLAP_TOLERANCE` at the same frame, counted once per pair and frame.
* *reversing*: a row with negative speed or an x smaller than the vehicle's previous row's
  by more than :data:`REVERSING_TOLERANCE`.
"""

from __future__ import annotations

import numpy as np

from traffic_mpc.logs.traffic_log import TrafficLog
from traffic_mpc.road import Road

#: Boxes must interpenetrate by more than this [m] to count as overlapping.
OVERLAP_TOLERANCE = 1e-6

#: A step back in x [m] smaller than this is rounding (e.g. NGSIM's feet), not reversing.
REVERSING_TOLERANCE = 1e-6

#: The generator's targets (see :func:`calibration_check`).
CALIBRATION_TARGETS = {
    "mean_speed": (4.0, 9.0),  # m/s, in the section
    "speed_std": 2.5,  # m/s, at least
    "vehicles_in_section": 100.0,  # mean per frame, at least
}


def log_statistics(log: TrafficLog, road: Road) -> dict:
    """Summary statistics of ``log`` on ``road`` as a dict of plain JSON values."""
    if not log.is_sorted():
        log = log.sorted()
    in_section = (log.x >= 0.0) & (log.x <= road.length)
    first_frame = log.first_frame if len(log) else 0
    n_frames = log.last_frame - first_frame + 1 if len(log) else 0
    per_frame = np.bincount(log.frame[in_section] - first_frame, minlength=n_frames)
    speeds = log.speed[in_section]
    main_lanes = sorted(lane.id for lane in road.lanes if lane.kind == "main")
    ramp_lanes = sorted(lane.id for lane in road.lanes if lane.kind == "on-ramp")
    changes = count_lane_changes(log, main_lanes, ramp_lanes)
    observed = road.length * n_frames * log.dt  # m·s
    lanes = max(len(main_lanes), 1)
    if observed > 0:
        time_spent = np.count_nonzero(in_section) * log.dt
        distance = float(np.sum(speeds * np.cos(log.heading[in_section]))) * log.dt
        density = time_spent / observed / lanes * 1000.0
        flow = distance / observed / lanes * 3600.0
    else:
        density = flow = 0.0
    overlaps = overlapping_pairs(log)
    reversing = reversing_rows(log)
    return {
        "site": log.site,
        "rows": len(log),
        "vehicles": int(log.n_vehicles),
        "duration_s": float(log.duration),
        "dt_s": float(log.dt),
        "frames": int(n_frames),
        "vehicles_in_section": _summary(per_frame, ("mean", "min", "max")),
        "speed_m_s": _summary(speeds, ("mean", "std", "p5", "p50", "p95")),
        "lane_changes": changes,
        "density_veh_km_lane": round(float(density), 4),
        "flow_veh_h_lane": round(float(flow), 4),
        "overlaps": {
            "pair_frames": int(len(overlaps)),
            "vehicle_pairs": int(len(np.unique(overlaps[:, 1:], axis=0))) if len(overlaps)
            else 0,
        },
        "reversing": {
            "rows": int(np.count_nonzero(reversing)),
            "vehicles": int(len(np.unique(log.vehicle_id[reversing]))),
        },
    }


def _summary(values: np.ndarray, names: tuple[str, ...]) -> dict:
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return {name: None for name in names}
    compute = {
        "mean": lambda: values.mean(),
        "std": lambda: values.std(),
        "min": lambda: values.min(),
        "max": lambda: values.max(),
        "p5": lambda: np.percentile(values, 5),
        "p50": lambda: np.percentile(values, 50),
        "p95": lambda: np.percentile(values, 95),
    }
    return {name: round(float(compute[name]()), 4) for name in names}


def count_lane_changes(log: TrafficLog, main_lanes: list[int], ramp_lanes: list[int]) -> dict:
    """Lane changes by lane of origin, merges and other lane-id changes (log sorted)."""
    same_vehicle = log.vehicle_id[1:] == log.vehicle_id[:-1]
    before, after = log.lane[:-1], log.lane[1:]
    changed = same_vehicle & (before != after)
    from_main = np.isin(before, main_lanes)
    to_main = np.isin(after, main_lanes)
    lane_change = changed & from_main & to_main
    merge = changed & np.isin(before, ramp_lanes) & to_main
    origin = before[lane_change]
    return {
        "total": int(np.count_nonzero(lane_change)),
        "by_origin_lane": {str(lane): int(np.count_nonzero(origin == lane)) for lane in main_lanes},
        "merges": int(np.count_nonzero(merge)),
        "other": int(np.count_nonzero(changed & ~lane_change & ~merge)),
    }


def reversing_rows(log: TrafficLog) -> np.ndarray:
    """``(N,)`` bool: rows with negative speed or moving back in x (log sorted)."""
    backwards = np.zeros(len(log), dtype=bool)
    if len(log) > 1:
        same_vehicle = log.vehicle_id[1:] == log.vehicle_id[:-1]
        backwards[1:] = same_vehicle & (np.diff(log.x) < -REVERSING_TOLERANCE)
    return backwards | (log.speed < 0.0)


def overlapping_pairs(log: TrafficLog) -> np.ndarray:
    """Pairs of vehicles whose oriented boxes intersect, as ``(K, 3)`` rows (frame, id, id).

    Rows are sorted by frame and x; only pairs closer in x than the sum of their
    half-diagonals are tested, by the separating-axis test on their four box axes. The
    loop runs over the offset between rows in that order, which stays small.
    """
    if len(log) < 2:
        return np.zeros((0, 3), dtype=np.int64)
    order = np.lexsort((log.x, log.frame))
    frame, x, y = log.frame[order], log.x[order], log.y[order]
    heading, vehicle = log.heading[order], log.vehicle_id[order]
    half_length, half_width = 0.5 * log.length[order], 0.5 * log.width[order]
    reach = np.hypot(half_length, half_width)
    widest = 2.0 * float(reach.max())
    cos, sin = np.cos(heading), np.sin(heading)
    found = []
    active = np.arange(len(order) - 1)
    offset = 1
    while len(active):
        other = active + offset
        keep = other < len(order)
        active, other = active[keep], other[keep]
        dx = x[other] - x[active]
        same_frame = frame[other] == frame[active]
        still_near = same_frame & (dx <= widest)
        active, other, dx = active[still_near], other[still_near], dx[still_near]
        reach_sum = reach[active] + reach[other]
        close = (dx <= reach_sum) & (np.abs(y[other] - y[active]) <= reach_sum)
        a, b = active[close], other[close]
        if len(a):
            hit = _boxes_intersect(
                x[b] - x[a], y[b] - y[a],
                cos[a], sin[a], half_length[a], half_width[a],
                cos[b], sin[b], half_length[b], half_width[b],
            )
            if np.any(hit):
                a, b = a[hit], b[hit]
                first = np.minimum(vehicle[a], vehicle[b])
                second = np.maximum(vehicle[a], vehicle[b])
                found.append(np.stack([frame[a], first, second], axis=1))
        offset += 1
    if not found:
        return np.zeros((0, 3), dtype=np.int64)
    pairs = np.concatenate(found)
    return pairs[np.lexsort((pairs[:, 2], pairs[:, 1], pairs[:, 0]))]


def _boxes_intersect(dx, dy, cos_a, sin_a, hl_a, hw_a, cos_b, sin_b, hl_b, hw_b) -> np.ndarray:
    """Separating-axis test of box pairs; ``(dx, dy)`` from centre a to centre b [m]."""
    separated = np.zeros(len(dx), dtype=bool)
    for axis_x, axis_y in ((cos_a, sin_a), (-sin_a, cos_a), (cos_b, sin_b), (-sin_b, cos_b)):
        distance = np.abs(dx * axis_x + dy * axis_y)
        extent_a = hl_a * np.abs(cos_a * axis_x + sin_a * axis_y) + hw_a * np.abs(
            -sin_a * axis_x + cos_a * axis_y
        )
        extent_b = hl_b * np.abs(cos_b * axis_x + sin_b * axis_y) + hw_b * np.abs(
            -sin_b * axis_x + cos_b * axis_y
        )
        separated |= distance >= extent_a + extent_b - OVERLAP_TOLERANCE
    return ~separated


def calibration_check(stats: dict) -> dict[str, bool]:
    """The generator's targets, each ``True`` when met by ``stats`` (from log_statistics).

    Mean speed in the section within 4-9 m/s, speed std at least 2.5 m/s, at least 100
    vehicles in the section on average, lane changes out of every mainline lane, no
    overlapping vehicles, no reversing vehicle.
    """
    low, high = CALIBRATION_TARGETS["mean_speed"]
    mean_speed = stats["speed_m_s"]["mean"]
    speed_std = stats["speed_m_s"]["std"]
    in_section = stats["vehicles_in_section"]["mean"]
    by_lane = stats["lane_changes"]["by_origin_lane"]
    return {
        "mean_speed_4_to_9_m_s": mean_speed is not None and low <= mean_speed <= high,
        "speed_std_at_least_2.5_m_s": speed_std is not None
        and speed_std >= CALIBRATION_TARGETS["speed_std"],
        "at_least_100_vehicles_in_section": in_section is not None
        and in_section >= CALIBRATION_TARGETS["vehicles_in_section"],
        "lane_changes_in_every_mainline_lane": bool(by_lane)
        and all(count > 0 for count in by_lane.values()),
        "no_overlaps": stats["overlaps"]["pair_frames"] == 0,
        "no_reversing": stats["reversing"]["rows"] == 0,
    }


def format_statistics(stats: dict) -> str:
    """A readable multi-line summary of :func:`log_statistics`'s result."""
    section = stats["vehicles_in_section"]
    speed = stats["speed_m_s"]
    changes = stats["lane_changes"]

    def number(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    by_lane = ", ".join(f"{lane}: {count}" for lane, count in changes["by_origin_lane"].items())
    lines = [
        f"site                 {stats['site']}",
        f"rows                 {stats['rows']:,} ({stats['frames']:,} frames of "
        f"{stats['dt_s']:g} s, {stats['duration_s'] / 60:.1f} min)",
        f"vehicles             {stats['vehicles']:,}",
        f"in section per frame mean {number(section['mean'])}, min {number(section['min'], 0)}, "
        f"max {number(section['max'], 0)}",
        f"speed [m/s]          mean {number(speed['mean'], 2)}, std {number(speed['std'], 2)}, "
        f"p5 {number(speed['p5'], 2)}, p50 {number(speed['p50'], 2)}, "
        f"p95 {number(speed['p95'], 2)}",
        f"lane changes         {changes['total']} (by lane left: {by_lane or '-'}); "
        f"merges {changes['merges']}; other lane-id changes {changes['other']}",
        f"density              {stats['density_veh_km_lane']:.1f} veh/km/lane",
        f"flow                 {stats['flow_veh_h_lane']:.0f} veh/h/lane",
        f"overlaps             {stats['overlaps']['pair_frames']} pair-frames "
        f"({stats['overlaps']['vehicle_pairs']} vehicle pairs)",
        f"reversing            {stats['reversing']['rows']} rows "
        f"({stats['reversing']['vehicles']} vehicles)",
    ]
    return "\n".join(lines)

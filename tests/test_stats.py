"""Log statistics on logs built by hand: every number is known in advance."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from traffic_mpc.logs.stats import (
    calibration_check,
    format_statistics,
    log_statistics,
    overlapping_pairs,
)
from traffic_mpc.logs.traffic_log import TrafficLog
from traffic_mpc.road import Road

DT = 0.1


@pytest.fixture(scope="module")
def road() -> Road:
    return Road.named("synth")


def make_log(rows: list[tuple]) -> TrafficLog:
    """Rows of (vehicle, frame, x, y, heading, speed, length, width, lane)."""
    columns = list(zip(*rows))
    vehicle, frame, x, y, heading, speed, length, width, lane = (np.array(c) for c in columns)
    log = TrafficLog(
        vehicle_id=vehicle, frame=frame, time=(frame - 1) * DT, x=x, y=y, heading=heading,
        speed=speed, length=length, width=width, vehicle_class=np.full(len(vehicle), 2),
        lane=lane, dt=DT, site="synth",
    )
    return log.sorted()


def cruising(vehicle: int, frames: range, x0: float, speed: float, lane: int, y=None):
    """A car driving straight along lane ``lane`` (3.66 m wide lanes) at ``speed``."""
    centre = -(lane - 0.5) * 3.66 if y is None else y
    return [(vehicle, f, x0 + speed * DT * (f - frames[0]), centre, 0.0, speed, 4.5, 1.8, lane)
            for f in frames]


def test_counts_speeds_density_and_flow(road):
    # One car crossing part of the section at 10 m/s for 100 frames, another standing.
    rows = cruising(1, range(1, 101), 100.0, 10.0, 2) + cruising(2, range(1, 101), 50.0, 0.0, 4)
    stats = log_statistics(make_log(rows), road)
    assert stats["rows"] == 200 and stats["vehicles"] == 2 and stats["frames"] == 100
    assert stats["duration_s"] == pytest.approx(9.9)
    assert stats["vehicles_in_section"] == {"mean": 2.0, "min": 2.0, "max": 2.0}
    assert stats["speed_m_s"]["mean"] == pytest.approx(5.0)
    assert stats["speed_m_s"]["std"] == pytest.approx(5.0)
    # Edie: 2 vehicles x 10 s over 500 m x 10 s x 6 lanes; 1000 m of travel likewise.
    assert stats["density_veh_km_lane"] == pytest.approx(2 / 500 / 6 * 1000, rel=1e-3)
    assert stats["flow_veh_h_lane"] == pytest.approx(10 / 500 / 6 * 3600, rel=1e-3)
    assert stats["overlaps"]["pair_frames"] == 0
    assert stats["reversing"] == {"rows": 0, "vehicles": 0}
    json.dumps(stats)  # plain JSON values


def test_rows_outside_the_section_are_not_counted_in_it(road):
    rows = cruising(1, range(1, 11), 495.0, 10.0, 1)  # leaves at x = 500
    stats = log_statistics(make_log(rows), road)
    assert stats["vehicles_in_section"]["max"] == 1 and stats["vehicles_in_section"]["min"] == 0
    assert stats["rows"] == 10


def test_a_known_lane_change_and_a_merge_are_counted(road):
    change = [(1, f, 100.0 + f, -5.0 if f < 5 else -9.0, 0.0, 10.0, 4.5, 1.8, 2 if f < 5 else 3)
              for f in range(1, 11)]
    merge = [(2, f, 50.0 + f, -23.0 if f < 4 else -21.0, 0.0, 10.0, 4.5, 1.8, 7 if f < 4 else 6)
             for f in range(1, 11)]
    back_again = [(3, f, 300.0 + f, -2.0, 0.0, 10.0, 4.5, 1.8, [1, 1, 2, 2, 1][f - 1])
                  for f in range(1, 6)]
    stats = log_statistics(make_log(change + merge + back_again), road)
    changes = stats["lane_changes"]
    assert changes["total"] == 3
    assert changes["by_origin_lane"] == {"1": 1, "2": 2, "3": 0, "4": 0, "5": 0, "6": 0}
    assert changes["merges"] == 1
    assert changes["other"] == 0


def test_a_reversing_vehicle_is_counted(road):
    forward = cruising(1, range(1, 11), 100.0, 5.0, 2)
    backward = cruising(2, range(1, 11), 200.0, 5.0, 3)
    backward[6] = backward[6][:2] + (backward[6][2] - 1.0,) + backward[6][3:]
    negative = cruising(3, range(1, 11), 300.0, 5.0, 4)
    negative[3] = negative[3][:5] + (-0.5,) + negative[3][6:]
    stats = log_statistics(make_log(forward + backward + negative), road)
    assert stats["reversing"]["vehicles"] == 2
    assert stats["reversing"]["rows"] == 2
    assert calibration_check(stats)["no_reversing"] is False


def test_a_known_overlap_is_counted(road):
    rows = (
        cruising(1, range(1, 6), 100.0, 0.0, 2)
        + cruising(2, range(1, 6), 103.0, 0.0, 2)  # 3 m apart, 4.5 m long: overlap
        + cruising(3, range(1, 6), 110.0, 0.0, 2)  # 7 m from vehicle 2: clear
        + cruising(4, range(1, 6), 103.0, 0.0, 3)  # beside vehicle 2, in the next lane
    )
    log = make_log(rows)
    pairs = overlapping_pairs(log)
    np.testing.assert_array_equal(pairs, [[f, 1, 2] for f in range(1, 6)])
    stats = log_statistics(log, road)
    assert stats["overlaps"] == {"pair_frames": 5, "vehicle_pairs": 1}
    assert calibration_check(stats)["no_overlaps"] is False


def test_oriented_boxes_not_their_bounding_boxes():
    # Two long thin boxes at 45 degrees side by side: their axis-aligned bounding boxes
    # overlap, the boxes do not. Turned to face each other, they do.
    side_by_side = [
        (1, 1, 100.0, -10.0, math.pi / 4, 1.0, 10.0, 1.0, 3),
        (2, 1, 102.0, -12.0, math.pi / 4, 1.0, 10.0, 1.0, 3),
    ]
    assert len(overlapping_pairs(make_log(side_by_side))) == 0
    crossing = [side_by_side[0], (2, 1, 102.0, -12.0, -math.pi / 4, 1.0, 10.0, 1.0, 3)]
    assert len(overlapping_pairs(make_log(crossing))) == 1
    # Boxes that just touch do not overlap.
    touching = cruising(1, range(1, 2), 100.0, 0.0, 2) + cruising(2, range(1, 2), 104.5, 0.0, 2)
    assert len(overlapping_pairs(make_log(touching))) == 0


def test_overlap_search_finds_what_testing_every_pair_finds():
    rng = np.random.default_rng(0)
    rows = []
    for frame in range(1, 6):
        for vehicle in range(1, 121):
            rows.append((vehicle, frame, rng.uniform(0, 150), rng.uniform(-20, 0),
                         rng.uniform(-0.5, 0.5), 5.0, rng.uniform(2, 18), rng.uniform(0.8, 2.6), 1))
    log = make_log(rows)
    found = {tuple(pair) for pair in overlapping_pairs(log)}
    brute = set()
    from traffic_mpc.logs.stats import _boxes_intersect

    for frame in range(1, 6):
        index = np.flatnonzero(log.frame == frame)
        a, b = np.triu_indices(len(index), k=1)
        a, b = index[a], index[b]
        hit = _boxes_intersect(
            log.x[b] - log.x[a], log.y[b] - log.y[a],
            np.cos(log.heading[a]), np.sin(log.heading[a]), log.length[a] / 2, log.width[a] / 2,
            np.cos(log.heading[b]), np.sin(log.heading[b]), log.length[b] / 2, log.width[b] / 2,
        )
        for i, j in zip(a[hit], b[hit]):
            first, second = sorted((int(log.vehicle_id[i]), int(log.vehicle_id[j])))
            brute.add((frame, first, second))
    assert found == brute and len(found) > 10


def test_calibration_check_and_text(road):
    rows = cruising(1, range(1, 11), 100.0, 6.0, 2)
    stats = log_statistics(make_log(rows), road)
    checks = calibration_check(stats)
    assert checks["mean_speed_4_to_9_m_s"] is True
    assert checks["speed_std_at_least_2.5_m_s"] is False
    assert checks["at_least_100_vehicles_in_section"] is False
    assert checks["lane_changes_in_every_mainline_lane"] is False
    text = format_statistics(stats)
    for words in ("vehicles", "speed [m/s]", "lane changes", "density", "flow", "overlaps",
                  "reversing"):
        assert words in text
    assert len(text.splitlines()) >= 8


def test_empty_log(road):
    stats = log_statistics(TrafficLog.empty(DT, "synth"), road)
    assert stats["rows"] == 0 and stats["speed_m_s"]["mean"] is None
    assert stats["vehicles_in_section"]["mean"] is None
    checks = calibration_check(stats)
    assert checks["mean_speed_4_to_9_m_s"] is False and checks["no_overlaps"] is True
    assert "speed [m/s]" in format_statistics(stats)

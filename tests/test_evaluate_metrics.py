"""Metric definitions on constructed episodes: a known success, rear-end hit, side-swipe,
collision ahead, off-road, comfort violations; confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sim_samples import LogBuilder, lane_center, smoothstep, straight_road

from traffic_mpc.evaluate.agents import NoActionAgent, make_agent
from traffic_mpc.evaluate.evaluator import EpisodeRunner, EpisodeSpec
from traffic_mpc.evaluate.metrics import aggregate, mean_interval, wilson_interval
from traffic_mpc.sim.world import ReplayWorld

FRAMES = 420
ROAD = straight_road(3, 400.0)  # valid region x in [36.1, 363.9]


def ego_log(builder: LogBuilder) -> LogBuilder:
    """Vehicle 1, the ego: 10 m/s in lane 2 from x = 40 m, logged long enough to arrive."""
    return builder.constant_speed(1, np.arange(FRAMES), 40.0, lane_center(2), 10.0)


def run(log, agent, traffic: str = "replay") -> dict:
    world = ReplayWorld(log, ROAD, dtype=torch.float64, traffic=traffic, through_rear_end=True)
    spec = EpisodeSpec(episode=0, recording="constructed", recording_index=0, vehicle_id=1,
                       start_frame=0, steps=FRAMES)
    (row,) = EpisodeRunner(world, agent).run([spec])
    return row


class ConstantAgent:
    """Applies one fixed action to every ego."""

    needs_views = False

    def __init__(self, acceleration: float, curvature: float) -> None:
        self.action = (acceleration, curvature)

    def reset(self, mask) -> None:
        pass

    def act(self, observation):
        return observation.ego_state.new_tensor(self.action).expand(observation.batch_size, 2)


def test_known_success_of_the_expert():
    log = ego_log(LogBuilder()).constant_speed(2, np.arange(FRAMES), 80.0, lane_center(1),
                                               10.0).build()
    world = ReplayWorld(log, ROAD, dtype=torch.float64)
    row = run(log, make_agent("expert", world=world))
    assert row["outcome"] == "arrived" and row["success"] and row["success_ignoring_rear_end"]
    assert row["scored"] and not row["collision"] and not row["off_road"]
    assert row["collided_with"] == -1
    # Warm-up: 20 steps from x = 40 m, i.e. control from x = 60 m to the end of the valid
    # region (363.9 m) at 10 m/s: 30.39 s, ~304 m (the last step crosses the line).
    assert row["control_steps"] == 304
    assert row["time"] == pytest.approx(30.4)
    assert row["distance"] == pytest.approx(304.0, abs=1e-6)
    assert row["mean_speed"] == pytest.approx(10.0)
    assert row["ade"] == pytest.approx(0.0, abs=1e-6) and row["fde"] == pytest.approx(0.0,
                                                                                      abs=1e-6)
    assert row["beyond_comfort"] == 0.0
    assert row["proximity_cost"] == 0.0 and row["off_road_cost"] == 0.0


def test_known_rear_end_hit_and_success_ignoring_it():
    # A car 40 m behind the ego in its lane at 15 m/s drives into the no-action ego (which
    # keeps 10 m/s) and through it; ignoring that hit, the ego arrives.
    log = ego_log(LogBuilder()).constant_speed(2, np.arange(FRAMES), 0.0, lane_center(2),
                                               15.0).build()
    row = run(log, NoActionAgent())
    assert row["outcome"] == "collision_behind" and not row["success"]
    assert row["collision_behind"] and not row["collision_ahead"] and not row["collision_side"]
    assert row["success_ignoring_rear_end"] and row["outcome_ignoring_rear_end"] == "arrived"
    assert row["collided_with"] == 2
    # Contact when the 35.5 m bumper gap has closed at 5 m/s (7.1 s after the start),
    # 5.1 s after the 2 s warm-up.
    assert 50 <= row["control_steps"] <= 52
    assert row["distance"] == pytest.approx(row["control_steps"] * 1.0, abs=1e-6)


def test_rear_end_hit_then_a_collision_ahead_when_driven_on():
    # The rear-end hit of the test above, and a car stopped at x = 300 m: the plain
    # protocol ends at the hit, the run through it at the stopped car.
    log = (ego_log(LogBuilder())
           .constant_speed(2, np.arange(FRAMES), 0.0, lane_center(2), 15.0)
           .add(4, np.arange(FRAMES), 300.0, lane_center(2)).build())
    row = run(log, NoActionAgent())
    assert row["outcome"] == "collision_behind" and row["collided_with"] == 2
    assert row["collision_behind"] and not row["collision_ahead"]
    assert 50 <= row["control_steps"] <= 52
    assert not row["success_ignoring_rear_end"]
    assert row["outcome_ignoring_rear_end"] == "collision_ahead"


def test_known_side_swipe():
    # A car alongside in lane 1 moves into lane 2 (on top of the ego) after the warm-up.
    frames = np.arange(FRAMES)
    x = 41.0 + 1.0 * frames
    y = lane_center(1) + (lane_center(2) - lane_center(1)) * smoothstep((frames - 40) / 20.0)
    log = ego_log(LogBuilder()).add(3, frames, x, y).build()
    row = run(log, NoActionAgent())
    assert row["outcome"] == "collision_side" and row["collision_side"]
    assert not row["success"] and not row["success_ignoring_rear_end"]
    assert row["outcome_ignoring_rear_end"] == "collision_side"
    assert row["collided_with"] == 3


def test_known_collision_ahead():
    # A car stopped in the ego's lane at x = 150 m.
    log = ego_log(LogBuilder()).add(4, np.arange(FRAMES), 150.0, lane_center(2)).build()
    row = run(log, NoActionAgent())
    assert row["outcome"] == "collision_ahead" and row["collision_ahead"]
    assert not row["success"] and not row["success_ignoring_rear_end"]
    assert row["collided_with"] == 4
    # The fronts touch when the ego's centre reaches 150 - 4.5 = 145.5 m: 85.5 m of control.
    assert row["distance"] == pytest.approx(85.5, abs=1.0)
    assert row["proximity_cost"] > 0.0


def test_known_off_road_with_comfort_violations():
    # Turning right at curvature 0.06 1/m at 10 m/s: lateral acceleration 6 m/s² (beyond
    # 4.89) every step; the ego leaves the 3-lane road on its right within seconds.
    log = ego_log(LogBuilder()).build()
    row = run(log, ConstantAgent(0.0, -0.06))
    assert row["outcome"] == "off_road" and row["off_road"] and not row["collision"]
    assert not row["success"] and not row["success_ignoring_rear_end"]
    assert row["beyond_lateral_acceleration"] == 1.0
    assert row["beyond_longitudinal_acceleration"] == 0.0 and row["beyond_jerk"] == 0.0
    assert row["beyond_comfort"] == 1.0
    assert row["lane_cost"] > 0.0 and row["off_road_cost"] > 0.0


def test_acceleration_and_jerk_bounds():
    # 3 m/s² is beyond the 2.40 m/s² bound at every step; jumping to it from the logged 0
    # is a jerk of 30 m/s³ at the first control step only.
    log = ego_log(LogBuilder()).build()
    row = run(log, ConstantAgent(3.0, 0.0))
    assert row["outcome"] == "arrived"
    assert row["beyond_longitudinal_acceleration"] == 1.0
    assert row["beyond_jerk"] == pytest.approx(1.0 / row["control_steps"])
    assert row["ade"] > 10.0 and row["fde"] >= row["ade"]


def test_reactive_traffic_avoids_the_rear_end_hit():
    log = ego_log(LogBuilder()).constant_speed(2, np.arange(FRAMES), 0.0, lane_center(2),
                                               15.0).build()
    row = run(log, NoActionAgent(), traffic="reactive")
    assert row["success"] and row["handed_over"] >= 1


def test_wilson_and_normal_intervals():
    p, low, high = wilson_interval(5, 10)
    assert p == 0.5 and low == pytest.approx(0.2366, abs=1e-4)
    assert high == pytest.approx(0.7634, abs=1e-4)
    p, low, high = wilson_interval(0, 10)
    assert (p, low) == (0.0, 0.0) and high == pytest.approx(0.2775, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    mean, low, high, n = mean_interval(np.array([1.0, 2.0, 3.0, np.nan]))
    assert (mean, n) == (2.0, 3)
    assert high - mean == pytest.approx(1.959964 * 1.0 / math.sqrt(3), rel=1e-5)


def test_aggregate_counts_and_leaves_out_missing_values():
    rows = []
    for index in range(4):
        row = {name: 0.0 for name in ("distance", "time", "mean_speed", "ade", "fde")}
        row.update({name: 0.0 for name in (
            "beyond_longitudinal_acceleration", "beyond_lateral_acceleration", "beyond_jerk",
            "beyond_comfort", "proximity_cost", "lane_cost", "off_road_cost")})
        row.update({name: False for name in (
            "collision", "collision_ahead", "collision_behind", "collision_side", "off_road",
            "end_of_log", "success_ignoring_rear_end")})
        row["success"] = index < 3
        row["distance"] = 100.0 * (index + 1)
        row["ade"] = math.nan if index == 0 else 1.0
        rows.append(row)
    result = aggregate(rows)
    assert result["success"].value == 0.75 and result["success"].n == 4
    assert result["distance"].value == 250.0
    assert result["ade"].n == 3 and result["ade"].value == 1.0

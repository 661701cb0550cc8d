"""Reactive traffic: hand-over to IDM, cascades, per-ego independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sim_samples import LogBuilder, lane_center, straight_road

from traffic_mpc.sim.reactive import (
    HandOverRule,
    IDMParameters,
    idm_acceleration,
    lane_keeping_curvature,
)
from traffic_mpc.sim.world import ReplayWorld, TerminationReason

D = torch.float64


def queue_log(frames: int = 300, followers: int = 1):
    """Vehicle 1 at 10 m/s in lane 2 with followers 12 m apart; vehicle 9 in lane 3."""
    t = np.arange(frames)
    builder = LogBuilder().constant_speed(1, t, 100.0, lane_center(2), 10.0)
    for index in range(followers):
        builder.constant_speed(2 + index, t, 100.0 - 12.0 * (index + 1), lane_center(2), 10.0)
    return builder.constant_speed(9, t, 100.0, lane_center(3), 10.0).build()


def brake_then_stand(state: torch.Tensor, braking: torch.Tensor) -> torch.Tensor:
    """Brake at ``braking`` [m/s²] (per ego, 0 = coast) down to a standstill, then stand."""
    acceleration = torch.maximum(-braking, -state[:, 3] / 0.1)
    return torch.stack([acceleration, torch.zeros_like(acceleration)], -1)


def drive(world: ReplayWorld, braking, steps: int):
    braking = torch.tensor(braking, dtype=D)
    result = None
    for _ in range(steps):
        result = world.step(brake_then_stand(world.state, braking))
    return result


def others_by_id(world: ReplayWorld, ego: int) -> dict[int, torch.Tensor]:
    scene = world.scene()
    return {int(i): torch.cat([scene.others_pose[ego, k], scene.others_speed[ego, k, None]])
            for k, i in enumerate(scene.others_id[ego].tolist()) if i >= 0}


def test_idm_equilibria():
    params = IDMParameters()
    v0 = torch.tensor(20.0, dtype=D)
    free = idm_acceleration(v0, torch.tensor(torch.inf, dtype=D), v0, v0, params)
    assert free.item() == pytest.approx(0.0, abs=1e-9)  # at desired speed, free road
    standing = idm_acceleration(torch.tensor(0.0, dtype=D), torch.tensor(params.min_gap,
                                dtype=D), torch.tensor(0.0, dtype=D), v0, params)
    assert standing.item() == pytest.approx(0.0, abs=1e-9)  # stopped at the minimum gap
    closing = idm_acceleration(torch.tensor(15.0, dtype=D), torch.tensor(3.0, dtype=D),
                               torch.tensor(0.0, dtype=D), v0, params)
    assert closing.item() == -params.max_deceleration  # emergency braking is capped


def test_lane_keeping_steers_towards_the_lane_centre():
    state = torch.tensor([[0.0, -6.0, 0.0, 10.0], [0.0, -5.0, 0.0, 10.0]], dtype=D)
    curvature = lane_keeping_curvature(state, torch.tensor([-5.49, -5.49], dtype=D),
                                       torch.tensor([10.0, 10.0], dtype=D))
    assert curvature[0] > 0 and curvature[1] < 0


def test_follower_rear_ends_a_braking_ego_in_replay_but_stops_behind_it_when_reactive():
    replay = ReplayWorld(queue_log(), straight_road(), ncond=5, traffic="replay", dtype=D)
    replay.reset([1], [0])
    braking = torch.tensor([5.0], dtype=D)
    for _ in range(100):
        result = replay.step(brake_then_stand(replay.state, braking))
        if result.done.item():
            break
    assert result.reason.item() == TerminationReason.COLLISION_BEHIND

    reactive = ReplayWorld(queue_log(), straight_road(), ncond=5, traffic="reactive", dtype=D)
    reactive.reset([1], [0])
    result = drive(reactive, [5.0], 150)
    assert result.reason.item() == TerminationReason.NONE
    assert reactive.handed_over.tolist() == [1]
    ego_x = result.state[0, 0].item()
    follower = others_by_id(reactive, 0)[2]
    gap = ego_x - follower[0].item() - 4.5
    assert 0.5 < gap < 10.0  # stopped behind the ego, not in it
    assert follower[3].item() == pytest.approx(0.0, abs=1e-6)
    assert follower[1].item() == pytest.approx(lane_center(2), abs=0.05)  # kept its lane


def test_hand_overs_cascade_down_a_queue():
    world = ReplayWorld(queue_log(followers=3), straight_road(), ncond=5, traffic="reactive",
                        dtype=D)
    world.reset([1], [0])
    result = drive(world, [5.0], 200)
    assert result.reason.item() == TerminationReason.NONE
    assert world.handed_over.tolist() == [3]
    others = others_by_id(world, 0)
    positions = [result.state[0, 0].item()] + [others[i][0].item() for i in (2, 3, 4)]
    gaps = np.diff(positions) * -1 - 4.5
    assert (gaps > 0.5).all()  # everyone stopped in line, nobody hit anybody


def test_each_ego_has_its_own_handed_over_vehicles():
    world = ReplayWorld(queue_log(), straight_road(), ncond=5, traffic="reactive", dtype=D)
    world.reset([1, 9], [0, 0])
    drive(world, [5.0, 0.0], 60)
    assert world.handed_over.tolist() == [1, 0]
    reactive_view = others_by_id(world, 0)[2]
    logged_view = others_by_id(world, 1)[2]
    assert logged_view[0].item() == pytest.approx(88.0 + 60.0, abs=1e-9)  # its log
    assert reactive_view[0].item() < logged_view[0].item() - 5.0
    assert 1 in others_by_id(world, 1)  # ego 1 sees vehicle 1 as logged, not the ego
    ego_0_x = world.state[0, 0].item()
    assert others_by_id(world, 1)[1][0].item() > ego_0_x + 5.0


def test_capacity_bounds_the_hand_overs_of_an_episode():
    world = ReplayWorld(queue_log(followers=2), straight_road(), ncond=5, traffic="reactive",
                        hand_over=HandOverRule(capacity=1), dtype=D)
    world.reset([1], [0])
    for _ in range(150):
        result = world.step(brake_then_stand(world.state, torch.tensor([5.0], dtype=D)))
        if result.done.item():
            break
    # The first follower handed over and stopped; the second found no free place, kept
    # replaying its log, drove through the first and hit the ego.
    assert world.handed_over.tolist() == [1]
    assert result.reason.item() == TerminationReason.COLLISION_BEHIND


def test_handed_over_vehicle_leaves_with_its_log_and_reset_forgets_it():
    world = ReplayWorld(queue_log(frames=80), straight_road(), ncond=5, traffic="reactive",
                        dtype=D)
    world.reset([1], [0])
    drive(world, [5.0], 40)
    assert world.handed_over.tolist() == [1]
    world.reset([1], [10])
    assert world.handed_over.tolist() == [0]
    assert others_by_id(world, 0)[2][0].item() == pytest.approx(88.0 + 10.0)

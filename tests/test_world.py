"""The replay world: logged traffic, egos, warm-up, termination, independence of episodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sim_samples import LogBuilder, lane_center, realistic_log, straight_road

from traffic_mpc.sim import kinematics
from traffic_mpc.sim.world import (
    LoggedTraffic,
    ReplayWorld,
    StepResult,
    TerminationReason,
)

D = torch.float64


def coast(batch: int = 1) -> torch.Tensor:
    return torch.zeros(batch, 2, dtype=D)


def platoon_log(frames: int = 300):
    """Five cars at 10 m/s in three lanes, all logged for ``frames`` frames."""
    t = np.arange(frames)
    return (LogBuilder()
            .constant_speed(1, t, 60.0, lane_center(1), 10.0)
            .constant_speed(2, t, 60.0, lane_center(2), 10.0)
            .constant_speed(3, t, 80.0, lane_center(2), 10.0)
            .constant_speed(4, t, 70.0, lane_center(3), 10.0)
            .constant_speed(5, t, 40.0, lane_center(3), 10.0)
            .build())


def test_logged_traffic_shares_slots_between_vehicles_that_do_not_overlap_in_time():
    log = (LogBuilder()
           .constant_speed(1, np.arange(0, 50), 50.0, lane_center(1), 10.0)
           .constant_speed(2, np.arange(50, 100), 50.0, lane_center(1), 10.0)
           .constant_speed(3, np.arange(20, 80), 50.0, lane_center(2), 10.0)
           .build())
    traffic = LoggedTraffic.from_log(log, dtype=D)
    assert traffic.n_slots == 2 and traffic.n_frames == 100
    assert traffic.vehicle_slot[0] == traffic.vehicle_slot[1]
    assert traffic.valid.sum() == len(log)
    # Each vehicle's replay starts afresh in the shared slot.
    slot = int(traffic.vehicle_slot[1])
    np.testing.assert_allclose(traffic.state[50, slot, :2].numpy(), [50.0, lane_center(1)])
    np.testing.assert_allclose(traffic.state[49, slot, 0].item(), 50.0 + 49.0)


def test_playback_by_actions_and_by_positions_agree():
    log = realistic_log(seed=2, n_vehicles=6, n_frames=300)
    by_actions = LoggedTraffic.from_log(log, "actions", dtype=D)
    by_positions = LoggedTraffic.from_log(log, "positions", dtype=D)
    valid = by_actions.valid
    error = (by_actions.state[..., :2] - by_positions.state[..., :2]).norm(dim=-1)[valid]
    assert error.max() <= 2 * kinematics.STOPPED_SPEED * log.dt + 1e-9
    # The actions replay the stored states (the world's warm-up relies on it).
    stepped = kinematics.step(by_actions.state[:-1], by_actions.action[:-1], log.dt)
    continues = valid[:-1] & (by_actions.vehicle[:-1] == by_actions.vehicle[1:])
    torch.testing.assert_close(stepped[continues], by_actions.state[1:][continues])


def test_warm_up_follows_the_log_then_actions_take_effect():
    world = ReplayWorld(platoon_log(), straight_road(), ncond=10, dtype=D)
    world.reset([2], [5])
    slot = int(world.traffic.vehicle_slot[1])
    wild = torch.tensor([[5.0, 0.2]], dtype=D)
    for step in range(10):
        assert world.in_warmup.item()
        result = world.step(wild)
        assert result.warmup.item()
        torch.testing.assert_close(result.state[0], world.traffic.state[6 + step, slot])
        torch.testing.assert_close(result.action[0], world.traffic.action[5 + step, slot])
        assert result.distance.item() == 0.0
    assert not world.in_warmup.item()
    before = world.state.clone()
    result = world.step(wild)
    assert not result.warmup.item()
    torch.testing.assert_close(result.state, kinematics.step(before, wild, 0.1))
    torch.testing.assert_close(result.action, wild)
    assert result.distance.item() == pytest.approx(
        (result.state[0, :2] - before[0, :2]).norm().item())
    assert result.frame.item() == 16


def test_egos_in_one_batch_are_independent_episodes():
    world = ReplayWorld(platoon_log(), straight_road(), ncond=0, dtype=D)
    scene = world.reset([2, 3], [0, 0])
    # Ego 0 (vehicle 2) does not see itself but sees vehicle 3 at its logged pose.
    ids_0 = set(scene.others_id[0][scene.others_valid[0]].tolist())
    ids_1 = set(scene.others_id[1][scene.others_valid[1]].tolist())
    assert 2 not in ids_0 and 3 in ids_0
    assert 3 not in ids_1 and 2 in ids_1
    # Vehicle 3, controlled as ego 1, brakes and steers; ego 0 still sees its logged pose.
    actions = torch.tensor([[0.0, 0.0], [-3.0, 0.05]], dtype=D)
    for step in range(20):
        world.step(actions)
        scene = world.scene()
        column = scene.others_id[0].tolist().index(3)
        logged = 80.0 + 10.0 * 0.1 * (step + 1)
        assert scene.others_pose[0, column, 0].item() == pytest.approx(logged, abs=1e-9)
        assert world.state[1, 0].item() < logged - 0.5 * step * 0.1
        column = scene.others_id[1].tolist().index(2)
        assert scene.others_pose[1, column, 0].item() == pytest.approx(
            60.0 + 1.0 * (step + 1), abs=1e-9)


def test_egos_start_at_their_own_frames():
    world = ReplayWorld(platoon_log(), straight_road(), ncond=3, dtype=D)
    world.reset([2, 2], [0, 50])
    torch.testing.assert_close(world.state[:, 0], torch.tensor([60.0, 110.0], dtype=D))
    result = world.step(coast(2))
    assert result.frame.tolist() == [1, 51]
    scene = world.scene()
    column = scene.others_id[1].tolist().index(3)
    assert scene.others_pose[1, column, 0].item() == pytest.approx(80.0 + 51.0)


def test_off_road_when_the_ego_steers_off_the_road_edge():
    world = ReplayWorld(platoon_log(), straight_road(), ncond=2, dtype=D)
    world.reset([1], [0])
    steps, result = 0, None
    while not world.done.item() and steps < 200:
        result = world.step(torch.tensor([[0.0, 0.02]], dtype=D))
        steps += 1
    assert result.reason.item() == TerminationReason.OFF_ROAD
    assert result.state[0, 1].item() > 0.0  # centre beyond the left edge at y = 0
    assert result.costs[0, 2].item() == 1.0


def test_arrival_at_the_end_of_the_valid_region():
    road = straight_road()
    world = ReplayWorld(platoon_log(frames=400), road, ncond=2, dtype=D)
    world.reset([2], [280])  # x = 340, valid region ends at 363.9
    for _ in range(30):
        result = world.step(coast())
        if result.done.item():
            break
    assert result.reason.item() == TerminationReason.ARRIVED
    assert result.state[0, 0].item() >= road.valid_x[1]
    assert result.state[0, 0].item() < road.valid_x[1] + 1.0 + 1e-9


def test_end_of_log():
    world = ReplayWorld(platoon_log(frames=100), straight_road(), ncond=5, dtype=D)
    world.reset([2], [80])
    results = [world.step(coast()) for _ in range(19)]
    assert [r.done.item() for r in results] == [False] * 18 + [True]
    assert results[-1].reason.item() == TerminationReason.END_OF_LOG
    assert results[-1].frame.item() == 99


def test_done_egos_stay_frozen_and_a_subset_can_be_reset():
    world = ReplayWorld(platoon_log(frames=100), straight_road(), ncond=0, dtype=D)
    world.reset([2, 3], [90, 0])
    for _ in range(9):
        world.step(coast(2))
    assert world.done.tolist() == [True, False]
    frozen = world.state[0].clone()
    result = world.step(torch.tensor([[3.0, 0.1], [0.0, 0.0]], dtype=D))
    torch.testing.assert_close(result.state[0], frozen)
    assert result.reason[0].item() == TerminationReason.END_OF_LOG
    assert result.frame.tolist() == [99, 10]
    earlier_state, earlier_reason = result.state.clone(), result.reason.clone()
    scene = world.reset([4], [10], egos=[0])
    torch.testing.assert_close(result.state, earlier_state)  # results handed out stay put
    assert result.reason.tolist() == earlier_reason.tolist()
    assert world.done.tolist() == [False, False]
    assert world.vehicle_ids.tolist() == [4, 3]
    assert world.frame.tolist() == [10, 10]
    assert 4 not in scene.others_id[0].tolist() and 2 in scene.others_id[0].tolist()
    result = world.step(coast(2))
    assert result.frame.tolist() == [11, 11] and not result.done.any()


def test_scene_keeps_the_nearest_others_within_view_range():
    t = np.arange(50)
    builder = LogBuilder().constant_speed(1, t, 200.0, lane_center(2), 10.0)
    for index, offset in enumerate([-60.0, -40.0, -20.0, 10.0, 30.0, 45.0, 50.0]):
        builder.constant_speed(10 + index, t, 200.0 + offset, lane_center(1), 10.0)
    world = ReplayWorld(builder.build(), straight_road(), ncond=0, max_others=3, dtype=D)
    scene = world.reset([1], [0])
    assert scene.others_id.shape == (1, 3)
    assert scene.others_id[0].tolist() == [13, 12, 14]  # 10, 20, 30 m away
    wide = ReplayWorld(builder.build(), straight_road(), ncond=0, max_others=16, dtype=D)
    scene = wide.reset([1], [0])
    seen = set(scene.others_id[0][scene.others_valid[0]].tolist())
    assert seen == {11, 12, 13, 14, 15}  # 60 m behind and 50 m ahead are out of view
    assert (scene.others_id[0][~scene.others_valid[0]] == -1).all()


def test_step_result_shapes_and_costs():
    world = ReplayWorld(platoon_log(), straight_road(), ncond=0)
    world.reset([2, 3, 4], [0, 0, 0])
    result = world.step(torch.zeros(3, 2))
    assert isinstance(result, StepResult)
    assert result.state.shape == (3, 4) and result.state.dtype == torch.float32
    assert result.costs.shape == (3, 3) and result.collision.shape == (3, 3)
    assert result.reason.dtype == torch.int64 and result.done.dtype == torch.bool
    # Vehicle 2 has vehicle 3 20 m ahead in its lane: its rear bumper at u = 17.75 m, the
    # mask falls from 1 at u = 2.25 - 1 to 0 at u = 2.25 + 1.5 s * 10 m/s + 1 m.
    expected = (18.25 - 17.75) / (18.25 - 1.25)
    assert result.costs[0, 0].item() == pytest.approx(expected, abs=1e-4)
    assert result.costs[:, 1:].abs().max() < 1e-6  # lane centres, far from edges


def test_reset_rejects_bad_episodes():
    world = ReplayWorld(platoon_log(frames=100), straight_road(), ncond=20, dtype=D)
    with pytest.raises(ValueError, match="not in the log"):
        world.reset([99], [0])
    with pytest.raises(ValueError, match="warm-up"):
        world.reset([2], [90])
    with pytest.raises(RuntimeError):
        ReplayWorld(platoon_log(), straight_road()).step(coast())


def test_memory_is_flat_over_a_long_episode():
    world = ReplayWorld(platoon_log(frames=400), straight_road(length=4000.0), ncond=0)
    world.reset([2, 3], [0, 0])
    sizes = None
    for step in range(120):
        world.step(torch.zeros(2, 2))
        current = [t.numel() for t in vars(world).values() if isinstance(t, torch.Tensor)]
        sizes = sizes or current
        assert current == sizes, step

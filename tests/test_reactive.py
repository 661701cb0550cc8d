"""Reactive traffic: hand-over to IDM, cascades, per-ego independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sim_samples import LogBuilder, lane_center, smoothstep, straight_road

from traffic_mpc.road import Road
from traffic_mpc.sim.geometry import RoadTensors, boxes_overlap
from traffic_mpc.sim.reactive import (
    HandOverRule,
    IDMParameters,
    LaneKeeping,
    NearbyTraffic,
    ReactiveTraffic,
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


def test_vehicle_handed_over_during_a_lane_change_completes_it():
    # The follower, 20 m behind the ego, changes from lane 2 into the ego's lane 3 over 4 s;
    # it hands over when it enters the braking ego's corridor, its centre still in lane 2,
    # heading for lane 3: it stops behind the ego in lane 3 (it used to turn back).
    t = np.arange(300)
    follower_y = lane_center(2) + (lane_center(3) - lane_center(2)) * smoothstep(t / 40.0)
    log = (LogBuilder().constant_speed(1, t, 100.0, lane_center(3), 10.0)
           .add(2, t, 80.0 + 1.0 * t, follower_y).build())
    world = ReplayWorld(log, straight_road(), ncond=5, traffic="reactive", dtype=D)
    world.reset([1], [0])
    handed_over_at = None
    for _ in range(150):
        result = drive(world, [3.0], 1)
        if handed_over_at is None and world.handed_over.item() == 1:
            handed_over_at = others_by_id(world, 0)[2]
    assert result.reason.item() == TerminationReason.NONE
    assert -7.32 < handed_over_at[1].item() < lane_center(2)  # still in lane 2
    follower = others_by_id(world, 0)[2]
    assert follower[1].item() == pytest.approx(lane_center(3), abs=0.3)
    assert follower[3].item() == pytest.approx(0.0, abs=1e-6)
    assert 0.5 < result.state[0, 0].item() - follower[0].item() - 4.5 < 10.0


def test_handed_over_vehicle_leaves_with_its_log_and_reset_forgets_it():
    world = ReplayWorld(queue_log(frames=80), straight_road(), ncond=5, traffic="reactive",
                        dtype=D)
    world.reset([1], [0])
    drive(world, [5.0], 40)
    assert world.handed_over.tolist() == [1]
    world.reset([1], [10])
    assert world.handed_over.tolist() == [0]
    assert others_by_id(world, 0)[2][0].item() == pytest.approx(88.0 + 10.0)


# ------------------------------------------------------------------ lanes that end (on-ramp)
SYNTH = Road.named("synth")
RAMP, LANE_6 = SYNTH.lane(7), SYNTH.lane(6)


def ramp_centre(x) -> np.ndarray:
    """``y`` [m] of the synth on-ramp's centre line, held at its end beyond it."""
    return RAMP.center_y(np.minimum(x, RAMP.x_end))


def lane_id_at(road: RoadTensors, state: torch.Tensor) -> int:
    index = int(road.lane_index_at(state[0], state[1]))
    return int(road.lane_ids[index]) if index >= 0 else 0


def test_lane_topology_of_the_shipped_roads():
    road = RoadTensors.from_road(SYNTH)
    ids = road.lane_ids.tolist()
    ramp, lane_6 = ids.index(7), ids.index(6)
    assert road.lane_merge_into.tolist() == [-1] * 6 + [lane_6]
    assert road.lane_route_end[ramp].item() == RAMP.x_end == 200.0
    assert torch.isinf(road.lane_route_end[:lane_6 + 1]).all()
    assert (road.lane_successor == -1).all()
    # US-101: on-ramp -> auxiliary lane -> off-ramp, which reaches the end of the section:
    # nobody has to merge.
    us101 = Road.named("us101")
    assert [us101.successor(i) for i in (7, 6, 8)] == [6, 8, None]
    assert us101.route(7) == [7, 6, 8] and not us101.ends_inside(7)
    tensors = RoadTensors.from_road(us101)
    ids = tensors.lane_ids.tolist()
    assert tensors.lane_successor[ids.index(7)].item() == ids.index(6)
    assert (tensors.lane_merge_into == -1).all() and torch.isinf(tensors.lane_route_end).all()
    assert Road.named("i80").merges_into(7) == 6


def test_bounds_of_one_lane_are_those_of_all_lanes_picked():
    road = RoadTensors.from_road(SYNTH, dtype=D)
    x = torch.linspace(-20.0, 520.0, 271, dtype=D)[:, None].expand(-1, road.n_lanes)
    lane = torch.arange(road.n_lanes).expand_as(x)
    left, right, exists = road.lane_bounds(x[:, 0])
    one = road.bounds_of_lane(lane, x)
    for picked, every in zip(one, (left, right, exists), strict=True):
        assert torch.equal(picked, every)
    assert torch.equal(road.lane_center_y(lane, x), (left + right) / 2)


def test_vehicle_handed_over_on_the_ramp_merges_into_lane_6_before_the_ramp_ends():
    # The ego (expert, its log) leaves the ramp for lane 6 at x = 150..175; the follower,
    # logged 10 m behind it at 10 m/s, is too close and hands over at once, on the ramp.
    t = np.arange(400)
    ego_x = 140.0 + 1.0 * t
    ego_y = ramp_centre(ego_x) + (LANE_6.center_y(ego_x) - ramp_centre(ego_x)) * smoothstep(
        (ego_x - 150.0) / 25.0)
    log = LogBuilder().add(1, t, ego_x, ego_y).add(2, t, ego_x - 10.0,
                                                   ramp_centre(ego_x - 10.0)).build("synth")
    world = ReplayWorld(log, SYNTH, ncond=5, traffic="reactive", dtype=D)
    world.reset([1], [0])
    follower = []
    for _ in range(180):  # the ego arrives (x = 326 m) at step 186
        result = world.step(world.logged_actions())
        assert not result.done.item()
        follower.append(others_by_id(world, 0)[2])
    assert world.handed_over.tolist() == [1]
    follower = torch.stack(follower)
    lanes = [lane_id_at(world.road_tensors, state) for state in follower]
    assert 0 not in lanes  # its centre never left the road
    x = follower[:, 0]
    assert x[0] < 135.0 and x[-1] > 290.0
    after = x > RAMP.x_end
    assert set(np.array(lanes)[after.numpy()]) == {6}  # past the ramp's end: lane 6
    # ... and on its centre line (the old lane keeping held the ramp's end, y = -21.96).
    assert (follower[after, 1] - LANE_6.center_y(200.0)).abs().max() < 0.3


def test_vehicle_handed_over_beside_the_ramp_keeps_its_lane():
    # Same place, but the ego and its follower drive in lane 6: the follower hands over,
    # stops behind the braking ego and keeps lane 6 (no merge, no drift to the ramp).
    t = np.arange(300)
    y6 = float(LANE_6.center_y(0.0))
    log = (LogBuilder().constant_speed(1, t, 170.0, y6, 10.0)
           .constant_speed(2, t, 158.0, y6, 10.0).build("synth"))
    world = ReplayWorld(log, SYNTH, ncond=5, traffic="reactive", dtype=D)
    world.reset([1], [0])
    result = drive(world, [5.0], 100)
    assert result.reason.item() == TerminationReason.NONE
    assert world.handed_over.tolist() == [1]
    follower = others_by_id(world, 0)[2]
    assert 170.0 < follower[0].item() < result.state[0, 0].item() - 5.0
    assert follower[1].item() == pytest.approx(y6, abs=0.01)
    assert follower[3].item() == pytest.approx(0.0, abs=1e-6)


def drive_forced_merger(lane_6_traffic, lengths: float, steps: int, x0: float, speed: float):
    """A car forced to hand over on the synth ramp at ``x0`` [m], ``speed`` [m/s], driven
    ``steps`` steps among logged vehicles in lane 6 (``lane_6_traffic(k)``: their ``x``
    ``(C,)`` and speed at step k, ``lengths`` [m] long), the ego far away. Returns the
    merger's states ``(steps, 4)`` and whether it overlapped one of them at each step."""
    road = RoadTensors.from_road(SYNTH, dtype=D)
    traffic = ReactiveTraffic(1, road, 0.1, dtype=D)
    start = torch.tensor([x0, float(ramp_centre(x0)), 0.0, speed], dtype=D)
    traffic.active[0, 0] = True
    traffic.slot[0, 0] = traffic.vehicle[0, 0] = 999
    traffic.state[0, 0] = start
    traffic.size[0, 0] = torch.tensor([4.5, 1.8], dtype=D)
    traffic.desired_speed[0, 0] = speed
    traffic.target_lane[0, 0] = road.lane_index_at(start[0], start[1])
    traffic.target_y[0, 0] = start[1]
    ego_state = torch.tensor([[450.0, lane_center(1), 0.0, 0.0]], dtype=D)
    ego_size = torch.tensor([[4.5, 1.8]], dtype=D)

    def logged(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, v = lane_6_traffic(k)
        state = torch.zeros((1, len(x), 4), dtype=D)
        state[0, :, 0], state[0, :, 1], state[0, :, 3] = x, float(LANE_6.center_y(0.0)), v
        return state, torch.tensor([[lengths, 1.8]], dtype=D).expand(1, len(x), 2)

    states, overlaps = [], []
    slots = torch.arange(len(lane_6_traffic(0)[0]))[None]
    for k in range(steps):
        state, size = logged(k + 1)
        nearby = NearbyTraffic(state=state, size=size, vehicle=slots, slot=slots,
                               valid=torch.ones_like(slots, dtype=torch.bool),
                               previous_state=logged(k)[0], previous_vehicle=slots,
                               max_speed=state[..., 3])
        traffic.advance(torch.tensor([True]), ego_state, ego_size, nearby)
        assert traffic.count.tolist() == [1]  # nobody else hands over
        merger = traffic.state[0, 0]
        states.append(merger.clone())
        overlaps.append(bool(boxes_overlap(merger[:3], traffic.size[0, 0], state[0, :, :3],
                                           size[0]).any()))
    return torch.stack(states), overlaps


def test_merge_waits_for_a_gap_beside_the_ramp():
    # A 15 m truck in lane 6, beside the merger and a little faster: the merger waits (on
    # the ramp) until it has passed, then merges behind it, before the ramp ends.
    def truck(k: int):
        return torch.tensor([166.0 + 0.9 * k], dtype=D), torch.tensor([9.0], dtype=D)

    states, overlaps = drive_forced_merger(truck, 15.0, 150, x0=170.0, speed=8.0)
    road = RoadTensors.from_road(SYNTH, dtype=D)
    lanes = np.array([lane_id_at(road, state) for state in states])
    assert not any(overlaps)
    assert 0 not in lanes
    assert lanes[0] == 7 and lanes[-1] == 6
    crossed = int(np.argmax(lanes == 6))
    assert states[crossed, 0] < RAMP.x_end - 5.0  # in lane 6 well before the ramp ends
    assert states[crossed, 0] + 2.25 < truck(crossed)[0].item() - 7.5  # behind the truck
    after = states[:, 0] > RAMP.x_end
    assert (states[after, 1] - LANE_6.center_y(200.0)).abs().max() < 0.3


def test_blocked_merge_stops_before_the_ramp_ends():
    # Lane 6 is a slow queue (3 m/s, 5 m gaps) with no gap a merge may take: the merger
    # stops on the ramp before its last merge_room metres and waits, on the road.
    def queue(k: int):
        return 100.0 + 9.5 * torch.arange(22, dtype=D) + 0.3 * k, torch.full((22,), 3.0, dtype=D)

    states, overlaps = drive_forced_merger(queue, 4.5, 150, x0=170.0, speed=5.0)
    road = RoadTensors.from_road(SYNTH, dtype=D)
    assert not any(overlaps)
    assert {lane_id_at(road, state) for state in states} == {7}
    room = LaneKeeping().merge_room
    assert states[:, 0].max() + 2.25 < RAMP.x_end - room  # its front before the stop line
    assert states[-1, 3].item() == pytest.approx(0.0, abs=1e-6)

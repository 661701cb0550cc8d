"""The agent interface, the registry and the IDM/MOBIL baseline on constructed scenes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sim_samples import LANE, LogBuilder, lane_center, straight_road

from traffic_mpc.errors import InputError
from traffic_mpc.evaluate.agents import (
    Agent,
    ExpertAgent,
    IDMAgent,
    NoActionAgent,
    Observation,
    make_agent,
)
from traffic_mpc.evaluate.evaluator import EpisodeRunner, EpisodeSpec
from traffic_mpc.road import Road
from traffic_mpc.sim.geometry import RoadTensors
from traffic_mpc.sim.render import EgoViewRenderer, ViewSpec
from traffic_mpc.sim.scene import EgoScene
from traffic_mpc.sim.world import ReplayWorld

D = torch.float64


def ramp_road() -> Road:
    """Two mainline lanes and an on-ramp on their right that ends at x = 150 m."""
    lanes = [
        {"id": 1, "left": [[0.0, 0.0], [400.0, 0.0]], "right": [[0.0, -LANE], [400.0, -LANE]]},
        {"id": 2, "left": [[0.0, -LANE], [400.0, -LANE]],
         "right": [[0.0, -2 * LANE], [400.0, -2 * LANE]]},
        {"id": 7, "kind": "on-ramp", "left": [[0.0, -2 * LANE], [150.0, -2 * LANE]],
         "right": [[0.0, -3 * LANE], [150.0, -3 * LANE]]},
    ]
    return Road.from_dict({"name": "ramp", "length": 400.0, "lanes": lanes,
                           "valid": {"look_ahead": 36.1}})


def observe(road: Road, ego: list[list[float]], others: list[list[list[float]]],
            warmup: bool = False) -> Observation:
    """Egos ``[x, y, heading, speed]`` (4.5 x 1.8 m) and, per ego, other vehicles
    ``[x, y, heading, speed]`` (4.5 x 1.8 m)."""
    batch = len(ego)
    state = torch.tensor(ego, dtype=D)
    count = max(1, max(len(o) for o in others))
    pose = torch.zeros(batch, count, 3, dtype=D)
    speed = torch.zeros(batch, count, dtype=D)
    valid = torch.zeros(batch, count, dtype=torch.bool)
    for b, vehicles in enumerate(others):
        for k, vehicle in enumerate(vehicles):
            pose[b, k] = torch.tensor(vehicle[:3], dtype=D)
            speed[b, k] = vehicle[3]
            valid[b, k] = True
    size = torch.tensor([4.5, 1.8], dtype=D)
    scene = EgoScene(ego_pose=state[:, :3], ego_speed=state[:, 3],
                     ego_size=size.expand(batch, 2), others_pose=pose,
                     others_size=size.expand(batch, count, 2), others_speed=speed,
                     others_valid=valid, others_id=torch.where(valid, 10, -1))
    flags = torch.full((batch,), warmup)
    return Observation(ego_state=state, ego_size=scene.ego_size, scene=scene,
                       frame=torch.zeros(batch, dtype=torch.int64),
                       steps=torch.full((batch,), 30), in_warmup=flags,
                       done=torch.zeros(batch, dtype=torch.bool), road=road,
                       road_tensors=RoadTensors.from_road(road, dtype=D), dt=0.1)


def idm_act(road: Road, ego, others, agent: IDMAgent | None = None):
    agent = agent or IDMAgent()
    agent.reset(torch.ones(len(ego), dtype=torch.bool))
    return agent, agent.act(observe(road, ego, others))


def test_registry_names_known_agents_and_reserved_prefixes():
    assert isinstance(make_agent("no-action"), NoActionAgent)
    assert isinstance(make_agent("expert"), ExpertAgent)
    assert isinstance(make_agent("idm"), IDMAgent)
    assert all(isinstance(make_agent(name), Agent) for name in ("no-action", "expert", "idm"))
    with pytest.raises(InputError, match="known agents: expert, idm, no-action"):
        make_agent("random-walk")
    with pytest.raises(InputError, match="not available yet"):
        make_agent("policy:runs/policy.pt")
    with pytest.raises(InputError, match="not available yet"):
        make_agent("planner:cem:runs/model.pt")


def test_expert_needs_the_world():
    road = straight_road()
    with pytest.raises(RuntimeError, match="attach"):
        ExpertAgent().act(observe(road, [[100.0, lane_center(2), 0.0, 10.0]], [[]]))


def test_idm_free_road_accelerates_and_keeps_its_lane():
    road = straight_road()
    _, actions = idm_act(road, [[100.0, lane_center(2), 0.0, 10.0]], [[]])
    expected = 1.5 * (1 - (10.0 / 29.0) ** 4)
    assert actions[0, 0].item() == pytest.approx(expected, rel=1e-6)
    assert abs(actions[0, 1].item()) < 1e-9


def test_idm_brakes_behind_a_slow_leader():
    road = straight_road()
    # A car right of the ego's lane and one behind do not matter; the slow one ahead does.
    others = [[120.0, lane_center(2), 0.0, 2.0], [110.0, lane_center(3), 0.0, 0.0],
              [80.0, lane_center(2), 0.0, 10.0]]
    _, actions = idm_act(road, [[100.0, lane_center(2), 0.0, 10.0]], [others])
    assert actions[0, 0].item() < -2.0


def test_idm_changes_to_a_free_faster_lane_when_it_is_safe():
    road = straight_road()
    slow_leader = [115.0, lane_center(2), 0.0, 3.0]
    agent, actions = idm_act(road, [[100.0, lane_center(2), 0.0, 10.0]], [[slow_leader]])
    assert agent._target[0].item() == 0  # lane 1, the leftmost (index 0)
    assert actions[0, 1].item() > 0.0  # turning left
    # The same, with a fast car close behind in the left lane and one in the right lane:
    # no change is safe.
    blocked = [slow_leader, [95.0, lane_center(1), 0.0, 15.0], [97.0, lane_center(3), 0.0, 15.0]]
    agent, actions = idm_act(road, [[100.0, lane_center(2), 0.0, 10.0]], [blocked])
    assert agent._target[0].item() == 1
    assert abs(actions[0, 1].item()) < 1e-9


def test_idm_anticipates_a_cut_in():
    road = straight_road()
    # A car ahead in the next lane steering into the ego's lane (0.25 rad at 8 m/s: 2 m in
    # one second) counts as the ego's leader before it crosses the line.
    cutting_in = [[112.0, lane_center(1) - 0.2, -0.25, 8.0]]
    _, actions = idm_act(road, [[100.0, lane_center(2), 0.0, 10.0]], [cutting_in])
    assert actions[0, 0].item() < -1.0
    straight = [[112.0, lane_center(1), 0.0, 8.0]]
    _, actions = idm_act(road, [[100.0, lane_center(2), 0.0, 10.0]], [straight])
    assert actions[0, 0].item() > 0.0


def test_idm_leaves_an_ending_ramp_and_never_enters_one():
    road = ramp_road()
    # On the ramp, 40 m before its end, a free mainline lane on the left: merge.
    agent, actions = idm_act(road, [[110.0, -2.5 * LANE, 0.0, 8.0]], [[]])
    assert agent._target[0].item() == 1 and actions[0, 1].item() > 0.0
    # In the right mainline lane behind a slow car, the free ramp on the right is no option.
    slow_leader = [[112.0, -1.5 * LANE, 0.0, 2.0], [100.0, -0.5 * LANE, 0.0, 10.0]]
    agent, _ = idm_act(road, [[100.0, -1.5 * LANE, 0.0, 10.0]], [slow_leader])
    assert agent._target[0].item() == 1


def test_idm_batch_entries_are_independent_and_reset_clears_them():
    road = straight_road()
    agent = IDMAgent()
    agent.reset(torch.ones(2, dtype=torch.bool))
    observation = observe(road, [[100.0, lane_center(2), 0.0, 10.0],
                                 [100.0, lane_center(2), 0.0, 10.0]],
                          [[[115.0, lane_center(2), 0.0, 3.0]], []])
    actions = agent.act(observation)
    single = IDMAgent()
    single.reset(torch.ones(1, dtype=torch.bool))
    alone = single.act(observe(road, [[100.0, lane_center(2), 0.0, 10.0]], [[]]))
    torch.testing.assert_close(actions[1], alone[0])
    assert agent._target.tolist() == [0, 1]
    agent.reset(torch.tensor([True, False]))
    assert agent._target.tolist() == [-1, 1]


class ViewRecordingAgent:
    """Needs ego views; keeps the shapes it saw."""

    needs_views = True

    def __init__(self) -> None:
        self.shapes = []
        self.resets = []

    def reset(self, mask) -> None:
        self.resets.append(mask.clone())

    def act(self, observation: Observation):
        self.shapes.append(tuple(observation.ego_view.shape))
        assert observation.view_channels == ("lanes", "vehicles", "off_road", "ego")
        return torch.zeros(observation.batch_size, 2, dtype=observation.ego_state.dtype)


def test_runner_renders_views_only_for_agents_that_ask_and_refills_the_batch():
    road = straight_road()
    frames = np.arange(300)
    builder = LogBuilder()
    for vehicle in range(1, 4):
        builder.constant_speed(vehicle, frames, 40.0 + 30 * vehicle, lane_center(vehicle), 10.0)
    world = ReplayWorld(builder.build(), road, dtype=D, through_rear_end=True)
    episodes = [EpisodeSpec(i, "r", 0, i, 0, 300) for i in (1, 2, 3)]
    agent = ViewRecordingAgent()
    spec = ViewSpec(height=16, width=8, pixel_size=2.0)
    rows = EpisodeRunner(world, agent, batch_size=2,
                         renderer=EgoViewRenderer(road, spec)).run(episodes)
    assert [row["episode"] for row in rows] == [1, 2, 3]
    assert all(row["success"] for row in rows)
    assert set(agent.shapes) == {(2, 4, 16, 8)}
    # Two entries at first, then the first one to finish takes the third episode.
    assert agent.resets[0].tolist() == [True, True]
    assert len(agent.resets) == 2 and agent.resets[1].sum().item() == 1


def test_idm_lane_view_treats_only_routes_that_end_as_dead_ends():
    """US-101's on-ramp goes on as the auxiliary lane and the off-ramp (no dead end); the
    generated road's on-ramp ends at x = 200 m (a standing obstacle for the IDM driver)."""
    from traffic_mpc.evaluate.agents import _LaneView

    for name, dead_ends in (("us101", {}), ("synth", {7: 200.0})):
        road = Road.named(name)
        tensors = RoadTensors.from_road(road, dtype=D)
        view = _LaneView(tensors, torch.tensor([100.0], dtype=D), road.valid_x[1])
        for index, lane_id in enumerate(tensors.lane_ids.tolist()):
            assert view.end[index].item() == dead_ends.get(lane_id, float("inf")), (name, lane_id)
            lane = torch.tensor([index])
            assert view.continues(lane).item() == (lane_id not in dead_ends), (name, lane_id)

"""Exact geometric costs against hand-computed values and brute-force sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sim_samples import CAR_LENGTH, CAR_WIDTH, lane_center, straight_road

from traffic_mpc.sim import cost_masks
from traffic_mpc.sim.geometric_costs import GeometricCosts, proximity_cost_per_vehicle
from traffic_mpc.sim.geometry import RoadTensors, box_corners
from traffic_mpc.sim.scene import EgoScene

D = torch.float64


def scene_with(others, ego_pose=(0.0, 0.0, 0.0), ego_speed=10.0, ego_size=(4.5, 1.8)):
    """One ego and a list of others ``(x, y, heading, length, width)``."""
    others = torch.tensor(others, dtype=D).reshape(1, -1, 5)
    count = others.shape[1]
    return EgoScene(
        ego_pose=torch.tensor([ego_pose], dtype=D),
        ego_speed=torch.tensor([ego_speed], dtype=D),
        ego_size=torch.tensor([ego_size], dtype=D),
        others_pose=others[..., :3],
        others_size=others[..., 3:],
        others_speed=torch.zeros(1, count, dtype=D),
        others_valid=torch.ones(1, count, dtype=torch.bool),
        others_id=torch.arange(count)[None],
    )


# Ramp ends for a 4.5 m x 1.8 m ego at 10 m/s (cost_masks docstring):
FULL_U, ZERO_U = 4.5 / 2 - 1.0, 4.5 / 2 + 1.5 * 10.0 + 1.0  # 1.25, 18.25
FULL_V, ZERO_V = 0.9, 0.9 + 1.8  # lateral margin = ego width


def test_car_exactly_ahead():
    # Its rear bumper at u = 12 - 2.25 = 9.75, straight ahead (|v| = 0 on it).
    cost = proximity_cost_per_vehicle(scene_with([[12.0, 0.0, 0.0, 4.5, 1.8]]))
    assert cost.item() == pytest.approx((ZERO_U - 9.75) / (ZERO_U - FULL_U))  # 0.5
    assert cost.item() == pytest.approx(0.5)


def test_car_alongside_at_a_lateral_offset():
    # Centre at v = 2.5: its near side at |v| = 1.6, overlapping the ego along u.
    cost = proximity_cost_per_vehicle(scene_with([[0.0, 2.5, 0.0, 4.5, 1.8]]))
    assert cost.item() == pytest.approx((ZERO_V - 1.6) / (ZERO_V - FULL_V))


def test_car_ahead_and_to_the_side_meets_at_its_corner():
    cost = proximity_cost_per_vehicle(scene_with([[10.0, -2.5, 0.0, 4.5, 1.8]]))
    f = (ZERO_U - 7.75) / (ZERO_U - FULL_U)
    g = (ZERO_V - 1.6) / (ZERO_V - FULL_V)
    assert cost.item() == pytest.approx(f * g)


def test_far_away_overlapping_and_padding():
    scene = scene_with([[30.0, 0.0, 0.0, 4.5, 1.8], [0.5, 0.2, 0.3, 4.5, 1.8],
                        [3.0, 0.0, 0.0, 4.5, 1.8]])
    scene = EgoScene(**{**scene.__dict__,
                        "others_valid": torch.tensor([[True, True, False]])})
    cost = proximity_cost_per_vehicle(scene)[0]
    assert cost[0] == 0.0  # beyond the safety distance
    assert cost[1] == 1.0  # the ego's centre inside its footprint
    assert cost[2] == 0.0  # padding is ignored
    # 1 m of bumper overlap is exactly the collision level of the mask.
    touching = proximity_cost_per_vehicle(scene_with([[4.5 - 1.0, 0.0, 0.0, 4.5, 1.8]]))
    assert touching.item() == pytest.approx(1.0)


def brute_force_proximity(scene: EgoScene, samples: int = 4000) -> torch.Tensor:
    """Max of the mask over a fine grid filling each footprint (edges included)."""
    corners = box_corners(scene.others_pose, scene.others_size)[0]  # (K, 4, 2)
    s = torch.linspace(0, 1, int(math.sqrt(samples)), dtype=D)
    a, b = torch.meshgrid(s, s, indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    edge_s = torch.linspace(0, 1, samples, dtype=D)
    values = []
    for quad in corners:
        origin, side_1, side_2 = quad[2], quad[3] - quad[2], quad[1] - quad[2]
        inner = origin + a[:, None] * side_1 + b[:, None] * side_2
        edges = [quad[i] + edge_s[:, None] * (quad[(i + 1) % 4] - quad[i]) for i in range(4)]
        points = torch.cat([inner, *edges])
        pose = scene.ego_pose[0]
        dx, dy = points[:, 0] - pose[0], points[:, 1] - pose[1]
        u = torch.cos(pose[2]) * dx + torch.sin(pose[2]) * dy
        v = -torch.sin(pose[2]) * dx + torch.cos(pose[2]) * dy
        mask = cost_masks.proximity_mask(u[None], v[None], scene.ego_size[:, 0],
                                         scene.ego_size[:, 1], scene.ego_speed)
        values.append(mask.max())
    return torch.stack(values)


@pytest.mark.parametrize("seed", range(4))
def test_analytic_proximity_matches_dense_sampling_for_rotated_boxes(seed):
    rng = np.random.default_rng(seed)
    others = [[rng.uniform(-15, 15), rng.uniform(-4, 4), rng.uniform(-np.pi, np.pi),
               rng.uniform(2, 12), rng.uniform(0.8, 2.6)] for _ in range(6)]
    scene = scene_with(others, ego_pose=(0.0, 0.0, rng.uniform(-0.5, 0.5)),
                       ego_speed=rng.uniform(0, 15))
    exact = proximity_cost_per_vehicle(scene)[0]
    sampled = brute_force_proximity(scene)
    assert (exact >= sampled - 1e-9).all()  # never below a real value
    assert (exact - sampled).abs().max() < 1e-3


def test_proximity_speed_is_a_constant():
    scene = scene_with([[12.0, 0.0, 0.0, 4.5, 1.8]])
    speed = scene.ego_speed.clone().requires_grad_(True)
    pose = scene.ego_pose.clone().requires_grad_(True)
    scene = EgoScene(**{**scene.__dict__, "ego_speed": speed, "ego_pose": pose})
    proximity_cost_per_vehicle(scene).sum().backward()
    assert speed.grad is None
    assert pose.grad[0, 0] > 0  # moving forward raises the cost


# ------------------------------------------------------------------ lane and off-road
@pytest.fixture(scope="module")
def costs() -> GeometricCosts:
    return GeometricCosts(RoadTensors.from_road(straight_road(), dtype=D))


def lane_and_off_road(costs, x, y, heading=0.0, length=CAR_LENGTH):
    pose = torch.tensor([[x, y, heading]], dtype=D)
    length = torch.tensor([length], dtype=D)
    return costs.lane(pose, length).item(), costs.off_road(pose, length).item()


def test_lane_cost_is_zero_in_the_middle_of_a_lane(costs):
    assert lane_and_off_road(costs, 100.0, lane_center(2)) == (0.0, 0.0)


def test_lane_cost_of_a_marking_at_known_distance(costs):
    half_lane = cost_masks.LANE_WIDTH / 2
    lane, off_road = lane_and_off_road(costs, 100.0, lane_center(2) + 0.5)
    assert lane == pytest.approx((half_lane - 1.33) / half_lane)
    assert off_road == 0.0
    # Turned by 0.1 rad to the left: the front end of the centre line comes closest.
    theta = 0.1
    v = (1.33 - CAR_LENGTH / 2 * math.sin(theta)) / math.cos(theta)
    lane, _ = lane_and_off_road(costs, 100.0, lane_center(2) + 0.5, heading=theta)
    assert lane == pytest.approx((half_lane - v) / half_lane)
    # Straddling the marking.
    assert lane_and_off_road(costs, 100.0, -3.66)[0] == 1.0


def test_marking_beyond_the_ego_length_is_not_seen(costs):
    # Across the road (heading pi/2), the markings are ahead of and behind the centre line.
    lane, _ = lane_and_off_road(costs, 100.0, lane_center(2), heading=math.pi / 2, length=3.0)
    assert lane == 0.0
    lane, _ = lane_and_off_road(costs, 100.0, lane_center(2), heading=math.pi / 2, length=4.0)
    assert lane == 1.0  # the centre line reaches the markings 1.83 m away


def test_off_road_cost_near_and_beyond_the_road_edge(costs):
    half_lane = cost_masks.LANE_WIDTH / 2
    lane, off_road = lane_and_off_road(costs, 100.0, -1.0)
    assert off_road == pytest.approx((half_lane - 1.0) / half_lane)
    assert lane == pytest.approx(off_road)  # the road edge is a marking too
    assert lane_and_off_road(costs, 100.0, 0.5)[1] == 1.0  # centre off the road
    assert lane_and_off_road(costs, 100.0, 5.0)[1] == 1.0  # far off, no edge within reach
    assert lane_and_off_road(costs, 100.0, lane_center(3) - 1.0)[1] == pytest.approx(
        (half_lane - 0.83) / half_lane)  # the right edge


def test_costs_are_batched(costs):
    scene = scene_with([[112.0, -1.0, 0.0, 4.5, 1.8]], ego_pose=(100.0, -1.0, 0.0))
    batch = EgoScene(**{k: torch.cat([v, v]) for k, v in scene.__dict__.items()})
    values = costs(batch)
    assert values.shape == (2, 3)
    torch.testing.assert_close(values[0], values[1])
    assert values[0, 0].item() == pytest.approx(0.5)
    assert values[0, 2].item() == pytest.approx((1.83 - 1.0) / 1.83)
    assert CAR_WIDTH == 1.8

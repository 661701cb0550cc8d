"""Collisions: footprint overlap and its classification ahead / behind / side."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sim_samples import LogBuilder, lane_center, smoothstep, straight_road

from traffic_mpc.sim.geometric_costs import (
    AHEAD,
    BEHIND,
    NO_COLLISION,
    SIDE,
    collision_classes,
)
from traffic_mpc.sim.geometry import box_corners, boxes_overlap
from traffic_mpc.sim.scene import EgoScene
from traffic_mpc.sim.world import ReplayWorld, TerminationReason

D = torch.float64


def one_pair(other, ego=(0.0, 0.0, 0.0), ego_size=(4.5, 1.8)) -> EgoScene:
    other = torch.tensor(other, dtype=D).reshape(1, 1, 5)
    return EgoScene(
        ego_pose=torch.tensor([ego], dtype=D),
        ego_speed=torch.zeros(1, dtype=D),
        ego_size=torch.tensor([ego_size], dtype=D),
        others_pose=other[..., :3],
        others_size=other[..., 3:],
        others_speed=torch.zeros(1, 1, dtype=D),
        others_valid=torch.ones(1, 1, dtype=torch.bool),
        others_id=torch.zeros(1, 1, dtype=torch.int64),
    )


def classify(other, **ego) -> int:
    return int(collision_classes(one_pair(other, **ego))[0, 0])


@pytest.mark.parametrize("gap, expected", [(0.05, NO_COLLISION), (-0.05, AHEAD)])
def test_bumper_to_bumper_ahead(gap, expected):
    assert classify([4.5 + gap, 0.3, 0.0, 4.5, 1.8]) == expected


@pytest.mark.parametrize("gap, expected", [(0.05, NO_COLLISION), (-0.05, BEHIND)])
def test_bumper_to_bumper_behind(gap, expected):
    assert classify([-4.5 - gap, -0.3, 0.0, 4.5, 1.8]) == expected


@pytest.mark.parametrize("gap, expected", [(0.05, NO_COLLISION), (-0.05, SIDE)])
def test_flank_to_flank(gap, expected):
    assert classify([1.0, 1.8 + gap, 0.0, 4.5, 1.8]) == expected
    assert classify([-1.5, -1.8 - gap, 0.0, 4.5, 1.8]) == expected


def test_rotated_corner_just_not_touching():
    # A box turned by 45 degrees whose corner points at the ego's front bumper, 5 cm away.
    half_diagonal = np.hypot(2.25, 0.9)
    angle = np.arctan2(0.9, 2.25)
    centre = 2.25 + 0.05 + half_diagonal
    assert classify([centre, 0.0, angle, 4.5, 1.8]) == NO_COLLISION
    assert classify([centre - 0.1, 0.0, angle, 4.5, 1.8]) == AHEAD


def test_rotated_ego_frame_is_used():
    # Ego heading +90 degrees: "ahead" is +y in the road frame.
    assert classify([0.3, 4.4, np.pi / 2, 4.5, 1.8], ego=(0.0, 0.0, np.pi / 2)) == AHEAD
    assert classify([1.75, 0.0, np.pi / 2, 4.5, 1.8], ego=(0.0, 0.0, np.pi / 2)) == SIDE


def cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def polygons_intersect(a: np.ndarray, b: np.ndarray) -> bool:
    """Brute force for convex quads: a corner inside the other, or two edges crossing."""
    def inside(point, quad):
        sides = [cross(quad[(i + 1) % 4] - quad[i], point - quad[i]) for i in range(4)]
        return all(c >= 0 for c in sides) or all(c <= 0 for c in sides)

    def crossing(p1, p2, q1, q2):
        d1, d2 = cross(p2 - p1, q1 - p1), cross(p2 - p1, q2 - p1)
        d3, d4 = cross(q2 - q1, p1 - q1), cross(q2 - q1, p2 - q1)
        return d1 * d2 <= 0 and d3 * d4 <= 0

    if any(inside(p, b) for p in a) or any(inside(q, a) for q in b):
        return True
    return any(crossing(a[i], a[(i + 1) % 4], b[j], b[(j + 1) % 4])
               for i in range(4) for j in range(4))


def test_separating_axes_agree_with_brute_force():
    rng = np.random.default_rng(0)
    count = 400
    pose_a = torch.tensor(np.stack([rng.uniform(-3, 3, count), rng.uniform(-3, 3, count),
                                    rng.uniform(-np.pi, np.pi, count)], 1))
    pose_b = torch.tensor(np.stack([rng.uniform(-3, 3, count), rng.uniform(-3, 3, count),
                                    rng.uniform(-np.pi, np.pi, count)], 1))
    size_a = torch.tensor(np.stack([rng.uniform(1, 6, count), rng.uniform(0.5, 2.5, count)], 1))
    size_b = torch.tensor(np.stack([rng.uniform(1, 6, count), rng.uniform(0.5, 2.5, count)], 1))
    fast = boxes_overlap(pose_a, size_a, pose_b, size_b).numpy()
    corners_a, corners_b = box_corners(pose_a, size_a).numpy(), box_corners(pose_b, size_b).numpy()
    slow = np.array([polygons_intersect(a, b) for a, b in zip(corners_a, corners_b)])
    assert 50 < slow.sum() < count - 50  # both outcomes are exercised
    np.testing.assert_array_equal(fast, slow)


# ------------------------------------------------------------------ in the replay world
def run_until_done(world: ReplayWorld, action, max_steps: int = 200):
    """Step with ``action(state) -> (B, 2)`` until every ego is done; the last result."""
    result = None
    for _ in range(max_steps):
        result = world.step(action(world.state))
        if bool(result.done.all()):
            return result
    return result


def coast(state):
    return torch.zeros(state.shape[0], 2, dtype=state.dtype)


def test_ego_drives_into_a_stopped_car_ahead():
    road = straight_road()
    frames = np.arange(200)
    log = (LogBuilder()
           .constant_speed(1, frames, 60.0, lane_center(2), 10.0)
           .constant_speed(2, frames, 100.0, lane_center(2), 0.0)
           .build())
    world = ReplayWorld(log, road, ncond=5, dtype=D)
    world.reset([1], [0])
    result = run_until_done(world, coast)
    assert result.reason.item() == TerminationReason.COLLISION_AHEAD
    assert result.collision[0].tolist() == [True, False, False]
    # Contact when the front bumper (x + 2.25) reaches the rear bumper at 97.75.
    assert result.state[0, 0].item() + 2.25 == pytest.approx(97.75, abs=1.0 + 1e-9)
    assert result.costs[0, 0].item() > 0.5


def test_car_behind_runs_into_a_braking_ego_in_replay():
    road = straight_road()
    frames = np.arange(200)
    log = (LogBuilder()
           .constant_speed(1, frames, 100.0, lane_center(2), 10.0)
           .constant_speed(2, frames, 88.0, lane_center(2), 10.0)
           .build())
    world = ReplayWorld(log, road, ncond=5, dtype=D)
    world.reset([1], [0])

    def brake(state):
        acceleration = torch.clamp(-state[:, 3] / 0.1, min=-5.0)
        return torch.stack([acceleration, torch.zeros_like(acceleration)], -1)

    result = run_until_done(world, brake)
    assert result.reason.item() == TerminationReason.COLLISION_BEHIND
    assert result.collision[0].tolist() == [False, True, False]


def test_cut_in_from_the_next_lane_is_a_side_collision():
    road = straight_road()
    frames = np.arange(200)
    change = smoothstep((frames - 10) / 30.0)
    y_cutting = lane_center(1) + (lane_center(2) - lane_center(1)) * change
    log = (LogBuilder()
           .constant_speed(1, frames, 100.0, lane_center(2), 10.0)
           .add(2, frames, 101.0 + frames * 1.0, y_cutting)
           .build())
    world = ReplayWorld(log, road, ncond=5, dtype=D)
    world.reset([1], [0])
    result = run_until_done(world, coast)
    assert result.reason.item() == TerminationReason.COLLISION_SIDE
    assert result.collision[0].tolist() == [False, False, True]


def test_side_swipe_when_the_ego_drifts_into_the_next_lane():
    road = straight_road()
    frames = np.arange(200)
    log = (LogBuilder()
           .constant_speed(1, frames, 100.0, lane_center(2), 10.0)
           .constant_speed(2, frames, 98.0, lane_center(1), 10.0)
           .build())
    world = ReplayWorld(log, road, ncond=5, dtype=D)
    world.reset([1], [0])
    result = run_until_done(world, lambda s: torch.tensor([[0.0, 0.01]], dtype=D))
    assert result.reason.item() == TerminationReason.COLLISION_SIDE


def test_cars_five_centimetres_apart_do_not_collide():
    road = straight_road()
    frames = np.arange(120)
    log = (LogBuilder()
           .constant_speed(1, frames, 100.0, lane_center(2), 10.0)
           .constant_speed(2, frames, 101.0, lane_center(2) + 1.8 + 0.05, 10.0)
           .constant_speed(3, frames, 100.0 - 4.5 - 0.05, lane_center(2), 10.0)
           .build())
    world = ReplayWorld(log, road, ncond=5, dtype=D)
    world.reset([1], [0])
    for _ in range(100):
        result = world.step(coast(world.state))
    assert result.reason.item() == TerminationReason.NONE
    assert not result.collision.any()
    assert result.costs[0, 0].item() > 0.9  # very close all the same

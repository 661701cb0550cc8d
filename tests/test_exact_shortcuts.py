"""The shortcuts of the exact costs and the renderer give the numbers of the full computation.

* Costs and collisions evaluate only the pairs whose footprints' bounding intervals reach
  the proximity mask's support (or the ego's footprint), and skip the rest: on random
  scenes the screened results equal the unscreened ones (every valid pair evaluated).
* Without gradient on the CPU, the static channels sample only the view columns whose
  texels may be non-zero (a summed-area table screens the others): the views equal those of
  the dense path, which samples every pixel, and a skipped column is never a non-zero one.
* Without gradient, the channels are written straight into the views: the same views as
  the path that keeps the gradient.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from traffic_mpc.road import Road
from traffic_mpc.sim.geometric_costs import (
    AHEAD,
    BEHIND,
    NO_COLLISION,
    SIDE,
    GeometricCosts,
    collision_classes,
    collisions,
    line_cost,
    proximity_cost_per_vehicle,
    proximity_of_footprints,
)
from traffic_mpc.sim.geometry import RoadTensors, box_extent_in_frame, boxes_overlap
from traffic_mpc.sim.render import EgoViewRenderer
from traffic_mpc.sim.scene import EgoScene

SEEDS = st.integers(0, 2**32 - 1)


def random_scene(seed: int, road: Road, batch: int = 12, others: int = 10,
                 dtype=torch.float32) -> EgoScene:
    """Egos anywhere on (and a little off) the road, some turned; others around them, from
    touching to far away, some overlapping the ego, some longer than a truck; padding."""
    rng = np.random.default_rng(seed)
    low, high = road.y_range
    x = rng.uniform(-20.0, road.length + 20.0, batch)
    y = rng.uniform(low - 3.0, high + 3.0, batch)
    heading = np.where(rng.random(batch) < 0.4, 0.0, rng.normal(0.0, 0.6, batch))
    distance = rng.choice([2.0, 6.0, 20.0, 60.0], (batch, others)) * rng.random((batch, others))
    angle = rng.uniform(-np.pi, np.pi, (batch, others))
    other_x = x[:, None] + distance * np.cos(angle)
    other_y = y[:, None] + distance * np.sin(angle) * 0.3
    other_heading = np.where(rng.random((batch, others)) < 0.5, heading[:, None],
                             rng.uniform(-np.pi, np.pi, (batch, others)))
    length = rng.choice([4.5, 5.2, 12.0, 19.0], (batch, others)) * rng.uniform(0.8, 1.1)
    width = rng.uniform(0.4, 2.6, (batch, others))
    valid = rng.random((batch, others)) < 0.85

    def tensor(array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=dtype)

    return EgoScene(
        ego_pose=tensor(np.stack([x, y, heading], -1)),
        ego_speed=tensor(rng.uniform(0.0, 25.0, batch)),
        ego_size=tensor(np.stack([rng.uniform(3.5, 12.0, batch),
                                  rng.uniform(1.5, 2.6, batch)], -1)),
        others_pose=tensor(np.stack([other_x, other_y, other_heading], -1)),
        others_size=tensor(np.stack([length, width], -1)),
        others_speed=tensor(rng.uniform(0.0, 20.0, (batch, others))),
        others_valid=torch.as_tensor(valid),
        others_id=torch.where(torch.as_tensor(valid), torch.arange(batch * others).reshape(
            batch, others), -1),
    )


@pytest.fixture(scope="module")
def i80() -> Road:
    return Road.named("i80")


@pytest.fixture(scope="module")
def renderers(i80) -> dict[torch.dtype, EgoViewRenderer]:
    return {dtype: EgoViewRenderer(i80, dtype=dtype) for dtype in (torch.float32, torch.float64)}


# ----------------------------------------------------------------------------- costs
@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_screened_proximity_equals_every_pair_evaluated(i80, seed):
    scene = random_scene(seed, i80)
    ego, other = scene.others_valid.nonzero(as_tuple=True)
    margin = scene.ego_size[:, 1]
    every_pair = proximity_of_footprints(
        scene.ego_pose[ego], scene.ego_size[ego], scene.ego_speed[ego], margin[ego],
        scene.others_pose[ego, other], scene.others_size[ego, other])
    unscreened = torch.zeros(scene.others_valid.shape).index_put((ego, other), every_pair)
    assert torch.equal(proximity_cost_per_vehicle(scene), unscreened)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS)
def test_screened_collisions_equal_every_pair_tested(i80, seed):
    scene = random_scene(seed, i80)
    ego_pose = scene.ego_pose[:, None].expand(-1, scene.others_valid.shape[1], -1)
    ego_size = scene.ego_size[:, None].expand_as(scene.others_size)
    overlap = boxes_overlap(ego_pose, ego_size, scene.others_pose, scene.others_size)
    overlap &= scene.others_valid
    classes = collision_classes(scene)
    assert torch.equal(classes != NO_COLLISION, overlap)
    # The classes follow from the extents (module docstring of geometric_costs).
    u_min, u_max, v_min, v_max = box_extent_in_frame(ego_pose, scene.others_pose,
                                                     scene.others_size)
    half_length, half_width = ego_size[..., 0] / 2, ego_size[..., 1] / 2
    longitudinal = torch.minimum(half_length - u_min, u_max + half_length) <= torch.minimum(
        half_width - v_min, v_max + half_width)
    kind = torch.where(longitudinal, torch.where(u_min + u_max > 0, AHEAD, BEHIND), SIDE)
    assert torch.equal(classes, torch.where(overlap, kind, NO_COLLISION))


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS)
def test_costs_and_collisions_together_equal_each_alone(i80, seed):
    scene = random_scene(seed, i80)
    road = RoadTensors.from_road(i80)
    costs = GeometricCosts(road)
    together, collided = costs.costs_and_collisions(scene)
    on_road = road.on_road(scene.ego_pose[:, 0], scene.ego_pose[:, 1])
    assert torch.equal(together, costs(scene))
    assert torch.equal(together, costs.costs_and_collisions(scene, on_road)[0])
    assert torch.equal(collided, collisions(scene))
    length = scene.ego_size[:, 0]
    assert torch.equal(together[:, 1], line_cost(scene.ego_pose, length,
                                                 road.marking_segments))
    assert torch.equal(together[:, 1], costs.lane(scene.ego_pose, length))
    assert torch.equal(together[:, 2], costs.off_road(scene.ego_pose, length))


@settings(max_examples=10, deadline=None)
@given(seed=SEEDS)
def test_shortcuts_keep_the_values_with_gradient(i80, seed):
    scene = random_scene(seed, i80, dtype=torch.float64)
    pose = scene.ego_pose.clone().requires_grad_(True)
    with_gradient = proximity_cost_per_vehicle(replace(scene, ego_pose=pose))
    assert torch.equal(with_gradient.detach(), proximity_cost_per_vehicle(scene))


# --------------------------------------------------------------------------- renderer
@settings(max_examples=15, deadline=None)
@given(seed=SEEDS, double=st.booleans())
def test_static_channels_skip_only_zero_columns(renderers, i80, seed, double):
    dtype = torch.float64 if double else torch.float32
    renderer = renderers[dtype]
    pose = random_scene(seed, i80, batch=24, dtype=dtype).ego_pose
    with torch.no_grad():
        skipping = renderer.static_layers(pose)
        dense = renderer._sample_static(pose)
    # A column is skipped only where every sample is exactly zero; the others are the same
    # samples (the same arithmetic on the same positions).
    assert torch.equal(skipping == 0, dense == 0)
    torch.testing.assert_close(skipping, dense, rtol=0.0, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=SEEDS)
def test_views_without_gradient_equal_views_with_gradient(renderers, i80, seed):
    renderer = renderers[torch.float64]
    scene = random_scene(seed, i80, batch=8, others=12, dtype=torch.float64)
    with torch.no_grad():
        in_place = renderer.render(scene)
    pose = scene.ego_pose.clone().requires_grad_(True)
    stacked = renderer.render(replace(scene, ego_pose=pose)).detach()
    assert torch.equal(in_place == 0, stacked == 0)
    torch.testing.assert_close(in_place, stacked, rtol=0.0, atol=1e-12)

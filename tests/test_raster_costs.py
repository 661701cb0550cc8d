"""Raster costs: parity with the exact costs (analytic cases and the geometric costs on
random scenes), convergence with resolution, and gradients through the renderer.

Error bounds used below (``p`` the pixel size, see raster_costs' module docstring): a pixel
stands for its whole area, so the cost on the view is the exact one evaluated up to about
a pixel away from the true nearest point:

* proximity: ``p * (s_u + s_v)`` with the mask's slopes ``s_u = 1 / (1.5 speed + 1 + 1)``
  (longitudinal) and ``s_v = 1 / ego width`` (lateral), counting only the axes whose ramp
  is not flat within a pixel of the nearest point;
* lane: ``s p / 2 + dip`` with ``s = 2 / lane_width`` (max-preserving channel) and ``dip``
  the bilinear interpolation error of the static raster at the marking profile's kinks
  (``pixel_y / (2 p)`` of the value, 1/16 by default);
* off-road: ``s p + pixel_y / (4 p)`` (area-averaged channel).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from test_render import LANE, scene_of, straight_road, to_road

from traffic_mpc.sim import cost_masks
from traffic_mpc.sim.raster_costs import COST_NAMES, raster_costs, view_cost_masks
from traffic_mpc.sim.render import EgoViewRenderer, ViewSpec

D = torch.float64
EGO = (4.5, 1.8)
SPEED = 8.0
DEFAULT = ViewSpec()
#: Fine views for the convergence checks: 0.1 m/px, static raster 1/32 of that across.
FINE = ViewSpec(height=331, width=81, pixel_size=0.1, static_resolution=(0.05, 0.1 / 32))
LANE_SLOPE = 2 / cost_masks.LANE_WIDTH


@pytest.fixture(scope="module")
def road():
    return straight_road(n_lanes=2, length=80.0)


@pytest.fixture(scope="module")
def renderers(road):
    return {
        "default": EgoViewRenderer(road, DEFAULT, dtype=D),
        "fine": EgoViewRenderer(road, FINE, dtype=torch.float32),
    }


def costs_of(renderer: EgoViewRenderer, scene) -> torch.Tensor:
    views = renderer.render(scene)
    return raster_costs(views, renderer.spec, scene.ego_size.to(views.dtype), scene.ego_speed)


def ramp_slopes(speed: float) -> tuple[float, float]:
    """Longitudinal and lateral slopes [1/m] of the proximity mask's ramps."""
    longitudinal = 1 / (
        cost_masks.SAFETY_TIME * speed + cost_masks.SAFETY_DISTANCE + cost_masks.ALLOWED_OVERLAP
    )
    return longitudinal, 1 / EGO[1]


def exact_proximity_one_car(u: float, v: float, length: float, width: float, speed: float):
    """Max of the proximity mask over an aligned car centred at (u, v): the mask is a
    product of ramps non-increasing in |u| and |v|, so it peaks at the footprint's point
    of least |u| and least |v|. Returns the value and that point."""
    near_u = max(0.0, abs(u) - length / 2)
    near_v = max(0.0, abs(v) - width / 2)
    value = cost_masks.proximity_mask(
        torch.tensor([[near_u]], dtype=D),
        torch.tensor([[near_v]], dtype=D),
        torch.tensor([EGO[0]], dtype=D),
        torch.tensor([EGO[1]], dtype=D),
        torch.tensor([speed], dtype=D),
    )
    return float(value), near_u, near_v


def proximity_bound(near_u: float, near_v: float, speed: float, pixel: float) -> float:
    """Error bound of the proximity cost on a view, per axis the smaller of

    * ``s * p``: the edge pixel (partly covered) or the first fully covered one behind it
      sees the mask at most a pixel's worth of ramp lower, and
    * the ramp's drop between the nearest point and 1.5 pixels beyond it (the first fully
      covered pixel's centre lies at most that far), which is 0 on a plateau;

    summed over the two axes (the mask is a product of values in [0, 1])."""
    slope_u, slope_v = ramp_slopes(speed)
    full_u = EGO[0] / 2 - cost_masks.ALLOWED_OVERLAP
    zero_u = full_u + 1 / slope_u
    full_v, zero_v = EGO[1] / 2, EGO[1] / 2 + 1 / slope_v

    def drop(near, full, zero):
        ramp = cost_masks.ramp
        return float(
            ramp(torch.tensor(near), full, zero)
            - ramp(torch.tensor(near + 1.5 * pixel), full, zero)
        )

    return min(slope_u * pixel, drop(near_u, full_u, zero_u)) + min(
        slope_v * pixel, drop(near_v, full_v, zero_v)
    )


PROXIMITY_CASES = [(u, v) for u in (6.2, 7.9, 11.3, 16.6, -8.4) for v in (0.0, 1.1, 2.45, -3.1)]


@pytest.mark.parametrize("resolution", ["default", "fine"])
def test_proximity_matches_the_analytic_cost_of_one_car(renderers, resolution):
    renderer = renderers[resolution]
    pixel = renderer.spec.pixel_size
    ego = (40.0, -5.49, 0.0)
    length, width = 4.6, 1.9
    worst = 0.0
    for u, v in PROXIMITY_CASES:
        scene = scene_of([ego], [[(*to_road(ego, u, v), 0.0, length, width)]], ego_speed=SPEED)
        raster = float(costs_of(renderer, scene)[0, 0])
        exact, near_u, near_v = exact_proximity_one_car(u, v, length, width, SPEED)
        bound = proximity_bound(near_u, near_v, SPEED, pixel) + 1e-3
        assert abs(raster - exact) <= bound, (u, v, raster, exact, bound)
        worst = max(worst, abs(raster - exact))
    # Measured: worst 0.25 at 0.62 m/px (a car beside the ego, where the lateral ramp falls
    # from 1 to 0 over three pixels), 0.049 at 0.1 m/px. The view underestimates.
    assert worst <= {"default": 0.26, "fine": 0.05}[resolution]


def lane_bound(pixel: float, pixel_y: float) -> float:
    return LANE_SLOPE * pixel / 2 + pixel_y / (2 * pixel) + 1e-4


def off_road_bound(pixel: float, pixel_y: float) -> float:
    return LANE_SLOPE * pixel + pixel_y / (4 * pixel) + 1e-4


@pytest.mark.parametrize("resolution", ["default", "fine"])
def test_lane_and_off_road_match_the_analytic_costs(renderers, resolution):
    """Ego (heading 0) at distance e left of the marking y = -3.66 (lane cost
    ramp(|e|; 0, 1.83)) and at distance e' below the left road edge y = 0 (off-road cost
    ramp(e'; 0, 1.83), ego centre on the road)."""
    renderer = renderers[resolution]
    spec = renderer.spec
    pixel, pixel_y = spec.pixel_size, renderer.static.pixel_y
    worst_lane = worst_off_road = 0.0
    for offset in np.linspace(0.05, 1.75, 18):
        # Lane: marking at lateral distance `offset` to the ego's right; the other marking
        # and the edges are farther than half a lane.
        scene = scene_of([(40.0, -LANE + offset, 0.0)], ego_speed=SPEED)
        raster = costs_of(renderer, scene)[0]
        exact_lane = max(0.0, 1 - offset / (cost_masks.LANE_WIDTH / 2))
        assert abs(float(raster[1]) - exact_lane) <= lane_bound(pixel, pixel_y)
        worst_lane = max(worst_lane, abs(float(raster[1]) - exact_lane))
        # Off-road: the left road edge at lateral distance `offset` to the ego's left.
        scene = scene_of([(40.0, -offset, 0.0)], ego_speed=SPEED)
        raster = costs_of(renderer, scene)[0]
        exact_off_road = max(0.0, 1 - offset / (cost_masks.LANE_WIDTH / 2))
        assert abs(float(raster[2]) - exact_off_road) <= off_road_bound(pixel, pixel_y)
        worst_off_road = max(worst_off_road, abs(float(raster[2]) - exact_off_road))
    # Measured: lane 0.146 / off-road 0.368 at 0.62 m/px; 0.026 / 0.030 at 0.1 m/px.
    limits = {"default": (0.15, 0.37), "fine": (0.03, 0.035)}[resolution]
    assert worst_lane <= limits[0] and worst_off_road <= limits[1]


def test_costs_in_the_middle_of_an_empty_lane_are_small(renderers):
    """Centred in its lane, nothing around: the exact costs are all 0."""
    costs = costs_of(renderers["default"], scene_of([(40.0, -LANE / 2, 0.0)]))[0]
    assert float(costs[0]) == 0.0
    assert float(costs[1]) <= lane_bound(DEFAULT.pixel_size, DEFAULT.pixel_size / 8)
    assert float(costs[2]) <= LANE_SLOPE * DEFAULT.pixel_size / 16 + 1e-6


def test_speed_is_a_constant_inside_the_proximity_mask():
    speed = torch.tensor([8.0], dtype=D, requires_grad=True)
    proximity, _ = view_cost_masks(DEFAULT, torch.tensor([EGO], dtype=D), speed)
    assert not proximity.requires_grad


def test_views_without_a_cost_channel_are_refused():
    spec = ViewSpec(channels=("lanes", "vehicles"))
    views = torch.zeros(1, 2, spec.height, spec.width)
    with pytest.raises(ValueError, match="off_road"):
        raster_costs(views, spec, torch.tensor([EGO]), torch.tensor([5.0]))
    with pytest.raises(ValueError, match="views should be"):
        raster_costs(torch.zeros(1, 4, 10, 10), DEFAULT, torch.tensor([EGO]), torch.tensor([5.0]))


def test_parity_with_the_geometric_costs_on_random_scenes():
    geometric = pytest.importorskip("traffic_mpc.sim.geometric_costs")
    from traffic_mpc.road import Road
    from traffic_mpc.sim.geometry import RoadTensors

    road = Road.named("i80")
    renderer = EgoViewRenderer(road, DEFAULT, dtype=D)
    exact_costs = geometric.GeometricCosts(RoadTensors.from_road(road, dtype=D))
    generator = np.random.default_rng(7)
    batch, others = 64, 12
    egos, rows = [], []
    for _ in range(batch):
        lane = generator.integers(0, 6)
        ego = (
            generator.uniform(60, 440),
            -1.83 - LANE * lane + generator.normal(0, 0.6),
            generator.normal(0, 0.05),
        )
        egos.append(ego)
        row = []
        while len(row) < others:
            u, v = generator.uniform(-30, 30), generator.choice([-LANE, 0.0, LANE])
            v += generator.normal(0, 0.4)
            if abs(u) < 5.5 and abs(v) < 2.2:  # no overlap with the ego
                continue
            heading = ego[2] + generator.normal(0, 0.03)
            row.append(
                (
                    *to_road(ego, u, v),
                    heading,
                    generator.uniform(4, 5.5),
                    generator.uniform(1.7, 2.0),
                )
            )
        rows.append(row)
    scene = scene_of(egos, rows, ego_speed=SPEED)
    speeds = torch.tensor(generator.uniform(0, 15, batch), dtype=D)
    scene = replace(scene, ego_speed=speeds)
    raster = raster_costs(renderer.render(scene), DEFAULT, scene.ego_size, scene.ego_speed)
    exact = exact_costs(scene)
    error = (raster - exact).abs()
    pixel = DEFAULT.pixel_size
    slope_u = 1 / (cost_masks.SAFETY_TIME * speeds + 2)
    bounds = torch.stack(
        [
            pixel * (slope_u + 1 / EGO[1]) + 0.02,  # + the rotated-box approximation
            torch.full_like(speeds, lane_bound(pixel, pixel / 8)),
            torch.full_like(speeds, off_road_bound(pixel, pixel / 8)),
        ],
        dim=1,
    )
    assert bool((error <= bounds).all()), (error - bounds).max(dim=0)
    assert float(exact.amax(dim=0).min()) > 0.5  # the scenes exercise every cost
    # Mean errors are well below the worst-case bounds.
    mean = error.mean(dim=0)
    # Measured (seed 7): max 0.16 / 0.17 / 0.26, mean 0.063 / 0.055 / 0.016.
    assert float(mean[0]) < 0.1 and float(mean[1]) < 0.1 and float(mean[2]) < 0.1, mean


GRADIENT_SPEC = ViewSpec(height=41, width=15)


def _gradient_case(name: str):
    """One ego pose and its others, chosen so that the named cost's maximum is at a single
    partially covered pixel (not at a tie, not on a plateau): the gradient is non-zero.

    The raster costs are piecewise in the pose: where the maximising pixel is fully
    covered (a vehicle's inside, a marking's plateau), moving the ego a little moves no
    edge across it and the pose gradient is 0 (about half to two thirds of poses)."""
    if name == "proximity":
        ego = (40.0, -5.49, 0.02)
        return ego, [(*to_road(ego, 5.0, 1.36), 0.07, 4.5, 1.8)]
    if name == "lane":
        return (40.0, -LANE + 1.65, 0.02), []  # the marking 1.65 m to the right
    return (40.0, -1.0, 0.03), []  # off-road: the left edge 1 m from the centre


@pytest.mark.parametrize("name", COST_NAMES)
def test_cost_gradients_match_finite_differences(road, name):
    renderer = EgoViewRenderer(road, GRADIENT_SPEC, dtype=D)
    ego, others = _gradient_case(name)
    base = scene_of([ego], [others], ego_speed=5.0)
    column = COST_NAMES.index(name)

    def cost(pose: torch.Tensor) -> torch.Tensor:
        scene = replace(base, ego_pose=pose)
        views = renderer.render(scene)
        return raster_costs(views, GRADIENT_SPEC, scene.ego_size, scene.ego_speed)[:, column]

    pose = base.ego_pose.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(cost, (pose,), eps=1e-6, atol=1e-6, rtol=1e-4)
    (gradient,) = torch.autograd.grad(cost(pose).sum(), pose)
    assert float(cost(pose.detach())) > 0.05
    assert float(gradient.abs().max()) > 1e-2, gradient
    # Moving the ego sideways towards the feature raises the cost: the car and the road
    # edge are to its left (+y), the marking to its right.
    towards = {"proximity": 1.0, "lane": -1.0, "off_road": 1.0}[name]
    assert towards * float(gradient[0, 1]) > 0


def test_cost_gradients_reach_the_views(road):
    renderer = EgoViewRenderer(road, DEFAULT, dtype=D)
    ego = (40.0, -5.49, 0.0)
    scene = scene_of([ego], [[(*to_road(ego, 7.0, 0.5), 0.0, 4.5, 1.8)]])
    views = renderer.render(scene).requires_grad_(True)
    costs = raster_costs(views, DEFAULT, scene.ego_size, scene.ego_speed)
    (gradient,) = torch.autograd.grad(costs.sum(), views)
    vehicles = DEFAULT.channel_index("vehicles")
    assert float(gradient[:, vehicles].abs().max()) > 0
    assert math.isfinite(float(gradient.abs().sum()))

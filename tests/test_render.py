"""Ego views: pixels land where the geometry says, channels hold what they promise."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from traffic_mpc.road import Road
from traffic_mpc.sim.render import (
    EgoViewRenderer,
    ViewSpec,
    from_uint8,
    to_uint8,
)
from traffic_mpc.sim.render_static import rasterise_static_layers
from traffic_mpc.sim.scene import EgoScene

LANE = 3.66
CAR = (4.5, 1.8)
PIXEL = ViewSpec().pixel_size


def straight_road(n_lanes: int = 3, length: float = 200.0) -> Road:
    """``n_lanes`` straight 3.66 m lanes; lane ``i`` (1 = leftmost) centred at
    ``y = -(i - 0.5) * 3.66``; left road edge at y = 0."""
    lanes = [
        {
            "id": i,
            "left": [[0.0, -(i - 1) * LANE], [length, -(i - 1) * LANE]],
            "right": [[0.0, -i * LANE], [length, -i * LANE]],
        }
        for i in range(1, n_lanes + 1)
    ]
    return Road.from_dict({"name": "straight", "length": length, "lanes": lanes})


def scene_of(
    ego_poses,
    others=None,
    ego_size=CAR,
    ego_speed=10.0,
    dtype=torch.float64,
) -> EgoScene:
    """Egos ``(B, 3)`` and, per ego, a list of others ``(x, y, heading, length, width)``
    (padded with invalid entries)."""
    ego = torch.as_tensor(ego_poses, dtype=dtype).reshape(-1, 3)
    batch = ego.shape[0]
    others = others if others is not None else [[] for _ in range(batch)]
    count = max(1, max(len(row) for row in others))
    table = torch.zeros(batch, count, 5, dtype=dtype)
    valid = torch.zeros(batch, count, dtype=torch.bool)
    for b, row in enumerate(others):
        for k, entry in enumerate(row):
            table[b, k] = torch.as_tensor(entry, dtype=dtype)
            valid[b, k] = True
    return EgoScene(
        ego_pose=ego,
        ego_speed=torch.full((batch,), float(ego_speed), dtype=dtype),
        ego_size=torch.as_tensor(ego_size, dtype=dtype).expand(batch, 2).clone(),
        others_pose=table[..., :3],
        others_size=table[..., 3:],
        others_speed=torch.zeros(batch, count, dtype=dtype),
        others_valid=valid,
        others_id=torch.where(valid, torch.arange(count).expand(batch, count), -1),
    )


def to_road(ego_pose, u: float, v: float) -> tuple[float, float]:
    """Road-frame point at ego-frame offset (u forward, v left) from ``ego_pose``."""
    x, y, heading = ego_pose
    return (
        x + u * math.cos(heading) - v * math.sin(heading),
        y + u * math.sin(heading) + v * math.cos(heading),
    )


@pytest.fixture(scope="module")
def road() -> Road:
    return straight_road()


@pytest.fixture(scope="module")
def renderer(road) -> EgoViewRenderer:
    return EgoViewRenderer(road, dtype=torch.float64)


def channel(views: torch.Tensor, spec: ViewSpec, name: str) -> torch.Tensor:
    return views[:, spec.channel_index(name)]


def centroid_and_area(layer: torch.Tensor, spec: ViewSpec) -> tuple[float, float, float]:
    """Coverage-weighted centroid (u, v) [m] and covered area [m²] of a ``(H, W)`` layer."""
    u, v = spec.pixel_coordinates(dtype=layer.dtype)
    mass = layer.sum()
    return (
        float((layer * u).sum() / mass),
        float((layer * v).sum() / mass),
        float(mass) * spec.pixel_size**2,
    )


def test_default_spec_is_the_reference_geometry():
    spec = ViewSpec()
    assert (spec.height, spec.width) == (117, 24)
    along, across = spec.extent
    assert along == pytest.approx(72.5, abs=0.1) and across == pytest.approx(14.9, abs=0.1)
    u, v = spec.pixel_coordinates()
    assert u[0, 0] > 35 and u[-1, 0] < -35  # row 0 is the far front
    assert v[0, 0] > 7 and v[0, -1] < -7  # column 0 is the ego's left
    assert float(u[58, 0]) == 0.0 and float(v[0, 11] + v[0, 12]) == pytest.approx(0.0)


def test_spec_rejects_unknown_channels():
    with pytest.raises(ValueError, match="channels"):
        ViewSpec(channels=("lanes", "cars"))
    with pytest.raises(ValueError, match="channels"):
        ViewSpec(channels=("lanes", "lanes"))


@pytest.mark.parametrize(
    "ego_pose, u, v, relative_heading",
    [
        ((100.0, -5.49, 0.0), 12.3, 0.0, 0.0),
        ((100.0, -5.49, 0.0), -9.71, 3.37, 0.0),
        ((80.0, -5.0, 0.35), 7.9, -2.2, 0.0),
        ((120.0, -6.0, -0.2), 15.15, 1.1, 0.3),
    ],
)
def test_vehicle_lands_on_its_pixels(renderer, ego_pose, u, v, relative_heading):
    spec = renderer.spec
    x, y = to_road(ego_pose, u, v)
    scene = scene_of([ego_pose], [[(x, y, ego_pose[2] + relative_heading, 4.8, 1.9)]])
    layer = channel(renderer.render(scene), spec, "vehicles")[0]
    found_u, found_v, area = centroid_and_area(layer, spec)
    # Centroid within a tenth of a pixel; area within 3 % (exact when aligned with the ego).
    assert abs(found_u - u) < 0.1 * PIXEL and abs(found_v - v) < 0.1 * PIXEL
    assert area == pytest.approx(4.8 * 1.9, rel=0.03 if relative_heading else 1e-9)
    assert float(layer.max()) == pytest.approx(1.0) and float(layer.min()) == 0.0


@pytest.mark.parametrize("length", [4.8, 14.3])  # a car; a truck, drawn in three pieces
def test_vehicle_pixels_are_area_coverage(renderer, length):
    """Aligned with the ego, a pixel's value is the exact fraction of it covered."""
    spec = renderer.spec
    ego = (100.0, -5.49, 0.0)
    u0, v0 = 10.0, 1.0
    scene = scene_of([ego], [[(*to_road(ego, u0, v0), 0.0, length, 1.9)]])
    layer = channel(renderer.render(scene), spec, "vehicles")[0]
    u, v = spec.pixel_coordinates(dtype=torch.float64)
    half = PIXEL / 2

    def overlap(centre, low, high):
        return ((centre + half).clamp(max=high) - (centre - half).clamp(min=low)).clamp(
            min=0
        ) / PIXEL

    expected = overlap(u, u0 - length / 2, u0 + length / 2) * overlap(v, v0 - 0.95, v0 + 0.95)
    torch.testing.assert_close(layer, expected, atol=1e-9, rtol=0)


def test_a_turned_truck_lands_on_its_pixels(renderer):
    spec = renderer.spec
    ego = (100.0, -5.49, 0.05)
    x, y = to_road(ego, -12.0, 1.5)
    scene = scene_of([ego], [[(x, y, ego[2] + 0.25, 14.3, 2.5)]])
    found_u, found_v, area = centroid_and_area(
        channel(renderer.render(scene), spec, "vehicles")[0], spec
    )
    assert abs(found_u + 12.0) < 0.1 * PIXEL and abs(found_v - 1.5) < 0.1 * PIXEL
    assert area == pytest.approx(14.3 * 2.5, rel=0.03)


def test_ego_footprint_at_the_centre(renderer):
    spec = renderer.spec
    scene = scene_of([(100.0, -5.49, 0.3)], ego_size=(4.2, 1.7))
    layer = channel(renderer.render(scene), spec, "ego")[0]
    found_u, found_v, area = centroid_and_area(layer, spec)
    assert abs(found_u) < 1e-9 and abs(found_v) < 1e-9
    assert area == pytest.approx(4.2 * 1.7, rel=1e-9)


def test_invalid_and_distant_vehicles_are_not_drawn(renderer):
    ego = (100.0, -5.49, 0.0)
    scene = scene_of([ego], [[(150.0, -5.49, 0.0, 4.5, 1.8)]])  # 50 m ahead: out of view
    assert float(channel(renderer.render(scene), renderer.spec, "vehicles").abs().max()) == 0
    padded = scene_of([ego], [[(110.0, -5.49, 0.0, 4.5, 1.8)]])
    padded = replace(padded, others_valid=torch.zeros(1, 1, dtype=torch.bool))
    assert float(channel(renderer.render(padded), renderer.spec, "vehicles").abs().max()) == 0


def test_a_vehicle_at_the_view_border_is_clipped(renderer):
    spec = renderer.spec
    ego = (100.0, -5.49, 0.0)
    u_edge = spec.extent[0] / 2  # the view's front edge
    scene = scene_of([ego], [[(*to_road(ego, u_edge, 0.0), 0.0, 4.0, 1.8)]])
    *_, area = centroid_and_area(channel(renderer.render(scene), spec, "vehicles")[0], spec)
    assert area == pytest.approx(4.0 * 1.8 / 2, rel=1e-9)  # half of it inside


def _marking_columns(layer: torch.Tensor, spec: ViewSpec, v_line: torch.Tensor):
    """Per row: the largest value within one pixel of the line at ``v_line`` (per row) and
    the coverage-weighted v of the values within a pixel and a half of it."""
    _, v = spec.pixel_coordinates(dtype=layer.dtype)
    near = (v - v_line[:, None]).abs() <= PIXEL
    peak = torch.where(near, layer, 0.0).amax(dim=1)
    band = (v - v_line[:, None]).abs() <= 1.5 * PIXEL
    weights = torch.where(band, layer, 0.0)
    centre = (weights * v).sum(dim=1) / weights.sum(dim=1)
    return peak, centre


@pytest.mark.parametrize("lateral", np.linspace(0.0, PIXEL, 7).tolist())
def test_lane_markings_stay_visible_at_the_default_resolution(renderer, lateral):
    """Wherever a marking falls between pixel centres, the pixels along it are ~1."""
    spec = renderer.spec
    ego = (100.0, -5.49 + lateral, 0.0)
    lanes = channel(renderer.render(scene_of([ego])), spec, "lanes")[0]
    u, _ = spec.pixel_coordinates(dtype=torch.float64)
    for y_line in (0.0, -LANE, -2 * LANE):
        v_line = torch.full((spec.height,), y_line - ego[1], dtype=torch.float64)
        if v_line[0].abs() > spec.extent[1] / 2:
            continue
        peak, _ = _marking_columns(lanes, spec, v_line)
        assert float(peak.min()) >= 1 - 1 / 16 - 1e-6  # bilinear error at the profile's kink
    # More than a pixel (plus one texel of the static raster) away from markings: 0.
    _, v = spec.pixel_coordinates(dtype=torch.float64)
    y = ego[1] + v
    far = torch.stack([(y - line).abs() for line in (0.0, -LANE, -2 * LANE, -3 * LANE)]).amin(0)
    assert float(lanes[far > PIXEL * (1 + 1 / 8)].abs().max()) == 0.0


@pytest.mark.parametrize("heading", [0.3, -0.5])
def test_markings_rotate_with_the_ego(renderer, heading):
    """An ego turned by ``heading`` sees the straight markings at slope -tan(heading):
    the marking y = -3.66 lies at v(u) = (-3.66 - y_ego - u sin) / cos."""
    spec = renderer.spec
    ego = (100.0, -5.49, heading)
    lanes = channel(renderer.render(scene_of([ego])), spec, "lanes")[0]
    u, _ = spec.pixel_coordinates(dtype=torch.float64)
    v_line = (-LANE - ego[1] - u[:, 0] * math.sin(heading)) / math.cos(heading)
    inside = v_line.abs() < spec.extent[1] / 2 - 2 * PIXEL
    assert int(inside.sum()) > 5
    peak, centre = _marking_columns(lanes, spec, v_line)
    assert float(peak[inside].min()) > 0.8
    # The marking's centre in each row within a quarter of a pixel of the rotated line.
    assert float((centre - v_line)[inside].abs().max()) < 0.25 * PIXEL
    # and the picture is not that of an unrotated ego.
    straight = channel(renderer.render(scene_of([(100.0, -5.49, 0.0)])), spec, "lanes")[0]
    assert float((straight - lanes).abs().max()) > 0.9


def test_off_road_is_one_beyond_the_edge(renderer):
    spec = renderer.spec
    ego = (100.0, -1.83 - 0.2, 0.1)
    off_road = channel(renderer.render(scene_of([ego])), spec, "off_road")[0]
    u, v = spec.pixel_coordinates(dtype=torch.float64)
    y = ego[1] + u * math.sin(ego[2]) + v * math.cos(ego[2])
    x = ego[0] + u * math.cos(ego[2]) - v * math.sin(ego[2])
    assert float(off_road[y > PIXEL].min()) == pytest.approx(1.0)
    on_road = (y < -PIXEL) & (y > -3 * LANE + PIXEL) & (x > 0) & (x < 200)
    assert float(off_road[on_road].max()) == 0.0
    assert 0.0 < float(off_road[(y.abs() < PIXEL / 4)].mean()) < 1.0


def test_off_road_matches_the_road_geometry_on_a_ramp():
    """Over the I-80 on-ramp taper: a pixel whose centre is off the road by more than half
    a pixel (across the road) is 1, one on the road by more than half a pixel is 0."""
    road = Road.named("i80")
    renderer = EgoViewRenderer(road, ViewSpec(channels=("off_road",)), dtype=torch.float64)
    ego = (150.0, -21.0, 0.05)
    off_road = renderer.render(scene_of([ego]))[0, 0].numpy()
    u, v = (t.numpy() for t in renderer.spec.pixel_coordinates(dtype=torch.float64))
    x = ego[0] + u * math.cos(ego[2]) - v * math.sin(ego[2])
    y = ego[1] + u * math.sin(ego[2]) + v * math.cos(ego[2])
    probes = [road.is_off_road(x, y + dy) for dy in (-PIXEL / 2, 0.0, PIXEL / 2)]
    all_off = probes[0] & probes[1] & probes[2]
    all_on = ~(probes[0] | probes[1] | probes[2])
    assert all_off.sum() > 100 and all_on.sum() > 100
    assert off_road[all_off].min() > 1 - 1 / 32 - 1e-6
    assert off_road[all_on].max() < 1 / 32 + 1e-6


def test_static_raster_covers_the_road_with_a_blank_border():
    road = Road.named("us101")
    static = rasterise_static_layers(road, 0.62)
    for layer, border in ((static.lane_markings, 0.0), (static.off_road, 1.0)):
        edges = np.concatenate([layer[0], layer[-1], layer[:, 0], layer[:, -1]])
        assert np.all(edges == border)
    extent_x, extent_y = static.extent
    assert extent_x > road.length and extent_y > road.y_range[1] - road.y_range[0]


def test_a_batch_equals_its_egos_rendered_alone(renderer):
    generator = torch.Generator().manual_seed(3)
    poses, others = [], []
    for b in range(5):
        ego = (
            40 + 120 * float(torch.rand(1, generator=generator)),
            -1.83 - LANE * (b % 3),
            0.2 * float(torch.randn(1, generator=generator)),
        )
        poses.append(ego)
        row = []
        for _ in range(b + 1):
            u = 60 * (float(torch.rand(1, generator=generator)) - 0.5)
            v = 12 * (float(torch.rand(1, generator=generator)) - 0.5)
            row.append((*to_road(ego, u, v), ego[2] + 0.1 * b, 4 + b * 0.5, 1.8))
        others.append(row)
    scene = scene_of(poses, others)
    together = renderer.render(scene)
    for b in range(5):
        alone = renderer.render(scene.index(slice(b, b + 1)))
        torch.testing.assert_close(together[b : b + 1], alone, atol=1e-12, rtol=0)


def test_float32_and_float64_agree(road):
    ego = (100.0, -5.3, 0.1)
    scene = scene_of([ego], [[(*to_road(ego, 8.0, 0.7), 0.15, 4.5, 1.8)]])
    views = [
        EgoViewRenderer(road, dtype=dtype).render(scene.to("cpu"))
        for dtype in (torch.float32, torch.float64)
    ]
    assert views[0].dtype == torch.float32 and views[1].dtype == torch.float64
    assert float((views[0].double() - views[1]).abs().max()) < 1e-4


def test_channel_subsets_and_order(road):
    ego = (100.0, -5.3, 0.1)
    scene = scene_of([ego], [[(*to_road(ego, 8.0, 0.7), 0.15, 4.5, 1.8)]])
    full = EgoViewRenderer(road, dtype=torch.float64).render(scene)
    spec = ViewSpec(channels=("ego", "off_road", "vehicles"))
    subset = EgoViewRenderer(road, spec, dtype=torch.float64).render(scene)
    assert subset.shape == (1, 3, 117, 24)
    order = [ViewSpec().channel_index(name) for name in spec.channels]
    torch.testing.assert_close(subset, full[:, order])


def test_views_are_in_unit_range_and_round_trip_through_uint8(renderer):
    ego = (100.0, -5.49, 0.0)
    # Two overlapping vehicles: the coverage is clipped at 1.
    others = [[(*to_road(ego, 8.0, 0.0), 0.0, 4.5, 1.8), (*to_road(ego, 9.0, 0.2), 0.0, 4.5, 1.8)]]
    views = renderer.render(scene_of([ego], others))
    assert float(views.min()) >= 0.0 and float(views.max()) <= 1.0
    stored = to_uint8(views)
    assert stored.dtype == torch.uint8
    assert float((from_uint8(stored, torch.float64) - views).abs().max()) <= 0.5 / 255 + 1e-12


def test_views_are_differentiable_in_the_ego_pose(renderer):
    ego = torch.tensor([[100.0, -5.3, 0.05]], dtype=torch.float64, requires_grad=True)
    base = scene_of([(100.0, -5.3, 0.05)], [[(108.2, -5.0, 0.1, 4.5, 1.8)]])
    scene = replace(base, ego_pose=ego)
    views = renderer.render(scene)
    weights = torch.rand(
        views.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    (views * weights).sum().backward()
    assert ego.grad is not None and bool((ego.grad.abs() > 0).all())


def test_empty_scenes(renderer):
    scene = scene_of([(100.0, -5.49, 0.0)])
    scene = replace(
        scene,
        others_pose=torch.zeros(1, 0, 3, dtype=torch.float64),
        others_size=torch.zeros(1, 0, 2, dtype=torch.float64),
        others_speed=torch.zeros(1, 0, dtype=torch.float64),
        others_valid=torch.zeros(1, 0, dtype=torch.bool),
        others_id=torch.zeros(1, 0, dtype=torch.int64),
    )
    views = renderer.render(scene)
    assert views.shape == (1, 4, 117, 24)
    assert float(channel(views, renderer.spec, "vehicles").abs().max()) == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_views_and_costs_equal_cpu_ones(road):
    from traffic_mpc.benchmarks.render import benchmark_scene
    from traffic_mpc.sim.raster_costs import raster_costs

    i80 = Road.named("i80")
    scene = benchmark_scene(i80, batch=64, others=40, seed=5)
    views = {}
    costs = {}
    for device in ("cpu", "cuda"):
        renderer = EgoViewRenderer(i80, device=device)
        on_device = scene.to(device)
        views[device] = renderer.render(on_device)
        costs[device] = raster_costs(
            views[device], renderer.spec, on_device.ego_size, on_device.ego_speed
        )
        assert views[device].device.type == device
    assert float((views["cuda"].cpu() - views["cpu"]).abs().max()) < 1e-4
    assert float((costs["cuda"].cpu() - costs["cpu"]).abs().max()) < 1e-4
    # Gradients on the device too.
    pose = scene.ego_pose.to("cuda").requires_grad_(True)
    renderer = EgoViewRenderer(i80, device="cuda")
    posed = replace(scene.to("cuda"), ego_pose=pose)
    raster_costs(
        renderer.render(posed), renderer.spec, posed.ego_size, posed.ego_speed
    ).sum().backward()
    assert pose.grad is not None and bool(torch.isfinite(pose.grad).all())


def test_spec_round_trips_through_a_dict():
    spec = ViewSpec(
        height=61,
        width=20,
        pixel_size=0.5,
        channels=("vehicles", "lanes"),
        static_resolution=(0.25, 0.0625),
    )
    assert ViewSpec.from_dict(spec.as_dict()) == spec
    assert ViewSpec.from_dict(ViewSpec().as_dict()) == ViewSpec()
    with pytest.raises(ValueError, match="unknown ViewSpec field"):
        ViewSpec.from_dict({"height": 10, "colour": 3})
    with pytest.raises(ValueError, match="static_resolution"):
        ViewSpec(static_resolution=(0.3, -1.0))


def test_a_long_truck_across_the_view_border(renderer):
    """Only part of a 20 m truck (four pieces) is in view: that part is drawn exactly, the
    pieces out of view touch nothing (not even other egos' views)."""
    spec = renderer.spec
    egos = [(100.0, -5.49, 0.0), (150.0, -5.49, 0.0)]
    u_front = spec.extent[0] / 2  # the first ego's front edge
    truck = (*to_road(egos[0], u_front + 6.0, 0.0), 0.0, 20.0, 2.5)  # 4 m in view
    views = renderer.render(scene_of(egos, [[truck], []]))
    vehicles = channel(views, spec, "vehicles")
    *_, area = centroid_and_area(vehicles[0], spec)
    assert area == pytest.approx(4.0 * 2.5, rel=1e-9)
    assert float(vehicles[1].abs().max()) == 0.0

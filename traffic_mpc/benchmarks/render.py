"""Renderer benchmark: ego views per second, raster costs per second, top-down frame time.

The scene is synthetic and I-80-like: ``batch`` egos at random places of the valid region
of the built-in I-80 road (random lanes, headings of a few hundredths of a radian), each
with ``others`` vehicles of its own within 40 m ahead or behind in random lanes, cars of
4-5.5 m and, as in NGSIM, about 3 % trucks of 10-15 m (the vehicles' pixel windows are
sized for the largest one in the batch, so trucks cost time). The replay world's step is
not included. Figures:

* ``ego views/s`` — :meth:`EgoViewRenderer.render` at batch 256 with 40 vehicles each,
  all four channels, no gradient (dataset extraction, evaluation); target 10,000 on two
  CPU cores;
* ``ego views/s with gradient`` — render + raster costs + backward to the ego pose;
* ``raster costs/s`` — :func:`raster_costs` alone on rendered views;
* ``top-down frame`` — the whole I-80 road at 2 px/m with 100 vehicles.

Each figure is the median of several timed repetitions after a warm-up. On a CUDA machine
the views/s are measured on the GPU too.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from traffic_mpc.benchmarks import Figure, benchmark
from traffic_mpc.road import Road
from traffic_mpc.sim.raster_costs import raster_costs
from traffic_mpc.sim.render import EgoViewRenderer, ViewSpec
from traffic_mpc.sim.scene import EgoScene
from traffic_mpc.sim.top_down import render_top_down

LANE_WIDTH = 3.66


def benchmark_scene(road: Road, batch: int, others: int, seed: int = 0) -> EgoScene:
    """A synthetic I-80-like :class:`EgoScene` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    lanes = len([lane for lane in road.lanes if lane.kind == "main"]) or len(road.lanes)
    centres = -LANE_WIDTH * (np.arange(lanes) + 0.5)
    x = rng.uniform(*road.valid_x, batch)
    ego = np.stack(
        [x, rng.choice(centres, batch) + rng.normal(0, 0.3, batch), rng.normal(0, 0.03, batch)],
        axis=1,
    )
    other_x = x[:, None] + rng.uniform(-40, 40, (batch, others))
    other_y = rng.choice(centres, (batch, others)) + rng.normal(0, 0.3, (batch, others))
    other_heading = rng.normal(0, 0.03, (batch, others))
    truck = rng.random((batch, others)) < 0.03
    length = np.where(
        truck, rng.uniform(10, 15, (batch, others)), rng.uniform(4, 5.5, (batch, others))
    )
    width = np.where(truck, 2.5, rng.uniform(1.7, 2.0, (batch, others)))

    def tensor(array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=torch.float32)

    return EgoScene(
        ego_pose=tensor(ego),
        ego_speed=tensor(rng.uniform(0, 15, batch)),
        ego_size=tensor(np.tile([4.5, 1.8], (batch, 1))),
        others_pose=tensor(np.stack([other_x, other_y, other_heading], axis=-1)),
        others_size=tensor(np.stack([length, width], axis=-1)),
        others_speed=tensor(rng.uniform(0, 15, (batch, others))),
        others_valid=torch.ones(batch, others, dtype=torch.bool),
        others_id=torch.arange(batch * others).reshape(batch, others),
    )


def _median_seconds(function, repetitions: int, synchronize=lambda: None) -> float:
    for _ in range(2):
        function()
    synchronize()
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        function()
        synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _views_per_second(road: Road, scene: EgoScene, device: str, repetitions: int):
    renderer = EgoViewRenderer(road, ViewSpec(), device=device)
    scene = scene.to(device)
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    batch = scene.batch_size
    with torch.no_grad():
        render = _median_seconds(lambda: renderer.render(scene), repetitions, synchronize)
        views = renderer.render(scene)
        costs = _median_seconds(
            lambda: raster_costs(views, renderer.spec, scene.ego_size, scene.ego_speed),
            repetitions,
            synchronize,
        )

    def render_costs_backward():
        pose = scene.ego_pose.clone().requires_grad_(True)
        posed = replace(scene, ego_pose=pose)
        total = raster_costs(
            renderer.render(posed), renderer.spec, posed.ego_size, posed.ego_speed
        ).sum()
        total.backward()

    with_gradient = _median_seconds(render_costs_backward, max(3, repetitions // 2), synchronize)
    return batch / render, batch / costs, batch / with_gradient


@benchmark("render")
def render_benchmark(quick: bool) -> dict:
    road = Road.named("i80")
    batch, others = 256, 40
    repetitions = 5 if quick else 20
    start = time.perf_counter()
    EgoViewRenderer(road, ViewSpec())
    build_seconds = time.perf_counter() - start
    scene = benchmark_scene(road, batch, others)
    views, costs, with_gradient = _views_per_second(road, scene, "cpu", repetitions)
    figures: dict = {
        "ego views/s (batch 256, 40 vehicles)": Figure(round(views), "views/s", target=10000),
        "ego views/s with gradient": Figure(round(with_gradient), "views/s"),
        "raster costs/s": Figure(round(costs), "views/s"),
        "torch threads": torch.get_num_threads(),
        "static raster build": Figure(round(build_seconds * 1e3, 1), "ms", higher_is_better=False),
    }
    if torch.cuda.is_available():
        views, costs, with_gradient = _views_per_second(road, scene, "cuda", repetitions)
        figures["cuda ego views/s"] = Figure(round(views), "views/s")
        figures["cuda ego views/s with gradient"] = Figure(round(with_gradient), "views/s")
        figures["cuda raster costs/s"] = Figure(round(costs), "views/s")

    rng = np.random.default_rng(1)
    count = 100
    poses = np.stack(
        [
            rng.uniform(0, road.length, count),
            rng.uniform(-21, -1, count),
            rng.normal(0, 0.05, count),
        ],
        axis=1,
    )
    sizes = np.tile([4.5, 1.8], (count, 1))
    speeds = rng.uniform(0, 25, count)
    highlight = np.arange(count) < 4
    frame = _median_seconds(
        lambda: render_top_down(road, poses, sizes, speeds, highlight, scale=2.0),
        repetitions * 2,
    )
    figures["top-down frame (I-80, 2 px/m, 100 vehicles)"] = Figure(
        round(frame * 1e3, 2), "ms", higher_is_better=False
    )
    return figures

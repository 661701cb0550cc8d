"""Viewer benchmark: frames drawn per second at 1280 × 720 with the default road full of traffic.

Headless (SDL's dummy video driver): the time measured is the viewer's own work per shown
frame — stepping the log, drawing road, vehicles, HUD and panels, and the display flip —
not a real screen's vsync. The traffic is the default generator's (congested I-80-like
traffic on the built-in road after its warm-up, about 250 vehicles on the section at once),
generated in memory. Figures:

* ``frames/s`` — whole road on screen, a new log frame on every drawn frame (playback far
  faster than real time: the worst case for the vehicle layer); the issue's target is 60;
* ``frames/s, vehicle selected, 1x playback`` — one vehicle selected and followed, playing
  at real time (10 log frames/s): what a person sees; its ego view and costs are recomputed
  on every log frame;
* ``frames/s, vehicle selected, every frame new`` — the same with a new log frame (ego view,
  exact costs) on every drawn frame.
"""

from __future__ import annotations

import os
import time

import numpy as np

from traffic_mpc.benchmarks import Figure, benchmark
from traffic_mpc.torch_threads import torch_threads


def _frames_per_second(viewer, screen, frames: int, advance) -> float:
    """Shown frames per second over ``frames`` iterations of ``advance(); draw; flip``."""
    import pygame

    for _ in range(5):  # warm the caches (road tiles, text)
        advance()
        viewer.draw(screen)
    start = time.perf_counter()
    for _ in range(frames):
        advance()
        viewer.draw(screen)
        pygame.display.flip()
    return frames / (time.perf_counter() - start)


@benchmark("viewer")
def viewer_benchmark(quick: bool) -> dict:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from traffic_mpc.logs.synth import SynthConfig, generate
    from traffic_mpc.road import ROADS_DIR, Road
    from traffic_mpc.viewer.app import SCREEN_SIZE, Viewer

    road = Road.load(ROADS_DIR / "synth.toml")
    config = SynthConfig(duration=20.0, warm_up=60.0) if quick else SynthConfig(duration=90.0)
    log = generate(road, config, seed=0)
    frames = 60 if quick else 600
    owns_display = not pygame.display.get_init()
    pygame.display.init()
    pygame.font.init()
    try:
        screen = pygame.display.set_mode(SCREEN_SIZE)
        with torch_threads(1):
            viewer = Viewer([(log, road)], start_frame=0)
            last = viewer.frames.n_frames - 1

            def next_frame() -> None:
                if not viewer.step(+1):
                    viewer.t = 0

            def keep_one_selected() -> None:
                """Select the vehicle nearest the middle of the road when none is shown."""
                if viewer.ego is None:
                    frame = viewer.frames.at(viewer.t)
                    middle = int(np.argmin(np.abs(frame.x - road.length / 2)))
                    viewer.select(int(frame.vehicle_id[middle]))

            def real_time() -> None:
                viewer.playing = True
                viewer.update(1.0 / 60.0)
                if viewer.t >= last:
                    viewer.t = 0
                keep_one_selected()

            def selected_next_frame() -> None:
                next_frame()
                keep_one_selected()

            whole_road = _frames_per_second(viewer, screen, frames, next_frame)
            viewer.t = 0
            keep_one_selected()
            selected_real_time = _frames_per_second(viewer, screen, frames, real_time)
            viewer.playing = False
            selected_every_frame = _frames_per_second(viewer, screen, frames,
                                                      selected_next_frame)
            vehicles = float(np.mean(viewer.frames.vehicles_per_frame))
    finally:
        if owns_display:
            pygame.quit()
    return {
        "frames/s": Figure(round(whole_road, 1), "frames/s", target=60),
        "frames/s, vehicle selected, 1x playback": Figure(
            round(selected_real_time, 1), "frames/s", target=60),
        "frames/s, vehicle selected, every frame new": Figure(
            round(selected_every_frame, 1), "frames/s"),
        "vehicles on the road (mean)": round(vehicles, 1),
        "screen": f"{SCREEN_SIZE[0]}x{SCREEN_SIZE[1]}",
        "frames drawn per figure": frames,
    }

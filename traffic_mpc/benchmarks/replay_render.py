"""Replay-and-render benchmark: stepping a batch of egos and rendering every ego's view.

What evaluation, the environments and dataset extraction do at every step: the replay
world's step (kinematics, scenes, exact geometric costs, collisions, termination) followed
by :meth:`EgoViewRenderer.render` of every ego's view (default 117 x 24 view, all four
channels, no gradient). The traffic is the built-in generator's default
(``traffic_mpc.logs.synth.generate`` on the ``synth`` road, seed 0): 1 minute of recording
with ``quick``, 5 minutes otherwise. ``B = 256`` egos, each an independent episode, start at
random frames and drive with the actions their logged vehicles took; an ego whose episode
ends is reset at once to a new random episode (autoreset, not timed), so all 256 always
step. Figures:

* ``ego-steps/s`` — egos stepped and rendered per second of wall-clock time with two torch
  threads, i.e. using the 2 cores the issue's target of 10,000 is for (on a machine where
  other work holds a core, intra-op threads wait for each other and this collapses);
* ``ego-steps/s, 1 thread`` — the same on one torch thread (one core);
* ``CPU ms per step: world`` / ``render`` — process CPU time of one 256-ego step, median
  over the timed steps, one thread: the figures to compare between versions on a shared
  machine, where wall-clock time depends on the other work running.

The ego-steps/s figures are the median step time over the timed steps (after a few
warm-up steps), so that a burst of other work on a shared machine does not dominate them.

Memory: each step allocates and frees a few tens of MB (the views themselves are 11.5 MB).
Depending on what the process allocated before (generating the traffic here), glibc's
malloc may hand that memory back to the system after every step and take it again on the
next, page fault by page fault: measured 6,300 faults and ~15 ms of system time per 256
views, 40 % of the step, with or without this package's changes. The benchmark therefore
fixes glibc's trim and mmap thresholds (:func:`_keep_freed_memory`, the equivalent of
``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_`` in the environment), as a
long-running job should; it measures the simulator and renderer, not the allocator. The
setting stays for the rest of the process (benchmarks run after this one in the same
``traffic-mpc bench`` inherit it; the extraction's worker processes do not).
"""

from __future__ import annotations

import ctypes
import statistics
import time

import numpy as np
import torch

from traffic_mpc.benchmarks import Figure, benchmark
from traffic_mpc.torch_threads import torch_threads

_BATCH = 256
_WARM_UP_STEPS = 5
#: mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _keep_freed_memory() -> None:
    """Keep freed memory in the process (glibc): no trimming below 512 MB of free heap,
    and blocks up to 32 MB from the heap rather than fresh mappings. No-op elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_TRIM_THRESHOLD, 512 << 20)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    except (OSError, AttributeError):
        pass


def _time_steps(world, renderer, steps: int, rng: np.random.Generator) -> dict[str, list]:
    """Step and render ``steps`` times (after the warm-up); per step: wall-clock seconds of
    step + render, CPU seconds of each."""
    from traffic_mpc.benchmarks.sim import _random_episodes

    world.reset(*_random_episodes(world, _BATCH, rng))
    times: dict[str, list] = {"wall": [], "world": [], "render": []}
    with torch.no_grad():
        for step in range(_WARM_UP_STEPS + steps):
            actions = world.logged_actions()
            wall, cpu = time.perf_counter(), time.process_time()
            result = world.step(actions)
            stepped = time.process_time()
            renderer.render(world.scene())
            rendered, done = time.process_time(), time.perf_counter()
            if step >= _WARM_UP_STEPS:
                times["wall"].append(done - wall)
                times["world"].append(stepped - cpu)
                times["render"].append(rendered - stepped)
            ended = result.done.nonzero().reshape(-1)
            if len(ended):
                world.reset(*_random_episodes(world, len(ended), rng), egos=ended)
    return times


@benchmark("replay_render")
def replay_render_benchmark(quick: bool) -> dict:
    from traffic_mpc.benchmarks.sim import _traffic
    from traffic_mpc.sim.render import EgoViewRenderer, ViewSpec
    from traffic_mpc.sim.world import ReplayWorld

    minutes = 1.0 if quick else 5.0
    steps = 30 if quick else 200
    _keep_freed_memory()
    log, road = _traffic(minutes)
    world = ReplayWorld(log, road)
    renderer = EgoViewRenderer(road, ViewSpec())
    with torch_threads(1):
        one = _time_steps(world, renderer, steps, np.random.default_rng(0))
    with torch_threads(2):
        two = _time_steps(world, renderer, steps, np.random.default_rng(0))

    def rate(times: dict) -> int:
        return round(_BATCH / statistics.median(times["wall"]))

    def cpu_ms(seconds: list) -> float:
        return round(statistics.median(seconds) * 1e3, 2)

    return {
        "ego-steps/s": Figure(rate(two), "ego-steps/s", target=10_000),
        "ego-steps/s, 1 thread": Figure(rate(one), "ego-steps/s"),
        "CPU ms per step: world": Figure(cpu_ms(one["world"]), "ms", higher_is_better=False),
        "CPU ms per step: render": Figure(cpu_ms(one["render"]), "ms",
                                          higher_is_better=False),
        "traffic": f"synth, {minutes:g} min, {log.n_vehicles} vehicles, "
                   f"{world.traffic.n_slots} slots",
        "batch": _BATCH,
        "steps timed": steps,
    }

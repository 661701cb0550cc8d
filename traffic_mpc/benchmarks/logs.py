"""Benchmarks of the logs layer: the built-in dense-traffic generator.

``synth`` generates default traffic on ``envs/synth.toml`` (``traffic_mpc.logs.synth``): 15
minutes of recording (plus the default warm-up) with the target of 60 s on one core, or 1
minute with ``quick``, reported per simulated minute (warm-up included) without a target.
The generator is numpy element-wise work on arrays of a few hundred vehicles, which numpy
runs on one thread. The key statistics of the generated recording come with the timing, so
that a faster generator that changed the traffic would show it.
"""

from __future__ import annotations

import time

from traffic_mpc.benchmarks import Figure, benchmark


@benchmark("synth")
def synth_benchmark(quick: bool) -> dict:
    from traffic_mpc.logs.stats import calibration_check, log_statistics
    from traffic_mpc.logs.synth import SynthConfig, generate
    from traffic_mpc.road import ROADS_DIR, Road

    road = Road.load(ROADS_DIR / "synth.toml")
    minutes = 1.0 if quick else 15.0
    config = SynthConfig(duration=60.0 * minutes)
    simulated_minutes = (config.warm_up + config.duration) / 60.0
    start = time.perf_counter()
    log = generate(road, config, seed=0)
    seconds = time.perf_counter() - start
    stats = log_statistics(log, road)
    per_minute = Figure(value=round(seconds / simulated_minutes, 3), unit="s/sim-min")
    figures: dict = {}
    if quick:
        figures["generate s per simulated minute"] = per_minute
    else:
        figures["generate 15 min traffic"] = Figure(
            value=round(seconds, 2), unit="s", target=60.0, higher_is_better=False
        )
        figures["generate s per simulated minute"] = per_minute
    figures.update({
        "simulated minutes (with warm-up)": round(simulated_minutes, 2),
        "rows": stats["rows"],
        "vehicles": stats["vehicles"],
        "vehicles in section (mean)": stats["vehicles_in_section"]["mean"],
        "mean speed m/s": stats["speed_m_s"]["mean"],
        "speed std m/s": stats["speed_m_s"]["std"],
        "lane changes": stats["lane_changes"]["total"],
        "merges": stats["lane_changes"]["merges"],
        "overlaps (pair-frames)": stats["overlaps"]["pair_frames"],
        "reversing rows": stats["reversing"]["rows"],
        "calibration targets met": all(calibration_check(stats).values()),
    })
    return figures

"""Evaluation benchmark: the IDM agent over every test episode of a generated dataset.

The dataset is the issue's: three recordings of 15 minutes of the generator's default
traffic (like I-80's three periods; ``quick``: three of 3 minutes), extracted with the
default settings but tiny ego views (the evaluator reads only the episode list, and the
views would make the one-time extraction much longer). Logs and dataset are cached under
``$TRAFFIC_MPC_CACHE/bench`` (default ``~/.cache/traffic_mpc/bench``), keyed by the
generator's version, the road file and the package version; the first run generates and
extracts them (several minutes), which is not timed.

Timed: :func:`traffic_mpc.evaluate.evaluate` end to end (reading and checking the logs,
building the worlds, driving every test episode, writing nothing), replay traffic, on the
CPU with the evaluator's default of one torch thread. Target: under 5 minutes on 2 CPU
cores (the reference needs ~3 h sequentially, ~20 min with 10 processes and a GPU).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import traffic_mpc
from traffic_mpc.benchmarks import Figure, benchmark

RECORDINGS = 3


def generated_dataset(root: Path, minutes: float, *, recordings: int = RECORDINGS,
                      seed: int = 0, settings: list[str] | tuple = (),
                      workers: int | None = None, progress: bool = False) -> Path:
    """``root/dataset``, extracted from ``recordings`` x ``minutes`` of generated traffic in
    ``root/logs`` (generator ``settings`` as ``data synth --set``), each made if missing.
    Its ego views are tiny: a dataset made only for evaluation, whose episode list the
    evaluator reads, never its views."""
    from traffic_mpc.data.extract import extract_dataset
    from traffic_mpc.logs.synth import SynthConfig, synthesize
    from traffic_mpc.sim.render import ViewSpec

    logs, dataset = root / "logs", root / "dataset"
    if not (logs / "synth.json").is_file():
        synthesize(logs, minutes=minutes, seed=seed, recordings=recordings, progress=progress,
                   config=SynthConfig().with_settings(list(settings)))
    if not (dataset / "manifest.json").is_file():
        workers = workers or max(1, min(len(os.sched_getaffinity(0)), 8))
        extract_dataset(logs, dataset, workers=workers, seed=seed, progress=progress,
                        view_spec=ViewSpec(height=4, width=2, pixel_size=1.0,
                                           channels=("lanes",)))
    return dataset


def cache_dir() -> Path:
    root = os.environ.get("TRAFFIC_MPC_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "traffic_mpc"


def benchmark_dataset(minutes: float, progress: bool = False) -> Path:
    """The cached dataset of ``RECORDINGS`` x ``minutes`` of default generated traffic."""
    from traffic_mpc.logs.synth import GENERATOR_VERSION
    from traffic_mpc.road import ROADS_DIR

    # Keyed by everything the dataset depends on: generator version, road and package.
    road = hashlib.sha256((ROADS_DIR / "synth.toml").read_bytes()).hexdigest()[:12]
    root = cache_dir() / "bench" / (f"evaluate-{RECORDINGS}x{minutes:g}min-v{GENERATOR_VERSION}"
                                    f"-road{road}-{traffic_mpc.__version__}")
    return generated_dataset(root, minutes, progress=progress)


@benchmark("evaluate")
def evaluate_benchmark(quick: bool) -> dict:
    from traffic_mpc.evaluate import evaluate

    minutes = 3.0 if quick else 15.0
    dataset = benchmark_dataset(minutes)
    start = time.perf_counter()
    summary = evaluate("idm", dataset, progress=False)
    seconds = time.perf_counter() - start
    episodes = summary["episodes"]["total"]
    steps = summary["timing"]["control_steps"]
    return {
        "dataset": f"{RECORDINGS} x {minutes:g} min default traffic",
        "test episodes": episodes,
        "IDM, all test episodes": Figure(round(seconds, 2), "s", target=300.0,
                                         higher_is_better=False),
        "episodes/s": Figure(round(episodes / seconds, 2), "episodes/s"),
        "controlled ego-steps/s": Figure(round(steps / seconds, 1), "steps/s"),
        "IDM success": Figure(round(summary["metrics"]["success"]["value"], 4), "1"),
    }

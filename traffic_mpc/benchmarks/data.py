"""Benchmarks of the data layer: extraction time and training-window throughput.

``extract``: 15 minutes of default generated traffic (the size of one I-80 period; quick: 1
minute) extracted with 2 worker processes at the default view (117 x 24, 4 channels).
Generating the traffic is not timed; reading the NGSIM text, replaying, rendering, writing
and the manifest (splits, statistics) are.

``loader``: :class:`~traffic_mpc.data.EpisodeWindows` windows of 20 context + 30 future
frames, batch 64, shuffled, from the memory-mapped dataset the ``extract`` benchmark wrote
(or, run alone, from 2 minutes of extracted traffic; quick: 1), two ways: ``stream`` (2
threads filling reused buffers) and ``loader`` (a DataLoader with 2 worker processes),
each with views as float32 in [0, 1] and as uint8 (to convert on the accelerator with
``to_device``). Timed from the second batch on (start-up excluded).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

import torch

from traffic_mpc.benchmarks import Figure, benchmark

_WORKDIR: Path | None = None
_DATASETS: dict[str, Path] = {}


def _workdir() -> Path:
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = Path(tempfile.mkdtemp(prefix="traffic-mpc-bench-data-"))
        atexit.register(shutil.rmtree, _WORKDIR, True)
    return _WORKDIR


def _traffic(minutes: float) -> Path:
    from traffic_mpc.logs.synth import synthesize

    folder = _workdir() / f"logs-{minutes:g}min"
    if not folder.exists():
        synthesize(folder, minutes=minutes, seed=0, recordings=1, progress=False)
    return folder


@benchmark("extract")
def bench_extract(quick: bool) -> dict:
    from traffic_mpc.data import dataset_summary, extract_dataset

    minutes = 1.0 if quick else 15.0
    logs = _traffic(minutes)
    out = _workdir() / f"dataset-{minutes:g}min"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    extract_dataset(logs, out, workers=2, progress=False)
    seconds = time.perf_counter() - start
    _DATASETS["latest"] = out
    summary = dataset_summary(out)
    return {
        f"seconds_{minutes:g}min_2_workers": Figure(round(seconds, 1), "s",
                                                    target=180.0 if not quick else None,
                                                    higher_is_better=False),
        "transitions": summary["transitions"],
        "episodes": summary["episodes"],
        "transitions_per_s": round(summary["transitions"] / seconds),
        "bytes_per_transition": round(summary["bytes_per_transition"]),
        "dataset_mb": round(summary["bytes"] / 1e6),
    }


def _measure(batches_of, batches: int) -> float:
    """Windows per second over ``batches`` batches, from the second batch on."""
    iterator = iter(batches_of)
    next(iterator)  # workers or threads started and warm
    start = time.perf_counter()
    count = 0
    for _ in range(batches):
        batch = next(iterator)
        count += batch["actions"].shape[0]
    seconds = time.perf_counter() - start
    del iterator
    return count / seconds


@benchmark("loader")
def bench_loader(quick: bool) -> dict:
    from traffic_mpc.data import EpisodeWindows, extract_dataset

    dataset = _DATASETS.get("latest")
    if dataset is None:
        minutes = 1.0 if quick else 2.0
        dataset = _workdir() / f"dataset-loader-{minutes:g}min"
        if not (dataset / "manifest.json").exists():
            extract_dataset(_traffic(minutes), dataset, workers=2, progress=False)
    batches = 20 if quick else 100
    figures: dict = {}
    for dtype, name in ((torch.float32, "float32"), (torch.uint8, "uint8_views")):
        windows = EpisodeWindows(dataset, split="train", ncond=20, npred=30, seed=0,
                                 view_dtype=dtype)
        rates = {
            "stream_2_threads": _measure(windows.stream(batch_size=64, threads=2), batches),
            "dataloader_2_workers": _measure(windows.loader(batch_size=64, workers=2),
                                             batches),
        }
        for how, rate in rates.items():
            figures[f"windows_per_s_{how}_{name}"] = Figure(round(rate), "windows/s",
                                                            target=2000.0)
    figures.update({
        "batch": 64,
        "frames": "20 context + 30 future",
        "windows_in_split": len(windows),
    })
    return figures

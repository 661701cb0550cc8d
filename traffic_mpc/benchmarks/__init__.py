"""Performance benchmarks: ``traffic-mpc bench`` runs them and writes their results as JSON.

A benchmark is a function registered with :func:`benchmark`; it takes ``quick`` (a small
size for smoke runs) and returns a flat dict of measured figures. Each figure that has a
target in an issue is reported next to it as ``{"value": ..., "target": ..., "unit": ...}``
so the table shows at a glance whether the target is met. Benchmarks live in the modules
of this package, one per layer (``logs``, ``sim``, ...); importing the package registers them.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from traffic_mpc import atomic
from traffic_mpc.errors import InputError

_REGISTRY: dict[str, Callable[[bool], dict]] = {}

#: Modules of this package that hold benchmarks, lowest layer first.
BENCHMARK_MODULES = ("logs", "sim", "render", "replay_render", "data", "evaluate", "viewer")


@dataclass(frozen=True)
class Figure:
    """A measured figure with its unit and, where an issue names one, its target."""

    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def as_json(self) -> dict:
        return {
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "meets_target": self.meets_target,
        }


def benchmark(name: str):
    """Register ``function(quick: bool) -> dict[str, Figure | float | str]`` under ``name``."""

    def register(function):
        _REGISTRY[name] = function
        return function

    return register


def registered() -> dict[str, Callable[[bool], dict]]:
    for module in BENCHMARK_MODULES:
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{module}":
                raise
    return dict(_REGISTRY)


def run(names: list[str] | None = None, quick: bool = False, progress=print) -> dict:
    """Run the selected benchmarks (all by default); returns the JSON-ready results."""
    available = registered()
    selected = names or list(available)
    unknown = [name for name in selected if name not in available]
    if unknown:
        raise InputError("--only", f"unknown benchmark(s) {unknown}; known: {sorted(available)}")
    results = {}
    for name in selected:
        progress(f"running {name} ...")
        start = time.perf_counter()
        figures = available[name](quick)
        results[name] = {
            key: value.as_json() if isinstance(value, Figure) else value
            for key, value in figures.items()
        }
        results[name]["wall_s"] = round(time.perf_counter() - start, 2)
    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch_threads": _torch_threads(),
        },
        "quick": quick,
        "results": results,
    }


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def format_table(report: dict) -> str:
    lines = [f"{'benchmark':<22} {'figure':<34} {'value':>14} {'target':>12}  ok"]
    for name, figures in report["results"].items():
        for key, value in figures.items():
            if isinstance(value, dict):
                target = "" if value["target"] is None else f"{value['target']:g}"
                ok = {True: "yes", False: "NO", None: ""}[value["meets_target"]]
                shown = f"{value['value']:.4g} {value['unit']}"
                lines.append(f"{name:<22} {key:<34} {shown:>14} {target:>12}  {ok}")
            else:
                lines.append(f"{name:<22} {key:<34} {value!s:>14}")
    return "\n".join(lines)


def write_json(report: dict, path: str | Path) -> None:
    atomic.write_text(path, json.dumps(report, indent=2) + "\n")

"""Writing an evaluation: per-episode CSV, summary JSON, markdown, TensorBoard.

An evaluation folder holds::

    episodes.csv     one row per episode (columns: metrics.EPISODE_COLUMNS, units in the
                     summary); booleans as true/false, missing values empty
    summary.json     agent, dataset checksum, split, traffic, seed, code version, every
                     aggregate with its 95 % interval, timing (the only part that varies
                     between identical runs), videos
    summary.md       the aggregates as a markdown table
    tensorboard/     the aggregates as scalars, the table as text, histograms of distance
                     and outcome

Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from traffic_mpc import atomic
from traffic_mpc.evaluate import metrics as M

#: Format of ``summary.json`` (bumped when its meaning changes).
SUMMARY_FORMAT = "traffic_mpc.evaluation"
SUMMARY_VERSION = 1
EPISODES_FILE = "episodes.csv"
SUMMARY_FILE = "summary.json"
MARKDOWN_FILE = "summary.md"
TENSORBOARD_DIR = "tensorboard"


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f"{value:.6g}"
    return str(value)


def episodes_csv(rows: list[dict]) -> str:
    """The rows as CSV text with the columns of :data:`metrics.EPISODE_COLUMNS`."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(list(M.EPISODE_COLUMNS))
    for row in rows:
        writer.writerow([_cell(row[name]) for name in M.EPISODE_COLUMNS])
    return stream.getvalue()


def read_episodes_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of an ``episodes.csv`` as dicts of strings."""
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def format_value(estimate: dict, percent: bool | None = None) -> str:
    """``value [low, high]`` of a summary metric; proportions in percent."""
    if estimate is None or estimate.get("value") is None:
        return "–"
    percent = estimate["kind"] == "proportion" if percent is None else percent
    if percent:
        scale, digits = 100.0, (1 if estimate["kind"] == "proportion" else 2)
    else:
        scale, digits = 1.0, (3 if abs(estimate["value"]) < 1 else 1)
    value = estimate["value"] * scale
    low, high = estimate.get("ci_low"), estimate.get("ci_high")
    if low is None or high is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low * scale:.{digits}f}, {high * scale:.{digits}f}]"


def summary_markdown(summary: dict) -> str:
    """The summary as a short markdown document: the run, then one row per metric."""
    dataset = summary["dataset"]
    episodes = summary["episodes"]
    lines = [
        f"# Evaluation of `{summary['agent']}`",
        "",
        f"- dataset `{dataset['name']}` (manifest SHA-256 `{dataset['manifest_sha256'][:12]}`, "
        f"{dataset['minutes']:g} min of `{dataset['road']}` traffic), split "
        f"{summary['split_kind']}/{summary['split']}, {summary['traffic']} traffic, "
        f"seed {summary['seed']}",
        f"- episodes: {episodes['total']} run, {episodes['scored']} scored "
        f"({episodes['not_scored']} not scored: logged vehicle does not reach the end)",
        "- outcomes (scored): "
        + ", ".join(f"{name} {count}" for name, count in summary["outcomes"].items()),
    ]
    timing = summary.get("timing")
    if timing:
        lines.append(f"- wall time {timing['wall_s']:.1f} s "
                     f"({timing['episodes_per_s']:.1f} episodes/s, {timing['device']}, "
                     f"{timing['torch_threads']} thread(s))")
    lines += ["", "| metric | value [95 % CI] | unit | n |", "|---|---|---|---|"]
    for name, estimate in summary["metrics"].items():
        unit = "%" if estimate["kind"] == "proportion" else estimate["unit"]
        lines.append(f"| {name} | {format_value(estimate)} | {unit} | {estimate['n']} |")
    return "\n".join(lines) + "\n"


def write_summary(out: str | Path, summary: dict) -> None:
    out = Path(out)
    atomic.write_text(out / SUMMARY_FILE, json.dumps(summary, indent=1) + "\n")
    atomic.write_text(out / MARKDOWN_FILE, summary_markdown(summary))


def write_tensorboard(folder: str | Path, summary: dict, rows: list[dict]) -> None:
    """Aggregates as scalars (``evaluate/NAME``), the markdown as text, histograms."""
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    try:
        for name, estimate in summary["metrics"].items():
            if estimate["value"] is not None:
                writer.add_scalar(f"evaluate/{name}", estimate["value"], 0)
        writer.add_text("evaluate/summary", summary_markdown(summary), 0)
        distances = np.array([row["distance"] for row in rows if row["scored"]], dtype=float)
        distances = distances[np.isfinite(distances)]
        if len(distances):
            writer.add_histogram("evaluate/distance", distances, 0)
    finally:
        writer.close()


def write_outputs(out: str | Path, rows: list[dict], summary: dict) -> None:
    """``episodes.csv``, ``summary.json``, ``summary.md`` and ``tensorboard/`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / EPISODES_FILE, episodes_csv(rows))
    write_summary(out, summary)
    write_tensorboard(out / TENSORBOARD_DIR, summary, rows)

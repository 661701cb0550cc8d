"""``experiments/RESULTS.md``: the results table, regenerated from evaluation summaries.

Never typed by hand: :func:`write_results_table` reads every ``summary.json`` under the
given paths (files or folders, searched recursively) and writes one markdown document:

1. per dataset (by manifest checksum) and split, one table: rows = agents, columns =
   success, success ignoring rear-end hits, collisions, off-road, mean distance and
   comfort (share of steps beyond the nuPlan bounds), each for replay and reactive traffic
   side by side. A cell is ``value [95 % interval]`` of one run; with runs of several
   seeds it is the mean over seeds ``± std`` and the number of seeds;
2. the calibration against I-80 (REFERENCE.md): no-action, expert and IDM success and
   distance in replay traffic on each dataset, next to the published I-80 figures and the
   target band for no-action;
3. the runs themselves: agent, traffic, seed, episodes, wall time, episodes/s, code version.

Runs of the same dataset, split, agent, traffic and seed are duplicates: the first by path
is used and the others are listed as skipped.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from traffic_mpc import atomic
from traffic_mpc.errors import InputError
from traffic_mpc.evaluate.report import SUMMARY_FILE, SUMMARY_FORMAT, format_value

DEFAULT_OUT = Path("experiments") / "RESULTS.md"
#: The published I-80 figures the default benchmark is calibrated against (REFERENCE.md).
I80_REFERENCE = {
    "no-action": {"success": 0.162, "distance": 87.3},
    "expert": {"success": 1.0, "distance": 209.4},
}
#: The band no-action success must fall in for the generated benchmark to be as hard as
#: I-80 (the calibration issue).
NO_ACTION_BAND = (0.10, 0.25)
#: Columns of the main table: (title, metric, shown in percent).
COLUMNS = (
    ("Success (%)", "success", True),
    ("Success ignoring rear-end (%)", "success_ignoring_rear_end", True),
    ("Collisions (%)", "collision", True),
    ("Off-road (%)", "off_road", True),
    ("Mean distance (m)", "distance", False),
    ("Beyond comfort bounds (% of steps)", "beyond_comfort", True),
)
TRAFFIC_MODES = ("replay", "reactive")
#: Baselines first, in this order; other agents alphabetically after them.
AGENT_ORDER = ("expert", "no-action", "idm")


def find_summaries(paths) -> list[Path]:
    """Every ``summary.json`` that ``paths`` (files or folders) stand for, sorted."""
    if isinstance(paths, str | Path):
        paths = [paths]
    found: set[Path] = set()
    for path in map(Path, paths):
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            found.update(path.rglob(SUMMARY_FILE))
        else:
            raise InputError(path, "no such summary file or folder")
    return sorted(found)


def load_summary(path: str | Path) -> dict:
    path = Path(path)
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(path, f"not valid JSON: {error}") from None
    if not isinstance(summary, dict) or summary.get("format") != SUMMARY_FORMAT:
        raise InputError(path, f"not an evaluation summary (format {SUMMARY_FORMAT!r})",
                         field="format")
    summary["_path"] = str(path)
    return summary


def _agent_key(agent: str) -> tuple:
    return (AGENT_ORDER.index(agent), "") if agent in AGENT_ORDER else (len(AGENT_ORDER), agent)


def _seed_cell(runs: list[dict], metric: str, percent: bool) -> str:
    """One run: value [CI]; several seeds: mean ± std (n seeds)."""
    estimates = [run["metrics"].get(metric) for run in runs]
    estimates = [e for e in estimates if e is not None and e.get("value") is not None]
    if not estimates:
        return "–"
    if len(estimates) == 1:
        return format_value(estimates[0], percent)
    scale = 100.0 if percent else 1.0
    values = [e["value"] * scale for e in estimates]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    digits = 1
    return f"{mean:.{digits}f} ± {std:.{digits}f} ({len(values)} seeds)"


def _dataset_title(summary: dict) -> str:
    dataset = summary["dataset"]
    parts = [f"`{_shown_path(dataset['path'])}`", f"road `{dataset['road']}`",
             f"{len(dataset['recordings'])} recording(s), {dataset['minutes']:g} min"]
    generator = dataset.get("generator")
    if dataset.get("valid_x"):
        parts.append("control region x = {:g}–{:g} m".format(*dataset["valid_x"]))
    if generator:
        parts.append(f"generated, demand {generator.get('demand'):g} veh/h/lane")
        if generator.get("bottleneck_time_headway_factor") is not None:
            parts.append(f"bottleneck headway factor "
                         f"{generator['bottleneck_time_headway_factor']:g}")
    parts.append(f"manifest `{dataset['manifest_sha256'][:12]}`")
    return ", ".join(parts)


def results_markdown(summaries: list[dict], command: str | None = None) -> str:
    """The whole RESULTS.md text for ``summaries`` (see the module docstring)."""
    groups: dict[tuple, dict[tuple, list[dict]]] = defaultdict(lambda: defaultdict(list))
    skipped = []
    seen = set()
    for summary in sorted(summaries, key=lambda s: s["_path"]):
        dataset = summary["dataset"]["manifest_sha256"]
        key = (dataset, summary["split_kind"], summary["split"])
        run_key = (key, summary["agent"], summary["traffic"], summary["seed"],
                   summary["protocol"].get("max_episodes"))
        if run_key in seen:
            skipped.append(summary["_path"])
            continue
        seen.add(run_key)
        groups[key][(summary["agent"], summary["traffic"])].append(summary)

    command = command or "traffic-mpc evaluate table RUNS... --out experiments/RESULTS.md"
    lines = [
        "# Results",
        "",
        f"Generated by `{command}` from {len(summaries)} evaluation summaries; do not edit "
        "by hand. Proportions in % of the scored test episodes (those whose logged vehicle "
        "reaches the end of the valid region), with 95 % Wilson intervals; means with 95 % "
        "normal intervals; several seeds: mean ± std over seeds. Protocol and metric "
        "definitions: `traffic_mpc/evaluate/evaluator.py` and `metrics.py`.",
    ]
    for key in sorted(groups, key=lambda k: (min(r[0]["_path"] for r in groups[k].values()))):
        runs = groups[key]
        first = next(iter(runs.values()))[0]
        episodes = first["episodes"]
        partial = first["protocol"].get("max_episodes")
        lines += [
            "",
            f"## {_dataset_title(first)}",
            "",
            f"Split {key[1]}/{key[2]}: {episodes['total']} episodes, {episodes['scored']} "
            "scored" + (f" (first {partial} episodes only)" if partial else "") + ".",
            "",
        ]
        header = ["Agent"]
        for title, _, _ in COLUMNS:
            header += [f"{title} replay", f"{title} reactive"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        agents = sorted({agent for agent, _ in runs}, key=_agent_key)
        for agent in agents:
            cells = [f"`{agent}`"]
            for _, metric, percent in COLUMNS:
                for traffic in TRAFFIC_MODES:
                    cells.append(_seed_cell(runs.get((agent, traffic), []), metric, percent))
            lines.append("| " + " | ".join(cells) + " |")

    lines += _calibration(groups)
    lines += _runs(groups, skipped)
    return "\n".join(lines) + "\n"


def _calibration(groups) -> list[str]:
    lines = [
        "",
        "## Calibration against I-80",
        "",
        "The generated benchmark should be as hard as the real one: on the I-80 test set "
        "(REFERENCE.md) the no-action agent succeeds 16.2 % of the time and the human driver "
        f"100 %; no-action on a generated dataset should fall within "
        f"{NO_ACTION_BAND[0] * 100:g}–{NO_ACTION_BAND[1] * 100:g} %. Replay traffic. The "
        "generated road controls egos over the same stretch as the reference's I-80 map "
        "(its `[valid]` region), so that episodes are as long as there; the generator's "
        "demand sets the inflow and its bottleneck headway factor the capacity of the "
        "restriction downstream, which decides how dense the congested queue is.",
        "",
        "| Dataset | Demand (veh/h/lane) | Bottleneck headway factor | Scored episodes | "
        "No-action success (%) | No-action distance (m) | Expert success (%) | "
        "Expert distance (m) | IDM success (%) | IDM distance (m) | Expert mean speed (m/s) | "
        "No-action in band |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| I-80 (published) | – | – | 561 | "
        f"{I80_REFERENCE['no-action']['success'] * 100:.1f} | "
        f"{I80_REFERENCE['no-action']['distance']:.1f} | "
        f"{I80_REFERENCE['expert']['success'] * 100:.1f} | "
        f"{I80_REFERENCE['expert']['distance']:.1f} | – | – | ~6 | yes |",
    ]
    def settings(runs) -> tuple:
        first = next(iter(runs.values()))[0]["dataset"]
        generator = first.get("generator") or {}
        demand = generator.get("demand")
        factor = generator.get("bottleneck_time_headway_factor") or 0.0
        return (demand is None, demand or 0.0, factor, first["path"])

    for runs in sorted(groups.values(), key=settings):
        replay = {agent: items[0] for (agent, traffic), items in runs.items()
                  if traffic == "replay"}
        if "no-action" not in replay and "expert" not in replay:
            continue
        first = next(iter(replay.values()))
        generator = first["dataset"].get("generator") or {}
        demand = generator.get("demand")
        factor = generator.get("bottleneck_time_headway_factor")

        def cell(agent: str, metric: str, replay=replay) -> str:
            run = replay.get(agent)
            return format_value(run["metrics"][metric]) if run else "–"

        verdict = "–"
        if "no-action" in replay:
            value = replay["no-action"]["metrics"]["success"]["value"]
            verdict = "yes" if NO_ACTION_BAND[0] <= value <= NO_ACTION_BAND[1] else "**no**"
        expert_speed = (format_value(replay["expert"]["metrics"]["mean_speed"])
                        if "expert" in replay else "–")
        lines.append(
            f"| `{_shown_path(first['dataset']['path'])}` ({first['dataset']['minutes']:g} min) | "
            f"{'–' if demand is None else f'{demand:g}'} | "
            f"{'–' if factor is None else f'{factor:g}'} | {first['episodes']['scored']} | "
            f"{cell('no-action', 'success')} | {cell('no-action', 'distance')} | "
            f"{cell('expert', 'success')} | {cell('expert', 'distance')} | "
            f"{cell('idm', 'success')} | {cell('idm', 'distance')} | {expert_speed} | "
            f"{verdict} |")
        expert = replay.get("expert")
        if expert and expert.get("failures"):
            failures = ", ".join(f"episode {f['episode']} ({f['outcome']})"
                                 for f in expert["failures"][:20])
            lines.append(f"|   expert exceptions: {failures} |" + " |" * 11)
    return lines


def _runs(groups, skipped: list[str]) -> list[str]:
    lines = [
        "",
        "## Runs",
        "",
        "| Dataset | Agent | Traffic | Seed | Episodes | Wall time (s) | Episodes/s | "
        "Threads / CPUs | Code | Summary |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for runs in groups.values():
        for (agent, traffic), items in sorted(runs.items(), key=lambda i: (_agent_key(i[0][0]),
                                                                          i[0][1])):
            for run in items:
                timing = run.get("timing") or {}
                code = run.get("code_version") or {}
                commit = (code.get("git_commit") or "")[:10]
                dirty = "+dirty" if code.get("git_dirty") else ""
                lines.append(
                    f"| `{_shown_path(run['dataset']['path'])}` | `{agent}` | {traffic} | "
                    f"{run['seed']} | "
                    f"{run['episodes']['total']} | {timing.get('wall_s', '–')} | "
                    f"{timing.get('episodes_per_s', '–')} | "
                    f"{timing.get('torch_threads', '–')} / {timing.get('cpus', '–')} | "
                    f"{code.get('traffic_mpc', '')} {commit}{dirty} | "
                    f"`{_shown_path(run['_path'])}` |")
    if skipped:
        lines += ["", "Skipped duplicates: " + ", ".join(f"`{_shown_path(path)}`"
                                                       for path in skipped)]
    return lines


def _shown_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write_results_table(paths, out: str | Path = DEFAULT_OUT, command: str | None = None
                        ) -> Path:
    """Regenerate ``out`` (default ``experiments/RESULTS.md``) from the summaries under
    ``paths`` (``summary.json`` files or folders holding them)."""
    summaries = [load_summary(path) for path in find_summaries(paths)]
    if not summaries:
        raise InputError(", ".join(map(str, [paths] if isinstance(paths, str | Path)
                                       else paths)), "holds no summary.json")
    return atomic.write_text(out, results_markdown(summaries, command))

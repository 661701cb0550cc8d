"""Calibrate the generated benchmark against I-80 and regenerate experiments/RESULTS.md.

For each generator setting below: three 15-minute recordings (like I-80's three periods,
``data synth --recordings 3``), a dataset extracted from them (tiny ego views: the evaluator
reads only the episode list), and evaluations of the baselines on its test split, whose
summaries are written to ``experiments/runs/calibration/SETTING/AGENT-TRAFFIC/``. Then
``experiments/RESULTS.md`` is regenerated from every summary under ``experiments/runs``.

Logs and datasets go to ``datasets/calibration/SETTING/`` (not committed); every step is
skipped when its output exists, so an interrupted run resumes. Run from the repository
root::

    python experiments/calibrate.py                 # every setting (about an hour on 2 cores)
    python experiments/calibrate.py --only default  # one setting
    python experiments/calibrate.py --table         # only regenerate RESULTS.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: Generator settings (``data synth --set`` values) and the runs made on each. The default
#: is the benchmark; the others show how the no-action success depends on the setting.
SETTINGS: dict[str, dict] = {
    "default": {"set": [], "runs": [(agent, traffic) for traffic in ("replay", "reactive")
                                    for agent in ("no-action", "expert", "idm")]},
    "bottleneck-1.25": {"set": ["bottleneck_time_headway_factor=1.25"],
                        "runs": [("no-action", "replay"), ("expert", "replay")]},
    "bottleneck-1.35": {"set": ["bottleneck_time_headway_factor=1.35"],
                        "runs": [("no-action", "replay"), ("expert", "replay")]},
    "bottleneck-1.4": {"set": ["bottleneck_time_headway_factor=1.4"],
                       "runs": [("no-action", "replay"), ("expert", "replay")]},
}
MINUTES = 15.0
RECORDINGS = 3
SEED = 0
DATA = Path("datasets") / "calibration"
RUNS = Path("experiments") / "runs"
TABLE_COMMAND = "python experiments/calibrate.py --table"


def build_dataset(name: str, settings: list[str], workers: int) -> Path:
    """The logs and dataset of one setting, made if missing."""
    from traffic_mpc.benchmarks.evaluate import generated_dataset

    return generated_dataset(DATA / name, MINUTES, recordings=RECORDINGS, seed=SEED,
                             settings=settings, workers=workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(SETTINGS),
                        help="settings to run (default: all); repeatable")
    parser.add_argument("--workers", type=int, default=2, help="extraction processes")
    parser.add_argument("--table", action="store_true", help="only regenerate RESULTS.md")
    args = parser.parse_args(argv)

    from traffic_mpc.evaluate import evaluate
    from traffic_mpc.evaluate.results_table import write_results_table

    if not args.table:
        for name in args.only or list(SETTINGS):
            setting = SETTINGS[name]
            dataset = build_dataset(name, setting["set"], args.workers)
            for agent, traffic in setting["runs"]:
                out = RUNS / "calibration" / name / f"{agent}-{traffic}"
                if (out / "summary.json").is_file():
                    continue
                summary = evaluate(agent, dataset, traffic=traffic, seed=SEED, out=out)
                success = summary["metrics"]["success"]["value"]
                print(f"{name}: {agent} in {traffic} traffic: success {success:.1%}",
                      file=sys.stderr)
    write_results_table([RUNS], command=TABLE_COMMAND)
    return 0


if __name__ == "__main__":
    sys.exit(main())

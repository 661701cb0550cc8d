"""Command-line entry points of the evaluation, ready for ``traffic_mpc.cli`` to wire:

- ``traffic-mpc evaluate --agent SPEC --dataset D --split test --out DIR
  [--traffic {replay,reactive}] [--seed S] [--videos K]`` -> :func:`cmd_evaluate`
  (extra options, all optional: :func:`add_evaluate_options`);
- ``traffic-mpc evaluate table RUNS... [--out experiments/RESULTS.md]`` ->
  :func:`cmd_table` (options: :func:`add_table_arguments`).

Both take the parsed ``argparse.Namespace`` and return the exit status; bad input raises
:class:`~traffic_mpc.errors.InputError` (the command line prints it as one line).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from traffic_mpc.evaluate.results_table import DEFAULT_OUT


def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``evaluate`` beyond the DESIGN.md contract (all optional)."""
    parser.add_argument("--split-kind", choices=("random", "recording"), default="random",
                        help="split made at random by vehicle (as the reference) or held out "
                             "by recording")
    parser.add_argument("--logs", default=None,
                        help="folder of the dataset's source logs, if not where its manifest "
                             "says")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="egos driven together per recording (default 1024)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``traffic-mpc evaluate``: run the evaluation, print the summary table."""
    from traffic_mpc.evaluate.evaluator import DEFAULT_BATCH_SIZE, evaluate
    from traffic_mpc.evaluate.report import summary_markdown

    summary = evaluate(
        args.agent,
        args.dataset,
        split=args.split,
        split_kind=getattr(args, "split_kind", "random"),
        traffic=args.traffic,
        seed=args.seed,
        out=args.out,
        videos=args.videos,
        progress=not getattr(args, "quiet", False),
        device=getattr(args, "device", "cpu"),
        batch_size=getattr(args, "batch_size", None) or DEFAULT_BATCH_SIZE,
        logs=getattr(args, "logs", None),
    )
    print(summary_markdown(summary))
    print(f"wrote {Path(args.out) / 'summary.json'}, episodes.csv, summary.md, tensorboard/"
          + (", videos/" if args.videos else ""))
    return 0


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+",
                        help="evaluation folders or summary.json files (searched recursively)")
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help=f"markdown file to (re)write (default {DEFAULT_OUT})")


def cmd_table(args: argparse.Namespace) -> int:
    """``traffic-mpc evaluate table``: regenerate the results table from summaries."""
    from traffic_mpc.evaluate.results_table import write_results_table

    runs = " ".join(str(run) for run in args.runs)
    command = f"traffic-mpc evaluate table {runs} --out {args.out}"
    path = write_results_table(args.runs, args.out, command=command)
    print(f"wrote {path}")
    return 0

"""The ``traffic-mpc`` command: ``traffic-mpc <group> <command> [options]``.

Every command has ``--help``; on failure it exits non-zero with a one-line reason.
The commands and option names here are the contract of DESIGN.md ("The command line").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from traffic_mpc.errors import InputError

DEFAULT_DATA = Path("datasets") / "synth-default"


class NotYetAvailable(RuntimeError):
    """A command of the contract whose implementation has not landed yet."""


def _not_yet(what: str, issue: str):
    def command(args: argparse.Namespace) -> int:
        raise NotYetAvailable(f"'{what}' is not available yet: it arrives with the {issue} work")

    return command


# ---------------------------------------------------------------------------- data
def cmd_data_synth(args: argparse.Namespace) -> int:
    from traffic_mpc.logs.synth import SynthConfig, synthesize

    written = synthesize(
        args.out,
        minutes=args.minutes,
        seed=args.seed,
        recordings=args.recordings,
        road_path=args.road,
        demand=args.demand,
        progress=not args.quiet,
        config=SynthConfig().with_settings(args.set),
    )
    _print_info(written, site=None)
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from traffic_mpc.logs.importing import import_logs

    written = import_logs(args.src, args.format, args.out, site=args.site)
    for folder in written:
        print(f"wrote {folder}")
    return 0


def cmd_data_extract(args: argparse.Namespace) -> int:
    from traffic_mpc.data import dataset_summary, extract_dataset, format_summary

    out = extract_dataset(args.logs, args.out, workers=args.workers, seed=args.seed,
                          min_steps=args.min_steps, site=args.site, progress=True)
    print(format_summary(dataset_summary(out)))
    return 0


def cmd_data_info(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if (path / "manifest.json").is_file() or (path / "shards").is_dir():
        from traffic_mpc.data import dataset_summary, format_summary

        print(format_summary(dataset_summary(path)))
        return 0
    _print_info([path], site=args.site)
    return 0


def _print_info(paths: list[Path], site: str | None) -> None:
    from traffic_mpc.logs.sources import open_logs
    from traffic_mpc.logs.stats import format_statistics, log_statistics

    seen = set()
    for path in paths:
        for log, road in open_logs(path, site=site):
            if log.source in seen:
                continue
            seen.add(log.source)
            print(f"== {log.source or path} (site {road.name}) ==")
            print(format_statistics(log_statistics(log, road)))
            print()


# ------------------------------------------------------------------------ evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    missing = [f"--{name}" for name in ("agent", "dataset", "out") if getattr(args, name) is None]
    if missing:
        raise InputError("evaluate", f"missing {', '.join(missing)} "
                         "(or use 'evaluate table RUNS...')")
    from traffic_mpc.evaluate.commands import cmd_evaluate as evaluate_command

    return evaluate_command(args)


def cmd_evaluate_table(args: argparse.Namespace) -> int:
    from traffic_mpc.evaluate.commands import cmd_table

    return cmd_table(args)


# ---------------------------------------------------------------------------- view
def cmd_view(args: argparse.Namespace) -> int:
    if args.world_model is not None:
        raise NotYetAvailable("'view --world-model' arrives with the world-model work")
    from traffic_mpc.viewer import run_viewer

    return run_viewer(args.path, agent=args.agent, record=args.record, frames=args.frames,
                      seed=args.seed)


# ------------------------------------------------------------------------ demo/bench
def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the embedded default data (grows with the pipeline)."""
    from traffic_mpc.logs.synth import synthesize

    out = Path(args.out)
    minutes = 2.0 if args.quick else 15.0
    print(f"generating {minutes:g} minutes of default dense traffic into {out / 'logs'}")
    written = synthesize(out / "logs", minutes=minutes, seed=args.seed, recordings=1)
    _print_info(written, site=None)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from traffic_mpc import benchmarks

    report = benchmarks.run(args.only or None, quick=args.quick, progress=print)
    print(benchmarks.format_table(report))
    if args.json:
        benchmarks.write_json(report, args.json)
        print(f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="traffic-mpc",
        description="Learn to drive in dense highway traffic from logged trajectories.",
    )
    groups = parser.add_subparsers(dest="group", metavar="<group>", required=True)

    data = groups.add_parser("data", help="traffic logs and datasets").add_subparsers(
        dest="command", metavar="<command>", required=True
    )
    synth = data.add_parser("synth", help="generate dense traffic logs in NGSIM format")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--minutes", type=float, default=15.0, help="minutes per recording")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--recordings", type=int, default=1, help="independent periods")
    synth.add_argument("--road", default=None, help="road TOML (default envs/synth.toml)")
    synth.add_argument("--demand", type=float, default=None,
                       help="inflow [veh/h/lane] (default: calibrated dense demand)")
    synth.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="any numeric generator option (traffic_mpc.logs.synth.SynthConfig)"
                            ", e.g. --set bottleneck_time_headway_factor=1.3; repeatable")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(run=cmd_data_synth)

    importer = data.add_parser("import", help="validate and convert a real log")
    importer.add_argument("src", help="NGSIM .txt/.csv file, or highD XX_tracks.csv")
    importer.add_argument("--format", required=True, choices=("ngsim", "highd"))
    importer.add_argument("--out", required=True, help="output folder")
    importer.add_argument("--site", default=None,
                          help="site road for NGSIM (i80, us101, or a road TOML file)")
    importer.set_defaults(run=cmd_data_import)

    extract = data.add_parser("extract", help="replay logs and write training episodes")
    extract.add_argument("logs")
    extract.add_argument("--out", required=True)
    extract.add_argument("--workers", type=int, default=1, help="worker processes")
    extract.add_argument("--seed", type=int, default=0, help="seed of the splits")
    extract.add_argument("--min-steps", type=int, default=50,
                         help="shortest episode kept, in steps inside the valid region")
    extract.add_argument("--site", default=None, help="site road when no road.toml is beside")
    extract.set_defaults(run=cmd_data_extract)

    info = data.add_parser("info", help="what a log, a folder of logs or a dataset holds")
    info.add_argument("path")
    info.add_argument("--site", default=None, help="site road when no road.toml is beside")
    info.set_defaults(run=cmd_data_info)

    train = groups.add_parser("train", help="train world models and policies").add_subparsers(
        dest="command", metavar="<command>", required=True
    )
    for name, issue in (("world-model", "[world-model]"), ("policy", "[policy]")):
        command = train.add_parser(name, help=f"train a {name.replace('-', ' ')}")
        command.add_argument("--config", required=True)
        command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        command.add_argument("--out", default=None)
        command.add_argument("--resume", action="store_true")
        command.set_defaults(run=_not_yet(f"train {name}", issue))

    evaluate = groups.add_parser(
        "evaluate", help="evaluate an agent on held-out traffic",
        description="Evaluate an agent (--agent ...) on a dataset's split, or regenerate the "
                    "results table (evaluate table RUNS...).")
    evaluate.add_argument("--agent", help="no-action, expert, idm (later policy:CKPT, "
                                          "planner:NAME:CKPT)")
    evaluate.add_argument("--dataset", help="episode dataset (from data extract)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--out", help="output folder")
    evaluate.add_argument("--traffic", choices=("replay", "reactive"), default="replay")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--videos", type=int, default=0,
                          help="write videos of K failures and K successes")
    from traffic_mpc.evaluate.commands import add_evaluate_options, add_table_arguments

    add_evaluate_options(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)
    evaluate_commands = evaluate.add_subparsers(dest="evaluate_command", metavar="[table]")
    table = evaluate_commands.add_parser(
        "table", help="regenerate experiments/RESULTS.md from evaluation summaries")
    add_table_arguments(table)
    table.set_defaults(run=cmd_evaluate_table)
    world_model = evaluate_commands.add_parser("world-model", help="evaluate a world model")
    world_model.add_argument("--checkpoint", required=True)
    world_model.add_argument("--dataset", required=True)
    world_model.add_argument("--split", default="test")
    world_model.add_argument("--out", required=True)
    world_model.set_defaults(run=_not_yet("evaluate world-model", "[world-model]"))

    view = groups.add_parser("view", help="the pygame viewer")
    view.add_argument("path", nargs="?", default=None)
    view.add_argument("--agent", default=None)
    view.add_argument("--world-model", default=None)
    view.add_argument("--record", default=None)
    view.add_argument("--frames", type=int, default=None,
                      help="with --record: run headless for N frames, then exit")
    view.add_argument("--seed", type=int, default=0, help="seed of the default traffic")
    view.set_defaults(run=cmd_view)

    demo = groups.add_parser("demo", help="the whole pipeline on the embedded default data")
    demo.add_argument("--quick", action="store_true", help="a small run (minutes of traffic)")
    demo.add_argument("--out", default=str(DEFAULT_DATA))
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=cmd_demo)

    bench = groups.add_parser("bench", help="performance benchmarks (table and JSON)")
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    bench.add_argument("--json", default=None, help="write results to this JSON file")
    bench.add_argument("--only", nargs="*", default=None, help="benchmark names to run")
    bench.set_defaults(run=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (InputError, NotYetAvailable) as error:
        print(f"traffic-mpc: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("traffic-mpc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

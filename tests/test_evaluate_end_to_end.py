"""The evaluator end to end on a tiny extracted dataset of generated traffic: outputs, the
expert's 100 %, identical results for the same seed, videos, the results table, the CLI
functions."""

from __future__ import annotations

import argparse
import json

import pytest

from traffic_mpc.data.extract import extract_dataset
from traffic_mpc.errors import InputError
from traffic_mpc.evaluate import evaluate
from traffic_mpc.evaluate.commands import cmd_evaluate, cmd_table
from traffic_mpc.evaluate.metrics import EPISODE_COLUMNS
from traffic_mpc.evaluate.report import read_episodes_csv
from traffic_mpc.evaluate.results_table import write_results_table
from traffic_mpc.logs.ngsim import write_ngsim
from traffic_mpc.logs.synth import SynthConfig, generate
from traffic_mpc.road import Road
from traffic_mpc.sim.render import ViewSpec

#: The evaluator does not read the dataset's views: extract tiny ones.
TINY_VIEW = ViewSpec(height=4, width=2, pixel_size=1.0, channels=("lanes",))
RUNS = (("no-action", "replay"), ("expert", "replay"), ("idm", "replay"), ("idm", "reactive"))


def short_road(length: float = 220.0, lanes: int = 3) -> Road:
    """A short straight road (episodes of ~150 m keep the tests fast)."""
    width = 3.66
    spec = [{"id": i, "left": [[0.0, -(i - 1) * width], [length, -(i - 1) * width]],
             "right": [[0.0, -i * width], [length, -i * width]]} for i in range(1, lanes + 1)]
    return Road.from_dict({"name": "short", "length": length, "lanes": spec,
                           "valid": {"look_ahead": 36.1}})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    road = short_road()
    log = generate(road, SynthConfig(duration=60.0, warm_up=30.0, demand=1500.0), seed=3)
    # As ``data synth`` writes them: NGSIM text files beside the road.
    (root / "logs").mkdir()
    (root / "logs" / "road.toml").write_text(road.to_toml())
    write_ngsim(log, root / "logs" / "recording-01.txt")
    return extract_dataset(root / "logs", root / "dataset", view_spec=TINY_VIEW,
                           max_episodes=30, progress=False)


@pytest.fixture(scope="module")
def runs(dataset, tmp_path_factory):
    """The baselines' evaluations (the no-action one through the command function)."""
    folder = tmp_path_factory.mktemp("runs")
    summaries = {}
    for agent, traffic in RUNS:
        out = folder / f"{agent}-{traffic}"
        if agent == "no-action":
            args = argparse.Namespace(agent=agent, dataset=str(dataset), split="test",
                                      out=str(out), traffic=traffic, seed=0, videos=0,
                                      quiet=True)
            assert cmd_evaluate(args) == 0
            summaries[agent, traffic] = json.loads((out / "summary.json").read_text())
        else:
            summaries[agent, traffic] = evaluate(agent, dataset, out=out, traffic=traffic,
                                                 progress=False)
    return folder, summaries


def without_run_details(summary: dict) -> dict:
    return {key: value for key, value in summary.items() if key != "timing"}


def test_outputs_and_the_expert_scores_100_percent(runs):
    folder, summaries = runs
    summary = summaries["expert", "replay"]
    assert summary["episodes"]["scored"] >= 1
    assert summary["metrics"]["success"]["value"] == 1.0
    assert summary["metrics"]["ade"]["value"] == pytest.approx(0.0, abs=1e-3)
    assert summary["failures"] == []
    out = folder / "expert-replay"
    for name in ("episodes.csv", "summary.json", "summary.md"):
        assert (out / name).is_file()
    assert any((out / "tensorboard").iterdir())
    rows = read_episodes_csv(out / "episodes.csv")
    assert list(rows[0]) == list(EPISODE_COLUMNS)
    assert len(rows) == summary["episodes"]["total"]
    written = json.loads((out / "summary.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert written["agent"] == "expert" and written["split"] == "test"
    assert written["traffic"] == "replay" and written["seed"] == 0
    assert len(written["dataset"]["manifest_sha256"]) == 64
    assert written["code_version"]["traffic_mpc"]
    assert {"value", "ci_low", "ci_high", "n"} <= set(written["metrics"]["success"])
    assert summaries["no-action", "replay"]["metrics"]["distance"]["value"] > 0


def test_same_seed_gives_identical_results(dataset, runs, tmp_path):
    folder, summaries = runs
    again = evaluate("idm", dataset, out=tmp_path / "again", progress=False)
    assert without_run_details(again) == without_run_details(summaries["idm", "replay"])
    assert (tmp_path / "again" / "episodes.csv").read_text() == (
        folder / "idm-replay" / "episodes.csv").read_text()
    # Episodes are independent: another batch size (the batch is refilled as episodes end)
    # gives the same outcomes.
    evaluate("idm", dataset, out=tmp_path / "small", progress=False, batch_size=2)
    outcomes = [[row["episode"], row["outcome"], row["success_ignoring_rear_end"]]
                for row in read_episodes_csv(tmp_path / "small" / "episodes.csv")]
    assert outcomes == [[row["episode"], row["outcome"], row["success_ignoring_rear_end"]]
                        for row in read_episodes_csv(folder / "idm-replay" / "episodes.csv")]


def test_videos_of_failures_and_successes(dataset, tmp_path):
    summary = evaluate("no-action", dataset, out=tmp_path / "run", videos=1, progress=False)
    videos = summary["videos"]
    assert videos and {video["label"] for video in videos} <= {"success", "failure"}
    for video in videos:
        assert video["rerun_outcome"] == video["outcome"]
        path = tmp_path / "run" / video["file"]
        assert path.is_file() and path.stat().st_size > 1000
        assert video["label"] in path.name and video["outcome"] in path.name
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["videos"] == videos


def test_results_table_from_summaries(runs, tmp_path):
    folder, _ = runs
    table = argparse.Namespace(runs=[str(folder)], out=str(tmp_path / "RESULTS.md"))
    assert cmd_table(table) == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.startswith("# Results") and "do not edit by hand" in text
    for agent in ("`expert`", "`no-action`", "`idm`"):
        assert agent in text
    assert "Success (%) replay" in text and "Success (%) reactive" in text
    assert "Calibration against I-80" in text and "16.2" in text
    # Rows in the baselines' order; regenerating gives the same file.
    assert text.index("| `expert`") < text.index("| `no-action`") < text.index("| `idm`")
    write_results_table([folder], tmp_path / "again.md", command=None)
    again = (tmp_path / "again.md").read_text()
    assert again.split("\n", 3)[3] == text.split("\n", 3)[3]  # all but the command line
    with pytest.raises(InputError, match="holds no summary.json"):
        write_results_table(folder / "idm-replay" / "tensorboard", tmp_path / "X.md")


def test_errors_and_source_logs_found_elsewhere(dataset, tmp_path):
    with pytest.raises(InputError, match="unknown agent"):
        evaluate("nobody", dataset, progress=False)
    logs = dataset.parent / "logs"
    moved = tmp_path / "moved"
    logs.rename(moved)
    try:
        with pytest.raises(InputError, match="no log with SHA-256"):
            evaluate("no-action", dataset, progress=False, max_episodes=1)
        summary = evaluate("no-action", dataset, progress=False, logs=moved, max_episodes=1)
        assert summary["episodes"]["total"] == 1
    finally:
        moved.rename(logs)

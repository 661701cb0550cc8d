"""The command line contract: every command answers --help; unfinished ones say so."""

import subprocess
import sys

import pytest

from traffic_mpc.cli import main

COMMANDS = [
    ["data", "synth"], ["data", "import"], ["data", "extract"], ["data", "info"],
    ["train", "world-model"], ["train", "policy"], ["evaluate"], ["evaluate", "table"],
    ["evaluate", "world-model"], ["view"], ["demo"], ["bench"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: traffic-mpc" in capsys.readouterr().out


def test_unfinished_command_fails_with_one_line_reason(capsys):
    code = main(["train", "policy", "--config", "x.toml"])
    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and "not available yet" in error


def test_bad_input_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "traffic_mpc.cli", "data", "info", str(tmp_path / "missing")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("missing: no such file or folder")
    assert "Traceback" not in result.stderr


def test_evaluate_without_its_options_names_what_is_missing(capsys):
    assert main(["evaluate", "--agent", "idm"]) == 2
    assert "missing --dataset, --out" in capsys.readouterr().err


def test_data_synth_takes_generator_settings(tmp_path, capsys):
    import json

    code = main(["data", "synth", "--out", str(tmp_path), "--minutes", "0.05", "--quiet",
                 "--set", "warm_up=5", "--set", "bottleneck_time_headway_factor=1.3"])
    assert code == 0
    config = json.loads((tmp_path / "synth.json").read_text())["config"]
    assert config["warm_up"] == 5.0 and config["bottleneck_time_headway_factor"] == 1.3
    assert main(["data", "synth", "--out", str(tmp_path / "x"), "--set", "nope=1"]) == 2
    assert "'nope' is not a numeric generator option" in capsys.readouterr().err

"""Corrupted NGSIM files: the reader gives a clean `InputError` naming the file, or a valid log.

Each example takes a small valid file (either layout) and damages it the way files get
damaged: cut at a random byte, a line deleted or repeated, a field replaced by garbage, two
columns swapped, stray whitespace or blank lines. Anything else (a numpy traceback, a log
with NaNs or unsorted rows) fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ngsim_samples import (
    SampleVehicle,
    accelerating,
    constant_speed,
    csv_text,
    lane_change,
    original_text,
    sample_rows,
)

from traffic_mpc.errors import InputError
from traffic_mpc.logs.ngsim import read_ngsim
from traffic_mpc.logs.traffic_log import VEHICLE_CLASSES, TrafficLog
from traffic_mpc.road import Road

I80 = Road.named("i80")

VEHICLES = [
    SampleVehicle(1, 40, 30, 15.0, 6.0, 2, constant_speed(10.0, 9.0, 2)),
    SampleVehicle(2, 45, 25, 40.0, 8.5, 3, accelerating(0.0, 5.0, 0.8, 3)),
    SampleVehicle(3, 40, 35, 14.0, 6.0, 2, lane_change(30.0, 8.0, 1, 0.5, 2.0)),
    SampleVehicle(4, 50, 20, 7.0, 3.0, 1, constant_speed(5.0, 12.0, 4)),
]
ROWS = sample_rows(VEHICLES)
VALID = {"text": original_text(ROWS), "csv": csv_text(ROWS)}

GARBAGE = ["", "nan", "NaN", "inf", "-inf", "1e400", "-1", "0", "abc", "1.5", "--", "3.7e5",
           "1,5", "0x1A", "9" * 25, "\t", "-0", "1e-320", "#", "i-80"]  # fmt: skip


def damage(text: str, data: st.DataObject, layout: str) -> str:
    lines = text.splitlines(keepends=True)
    separator = "," if layout == "csv" else None
    first_data_line = 1 if layout == "csv" else 0
    kind = data.draw(st.sampled_from(
        ["truncate", "delete", "duplicate", "field", "swap", "whitespace", "blank"]
    ))  # fmt: skip
    line = data.draw(st.integers(first_data_line, len(lines) - 1), label="line")
    if kind == "truncate":
        return text[: data.draw(st.integers(0, len(text) - 1), label="cut at")]
    if kind == "delete":
        del lines[line]
    elif kind == "duplicate":
        lines.insert(data.draw(st.integers(0, len(lines)), label="at"), lines[line])
    elif kind == "field":
        fields = lines[line].rstrip("\n").split(separator)
        index = data.draw(st.integers(0, len(fields) - 1), label="field")
        fields[index] = data.draw(st.sampled_from(GARBAGE) | st.text(max_size=6), label="value")
        lines[line] = (separator or " ").join(fields) + "\n"
    elif kind == "swap":
        width = len(lines[first_data_line].split(separator))
        a, b = (data.draw(st.integers(0, width - 1), label="column") for _ in range(2))
        everywhere = data.draw(st.booleans(), label="all lines")
        for i in range(len(lines)) if everywhere else [line]:
            fields = lines[i].rstrip("\n").split(separator)
            fields[a], fields[b] = fields[b], fields[a]
            lines[i] = (separator or " ").join(fields) + "\n"
    elif kind == "whitespace":
        at = data.draw(st.integers(0, len(lines[line])), label="offset")
        stray = data.draw(st.sampled_from([" ", "\t", "  \t", "\r"]), label="stray")
        lines[line] = lines[line][:at] + stray + lines[line][at:]
    else:
        lines.insert(line, data.draw(st.sampled_from(["\n", "   \n", "\t\n", "\r\n"])))
    return "".join(lines)


def assert_valid(log: TrafficLog) -> None:
    assert len(log) > 0
    for name in ("time", "x", "y", "heading", "speed", "length", "width"):
        assert np.all(np.isfinite(getattr(log, name))), name
    assert log.is_sorted()
    assert np.all(log.length > 0) and np.all(log.width > 0)
    assert np.isfinite(log.dt) and log.dt > 0
    same_vehicle = log.vehicle_id[1:] == log.vehicle_id[:-1]
    assert np.all(np.diff(log.frame)[same_vehicle] == 1)  # no duplicates, no gaps
    np.testing.assert_allclose(log.time, (log.frame - log.frame.min()) * log.dt, atol=1e-6)
    assert np.all(np.isin(log.vehicle_class, list(VEHICLE_CLASSES)))
    assert np.all(log.lane >= 0) and np.all(log.speed >= 0)
    assert np.all(np.abs(log.heading) <= np.pi)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("layout", ["text", "csv"])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_damaged_file_gives_a_clean_error_or_a_valid_log(folder, layout, data):
    path = folder / f"damaged.{'csv' if layout == 'csv' else 'txt'}"
    path.write_bytes(damage(VALID[layout], data, layout).encode("utf-8"))
    try:
        log = read_ngsim(path, I80)
    except InputError as error:
        assert str(path) in str(error)
        assert "\n" not in str(error)  # one line, as the command line prints it
        return
    assert_valid(log)


def test_the_undamaged_files_are_valid(folder):
    for layout, text in VALID.items():
        path = folder / f"valid.{layout}"
        path.write_text(text)
        assert_valid(read_ngsim(path, I80))

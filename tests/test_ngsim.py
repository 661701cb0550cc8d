"""NGSIM reader and writer: layouts, units, road frame, time step, smoothing, bad input."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from ngsim_samples import (
    EPOCH_MS,
    SampleVehicle,
    constant_speed,
    csv_text,
    lane_centre,
    original_text,
    sample_rows,
    scene,
)

from traffic_mpc.errors import InputError
from traffic_mpc.logs.ngsim import (
    FOOT,
    NO_MOTION_TIME_HEADWAY,
    ORIGINAL_COLUMNS,
    WRITE_EPOCH_MS,
    read_ngsim,
    write_ngsim,
)
from traffic_mpc.logs.smoothing import centred_moving_average, half_width_steps
from traffic_mpc.logs.traffic_log import TrafficLog, file_checksum
from traffic_mpc.road import Road

I80 = Road.named("i80")
US101 = Road.named("us101")

# Round-trip tolerances: write_ngsim keeps 6 decimals of a foot (3e-7 m).
POSITION_TOLERANCE = 1e-5  # m
HEADING_TOLERANCE = 1e-4  # rad (position rounding over a 0.2 s baseline at walking speed)
SPEED_TOLERANCE = 1e-4  # m/s


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def row_line(fields: list[float]) -> str:
    return " ".join(str(value) for value in fields) + "\n"


def hand_row(frame: int, local_x: float, local_y: float, **changes) -> list[float]:
    """One original-layout row of vehicle 7 (16 x 6 ft car in lane 3) at 10 Hz."""
    row = dict(
        Vehicle_ID=7, Frame_ID=frame, Total_Frames=3, Global_Time=1113433200000 + 100 * frame,
        Local_X=local_x, Local_Y=local_y, Global_X=local_x, Global_Y=local_y, v_Length=16.0,
        v_Width=6.0, v_Class=2, v_Vel=20.0, v_Acc=0.0, Lane_ID=3, Preceding=0, Following=0,
        Space_Headway=0.0, Time_Headway=0.0,
    )  # fmt: skip
    row.update(changes)
    return [row[name] for name in ORIGINAL_COLUMNS]


# ------------------------------------------------------------------- units and frame
def test_feet_become_metres_and_front_becomes_centre(tmp_path):
    # Front centre at Local_X = 12 ft, Local_Y = 100, 102, 104 ft: 2 ft per 0.1 s along +x.
    path = write(
        tmp_path / "straight.txt",
        "".join(row_line(hand_row(500 + i, 12.0, 100.0 + 2 * i)) for i in range(3)),
    )
    log = read_ngsim(path, I80)
    # front x = 100 ft = 30.48 m; centre = front - 8 ft (half of 16 ft = 2.4384 m).
    np.testing.assert_allclose(log.x, [28.0416, 28.6512, 29.2608], atol=1e-12)
    np.testing.assert_allclose(log.y, [-3.6576] * 3, atol=1e-12)  # -12 ft
    np.testing.assert_allclose(log.speed, [6.096] * 3, atol=1e-12)  # 20 ft/s
    np.testing.assert_allclose(log.heading, [0.0] * 3, atol=1e-12)
    np.testing.assert_allclose(log.length, 4.8768, atol=1e-12)
    np.testing.assert_allclose(log.width, 1.8288, atol=1e-12)
    np.testing.assert_allclose(log.time, [0.0, 0.1, 0.2], atol=1e-12)
    assert log.dt == 0.1
    assert log.frame.tolist() == [500, 501, 502]
    assert log.vehicle_id.tolist() == [7, 7, 7]
    assert log.lane.tolist() == [3, 3, 3]
    assert log.vehicle_class.tolist() == [2, 2, 2]
    assert log.site == "i80"
    assert log.source == str(path)
    assert log.source_checksum == file_checksum(path)


def test_centre_lies_half_a_length_behind_the_front_along_the_heading(tmp_path):
    # Local_X and Local_Y both grow by 1 ft per frame: the front moves along (1, -1) in
    # the road frame (y = -Local_X), heading -45 degrees, speed sqrt(2) ft / 0.1 s.
    path = write(
        tmp_path / "diagonal.txt",
        "".join(row_line(hand_row(10 + i, 10.0 + i, 200.0 + i)) for i in range(5)),
    )
    log = read_ngsim(path, I80, smoothing_window=0)
    np.testing.assert_allclose(log.heading, -math.pi / 4, atol=1e-12)
    np.testing.assert_allclose(log.speed, 3.048 * math.sqrt(2), atol=1e-12)
    half_length = 8.0 * FOOT * math.sqrt(0.5)  # 1.72424... m along each axis
    front_x = (200.0 + np.arange(5)) * FOOT
    front_y = -(10.0 + np.arange(5)) * FOOT
    np.testing.assert_allclose(log.x, front_x - half_length, atol=1e-12)
    np.testing.assert_allclose(log.y, front_y + half_length, atol=1e-12)


def test_lane_change_heading_and_centre_follow_the_trajectory(tmp_path):
    rows = sample_rows(scene())
    path = write(tmp_path / "scene.txt", original_text(rows, precise=True))
    log = read_ngsim(path, I80, smoothing_window=0)
    changer = log.rows_of(3)
    t = (changer.frame - changer.frame[0]) * 0.1
    front_x, front_y = scene()[2].front(t)
    length = 14.5 * FOOT
    # The logged front is reproduced: the centre sits half a length behind it.
    np.testing.assert_allclose(changer.x + 0.5 * length * np.cos(changer.heading), front_x,
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(changer.y + 0.5 * length * np.sin(changer.heading), front_y,
                               atol=1e-5)  # fmt: skip
    # The centre moves along the heading (the replay world's kinematics).
    step_x, step_y = np.diff(changer.x), np.diff(changer.y)
    sideways = step_x * np.sin(changer.heading[1:]) - step_y * np.cos(changer.heading[1:])
    np.testing.assert_allclose(sideways, 0.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(step_x, step_y) / 0.1, changer.speed[1:], atol=1e-6)
    # The body turns like the front's path (half-cosine lane change, dy/dx = dy/dt / 8 m/s),
    # lagging it a little as a trailing body does: within 0.05 rad of a ~0.18 rad peak.
    progress = np.clip((t - 8.0) / 4.0, 0, 1)
    dy_dt = -3.66 * 0.5 * np.pi / 4.0 * np.sin(np.pi * progress) * ((t > 8) & (t < 12))
    path_heading = np.arctan2(dy_dt, 8.0)
    assert np.abs(path_heading).max() > 0.17  # a real lane change: ~10 degrees at its middle
    np.testing.assert_allclose(changer.heading, path_heading, atol=0.05)
    assert np.abs(changer.heading).max() > 0.15
    assert changer.lane[0] == 2 and changer.lane[-1] == 3


# -------------------------------------------------------------------------- layouts
def test_text_and_csv_layouts_give_identical_logs(tmp_path):
    rows = sample_rows(scene())
    text_path = write(tmp_path / "trajectories.txt", original_text(rows))
    csv_path = write(
        tmp_path / "export.csv",
        csv_text(rows, location="I-80", other_rows=sample_rows(scene()[:2], seed=1)),
    )
    from_text = read_ngsim(text_path, I80)
    from_csv = read_ngsim(csv_path, I80)
    assert len(from_text) == sum(v.n_frames for v in scene()) == 1140
    assert from_text.equals(from_csv)  # bit for bit
    assert from_text.is_sorted()
    assert from_csv.source == str(csv_path) and from_csv.source_checksum != ""


def test_crlf_blank_lines_and_a_byte_order_mark_are_read_like_the_plain_file(tmp_path):
    rows = sample_rows(scene())
    text = original_text(rows)
    plain = read_ngsim(write(tmp_path / "plain.txt", text), I80)
    lines = text.splitlines()
    messy = "\r\n".join(lines[:10] + ["", "   "] + lines[10:]) + "\r\n\r\n"
    assert read_ngsim(write(tmp_path / "messy.txt", messy), I80).equals(plain)
    csv = csv_text(rows).splitlines()
    messy_csv = "\ufeff" + "\r\n".join(csv[:5] + ["  ", ""] + csv[5:]) + "\r\n"  # with a BOM
    assert read_ngsim(write(tmp_path / "messy.csv", messy_csv), I80).equals(plain)


def test_csv_keeps_the_rows_of_the_road_location(tmp_path):
    ours = sample_rows(scene())
    theirs = sample_rows(scene()[:2], seed=1)
    path = write(tmp_path / "export.csv", csv_text(ours, "i-80", other_rows=theirs))
    i80 = read_ngsim(path, I80)
    us101 = read_ngsim(path, US101)
    assert i80.vehicle_ids.tolist() == [1, 2, 3, 4, 5]
    assert us101.vehicle_ids.tolist() == [1, 2]
    assert len(us101) == 600 and us101.site == "us101"
    nowhere = dataclasses.replace(I80, ngsim_location="Lankershim")
    with pytest.raises(InputError) as caught:
        read_ngsim(path, nowhere)
    message = str(caught.value)
    assert str(path) in message and "Lankershim" in message
    assert "i-80" in message and "us-101" in message


def test_dt_comes_from_global_time_not_frame_id(tmp_path):
    # Consecutive Frame_IDs, Global_Time 200 ms apart: a 0.2 s file.
    rows = sample_rows(scene(), dt=0.2)
    log = read_ngsim(write(tmp_path / "slow.txt", original_text(rows, precise=True)), I80,
                     smoothing_window=0)  # fmt: skip
    assert log.dt == pytest.approx(0.2, abs=1e-15)
    steady = log.rows_of(1)
    np.testing.assert_allclose(np.diff(steady.time), 0.2, atol=1e-12)
    np.testing.assert_allclose(steady.speed, 10.0, atol=1e-5)  # 2 m per frame over 0.2 s
    assert log.time[0] == 0.0 and log.time.max() == pytest.approx(299 * 0.2)


def test_global_time_disagreeing_with_frame_id_is_rejected(tmp_path):
    rows = sample_rows(scene())
    renumbered = {name: values.copy() for name, values in rows.items()}
    renumbered["Frame_ID"][renumbered["Vehicle_ID"] == 3] += 7  # one vehicle shifted
    path = write(tmp_path / "renumbered.txt", original_text(renumbered))
    with pytest.raises(InputError, match="Global_Time and Frame_ID disagree") as caught:
        read_ngsim(path, I80)
    assert "700 ms" in str(caught.value) and "renumbered" in str(caught.value)
    assert str(path) in str(caught.value) and caught.value.field == "Global_Time"

    jittered = {name: values.copy() for name, values in rows.items()}
    jittered["Global_Time"][42] += 40
    with pytest.raises(InputError, match="disagree") as caught:
        read_ngsim(write(tmp_path / "jittered.txt", original_text(jittered)), I80)
    assert caught.value.line == 43


def test_duplicate_rows_are_rejected(tmp_path):
    lines = original_text(sample_rows(scene())).splitlines(keepends=True)
    lines.insert(320, lines[319])  # vehicle 2, its 20th frame (frame 119), twice
    path = write(tmp_path / "dup.txt", "".join(lines))
    with pytest.raises(InputError) as caught:
        read_ngsim(path, I80)
    assert str(caught.value) == (
        f"{path}:321: vehicle 2 appears twice at frame 119 (lines 320 and 321)"
    )


def test_missing_frames_are_rejected_not_interpolated(tmp_path):
    lines = original_text(sample_rows(scene())).splitlines(keepends=True)
    del lines[609:611]  # vehicle 3 starts at line 601 (frame 120): drop frames 129, 130
    path = write(tmp_path / "gap.txt", "".join(lines))
    with pytest.raises(InputError) as caught:
        read_ngsim(path, I80)
    message = str(caught.value)
    assert "vehicle 3 has no rows for frames 129..130" in message
    assert "between lines 609 and 610" in message and caught.value.line == 610


def test_excluded_vehicles_are_dropped_even_when_broken(tmp_path):
    lines = original_text(sample_rows(scene())).splitlines(keepends=True)
    del lines[609:611]  # vehicle 3 has a gap, but it is excluded
    road = dataclasses.replace(I80, excluded_vehicles=frozenset({3, 4}))
    log = read_ngsim(write(tmp_path / "gap.txt", "".join(lines)), road)
    assert log.vehicle_ids.tolist() == [1, 2, 5]
    assert log.time[0] == 0.0 and log.first_frame == 100


# ------------------------------------------------------------------------ smoothing
def test_constant_speed_is_exact_under_smoothing(tmp_path):
    rows = sample_rows(scene())
    log = read_ngsim(write(tmp_path / "s.txt", original_text(rows, precise=True)), I80)
    steady = log.rows_of(1)  # 10 m/s in lane 2, smoothed over 1.5 s
    t = np.arange(300) * 0.1
    np.testing.assert_allclose(steady.x, 20.0 + 10.0 * t - 0.5 * 15 * FOOT, atol=1e-5)
    np.testing.assert_allclose(steady.y, lane_centre(2), atol=1e-5)
    np.testing.assert_allclose(steady.speed, 10.0, atol=1e-5)
    np.testing.assert_allclose(steady.heading, 0.0, atol=1e-7)


def test_smoothing_does_not_delay_speed(tmp_path):
    # Vehicle 2 accelerates at 0.5 m/s^2: a filter that lags by 0.7 s (the reference's)
    # reads 0.35 m/s too slow. With the centred one, the speed of row t is exactly that of
    # the step from t - dt to t (the log's convention): 4 + 0.5 (t - dt / 2).
    rows = sample_rows(scene())
    log = read_ngsim(write(tmp_path / "s.txt", original_text(rows, precise=True)), I80)
    truck = log.rows_of(2)
    t = np.arange(300) * 0.1
    np.testing.assert_allclose(truck.speed[8:-8], 4.0 + 0.5 * (t[8:-8] - 0.05), atol=1e-4)


def crossing_time(signal: np.ndarray, dt: float, level: float = 0.5) -> float:
    """First time [s] the signal reaches ``level``, linearly interpolated."""
    i = int(np.argmax(signal >= level))
    return (i - 1 + (level - signal[i - 1]) / (signal[i] - signal[i - 1])) * dt


def test_centred_filter_has_zero_lag_where_a_forward_one_has_0_7_s():
    dt = 0.1
    t = np.arange(200) * dt
    ramp = np.clip((t - 5.0) / 2.0, 0.0, 1.0)  # crosses 0.5 at t = 6 s
    vehicle = np.ones(200, dtype=np.int64)
    half_width = half_width_steps(1.5, dt)
    assert half_width == 7  # 15 samples
    centred = centred_moving_average(ramp, vehicle, half_width)
    forward = np.array([ramp[i : i + 15].mean() for i in range(200 - 14)])
    assert crossing_time(ramp, dt) == pytest.approx(6.0, abs=1e-9)
    assert crossing_time(centred, dt) - crossing_time(ramp, dt) == pytest.approx(0.0, abs=1e-9)
    assert crossing_time(ramp, dt) - crossing_time(forward, dt) == pytest.approx(0.7, abs=1e-9)
    step = (t >= 10.0).astype(float)
    smoothed_step = centred_moving_average(step, vehicle, half_width)
    # Antisymmetric about the step (between samples 99 and 100): no shift.
    np.testing.assert_allclose(smoothed_step[99::-1] + smoothed_step[100:], 1.0, atol=1e-12)


def test_centred_filter_keeps_lines_exact_up_to_the_ends_of_each_track():
    vehicle = np.repeat([4, 9], [30, 3])
    line = np.concatenate([2.0 + 0.3 * np.arange(30), -1.0 + 5.0 * np.arange(3)])
    np.testing.assert_allclose(centred_moving_average(line, vehicle, 7), line, atol=1e-12)


def test_smoothing_cuts_the_speed_error_of_noisy_positions(tmp_path):
    vehicles = [
        SampleVehicle(i + 1, 10, 400, 15.0, 6.0, 2, constant_speed(5.0 * i, 6.0 + i, 1 + i % 6))
        for i in range(8)
    ]
    rows = sample_rows(vehicles, noise=0.15, seed=3)  # 15 cm of noise, NGSIM-like
    path = write(tmp_path / "noisy.txt", original_text(rows, precise=True))
    raw = read_ngsim(path, I80, smoothing_window=0)
    smoothed = read_ngsim(path, I80, smoothing_window=1.5)
    true_speed = 6.0 + (raw.vehicle_id - 1)
    position_in_track = raw.frame - 10
    interior = (position_in_track >= 7) & (position_in_track < 400 - 7)

    def rms(error):
        return float(np.sqrt(np.mean(error**2)))

    raw_error = rms(raw.speed[interior] - true_speed[interior])
    smoothed_error = rms(smoothed.speed[interior] - true_speed[interior])
    # Central difference of raw positions: ~0.15 m * sqrt(2) / 0.2 s = 1.06 m/s; over
    # 15 samples the error shrinks ~10 times (theory: 0.1 m/s). Required: 5 times.
    assert raw_error > 0.8
    assert smoothed_error < raw_error / 5
    everywhere = rms(smoothed.speed - true_speed) / rms(raw.speed - true_speed)
    assert everywhere < 0.25  # measured 0.145, the track ends with their shorter windows included


# ------------------------------------------------------------------------ round trip
def test_write_then_read_reproduces_a_read_log(tmp_path):
    rows = sample_rows(scene(), noise=0.05)
    original = read_ngsim(write(tmp_path / "in.txt", original_text(rows)), I80)
    written = write_ngsim(original, tmp_path / "out" / "trajectories.txt")
    assert written == tmp_path / "out" / "trajectories.txt"
    again = read_ngsim(written, I80, smoothing_window=0)
    assert_logs_close(again, original)


def test_write_then_read_reproduces_a_constant_velocity_log(tmp_path):
    n = 50
    frame = np.concatenate([np.arange(n), np.arange(20, 20 + n)])
    vehicle = np.repeat([11, 12], n)
    heading = np.repeat([0.05, -0.02], n)
    speed = np.repeat([12.0, 3.0], n)
    t = (frame - frame[vehicle == 12][0] * (vehicle == 12)) * 0.1
    x0 = np.repeat([10.0, 30.0], n)
    y0 = np.repeat([-5.5, -9.1], n)
    log = TrafficLog(
        vehicle_id=vehicle, frame=frame, time=frame * 0.1,
        x=x0 + speed * t * np.cos(heading), y=y0 + speed * t * np.sin(heading),
        heading=heading, speed=speed, length=np.repeat([4.5, 12.0], n),
        width=np.repeat([1.8, 2.5], n), vehicle_class=np.repeat([2, 3], n),
        lane=np.repeat([2, 3], n), dt=0.1, site="i80",
    )  # fmt: skip
    again = read_ngsim(write_ngsim(log, tmp_path / "steady.txt"), I80, smoothing_window=0)
    assert_logs_close(again, log)


def assert_logs_close(actual: TrafficLog, expected: TrafficLog) -> None:
    assert actual.site == expected.site and actual.dt == pytest.approx(expected.dt, abs=1e-12)
    for name in ("vehicle_id", "frame", "vehicle_class", "lane"):
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name))
    np.testing.assert_allclose(actual.time, expected.time, atol=1e-9)
    for name in ("x", "y"):
        np.testing.assert_allclose(getattr(actual, name), getattr(expected, name),
                                   atol=POSITION_TOLERANCE)  # fmt: skip
    turn = np.angle(np.exp(1j * (actual.heading - expected.heading)))  # -pi and pi are one
    np.testing.assert_allclose(turn, 0.0, atol=HEADING_TOLERANCE)
    np.testing.assert_allclose(actual.speed, expected.speed, atol=SPEED_TOLERANCE)
    for name in ("length", "width"):
        np.testing.assert_allclose(getattr(actual, name), getattr(expected, name), atol=1e-6)


def test_written_file_has_ngsim_columns_and_headways(tmp_path):
    # Three cars in lane 2 at frame 5 (fronts at 10, 30, 45 m) and one in lane 3.
    front = np.array([10.0, 30.0, 45.0, 20.0])
    length = np.array([4.0, 5.0, 4.0, 4.0])
    speed = np.array([5.0, 0.0, 8.0, 6.0])
    log = TrafficLog(
        vehicle_id=[1, 2, 3, 4], frame=[5, 5, 5, 5], time=[0.5] * 4,
        x=front - length / 2, y=[-5.49, -5.49, -5.49, -9.15], heading=[0.0] * 4,
        speed=speed, length=length, width=[1.8] * 4, vehicle_class=[2, 2, 2, 2],
        lane=[2, 2, 2, 3], dt=0.1, site="i80",
    )  # fmt: skip
    path = write_ngsim(log, tmp_path / "w.txt")
    table = np.loadtxt(path)
    column = {name: table[:, j] for j, name in enumerate(ORIGINAL_COLUMNS)}
    assert table.shape == (4, 18)
    assert column["Global_Time"].tolist() == [WRITE_EPOCH_MS + 500] * 4
    assert column["Total_Frames"].tolist() == [1, 1, 1, 1]
    np.testing.assert_allclose(column["Local_Y"], front / FOOT, atol=1e-6)
    np.testing.assert_allclose(column["Local_X"], [5.49 / FOOT] * 3 + [9.15 / FOOT], atol=1e-6)
    np.testing.assert_allclose(column["v_Vel"], speed / FOOT, atol=1e-6)
    assert column["Preceding"].tolist() == [2, 3, 0, 0]
    assert column["Following"].tolist() == [0, 1, 2, 0]
    np.testing.assert_allclose(column["Space_Headway"], [20 / FOOT, 15 / FOOT, 0, 0], atol=1e-6)
    # Vehicle 1: 20 m at 5 m/s = 4 s; vehicle 2 does not move: NGSIM's 9999.99.
    np.testing.assert_allclose(column["Time_Headway"], [4.0, NO_MOTION_TIME_HEADWAY, 0, 0])


# ------------------------------------------------------------------------ bad input
def corrupt(text: str, line: int, field: int, value: str) -> str:
    """Replace field ``field`` (0-based) of line ``line`` (1-based) of a whitespace file."""
    lines = text.splitlines(keepends=True)
    fields = lines[line - 1].split()
    fields[field] = value
    lines[line - 1] = " ".join(fields) + "\n"
    return "".join(lines)


@pytest.fixture
def sample_text() -> str:
    return original_text(sample_rows(scene()[:2]))


@pytest.mark.parametrize(
    ("make", "line", "field", "words"),
    [
        (lambda text: "", None, None, "empty file"),
        (lambda text: "\n  \n\t\n", None, None, "empty file"),
        (lambda text: text[: text.rindex("\n", 0, -1) + 40], 600, None, "truncated"),
        (lambda text: corrupt(text, 7, 5, "12.5 7"), 7, None, "19 fields, expected 18"),
        (lambda text: corrupt(text, 9, 4, "abc"), 9, "Local_X", "'abc'"),
        (lambda text: corrupt(text, 11, 5, "nan"), 11, "Local_Y", "finite"),
        (lambda text: corrupt(text, 12, 3, "inf"), 12, "Global_Time", "finite"),
        (lambda text: corrupt(text, 13, 12, "1e400"), 13, "v_Acc", "finite"),
        (lambda text: corrupt(text, 14, 8, "-15"), 14, "v_Length", "(0, 1000]"),
        (lambda text: corrupt(text, 15, 9, "0"), 15, "v_Width", "(0, 1000]"),
        (lambda text: corrupt(text, 16, 10, "7"), 16, "v_Class", "vehicle class"),
        (lambda text: corrupt(text, 17, 1, "101.5"), 17, "Frame_ID", "whole number"),
        (lambda text: corrupt(text, 18, 0, "-3"), 18, "Vehicle_ID", "[0, "),
        (lambda text: corrupt(text, 19, 13, "1e9"), 19, "Lane_ID", "[0, 32767]"),
    ],
)
def test_bad_text_files_get_one_clear_error(tmp_path, sample_text, make, line, field, words):
    assert_one_clear_error(write(tmp_path / "bad.txt", make(sample_text)), line, field, words)


def assert_one_clear_error(path, line, field, words):
    """Reading ``path`` raises one InputError naming the file, ``line`` and ``field``."""
    with pytest.raises(InputError) as caught:
        read_ngsim(path, I80)
    error = caught.value
    assert str(error).startswith(str(path))
    assert words in str(error)
    assert error.line == line and error.field == field


@pytest.fixture
def sample_csv() -> str:
    return csv_text(sample_rows(scene()[:2]))


def replace_csv_field(text: str, line: int, name: str, value: str) -> str:
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    fields = lines[line - 1].rstrip("\n").split(",")
    fields[header.index(name)] = value
    lines[line - 1] = ",".join(fields) + "\n"
    return "".join(lines)


@pytest.mark.parametrize(
    ("make", "line", "field", "words"),
    [
        (lambda text: text.split("\n", 1)[1], 1, None, "no header line"),
        (lambda text: text.replace("Local_Y,", "Local_Z,", 1), 1, "Local_Y", "no column Local_Y"),
        (lambda text: text.split("\n", 1)[0] + "\n", 1, None, "no data rows"),
        (lambda text: replace_csv_field(text, 5, "Local_Y", ""), 5, "Local_Y", "empty field"),
        (lambda text: replace_csv_field(text, 6, "v_Width", "wide"), 6, "v_Width", "'wide'"),
        (lambda text: replace_csv_field(text, 7, "Lane_ID", "2,3"), 7, None, "26 fields"),
        (lambda text: replace_csv_field(text, 8, "v_Length", "-inf"), 8, "v_Length", "finite"),
        (lambda text: text[:-30], 601, None, "truncated"),
    ],
)
def test_bad_csv_files_get_one_clear_error(tmp_path, sample_csv, make, line, field, words):
    assert_one_clear_error(write(tmp_path / "bad.csv", make(sample_csv)), line, field, words)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_ngsim(tmp_path / "nothing.txt", I80)


def test_global_time_in_the_written_file_counts_from_the_epoch(tmp_path):
    rows = sample_rows(scene()[:1])
    log = read_ngsim(write(tmp_path / "one.txt", original_text(rows)), I80)
    table = np.loadtxt(write_ngsim(log, tmp_path / "copy.txt"))
    assert table[0, 3] == WRITE_EPOCH_MS + 100 * 100  # frame 100 at 0.1 s
    assert rows["Global_Time"][0] == EPOCH_MS + 100 * 100

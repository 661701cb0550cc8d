"""highD reader: two directions, resampling 25 Hz -> 0.1 s, road frame, lanes, bad input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from traffic_mpc.errors import InputError
from traffic_mpc.logs.highd import (
    RECORDING_META_COLUMNS,
    TRACK_COLUMNS,
    TRACK_META_COLUMNS,
    highd_road,
    read_highd,
)
from traffic_mpc.logs.importing import import_logs
from traffic_mpc.logs.traffic_log import CAR, TRUCK, TrafficLog, file_checksum

FRAME_RATE = 25.0
UPPER_MARKINGS = "8.5;12.25;16.0;19.75"  # direction 1 (towards -x): left edge at 19.75
LOWER_MARKINGS = "23.0;26.75;30.5;34.25"  # direction 2 (towards +x): left edge at 23.0


@dataclass(frozen=True)
class Track:
    """A vehicle of the synthetic recording; ``centre(t)`` and ``velocity(t)`` are in the
    image frame [m, m/s] with t [s] = frame / 25."""

    vehicle_id: int
    direction: int
    kind: str
    length: float
    width: float
    first_frame: int
    last_frame: int
    centre: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    velocity: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def swerve(t):
    """Half-cosine from 0 to 1 over t in [4, 8] s, and its rate."""
    progress = np.clip((t - 4.0) / 4.0, 0.0, 1.0)
    rate = np.where((t > 4) & (t < 8), 0.5 * np.pi / 4.0 * np.sin(np.pi * progress), 0.0)
    return 0.5 - 0.5 * np.cos(np.pi * progress), rate


TRACKS = [
    Track(1, 2, "Car", 4.5, 1.8, 1, 150,
          lambda t: (10 + 30 * t, np.full_like(t, 24.875)),
          lambda t: (np.full_like(t, 30.0), np.zeros_like(t))),
    Track(2, 2, "Truck", 12.0, 2.5, 10, 200,
          lambda t: (50 + 20 * t + 0.5 * t**2, np.full_like(t, 32.375)),
          lambda t: (20 + t, np.zeros_like(t))),
    Track(3, 1, "Car", 4.8, 1.9, 1, 250,
          lambda t: (400 - 35 * t, np.full_like(t, 17.875)),
          lambda t: (np.full_like(t, -35.0), np.zeros_like(t))),
    Track(4, 1, "Car", 4.4, 1.8, 30, 280,
          lambda t: (380 - 25 * t, 10.375 + 3.75 * swerve(t)[0]),
          lambda t: (np.full_like(t, -25.0), 3.75 * swerve(t)[1])),
    Track(5, 2, "Car", 4.2, 1.7, 100, 102,
          lambda t: (100 + 28 * t, np.full_like(t, 28.625)),
          lambda t: (np.full_like(t, 28.0), np.zeros_like(t))),
]  # fmt: skip


def frames_and_times(track: Track) -> tuple[np.ndarray, np.ndarray]:
    frame = np.arange(track.first_frame, track.last_frame + 1)
    return frame, frame / FRAME_RATE


def write_recording(folder: Path, tracks: list[Track] = TRACKS, prefix: str = "01") -> Path:
    """Write ``PREFIX_tracks.csv`` and its two meta files; return the tracks path."""
    rows = []
    for track in tracks:
        frame, t = frames_and_times(track)
        cx, cy = track.centre(t)
        vx, vy = track.velocity(t)
        for i in range(len(frame)):
            values = dict.fromkeys(TRACK_COLUMNS, 0)
            values.update(
                frame=int(frame[i]), id=track.vehicle_id, x=float(cx[i] - track.length / 2),
                y=float(cy[i] - track.width / 2), width=track.length, height=track.width,
                xVelocity=float(vx[i]), yVelocity=float(vy[i]), laneId=track.direction + 1,
            )  # fmt: skip
            rows.append((int(frame[i]), track.vehicle_id, values))
    rows.sort(key=lambda row: (row[1], row[0]))
    tracks_path = folder / f"{prefix}_tracks.csv"
    tracks_path.write_text(
        ",".join(TRACK_COLUMNS) + "\n"
        + "".join(",".join(str(v[c]) for c in TRACK_COLUMNS) + "\n" for _, _, v in rows)
    )  # fmt: skip
    meta_lines = []
    for track in tracks:
        values = dict.fromkeys(TRACK_META_COLUMNS, 0)
        values.update(
            id=track.vehicle_id, width=track.length, height=track.width,
            initialFrame=track.first_frame, finalFrame=track.last_frame,
            numFrames=track.last_frame - track.first_frame + 1, **{"class": track.kind},
            drivingDirection=track.direction,
        )  # fmt: skip
        meta_lines.append(",".join(str(values[c]) for c in TRACK_META_COLUMNS) + "\n")
    (folder / f"{prefix}_tracksMeta.csv").write_text(
        ",".join(TRACK_META_COLUMNS) + "\n" + "".join(meta_lines)
    )
    recording = dict.fromkeys(RECORDING_META_COLUMNS, 0)
    recording.update(
        id=1, frameRate=25, locationId=2, speedLimit=-1, month="09.2017", weekDay="Tue",
        startTime="08:38", duration=11.2, numVehicles=len(tracks),
        upperLaneMarkings=UPPER_MARKINGS, lowerLaneMarkings=LOWER_MARKINGS,
    )  # fmt: skip
    (folder / f"{prefix}_recordingMeta.csv").write_text(
        ",".join(RECORDING_META_COLUMNS) + "\n"
        + ",".join(str(recording[c]) for c in RECORDING_META_COLUMNS) + "\n"
    )  # fmt: skip
    return tracks_path


def x_extent(tracks: list[Track] = TRACKS) -> tuple[float, float]:
    low, high = np.inf, -np.inf
    for track in tracks:
        _, t = frames_and_times(track)
        cx, _ = track.centre(t)
        low = min(low, float((cx - track.length / 2).min()))
        high = max(high, float((cx + track.length / 2).max()))
    return low, high


@pytest.fixture
def recording(tmp_path) -> Path:
    return write_recording(tmp_path)


def test_two_directions_become_two_logs_at_0_1_s(recording):
    towards_minus_x, towards_plus_x = read_highd(recording)
    assert towards_minus_x.site == "highd-2-1" and towards_plus_x.site == "highd-2-2"
    assert towards_minus_x.dt == towards_plus_x.dt == 0.1
    assert towards_minus_x.vehicle_ids.tolist() == [3, 4]
    assert towards_plus_x.vehicle_ids.tolist() == [1, 2, 5]
    assert towards_plus_x.is_sorted() and towards_minus_x.is_sorted()
    assert towards_plus_x.source == str(recording)
    # Output frame k lies at k * 0.1 s: vehicle 1 (25 Hz frames 1..150) has k = 1..60.
    car = towards_plus_x.rows_of(1)
    assert car.frame.tolist() == list(range(1, 61))
    # Both logs share the recording's clock, starting at its first output frame (k = 1).
    np.testing.assert_allclose(car.time, (car.frame - 1) * 0.1, atol=1e-12)
    np.testing.assert_allclose(towards_minus_x.time, (towards_minus_x.frame - 1) * 0.1)
    classes = dict(zip(towards_plus_x.vehicle_id.tolist(), towards_plus_x.vehicle_class.tolist()))
    assert classes == {1: CAR, 2: TRUCK, 5: CAR}


def test_positions_are_resampled_from_the_25_hz_trajectory(recording):
    x_min, _ = x_extent()
    _, towards_plus_x = read_highd(recording)
    car = towards_plus_x.rows_of(1)  # constant velocity: interpolation is exact
    t = car.frame * 0.1
    np.testing.assert_allclose(car.x, 10 + 30 * t - x_min, atol=1e-9)
    np.testing.assert_allclose(car.y, 23.0 - 24.875, atol=1e-9)
    np.testing.assert_allclose(car.speed, 30.0, atol=1e-9)
    np.testing.assert_allclose(car.heading, 0.0, atol=1e-12)
    assert car.length[0] == 4.5 and car.width[0] == 1.8

    truck = towards_plus_x.rows_of(2)  # frames 10..200 at 25 Hz: k = 4..80
    assert truck.frame[0] == 4 and truck.frame[-1] == 80
    t = truck.frame * 0.1
    error = truck.x - (50 + 20 * t + 0.5 * t**2 - x_min)
    # Linear interpolation of a 1 m/s^2 trajectory between 25 Hz samples: at most
    # a * (0.04 s)^2 / 8 = 2e-4 m, reached half-way between two frames (odd k).
    assert np.abs(error).max() <= 2e-4 + 1e-9
    assert np.abs(error[1::2]).min() >= 2e-4 - 1e-9 and np.abs(error[::2]).max() < 1e-9
    np.testing.assert_allclose(truck.speed, 20 + t, atol=1e-9)  # velocity is linear in t
    assert truck.lane.tolist() == [3] * len(truck)

    short = towards_plus_x.rows_of(5)  # frames 100..102 hold one 0.1 s instant: k = 40
    assert short.frame.tolist() == [40]
    np.testing.assert_allclose(short.x, 100 + 28 * 4.0 - x_min, atol=1e-9)


def test_direction_1_is_turned_into_the_road_frame(recording):
    _, x_max = x_extent()
    towards_minus_x, _ = read_highd(recording)
    car = towards_minus_x.rows_of(3)
    t = car.frame * 0.1
    np.testing.assert_allclose(car.x, x_max - (400 - 35 * t), atol=1e-9)
    assert np.all(np.diff(car.x) > 0)  # x grows along travel
    np.testing.assert_allclose(car.y, 17.875 - 19.75, atol=1e-9)  # left edge is the median side
    np.testing.assert_allclose(car.heading, 0.0, atol=1e-12)
    np.testing.assert_allclose(car.speed, 35.0, atol=1e-9)
    assert np.all(car.y < 0) and np.all(car.x >= 0)


def test_lanes_are_numbered_from_the_left_of_travel(recording):
    towards_minus_x, towards_plus_x = read_highd(recording)
    assert towards_minus_x.rows_of(3).lane.tolist() == [1] * len(towards_minus_x.rows_of(3))
    changer = towards_minus_x.rows_of(4)  # image y 10.375 -> 14.125: towards the median
    assert changer.lane[0] == 3 and changer.lane[-1] == 2
    np.testing.assert_allclose(changer.y[[0, -1]], [10.375 - 19.75, 14.125 - 19.75], atol=1e-9)
    assert changer.heading.max() > 0.05  # moving left in the road frame: positive heading
    assert towards_plus_x.rows_of(1).lane[0] == 1 and towards_plus_x.rows_of(5).lane[0] == 2
    for log in (towards_minus_x, towards_plus_x):
        assert np.all((log.y > -3.75) == (log.lane == 1))


def test_a_whole_number_of_frames_per_step_picks_frames(recording):
    x_min, _ = x_extent()
    _, towards_plus_x = read_highd(recording, dt=0.2)  # every 5th 25 Hz frame
    truck = towards_plus_x.rows_of(2)
    assert truck.frame[0] == 2 and truck.frame[-1] == 40  # frames 10, 15, ..., 200
    t = truck.frame * 0.2
    np.testing.assert_allclose(truck.x, 50 + 20 * t + 0.5 * t**2 - x_min, atol=1e-9)
    assert towards_plus_x.dt == 0.2


def test_highd_road_matches_the_logs(recording):
    x_min, x_max = x_extent()
    logs = read_highd(recording)
    for direction, log in zip((1, 2), logs):
        road = highd_road(recording.with_name("01_recordingMeta.csv"), direction)
        assert road.name == log.site
        assert road.lane_ids.tolist() == [1, 2, 3]
        assert road.length == pytest.approx(x_max - x_min)
        np.testing.assert_allclose(road.lane(2).width(np.array([0.0, 100.0])), 3.75)
        assert road.y_range == pytest.approx((-11.25, 0.0))
        np.testing.assert_array_equal(road.lane_at(log.x, log.y), log.lane)
    given = highd_road(recording.with_name("01_recordingMeta.csv"), 2, x_extent=(0.0, 300.0))
    assert given.length == 300.0
    named = read_highd(recording, road=given)
    assert [log.site for log in named] == ["highd-2-2", "highd-2-2"]


def test_import_writes_each_direction_with_its_highd_road(recording, tmp_path):
    written = import_logs(recording, "highd", tmp_path / "out")
    assert [folder.name for folder in written] == ["01-direction1", "01-direction2"]
    for direction, (folder, log) in enumerate(zip(written, read_highd(recording)), start=1):
        road = highd_road(recording.with_name("01_recordingMeta.csv"), direction)
        assert (folder / "road.toml").read_text() == road.to_toml()
        saved = TrafficLog.load(folder)
        assert saved.equals(log) and saved.source == str(recording)
        assert saved.source_checksum == file_checksum(recording)


def test_a_direction_without_vehicles_gives_an_empty_log(tmp_path):
    only_towards_plus_x = [track for track in TRACKS if track.direction == 2]
    towards_minus_x, towards_plus_x = read_highd(write_recording(tmp_path, only_towards_plus_x))
    assert len(towards_minus_x) == 0 and towards_minus_x.site == "highd-2-1"
    assert towards_plus_x.vehicle_ids.tolist() == [1, 2, 5]


# ------------------------------------------------------------------------ bad input
def test_missing_companion_file_is_named(recording):
    meta = recording.with_name("01_tracksMeta.csv")
    meta.unlink()
    with pytest.raises(InputError) as caught:
        read_highd(recording)
    assert str(caught.value).startswith(str(meta))


def test_tracks_file_must_be_named_like_highd(tmp_path):
    with pytest.raises(InputError, match="01_tracks.csv"):
        read_highd(tmp_path / "tracks.csv")


def replace_in_line(path: Path, line: int, column: str, value: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    fields = lines[line - 1].rstrip("\n").split(",")
    fields[header.index(column)] = value
    lines[line - 1] = ",".join(fields) + "\n"
    path.write_text("".join(lines))


@pytest.mark.parametrize(
    ("file", "line", "column", "value", "words"),
    [
        ("tracks", 30, "width", "0", "(0, 100]"),
        ("tracks", 31, "x", "nan", "finite"),
        ("tracks", 32, "y", "", "empty field"),
        ("tracks", 33, "id", "77", "a vehicle listed in 01_tracksMeta.csv"),
        ("tracksMeta", 3, "class", "Bus", "Car or Truck"),
        ("tracksMeta", 2, "drivingDirection", "3", "1 (towards -x) or 2"),
        ("recordingMeta", 2, "frameRate", "-25", "(0, 1000]"),
        ("recordingMeta", 2, "upperLaneMarkings", "8.5;abc", "';'-separated numbers"),
        ("recordingMeta", 2, "lowerLaneMarkings", "23.0", "at least two"),
    ],
)
def test_bad_fields_are_named(recording, file, line, column, value, words):
    path = recording.with_name(f"01_{file}.csv")
    replace_in_line(path, line, column, value)
    with pytest.raises(InputError) as caught:
        read_highd(recording)
    error = caught.value
    assert str(error).startswith(str(path)) and words in str(error)
    assert error.line == line and error.field == column


def test_a_tracks_file_cut_at_a_line_end_is_caught_by_the_meta(recording):
    lines = recording.read_text().splitlines(keepends=True)
    recording.write_text("".join(lines[:-20]))  # vehicle 4 ends early, 5 is gone
    with pytest.raises(InputError, match="truncated"):
        read_highd(recording)


def test_a_gap_in_a_track_is_rejected(recording):
    lines = recording.read_text().splitlines(keepends=True)
    del lines[50]
    recording.write_text("".join(lines))
    with pytest.raises(InputError, match="vehicle 1 has no rows for frames 50..50"):
        read_highd(recording)

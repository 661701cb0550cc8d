"""highD recordings as `TrafficLog`s, one per driving direction, in the project's road frame.

A highD recording is three CSV files with a header line each:

* ``XX_tracks.csv``: one row per vehicle and frame. ``x, y`` [m] is the upper-left corner
  of the vehicle's bounding box in the image-aligned frame (x to the right, y *down*);
  ``width`` is the box's extent along x (the vehicle's length), ``height`` its extent
  along y (the vehicle's width); ``xVelocity, yVelocity`` [m/s] in the same axes.
* ``XX_tracksMeta.csv``: one row per vehicle: ``class`` (Car, Truck) and
  ``drivingDirection`` (1: towards -x, upper half of the image; 2: towards +x, lower half).
* ``XX_recordingMeta.csv``: ``frameRate`` [Hz] and the lane markings of the upper and
  lower halves (``upperLaneMarkings``, ``lowerLaneMarkings``: ';'-separated image y [m]).

Each direction becomes its own log in its own road frame (see :mod:`traffic_mpc.road`):
x along that direction's travel from the upstream end of the recorded stretch, y to the
left of travel from that direction's left road edge (its outermost marking on the median
side), so the road lies at y <= 0. For direction 2 that is ``x = cx - x_min``,
``y = left_edge - cy``; for direction 1 the image is turned by 180 degrees:
``x = x_max - cx``, ``y = cy - left_edge``, where ``(cx, cy)`` is the box centre and
``[x_min, x_max]`` the recording's extent along x. Lanes are numbered from 1 at the left
edge of each direction (0 off the marked road), derived from the markings.

The 25 Hz tracks are resampled to ``dt``: output frame ``k`` is at ``k * dt`` seconds on
the recording's clock (source frame ``f`` is at ``f / frameRate``). Where ``dt *
frameRate`` is a whole number the samples are picked (every 5th frame for 0.2 s at 25 Hz);
otherwise (0.1 s at 25 Hz is 2.5 frames) positions, velocities and sizes are linearly
interpolated between the two neighbouring frames. Heading and speed come from the
resampled velocities (highD's tracks are smoothed already; no further smoothing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from traffic_mpc.errors import InputError
from traffic_mpc.logs.ngsim import (
    TextTable,
    check_track_frames,
    read_bytes,
    read_text_table,
)
from traffic_mpc.logs.smoothing import heading_and_speed, track_starts
from traffic_mpc.logs.traffic_log import CAR, TRUCK, TrafficLog
from traffic_mpc.road import DEFAULT_LOOK_AHEAD, Road

TRACK_COLUMNS = (
    "frame", "id", "x", "y", "width", "height", "xVelocity", "yVelocity", "xAcceleration",
    "yAcceleration", "frontSightDistance", "backSightDistance", "dhw", "thw", "ttc",
    "precedingXVelocity", "precedingId", "followingId", "leftPrecedingId", "leftAlongsideId",
    "leftFollowingId", "rightPrecedingId", "rightAlongsideId", "rightFollowingId", "laneId",
)  # fmt: skip
TRACK_META_COLUMNS = (
    "id", "width", "height", "initialFrame", "finalFrame", "numFrames", "class",
    "drivingDirection", "traveledDistance", "minXVelocity", "maxXVelocity", "meanXVelocity",
    "minDHW", "minTHW", "minTTC", "numLaneChanges",
)  # fmt: skip
RECORDING_META_COLUMNS = (
    "id", "frameRate", "locationId", "speedLimit", "month", "weekDay", "startTime",
    "duration", "totalDrivenDistance", "totalDrivenTime", "numVehicles", "numCars",
    "numTrucks", "upperLaneMarkings", "lowerLaneMarkings",
)  # fmt: skip

#: drivingDirection values.
TOWARDS_MINUS_X, TOWARDS_PLUS_X = 1, 2

#: highD class names -> `TrafficLog` vehicle classes.
HIGHD_CLASSES = {"car": CAR, "truck": TRUCK}

# The columns of each file that a log is made from.
_TRACK_USED = ("frame", "id", "x", "y", "width", "height", "xVelocity", "yVelocity")
_META_NUMERIC = ("id", "initialFrame", "finalFrame", "numFrames", "drivingDirection")
_RECORDING_NUMERIC = ("id", "frameRate", "locationId")
_MARKINGS = ("upperLaneMarkings", "lowerLaneMarkings")

_MAX_ID = 2**31 - 1
_MAX_COORDINATE = 1e5  # m
_MAX_SIZE = 100.0  # m
_MAX_SPEED = 300.0  # m/s


# --------------------------------------------------------------------------- public
def read_highd(
    tracks_csv: str | Path, *, dt: float = 0.1, road: Road | None = None
) -> list[TrafficLog]:
    """Read a highD recording (``XX_tracks.csv`` and its two meta files beside it).

    Returns two logs, ``[direction 1, direction 2]`` (a direction without vehicles gives
    an empty log), resampled to ``dt`` [s], each in its direction's road frame (module
    docstring). The site is ``highd-LOCATION-DIRECTION``, the name of the geometry that
    `highd_road` builds, or ``road.name`` when a road is given (the road only names the
    site; the frame and the lanes always come from the recording's markings). ``time``
    [s] counts from the first output frame of the recording, so the logs of the two
    directions share one clock.
    """
    return [log for log, _ in read_highd_with_roads(tracks_csv, dt=dt, road=road)]


def read_highd_with_roads(
    tracks_csv: str | Path, *, dt: float = 0.1, road: Road | None = None
) -> list[tuple[TrafficLog, Road]]:
    """`read_highd`'s two logs, each with the road of its direction: ``[(log, road), ...]``.

    Each road is the one `highd_road` builds for that direction (from the same recording,
    over the extent of its tracks), made from the files read once.
    """
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number of seconds, got {dt}")
    tracks_path = Path(tracks_csv)
    meta_path, recording_path = _companion_paths(tracks_path)
    recording = _read_recording(recording_path)
    meta = _read_tracks_meta(meta_path)
    tracks, checksum = _read_tracks(tracks_path)
    meta_row = _meta_rows_of_tracks(tracks, meta)

    vehicle_id = tracks.columns["id"].astype(np.int64)
    frame = tracks.columns["frame"].astype(np.int64)
    order = np.lexsort((frame, vehicle_id))
    tracks = tracks.subset(order)
    vehicle_id, frame, meta_row = vehicle_id[order], frame[order], meta_row[order]
    check_track_frames(tracks.path, vehicle_id, frame, tracks.lines)
    _check_against_meta(tracks, vehicle_id, frame, meta)

    column = tracks.columns
    x_extent = _x_extent(column)
    centre_x = column["x"] + 0.5 * column["width"]
    centre_y = column["y"] + 0.5 * column["height"]
    resampled_id, resampled_frame, source_row, fields = _resample_tracks(
        vehicle_id,
        frame,
        {
            "centre_x": centre_x,
            "centre_y": centre_y,
            "velocity_x": column["xVelocity"],
            "velocity_y": column["yVelocity"],
            "length": column["width"],
            "width": column["height"],
        },
        frames_per_step=dt * recording.frame_rate,
    )
    first_frame = int(resampled_frame.min()) if len(resampled_frame) else 0
    direction = meta.direction[meta_row[source_row]]
    vehicle_class = meta.vehicle_class[meta_row[source_row]]

    pairs = []
    for driving_direction in (TOWARDS_MINUS_X, TOWARDS_PLUS_X):
        rows = np.flatnonzero(direction == driving_direction)
        frame_of_direction = recording.direction_frame(driving_direction, x_extent)
        x, y = frame_of_direction.to_road(fields["centre_x"][rows], fields["centre_y"][rows])
        velocity_x, velocity_y = frame_of_direction.velocity_to_road(
            fields["velocity_x"][rows], fields["velocity_y"][rows]
        )
        heading, speed = heading_and_speed(velocity_x, velocity_y, resampled_id[rows])
        log = TrafficLog(
            vehicle_id=resampled_id[rows],
            frame=resampled_frame[rows],
            time=(resampled_frame[rows] - first_frame) * dt,
            x=x,
            y=y,
            heading=heading,
            speed=speed,
            length=fields["length"][rows],
            width=fields["width"][rows],
            vehicle_class=vehicle_class[rows],
            lane=frame_of_direction.lane(y),
            dt=dt,
            site=road.name if road is not None else recording.site(driving_direction),
            source=str(tracks_path),
            source_checksum=checksum,
        )
        pairs.append((log, frame_of_direction.road(recording, dt)))
    return pairs


def highd_road(
    recording_meta_csv: str | Path,
    direction: int,
    *,
    x_extent: tuple[float, float] | None = None,
    dt: float = 0.1,
) -> Road:
    """The road of one driving direction of a highD recording, from its lane markings.

    Straight lanes (1 = leftmost in the direction of travel) over the recording's extent
    along x, ``x_extent = (x_min, x_max)`` [m, image frame]; by default that extent is
    measured from the ``XX_tracks.csv`` beside the meta file. The road is named
    ``highd-LOCATION-DIRECTION`` like the logs of `read_highd`, in the same road frame.
    """
    recording_path = Path(recording_meta_csv)
    recording = _read_recording(recording_path)
    if direction not in (TOWARDS_MINUS_X, TOWARDS_PLUS_X):
        raise ValueError(f"highD driving direction is 1 or 2, got {direction}")
    if x_extent is None:
        name = recording_path.name
        if not name.endswith("_recordingMeta.csv"):
            raise InputError(
                recording_path,
                "cannot find the tracks beside it: expected a name ending in "
                "_recordingMeta.csv (or pass x_extent)",
            )
        tracks_path = recording_path.with_name(name[: -len("_recordingMeta.csv")] + "_tracks.csv")
        x_extent = _x_extent(_read_tracks(tracks_path)[0].columns)
    return recording.direction_frame(direction, x_extent).road(recording, dt)


# -------------------------------------------------------------------------- the files
@dataclass(frozen=True)
class _Recording:
    """What ``XX_recordingMeta.csv`` says: clock and lane markings (image y, ascending)."""

    path: Path
    recording_id: int
    location_id: int
    frame_rate: float
    upper_markings: np.ndarray
    lower_markings: np.ndarray

    def site(self, direction: int) -> str:
        return f"highd-{self.location_id}-{direction}"

    def direction_frame(self, direction: int, x_extent: tuple[float, float]) -> _DirectionFrame:
        x_min, x_max = float(x_extent[0]), float(x_extent[1])
        if direction == TOWARDS_PLUS_X:
            markings = self.lower_markings
            return _DirectionFrame(
                direction, +1.0, x_min, x_max - x_min, markings[0], markings - markings[0]
            )
        markings = self.upper_markings
        return _DirectionFrame(
            direction, -1.0, x_max, x_max - x_min, markings[-1], markings[-1] - markings[::-1]
        )


@dataclass(frozen=True)
class _DirectionFrame:
    """The road frame of one driving direction, in the image frame.

    ``sign`` is +1 when travel is towards +x (direction 2), -1 otherwise; ``upstream_x``
    and ``left_edge_y`` [m, image] are where the road frame's origin lies; ``boundaries``
    (K + 1,) are the lane boundaries' distances [m] to the right of the left edge,
    ascending from 0, so lane ``j`` lies between ``-boundaries[j - 1]`` and
    ``-boundaries[j]`` in road y.
    """

    direction: int
    sign: float
    upstream_x: float
    length: float
    left_edge_y: float
    boundaries: np.ndarray

    def to_road(self, image_x: np.ndarray, image_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.sign * (image_x - self.upstream_x), self.sign * (self.left_edge_y - image_y)

    def velocity_to_road(
        self, image_vx: np.ndarray, image_vy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.sign * image_vx, -self.sign * image_vy

    def lane(self, road_y: np.ndarray) -> np.ndarray:
        """Lane id (1 = leftmost) of each road-frame y; 0 outside the marked road.

        On a marking the lane to its left wins, as in `Road.lane_at`.
        """
        depth = -np.asarray(road_y)
        lane = np.maximum(np.searchsorted(self.boundaries, depth, side="left"), 1)
        lane[(depth < 0) | (depth > self.boundaries[-1])] = 0
        return lane

    def road(self, recording: _Recording, dt: float) -> Road:
        length = self.length
        lanes = [
            {
                "id": j,
                "kind": "main",
                "left": [[0.0, -self.boundaries[j - 1]], [length, -self.boundaries[j - 1]]],
                "right": [[0.0, -self.boundaries[j]], [length, -self.boundaries[j]]],
            }
            for j in range(1, len(self.boundaries))
        ]
        spec = {
            "name": recording.site(self.direction),
            "title": (
                f"highD location {recording.location_id}, recording {recording.recording_id}, "
                f"driving direction {self.direction}: {len(lanes)} lanes"
            ),
            "length": length,
            "dt": dt,
            "valid": {"look_ahead": min(DEFAULT_LOOK_AHEAD, length / 4)},
            "ngsim": {"smoothing_window": 0.0},
            "lanes": lanes,
        }
        return Road.from_dict(spec, source=str(recording.path))


@dataclass(frozen=True)
class _TracksMeta:
    """Per vehicle of ``XX_tracksMeta.csv``, rows sorted by id."""

    table: TextTable
    vehicle_id: np.ndarray
    direction: np.ndarray
    vehicle_class: np.ndarray
    initial_frame: np.ndarray
    final_frame: np.ndarray
    num_frames: np.ndarray


def _companion_paths(tracks_path: Path) -> tuple[Path, Path]:
    name = tracks_path.name
    if not name.endswith("_tracks.csv"):
        raise InputError(tracks_path, "not a highD tracks file: expected a name like 01_tracks.csv")
    prefix = name[: -len("_tracks.csv")]
    paths = (
        tracks_path.with_name(prefix + "_tracksMeta.csv"),
        tracks_path.with_name(prefix + "_recordingMeta.csv"),
    )
    for path in paths:
        if not path.exists():
            raise InputError(path, f"missing: a highD recording needs it beside {name}")
    return paths


def _read_recording(path: Path) -> _Recording:
    table = read_text_table(
        path, columns=_RECORDING_NUMERIC + _MARKINGS, numeric=_RECORDING_NUMERIC,
        text=_MARKINGS, delimiter=",", header=True,
    )  # fmt: skip
    if len(table) != 1:
        raise InputError(
            path, f"expected one row describing the recording, got {len(table)}",
            line=int(table.lines[1]),
        )  # fmt: skip
    table.require_finite(_RECORDING_NUMERIC)
    table.require_integers("id", 0, _MAX_ID)
    table.require_integers("locationId", 0, _MAX_ID)
    table.require_range("frameRate", 0, 1000, open_low=True)
    markings = {name: _parse_markings(table, name) for name in _MARKINGS}
    return _Recording(
        path=path,
        recording_id=int(table.columns["id"][0]),
        location_id=int(table.columns["locationId"][0]),
        frame_rate=float(table.columns["frameRate"][0]),
        upper_markings=markings["upperLaneMarkings"],
        lower_markings=markings["lowerLaneMarkings"],
    )


def _parse_markings(table: TextTable, name: str) -> np.ndarray:
    text = table.text[name][0]
    try:
        values = np.array([float(part) for part in text.split(";")])
    except ValueError:
        raise table.error(0, name, f"got {text!r}, expected ';'-separated numbers") from None
    if len(values) < 2 or not np.all(np.isfinite(values)) or np.any(np.diff(values) <= 0):
        raise table.error(
            0, name, f"got {text!r}, expected at least two finite, increasing y values [m]"
        )
    if np.any(np.abs(values) > _MAX_COORDINATE):
        raise table.error(0, name, f"got {text!r}, expected y values within the image")
    return values


def _read_tracks_meta(path: Path) -> _TracksMeta:
    table = read_text_table(
        path, columns=_META_NUMERIC + ("class",), numeric=_META_NUMERIC, text=("class",),
        delimiter=",", header=True,
    )  # fmt: skip
    table.require_finite(_META_NUMERIC)
    table.require_integers("id", 0, _MAX_ID)
    for name in ("initialFrame", "finalFrame", "numFrames"):
        table.require_integers(name, 0, _MAX_ID)
    table.require("drivingDirection", np.isin(table.columns["drivingDirection"], (1, 2)),
                  "1 (towards -x) or 2 (towards +x)")  # fmt: skip
    class_name = np.char.lower(table.text["class"])
    table.require("class", np.isin(class_name, list(HIGHD_CLASSES)), "Car or Truck")
    table = table.subset(np.argsort(table.columns["id"], kind="stable"))
    vehicle_id = table.columns["id"].astype(np.int64)
    repeated = np.flatnonzero(vehicle_id[1:] == vehicle_id[:-1])
    if repeated.size:
        raise table.error(int(repeated[0]) + 1, "id", f"vehicle {vehicle_id[repeated[0]]} "
                          "is described twice")  # fmt: skip
    return _TracksMeta(
        table=table,
        vehicle_id=vehicle_id,
        direction=table.columns["drivingDirection"].astype(np.int64),
        vehicle_class=np.array(
            [HIGHD_CLASSES[name] for name in np.char.lower(table.text["class"]).tolist()],
            dtype=np.int8,
        ),
        initial_frame=table.columns["initialFrame"].astype(np.int64),
        final_frame=table.columns["finalFrame"].astype(np.int64),
        num_frames=table.columns["numFrames"].astype(np.int64),
    )


def _read_tracks(path: Path) -> tuple[TextTable, str]:
    """The checked tracks table and the SHA-256 of the file's bytes (read once)."""
    data = read_bytes(path)
    table = read_text_table(
        path, columns=_TRACK_USED, numeric=_TRACK_USED, delimiter=",", header=True, data=data
    )
    table.require_finite(_TRACK_USED)
    table.require_integers("frame", 0, _MAX_ID)
    table.require_integers("id", 0, _MAX_ID)
    for name in ("x", "y"):
        table.require_range(name, -_MAX_COORDINATE, _MAX_COORDINATE)
    for name in ("width", "height"):
        table.require_range(name, 0, _MAX_SIZE, open_low=True)
    for name in ("xVelocity", "yVelocity"):
        table.require_range(name, -_MAX_SPEED, _MAX_SPEED)
    return table, hashlib.sha256(data).hexdigest()


def _meta_rows_of_tracks(tracks: TextTable, meta: _TracksMeta) -> np.ndarray:
    """Row of ``meta`` describing each row of ``tracks``; an undescribed vehicle is an error."""
    vehicle_id = tracks.columns["id"].astype(np.int64)
    row = np.minimum(np.searchsorted(meta.vehicle_id, vehicle_id), len(meta.vehicle_id) - 1)
    tracks.require("id", meta.vehicle_id[row] == vehicle_id,
                   f"a vehicle listed in {meta.table.path.name}")  # fmt: skip
    return row


def _check_against_meta(
    tracks: TextTable, vehicle_id: np.ndarray, frame: np.ndarray, meta: _TracksMeta
) -> None:
    """Every vehicle of the meta file has exactly the frames it announces (catches a cut file)."""
    ids, first_row, count = np.unique(vehicle_id, return_index=True, return_counts=True)
    present = np.isin(meta.vehicle_id, ids)
    if not present.all():
        k = int(np.argmin(present))
        raise InputError(
            tracks.path,
            f"vehicle {meta.vehicle_id[k]} of {meta.table.path.name} (line "
            f"{meta.table.lines[k]}) has no rows here: is this file truncated?",
        )
    first = frame[first_row]
    last = frame[first_row + count - 1]
    wrong = np.flatnonzero(
        (first != meta.initial_frame) | (last != meta.final_frame) | (count != meta.num_frames)
    )
    if wrong.size:
        k = int(wrong[0])
        raise InputError(
            tracks.path,
            f"vehicle {ids[k]} has {count[k]} rows, frames {first[k]}..{last[k]}, but "
            f"{meta.table.path.name} (line {meta.table.lines[k]}) says {meta.num_frames[k]}, "
            f"frames {meta.initial_frame[k]}..{meta.final_frame[k]}: is a file truncated?",
            line=int(tracks.lines[first_row[k] + count[k] - 1]),
        )


def _x_extent(column: dict[str, np.ndarray]) -> tuple[float, float]:
    """[x_min, x_max] [m, image frame] covered by any vehicle's bounding box."""
    return float(column["x"].min()), float((column["x"] + column["width"]).max())


# ------------------------------------------------------------------------- resampling
def _resample_tracks(
    vehicle_id: np.ndarray,
    frame: np.ndarray,
    fields: dict[str, np.ndarray],
    frames_per_step: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Resample tracks (rows sorted by vehicle, consecutive frames) to a coarser clock.

    Output frame ``k`` lies at source frame ``k * frames_per_step``; every track keeps the
    output frames inside its own span. A whole ``frames_per_step`` picks source rows,
    otherwise each field (N,) is interpolated linearly between the two neighbouring rows.
    Returns ``(vehicle_id, k, source_row, fields)`` of the output rows, where
    ``source_row`` is the source row at or before each output row.
    """
    if abs(frames_per_step - round(frames_per_step)) < 1e-9:
        frames_per_step = float(round(frames_per_step))
    n = len(frame)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, {name: np.zeros(0) for name in fields}
    start = track_starts(vehicle_id)
    size = np.diff(np.append(start, n))
    first_frame = frame[start].astype(np.float64)
    last_frame = first_frame + size - 1
    k_first = np.ceil(first_frame / frames_per_step - 1e-9).astype(np.int64)
    k_last = np.floor(last_frame / frames_per_step + 1e-9).astype(np.int64)
    count = np.maximum(k_last - k_first + 1, 0)
    track = np.repeat(np.arange(len(start)), count)
    offset = np.arange(len(track)) - np.repeat(np.cumsum(count) - count, count)
    k = k_first[track] + offset
    position = k * frames_per_step - first_frame[track]  # fractional row within the track
    before = np.clip(np.floor(position + 1e-9).astype(np.int64), 0, size[track] - 1)
    after = np.minimum(before + 1, size[track] - 1)
    weight = np.clip(position - before, 0.0, 1.0)
    weight[after == before] = 0.0
    row_before, row_after = start[track] + before, start[track] + after
    resampled = {
        name: values[row_before] * (1.0 - weight) + values[row_after] * weight
        for name, values in fields.items()
    }
    return vehicle_id[row_before], k, row_before, resampled

"""NGSIM trajectory files (I-80, US-101): reading into a `TrafficLog`, and writing one back.

Two layouts are read (REFERENCE.md, "Data: NGSIM"):

* the original text files: 18 whitespace-separated columns, no header
  (:data:`ORIGINAL_COLUMNS`);
* the public CSV export: a header line and 25 comma-separated columns
  (:data:`CSV_COLUMNS`; matched by name, case-insensitively), holding several sites; the
  rows of the road's ``ngsim_location`` are kept.

From NGSIM to the road frame of :mod:`traffic_mpc.road` (feet become metres):

* NGSIM gives the *front centre* of a vehicle: ``front_x = Local_Y``, ``front_y = -Local_X``;
* front positions are smoothed per vehicle with the centred filter of
  :mod:`traffic_mpc.logs.smoothing` over ``smoothing_window`` seconds;
* the vehicle centre trails the front by half a length along the heading, and moves
  along the heading (the replay world's kinematics): from a first heading (the direction
  of the front's velocity, a central difference, held while slower than
  ``HEADING_MIN_SPEED``), each step's heading is the direction from the previous centre
  to the new front, and the centre is ``front - length / 2 * (cos heading, sin heading)``
  (:func:`traffic_mpc.logs.smoothing.centres_behind_fronts`). Logs that obey these
  kinematics, such as the generator's, come back exactly.

The time step comes from ``Global_Time`` [ms], not from ``Frame_ID``; a file where
``Global_Time - Frame_ID * dt`` is not constant (within 1 ms) has been resampled or
renumbered and is rejected, as are duplicate (vehicle, frame) rows and frames missing
inside a vehicle's track. Every problem in a file is one `InputError` naming the file,
the line and the field.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from traffic_mpc import atomic
from traffic_mpc.errors import InputError
from traffic_mpc.logs.smoothing import (
    central_difference,
    centred_moving_average,
    centres_behind_fronts,
    half_width_steps,
    heading_and_speed,
    track_bounds,
)
from traffic_mpc.logs.traffic_log import VEHICLE_CLASSES, TrafficLog
from traffic_mpc.road import Road

#: Metres per foot (exact).
FOOT = 0.3048

#: Columns of the original text files, in order.
ORIGINAL_COLUMNS = (
    "Vehicle_ID", "Frame_ID", "Total_Frames", "Global_Time", "Local_X", "Local_Y",
    "Global_X", "Global_Y", "v_Length", "v_Width", "v_Class", "v_Vel", "v_Acc", "Lane_ID",
    "Preceding", "Following", "Space_Headway", "Time_Headway",
)  # fmt: skip

#: Columns of the public CSV export, in order (read by name, so the order may differ).
CSV_COLUMNS = (
    ORIGINAL_COLUMNS[:14]
    + ("O_Zone", "D_Zone", "Int_ID", "Section_ID", "Direction", "Movement")
    + ORIGINAL_COLUMNS[14:]
    + ("Location",)
)

#: The columns a log is made from; in the CSV export only these are parsed.
USED_COLUMNS = (
    "Vehicle_ID", "Frame_ID", "Global_Time", "Local_X", "Local_Y",
    "v_Length", "v_Width", "v_Class", "Lane_ID",
)  # fmt: skip

#: Global_Time [ms since 1970] of frame 0 in files written by `write_ngsim`
#: (2005-04-13 00:00 UTC, the day the I-80 data were recorded).
WRITE_EPOCH_MS = 1_113_350_400_000

#: NGSIM's Time_Headway [s] for a vehicle that has a preceding one but does not move.
NO_MOTION_TIME_HEADWAY = 9999.99

#: Global_Time - Frame_ID * dt may vary by this much [ms] (Global_Time is whole ms).
GLOBAL_TIME_TOLERANCE_MS = 1.0

# Plausibility bounds: values outside are corrupt fields, not traffic.
_MAX_ID = 2**31 - 1
_MAX_POSITION_FT = 1e6
_MAX_SIZE_FT = 1000.0
_MAX_GLOBAL_TIME_MS = 1e15

# Spreadsheet exports may start with a UTF-8 byte order mark.
_UTF8_BOM = b"\xef\xbb\xbf"

# A number as numpy's text parser reads it (used to point at the field it rejected).
_NUMBER = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)\s*", re.IGNORECASE
)


# ----------------------------------------------------------------------- text tables
@dataclass(frozen=True)
class TextTable:
    """Named columns of a delimited text file, with the file line of every row.

    ``columns`` holds the numeric columns as float64 ``(rows,)`` arrays, ``text`` the
    text columns as stripped ``str`` arrays, ``lines`` the 1-based line of each row in
    the file, so that any later check can name the line and the field it rejects.
    """

    path: Path
    columns: dict[str, np.ndarray]
    text: dict[str, np.ndarray]
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.lines)

    def subset(self, rows: np.ndarray) -> TextTable:
        """The table restricted to ``rows`` (a boolean mask or row indices)."""
        return TextTable(
            self.path,
            {name: values[rows] for name, values in self.columns.items()},
            {name: values[rows] for name, values in self.text.items()},
            self.lines[rows],
        )

    def error(self, row: int, name: str, problem: str) -> InputError:
        return InputError(self.path, problem, line=int(self.lines[row]), field=name)

    def require(self, name: str, ok: np.ndarray, expected: str) -> None:
        """Raise for the first row where ``ok`` is false: ``got VALUE, expected ...``."""
        if not np.all(ok):
            row = int(np.argmin(ok))
            values = self.columns[name] if name in self.columns else self.text[name]
            raise self.error(row, name, f"got {_show(values[row])}, expected {expected}")

    def require_finite(self, names: Sequence[str]) -> None:
        """Every value of the named numeric columns is a finite number."""
        for name in names:
            self.require(name, np.isfinite(self.columns[name]), "a finite number")

    def require_integers(self, name: str, low: float, high: float) -> None:
        """Every value of a numeric column is a whole number in ``[low, high]``."""
        values = self.columns[name]
        self.require(name, values == np.round(values), "a whole number")
        self.require(name, (values >= low) & (values <= high), f"a number in [{low:g}, {high:g}]")

    def require_range(self, name: str, low: float, high: float, *, open_low: bool = False) -> None:
        """Every value of a numeric column lies in ``[low, high]`` (``(low, high]``)."""
        values = self.columns[name]
        above = values > low if open_low else values >= low
        bracket = "(" if open_low else "["
        self.require(name, above & (values <= high), f"a number in {bracket}{low:g}, {high:g}]")


def read_text_table(
    path: str | Path,
    *,
    columns: Sequence[str],
    numeric: Sequence[str],
    text: Sequence[str] = (),
    delimiter: str | None = None,
    header: bool = False,
    data: bytes | None = None,
) -> TextTable:
    """Parse a delimited text file into a `TextTable`; any malformed line is an `InputError`.

    Without ``header`` the file has exactly ``columns`` (whitespace-separated when
    ``delimiter`` is None). With ``header`` the first non-blank line names the columns;
    it must hold every name of ``columns`` (matched case-insensitively; other columns
    are allowed and ignored) and every row as many fields as the header. ``numeric`` and
    ``text`` (subsets of ``columns``) are the columns returned. Blank lines are skipped;
    ``data`` may hold the file's bytes when the caller has read them already.
    """
    path = Path(path)
    if data is None:
        data = read_bytes(path)
    if data.startswith(_UTF8_BOM):
        data = b" " * len(_UTF8_BOM) + data[len(_UTF8_BOM) :]  # keeps offsets and lines
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = data.split(b"\n")
    content = np.flatnonzero(np.fromiter(map(len, map(bytes.strip, lines)), np.int64, len(lines)))
    content = content.tolist()
    if not content:
        raise InputError(path, "empty file: no data")
    separator = None if delimiter is None else delimiter.encode()
    if header:
        header_index = content[0]
        names = [
            name.strip().strip('"').strip()
            for name in lines[header_index].decode("latin-1").split(delimiter)
        ]
        known = {name.lower() for name in columns}
        if not known & {name.lower() for name in names} and any(map(_NUMBER.fullmatch, names)):
            raise InputError(
                path,
                "no header line: the first line holds data, expected the column names "
                f"({', '.join(columns)})",
                line=header_index + 1,
            )
        index_of: dict[str, int] = {}
        for index, name in enumerate(names):
            index_of.setdefault(name.lower(), index)
        for name in columns:
            if name.lower() not in index_of:
                raise InputError(
                    path,
                    f"the header has no column {name} (it has: {', '.join(names)})",
                    line=header_index + 1,
                    field=name,
                )
        position = {name: index_of[name.lower()] for name in columns}
        row_lines = content[1:]
        n_fields = len(names)
        skip = header_index + 1
        if not row_lines:
            raise InputError(path, "no data rows after the header", line=header_index + 1)
    else:
        position = {name: index for index, name in enumerate(columns)}
        row_lines = content
        n_fields = len(columns)
        skip = 0
    layout = _Layout(path, lines, row_lines, separator, n_fields, position, data.endswith(b"\n"))

    if separator is not None:
        separators = np.fromiter(map(bytes.count, lines, repeat(separator)), np.int64, len(lines))
        wrong = np.flatnonzero(separators[row_lines] != n_fields - 1)
        if wrong.size:
            raise layout.field_count_error(row_lines[wrong[0]])
        if len(content) + lines.count(b"") != len(lines):
            # Whitespace-only lines: numpy reads them as rows of one field; empty them.
            data = b"\n".join(line if line.strip() else b"" for line in lines)

    use = [position[name] for name in numeric]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = np.loadtxt(
                io.BytesIO(data),
                dtype=np.float64,
                delimiter=delimiter,
                comments=None,
                skiprows=skip,
                usecols=use if separator is not None else None,
                ndmin=2,
                encoding="latin-1",
            )
            if separator is None and values.shape[1] != n_fields:
                raise ValueError(f"{values.shape[1]} columns")
            if values.shape[0] != len(row_lines):
                raise ValueError(f"{values.shape[0]} rows")
    except (ValueError, OverflowError, UnicodeError, IndexError) as error:
        raise layout.diagnose(error, numeric) from None
    if separator is None:
        values = values[:, use]
    return TextTable(
        path=path,
        columns={name: np.ascontiguousarray(values[:, j]) for j, name in enumerate(numeric)},
        text={name: layout.text_column(name) for name in text},
        lines=np.asarray(row_lines, dtype=np.int64) + 1,
    )


@dataclass(frozen=True)
class _Layout:
    """What a table's lines should look like; finds and names the first line that is not."""

    path: Path
    lines: list[bytes]
    row_lines: list[int]
    separator: bytes | None
    n_fields: int
    position: dict[str, int]
    ends_with_newline: bool

    def fields(self, index: int) -> list[bytes]:
        return self.lines[index].split(self.separator)

    def text_column(self, name: str) -> np.ndarray:
        """The stripped text of one column over all rows (whitespace layouts excepted)."""
        position = self.position[name]
        if position == self.n_fields - 1:
            raw = [self.lines[i].rpartition(self.separator)[2] for i in self.row_lines]
        else:
            raw = [self.lines[i].split(self.separator)[position] for i in self.row_lines]
        distinct = list(set(raw))
        code = {value: k for k, value in enumerate(distinct)}
        cleaned = [value.decode("latin-1").strip().strip('"').strip() for value in distinct]
        codes = np.fromiter(map(code.__getitem__, raw), np.int64, len(raw))
        return np.array(cleaned or [""], dtype=str)[codes]

    def field_count_error(self, index: int) -> InputError:
        count = len(self.fields(index))
        problem = f"{count} fields, expected {self.n_fields}"
        if index == self.row_lines[-1] and not self.ends_with_newline and count < self.n_fields:
            problem += " (the last line is cut short: is the file truncated?)"
        return InputError(self.path, problem, line=index + 1)

    def diagnose(self, error: Exception, numeric: Sequence[str]) -> InputError:
        """The `InputError` for the first line numpy could not read."""
        rows = range(len(self.row_lines))
        hint = re.search(r"at row (\d+)", str(error))
        if hint:
            near = int(hint.group(1))
            rows = [*range(max(0, near - 2), min(len(self.row_lines), near + 3)), *rows]
        for row in rows:
            index = self.row_lines[row]
            fields = self.fields(index)
            if len(fields) != self.n_fields:
                return self.field_count_error(index)
            for name in numeric:
                token = fields[self.position[name]].decode("utf-8", "replace")
                if not _NUMBER.fullmatch(token):
                    shown = "an empty field" if not token.strip() else repr(token.strip())
                    return InputError(
                        self.path, f"got {shown}, expected a number", line=index + 1, field=name
                    )
        return InputError(self.path, f"cannot be read as a table of numbers: {error}")


def read_bytes(path: Path) -> bytes:
    """A file's bytes; an unreadable file is an `InputError`."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(path, f"cannot read the file: {error.strerror or error}") from None


def check_track_frames(
    path: Path, vehicle_id: np.ndarray, frame: np.ndarray, lines: np.ndarray
) -> None:
    """Rows sorted by vehicle, then frame: reject a repeated (vehicle, frame) and a gap.

    ``vehicle_id``, ``frame`` and ``lines`` (the file line of each row) are ``(N,)``.
    Gaps are not interpolated: a track with missing frames must be fixed or excluded.
    """
    same_vehicle = vehicle_id[1:] == vehicle_id[:-1]
    step = np.diff(frame)
    repeated = np.flatnonzero(same_vehicle & (step == 0))
    if repeated.size:
        i = int(repeated[0])
        raise InputError(
            path,
            f"vehicle {vehicle_id[i]} appears twice at frame {frame[i]} "
            f"(lines {lines[i]} and {lines[i + 1]})",
            line=int(lines[i + 1]),
        )
    missing = np.flatnonzero(same_vehicle & (step > 1))
    if missing.size:
        i = int(missing[0])
        raise InputError(
            path,
            f"vehicle {vehicle_id[i]} has no rows for frames {frame[i] + 1}..{frame[i + 1] - 1} "
            f"(between lines {lines[i]} and {lines[i + 1]}); gaps are not interpolated: "
            "fix the track or exclude the vehicle",
            line=int(lines[i + 1]),
        )


# --------------------------------------------------------------------------- reading
def read_ngsim(
    path: str | Path, road: Road, *, smoothing_window: float | None = None
) -> TrafficLog:
    """Read an NGSIM trajectory file (original text or CSV export) into a `TrafficLog`.

    ``road`` gives the site name, the CSV ``Location`` to keep (``road.ngsim_location``,
    case-insensitive), the vehicles to drop (``road.excluded_vehicles``) and the default
    smoothing window. ``smoothing_window`` [s] overrides ``road.smoothing_window``; 0
    keeps the positions as logged. Rows come out sorted by vehicle, then frame; ``time``
    [s] counts from the first frame of the file, ``dt`` is measured from Global_Time.
    """
    path = Path(path)
    window = road.smoothing_window if smoothing_window is None else float(smoothing_window)
    if not (np.isfinite(window) and window >= 0):
        raise ValueError(f"smoothing_window must be a finite number >= 0 s, got {window}")
    data = read_bytes(path)
    if _is_csv(path, data):
        table = read_text_table(
            path, columns=USED_COLUMNS + ("Location",), numeric=USED_COLUMNS,
            text=("Location",), delimiter=",", header=True, data=data,
        )  # fmt: skip
        table = _rows_of_location(table, road)
        table.require_finite(USED_COLUMNS)
    else:
        table = read_text_table(path, columns=ORIGINAL_COLUMNS, numeric=ORIGINAL_COLUMNS, data=data)
        table.require_finite(ORIGINAL_COLUMNS)
        for name in ("Total_Frames", "Preceding", "Following"):
            table.require_integers(name, -_MAX_ID, _MAX_ID)
    _check_used_values(table)
    return _log_from_rows(table, road, window, hashlib.sha256(data).hexdigest())


def _is_csv(path: Path, data: bytes) -> bool:
    """Layout of the file from its first non-blank line: commas make it the CSV export."""
    first = re.search(rb"\S", data)
    if first is None:
        raise InputError(path, "empty file: no data")
    end = data.find(b"\n", first.start())
    return b"," in data[first.start() : end if end >= 0 else len(data)]


def _rows_of_location(table: TextTable, road: Road) -> TextTable:
    location = table.text["Location"]
    present = sorted(set(location.tolist()))
    wanted = road.ngsim_location.strip().lower()
    if not wanted:
        if len(present) == 1:
            return table
        raise InputError(
            table.path,
            f"road {road.name} names no NGSIM location to select, and the file holds "
            f"several: {', '.join(present)}",
            field="Location",
        )
    keep = np.isin(location, [name for name in present if name.lower() == wanted])
    if not keep.any():
        raise InputError(
            table.path,
            f"no rows for location {road.ngsim_location!r} (road {road.name}); "
            f"locations in the file: {', '.join(present)}",
            field="Location",
        )
    return table.subset(keep)


def _check_used_values(table: TextTable) -> None:
    table.require_integers("Vehicle_ID", 0, _MAX_ID)
    table.require_integers("Frame_ID", 0, _MAX_ID)
    table.require_range("Global_Time", 0, _MAX_GLOBAL_TIME_MS)
    table.require_range("Local_X", -_MAX_POSITION_FT, _MAX_POSITION_FT)
    table.require_range("Local_Y", -_MAX_POSITION_FT, _MAX_POSITION_FT)
    table.require_range("v_Length", 0, _MAX_SIZE_FT, open_low=True)
    table.require_range("v_Width", 0, _MAX_SIZE_FT, open_low=True)
    classes = table.columns["v_Class"]
    table.require(
        "v_Class",
        np.isin(classes, list(VEHICLE_CLASSES)),
        "a vehicle class: " + ", ".join(f"{k} {v}" for k, v in VEHICLE_CLASSES.items()),
    )
    table.require_integers("Lane_ID", 0, np.iinfo(np.int16).max)


def _log_from_rows(table: TextTable, road: Road, window: float, checksum: str) -> TrafficLog:
    """The log of the table's rows; ``checksum`` is the SHA-256 of the file's bytes."""
    path = table.path
    column = table.columns
    first_frame = int(column["Frame_ID"].min())
    vehicle_id = column["Vehicle_ID"].astype(np.int64)
    if road.excluded_vehicles:
        table = table.subset(~np.isin(vehicle_id, list(road.excluded_vehicles)))
        column = table.columns
        vehicle_id = column["Vehicle_ID"].astype(np.int64)
    frame = column["Frame_ID"].astype(np.int64)
    order = np.lexsort((frame, vehicle_id))
    vehicle_id, frame, lines = vehicle_id[order], frame[order], table.lines[order]
    check_track_frames(path, vehicle_id, frame, lines)
    dt = _time_step(path, vehicle_id, frame, column["Global_Time"][order], lines, road.dt)

    half_width = half_width_steps(window, dt)
    front_x = centred_moving_average(column["Local_Y"][order] * FOOT, vehicle_id, half_width)
    front_y = centred_moving_average(-column["Local_X"][order] * FOOT, vehicle_id, half_width)
    front_heading, _ = heading_and_speed(
        central_difference(front_x, vehicle_id, dt),
        central_difference(front_y, vehicle_id, dt),
        vehicle_id,
    )
    length = column["v_Length"][order] * FOOT
    x, y, heading, speed = centres_behind_fronts(
        front_x, front_y, length, vehicle_id, front_heading, dt
    )
    return TrafficLog(
        vehicle_id=vehicle_id,
        frame=frame,
        time=(frame - first_frame) * dt,
        x=x,
        y=y,
        heading=heading,
        speed=speed,
        length=length,
        width=column["v_Width"][order] * FOOT,
        vehicle_class=column["v_Class"][order],
        lane=column["Lane_ID"][order],
        dt=dt,
        site=road.name,
        source=str(path),
        source_checksum=checksum,
    )


def _time_step(
    path: Path,
    vehicle_id: np.ndarray,
    frame: np.ndarray,
    global_time: np.ndarray,
    lines: np.ndarray,
    default_dt: float,
) -> float:
    """dt [s] from Global_Time [ms]; rows sorted by vehicle then frame, without gaps.

    dt is the median Global_Time step between consecutive frames of a vehicle; then
    ``Global_Time - Frame_ID * dt`` must be one constant (within 1 ms) over the file.
    """
    if len(frame) == 0:
        return default_dt
    same_vehicle = vehicle_id[1:] == vehicle_id[:-1]
    steps = np.diff(global_time)[same_vehicle]
    first, last = int(np.argmin(frame)), int(np.argmax(frame))
    if steps.size:
        dt_ms = float(np.median(steps))
    elif frame[last] > frame[first]:
        dt_ms = float((global_time[last] - global_time[first]) / (frame[last] - frame[first]))
    else:
        dt_ms = default_dt * 1000.0
    if not dt_ms >= 1.0:
        raise InputError(
            path,
            f"Global_Time advances by {dt_ms:g} ms per frame; expected the frame period "
            "(at least 1 ms)",
            field="Global_Time",
        )
    offset = global_time - frame * dt_ms
    low, high = int(np.argmin(offset)), int(np.argmax(offset))
    spread = float(offset[high] - offset[low])
    if spread > GLOBAL_TIME_TOLERANCE_MS + 1e-6:
        raise InputError(
            path,
            f"Global_Time and Frame_ID disagree: Global_Time - Frame_ID * {dt_ms:g} ms should "
            f"be constant but varies by {spread:.0f} ms (line {lines[low]}: frame "
            f"{frame[low]} at {global_time[low]:.0f} ms; line {lines[high]}: frame "
            f"{frame[high]} at {global_time[high]:.0f} ms); the file has been resampled or "
            "renumbered",
            line=int(lines[high]),
            field="Global_Time",
        )
    return dt_ms / 1000.0


# --------------------------------------------------------------------------- writing
def write_ngsim(log: TrafficLog, path: str | Path) -> Path:
    """Write ``log`` as an original-layout NGSIM text file (18 columns, feet), atomically.

    Positions are the front centres (``centre + length / 2 * (cos, sin) heading``);
    Global_Time is :data:`WRITE_EPOCH_MS` + ``frame * dt`` in ms and Global_X/Y repeat
    Local_X/Y. v_Vel and v_Acc come from the log's speed; Preceding, Following,
    Space_Headway (front to front) and Time_Headway are computed from the vehicles in
    the same lane at the same frame (0 where there is none; lane 0 has no neighbours).
    Six decimals of a foot (0.3 micrometre) are kept, so reading the file back with
    ``smoothing_window=0`` reproduces positions to ~1e-6 m.
    """
    if not log.is_sorted():
        log = log.sorted()
    start, end = track_bounds(log.vehicle_id)
    front_x = log.x + 0.5 * log.length * np.cos(log.heading)
    front_y = log.y + 0.5 * log.length * np.sin(log.heading)
    local_x = -front_y / FOOT
    local_y = front_x / FOOT
    acceleration = central_difference(log.speed, log.vehicle_id, log.dt)
    preceding, following, space_headway = _same_lane_neighbours(log, front_x)
    has_preceding = preceding > 0
    moving = log.speed > 0
    time_headway = np.zeros(len(log))
    ahead_and_moving = has_preceding & moving
    time_headway[ahead_and_moving] = space_headway[ahead_and_moving] / log.speed[ahead_and_moving]
    time_headway[has_preceding & ~moving] = NO_MOTION_TIME_HEADWAY

    global_time = np.round(WRITE_EPOCH_MS + log.frame * (log.dt * 1000.0), 3)
    whole_ms = bool(np.all(global_time == np.round(global_time)))
    time_format = "%d" if whole_ms else "%.3f"
    row_format = (
        f"%d %d %d {time_format} %.6f %.6f %.6f %.6f %.6f %.6f %d %.6f %.6f %d %d %d %.6f %.4f\n"
    )
    columns = (
        log.vehicle_id,
        log.frame,
        end - start,
        global_time.astype(np.int64) if whole_ms else global_time,
        local_x,
        local_y,
        local_x,
        local_y,
        log.length / FOOT,
        log.width / FOOT,
        log.vehicle_class,
        log.speed / FOOT,
        acceleration / FOOT,
        log.lane,
        preceding,
        following,
        space_headway / FOOT,
        time_headway,
    )
    text = "".join(row_format % row for row in zip(*(c.tolist() for c in columns)))
    return atomic.write_text(path, text)


def _same_lane_neighbours(
    log: TrafficLog, front_x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Preceding and following vehicle ids and the front-to-front gap [m] to the preceding
    one, among the vehicles in the same lane (> 0) at the same frame; 0 where none."""
    n = len(log)
    preceding = np.zeros(n, dtype=np.int64)
    following = np.zeros(n, dtype=np.int64)
    gap = np.zeros(n)
    if n < 2:
        return preceding, following, gap
    order = np.lexsort((log.vehicle_id, front_x, log.lane, log.frame))
    frame, lane = log.frame[order], log.lane[order]
    pair = np.flatnonzero((frame[1:] == frame[:-1]) & (lane[1:] == lane[:-1]) & (lane[1:] > 0))
    behind, ahead = order[pair], order[pair + 1]
    preceding[behind] = log.vehicle_id[ahead]
    following[ahead] = log.vehicle_id[behind]
    gap[behind] = front_x[ahead] - front_x[behind]
    return preceding, following, gap


def _show(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.10g}"
    return repr(str(value))

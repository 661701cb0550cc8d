"""`TrafficLog`: one recording of traffic, one array per field, in SI units.

Rows are (vehicle, frame) observations sorted by vehicle id, then frame. Positions are
the vehicle *centre* in the road frame of :mod:`traffic_mpc.road` (x along travel, y to
the left, metres); heading in radians counter-clockwise from +x; speed in m/s.

On disk a log is a folder (written by ``data import``, read by everything downstream):
``log.json`` (format version, site, dt, source, checksum, field names and units) and one
``FIELD.npy`` per field. Writes are atomic: the folder is written under a temporary
name and renamed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from traffic_mpc import atomic
from traffic_mpc.errors import InputError
from traffic_mpc.logs.smoothing import track_starts
from traffic_mpc.road import Road

LOG_FORMAT = "traffic_mpc.log"
LOG_FORMAT_VERSION = 1

#: Vehicle classes, as NGSIM numbers them.
MOTORCYCLE, CAR, TRUCK = 1, 2, 3
VEHICLE_CLASSES = {MOTORCYCLE: "motorcycle", CAR: "car", TRUCK: "truck"}

#: Per-row fields: dtype and unit.
FIELDS: dict[str, tuple[type, str]] = {
    "vehicle_id": (np.int64, "1"),
    "frame": (np.int64, "1"),
    "time": (np.float64, "s"),
    "x": (np.float64, "m"),
    "y": (np.float64, "m"),
    "heading": (np.float64, "rad"),
    "speed": (np.float64, "m/s"),
    "length": (np.float64, "m"),
    "width": (np.float64, "m"),
    "vehicle_class": (np.int8, "1"),
    "lane": (np.int16, "1"),
}


@dataclass(frozen=True, eq=False)
class TrafficLog:
    """One recording: per-row arrays (all of equal length N) plus recording metadata.

    ``time`` is seconds since the start of the recording (``frame * dt`` up to an offset);
    ``frame`` counts steps of ``dt`` seconds. ``site`` names the road (``envs/SITE.toml``);
    ``source`` is the file it was read from and ``source_checksum`` its SHA-256.
    """

    vehicle_id: np.ndarray
    frame: np.ndarray
    time: np.ndarray
    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    length: np.ndarray
    width: np.ndarray
    vehicle_class: np.ndarray
    lane: np.ndarray
    dt: float
    site: str
    source: str = ""
    source_checksum: str = ""

    def __post_init__(self) -> None:
        n = len(self.vehicle_id)
        for name, (dtype, _) in FIELDS.items():
            array = np.ascontiguousarray(getattr(self, name), dtype=dtype)
            if array.shape != (n,):
                raise ValueError(f"field {name} has shape {array.shape}, expected ({n},)")
            object.__setattr__(self, name, array)

    # --------------------------------------------------------------- structure
    def __len__(self) -> int:
        return len(self.vehicle_id)

    @property
    def vehicle_ids(self) -> np.ndarray:
        """The distinct vehicle ids, ascending."""
        return np.unique(self.vehicle_id)

    @property
    def n_vehicles(self) -> int:
        return len(self.vehicle_ids)

    @property
    def first_frame(self) -> int:
        return int(self.frame.min())

    @property
    def last_frame(self) -> int:
        return int(self.frame.max())

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.last_frame - self.first_frame) * self.dt if len(self) else 0.0

    def vehicle_slices(self) -> dict[int, slice]:
        """Row range of every vehicle (rows are sorted by vehicle, then frame)."""
        starts = track_starts(self.vehicle_id)
        ends = np.append(starts[1:], len(self))
        return {int(self.vehicle_id[s]): slice(int(s), int(e)) for s, e in zip(starts, ends)}

    def rows_of(self, vehicle_id: int) -> TrafficLog:
        """The sub-log of one vehicle."""
        return self.select(self.vehicle_id == vehicle_id)

    def select(self, mask: np.ndarray) -> TrafficLog:
        """The sub-log of the rows where ``mask`` is true (order kept); row indices also
        work, giving those rows in their order."""
        return replace(self, **{name: getattr(self, name)[mask] for name in FIELDS})

    def sorted(self) -> TrafficLog:
        """The same rows sorted by vehicle id, then frame."""
        return self.select(np.lexsort((self.frame, self.vehicle_id)))

    def is_sorted(self) -> bool:
        key_v, key_f = self.vehicle_id, self.frame
        if len(self) < 2:
            return True
        same_vehicle = key_v[1:] == key_v[:-1]
        return bool(np.all((key_v[1:] > key_v[:-1]) | (same_vehicle & (key_f[1:] > key_f[:-1]))))

    def frame_arrays(self, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, dict]:
        """Dense ``(n_frames, n_vehicles)`` arrays of the named fields plus a validity mask.

        Returns ``(vehicle_ids, valid, arrays)``: ``valid[t, i]`` says vehicle
        ``vehicle_ids[i]`` is in the log at frame ``first_frame + t``; invalid entries are 0.
        """
        ids, column = np.unique(self.vehicle_id, return_inverse=True)
        row = self.frame - self.first_frame
        shape = (self.last_frame - self.first_frame + 1, len(ids))
        valid = np.zeros(shape, dtype=bool)
        valid[row, column] = True
        arrays = {}
        for name in names:
            dense = np.zeros(shape, dtype=FIELDS[name][0])
            dense[row, column] = getattr(self, name)
            arrays[name] = dense
        return ids, valid, arrays

    def equals(self, other: TrafficLog, atol: float = 0.0) -> bool:
        """Same rows (within ``atol`` for float fields) and the same dt and site."""
        if len(self) != len(other) or self.site != other.site:
            return False
        if abs(self.dt - other.dt) > 1e-12:
            return False
        for name, (dtype, _) in FIELDS.items():
            a, b = getattr(self, name), getattr(other, name)
            if np.issubdtype(dtype, np.floating):
                if not np.allclose(a, b, atol=atol, rtol=0.0):
                    return False
            elif not np.array_equal(a, b):
                return False
        return True

    # ----------------------------------------------------------------- storage
    def save(self, folder: str | Path, road: Road | None = None) -> Path:
        """Write the log as a folder of ``.npy`` arrays and ``log.json``, atomically.

        With ``road``, its definition is written beside the arrays as ``road.toml``, so the
        folder is read back with the geometry it was made with.
        """
        folder = Path(folder)
        with atomic.atomic_path(folder) as staging:
            staging.mkdir()
            for name in FIELDS:
                np.save(staging / f"{name}.npy", getattr(self, name), allow_pickle=False)
            manifest = {
                "format": LOG_FORMAT,
                "format_version": LOG_FORMAT_VERSION,
                "site": self.site,
                "dt": self.dt,
                "rows": len(self),
                "source": self.source,
                "source_checksum": self.source_checksum,
                "fields": {name: unit for name, (_, unit) in FIELDS.items()},
                "frame": "road frame: x along travel, y to the left, origin upstream-left",
            }
            (staging / "log.json").write_text(json.dumps(manifest, indent=2) + "\n")
            if road is not None:
                (staging / "road.toml").write_text(road.to_toml())
        return folder

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = False) -> TrafficLog:
        """Read a log folder written by :meth:`save`; errors name the file and the problem."""
        folder = Path(folder)
        manifest_path = folder / "log.json"
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise InputError(folder, "not a traffic log folder (no log.json)") from None
        except json.JSONDecodeError as error:
            raise InputError(manifest_path, f"not valid JSON: {error}") from None
        if manifest.get("format") != LOG_FORMAT:
            raise InputError(manifest_path, f"format is {manifest.get('format')!r}, "
                             f"expected {LOG_FORMAT!r}")
        version = manifest.get("format_version")
        if version != LOG_FORMAT_VERSION:
            raise InputError(
                manifest_path,
                f"format version {version} cannot be read by this version of traffic_mpc "
                f"(reads version {LOG_FORMAT_VERSION}); re-import the source log",
                field="format_version",
            )
        arrays = {}
        for name, (dtype, _) in FIELDS.items():
            path = folder / f"{name}.npy"
            try:
                array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
            except FileNotFoundError:
                raise InputError(path, "missing array of the log") from None
            except ValueError as error:
                raise InputError(path, f"not a readable .npy array: {error}") from None
            if array.dtype != dtype or array.shape != (manifest["rows"],):
                raise InputError(
                    path,
                    f"holds {array.dtype} {array.shape}, expected {np.dtype(dtype)} "
                    f"({manifest['rows']},) as log.json says",
                )
            arrays[name] = array
        return cls(
            **arrays,
            dt=float(manifest["dt"]),
            site=manifest["site"],
            source=manifest.get("source", ""),
            source_checksum=manifest.get("source_checksum", ""),
        )

    @classmethod
    def empty(cls, dt: float, site: str) -> TrafficLog:
        return cls(**{name: np.zeros(0, dtype) for name, (dtype, _) in FIELDS.items()},
                   dt=dt, site=site)


def file_checksum(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

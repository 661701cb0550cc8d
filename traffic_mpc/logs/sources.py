"""Finding logs on disk: one function that turns a path into (log, road) pairs.

Accepted paths, and the road each log is read with:

- a log folder (``log.json`` + arrays, as written by ``data import``): its own
  ``road.toml`` if present, else the ``road.toml`` of the folder above, else the road
  of the site named in ``log.json``;
- an NGSIM file (``.txt`` or ``.csv``): the ``road.toml`` beside it, else ``site``;
- a folder: every log folder and NGSIM file directly inside it (sorted by name), each
  as above — e.g. the output of ``data synth`` or ``data import``.
"""

from __future__ import annotations

from pathlib import Path

from traffic_mpc.errors import InputError
from traffic_mpc.logs.traffic_log import TrafficLog
from traffic_mpc.road import Road

NGSIM_SUFFIXES = (".txt", ".csv")
ROAD_FILE = "road.toml"


def road_beside(path: Path, site: str | None) -> Road:
    """The road for a log at ``path``: a ``road.toml`` in it or beside it, else ``site``."""
    for candidate in (path / ROAD_FILE, path.parent / ROAD_FILE):
        if candidate.is_file():
            return Road.load(candidate)
    if site is None:
        raise InputError(path, f"no {ROAD_FILE} beside the log; name the site (e.g. --site i80)")
    return Road.named(site)


def find_logs(path: str | Path) -> list[Path]:
    """The log folders and NGSIM files that ``path`` stands for (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_file() or (path / "log.json").is_file():
        return [path]
    found = sorted(
        child
        for child in path.iterdir()
        if not child.name.startswith(".")
        and ((child.is_dir() and (child / "log.json").is_file())
             or (child.is_file() and child.suffix in NGSIM_SUFFIXES))
    )
    if not found:
        raise InputError(path, "holds no traffic logs (log folders or NGSIM .txt/.csv files)")
    return found


def open_log(log_path: str | Path, site: str | None = None) -> tuple[TrafficLog, Road]:
    """Read one log folder or NGSIM file (one of :func:`find_logs`) with its road."""
    from traffic_mpc.logs.ngsim import read_ngsim

    log_path = Path(log_path)
    if log_path.is_dir():
        log = TrafficLog.load(log_path)
        return log, road_beside(log_path, site or log.site)
    road = road_beside(log_path, site)
    return read_ngsim(log_path, road), road


def open_logs(path: str | Path, site: str | None = None) -> list[tuple[TrafficLog, Road]]:
    """Read every log that ``path`` stands for, each with its road."""
    return [open_log(log_path, site) for log_path in find_logs(path)]

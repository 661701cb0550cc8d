"""A dataset's source logs: their names, checksums, and finding them again to replay them.

The evaluator and the environments replay the logs a dataset was extracted from; the
manifest names each by path and SHA-256 (of the source file, or of the log's arrays for
logs that have no file of their own, such as generated ones).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from traffic_mpc.errors import InputError
from traffic_mpc.logs.traffic_log import TrafficLog, file_checksum
from traffic_mpc.road import Road


def recording_name(path: Path) -> str:
    """The name of the recording read from ``path`` (a log folder or an NGSIM file, as
    :func:`~traffic_mpc.logs.sources.find_logs` returns them): the file's stem or the
    folder's name."""
    return path.stem if path.is_file() else path.name


def log_checksum(log: TrafficLog) -> str:
    """SHA-256 of a log's trajectories (ids, frames, poses, speeds, sizes)."""
    digest = hashlib.sha256()
    for name in ("vehicle_id", "frame", "x", "y", "heading", "speed", "length", "width"):
        digest.update(np.ascontiguousarray(getattr(log, name)).tobytes())
    return digest.hexdigest()


def open_source_log(dataset: str | Path, source: dict, road: Road, logs=None) -> TrafficLog:
    """The source log of one recording of a dataset (``source``: its manifest entry),
    identified by its SHA-256: at the path the manifest names or, with ``logs`` (anything
    :func:`~traffic_mpc.logs.sources.find_logs` accepts), any log that ``logs`` holds."""
    from traffic_mpc.logs.ngsim import read_ngsim
    from traffic_mpc.logs.sources import find_logs

    expected = source["sha256"]
    of_file = source.get("checksum_of", "source file") == "source file"
    candidates = [Path(source["path"])] if logs is None else find_logs(logs)
    for candidate in candidates:
        if not candidate.exists():
            continue
        if candidate.is_file():
            if of_file and file_checksum(candidate) != expected:
                continue
            log = read_ngsim(candidate, road)
        else:
            log = TrafficLog.load(candidate)
        if (log.source_checksum if of_file else log_checksum(log)) == expected:
            return log
    raise InputError(Path(dataset) / "manifest.json",
                     f"recording {source['name']!r}: no log with SHA-256 {expected[:12]}... at "
                     f"{source['path'] if logs is None else logs} (the dataset's source logs "
                     "are replayed; pass their folder as logs=...)", field="sources")

"""``data import``: validate a real log and convert it to log folders with their roads.

Output: one log folder per recording (per driving direction for highD) under ``out``,
each holding the arrays, ``log.json`` and the ``road.toml`` it is to be read with.
"""

from __future__ import annotations

from pathlib import Path

from traffic_mpc.errors import InputError
from traffic_mpc.road import Road

FORMATS = ("ngsim", "highd")


def import_logs(src: str | Path, format: str, out: str | Path, site: str | None = None
                ) -> list[Path]:
    """Read ``src`` in ``format`` and write its log folders under ``out``; returns them."""
    src, out = Path(src), Path(out)
    if format == "ngsim":
        if site is None:
            raise InputError(src, "NGSIM import needs the site: --site i80, us101 or a road TOML")
        from traffic_mpc.logs.ngsim import read_ngsim

        road = Road.named(site)
        pairs = [(read_ngsim(src, road), road, src.stem)]
    elif format == "highd":
        from traffic_mpc.logs.highd import read_highd_with_roads

        pairs = [
            (log, road, f"{src.stem.replace('_tracks', '')}-direction{direction}")
            for direction, (log, road) in enumerate(read_highd_with_roads(src), start=1)
        ]
    else:
        raise InputError(src, f"unknown format {format!r}; expected one of {FORMATS}")
    return [log.save(out / name, road=road) for log, road, name in pairs]

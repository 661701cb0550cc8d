"""The embedded default data: generated traffic, made on first use and cached.

Used wherever a user gives no log (the viewer, ``gymnasium.make("traffic_mpc/Replay-v0")``).
The cache lives in ``$XDG_CACHE_HOME/traffic_mpc`` (or ``~/.cache/traffic_mpc``), one
folder per generator version, seed and duration, so a new generator never serves traffic
made by an old one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from traffic_mpc import atomic
from traffic_mpc.errors import InputError
from traffic_mpc.logs.sources import find_logs, open_logs

#: Minutes of traffic in the default recording.
DEFAULT_MINUTES = 4.0


def default_traffic_folder(seed: int = 0, minutes: float = DEFAULT_MINUTES) -> Path:
    """Where the default generated traffic of ``seed`` is cached."""
    from traffic_mpc.logs.synth import GENERATOR_VERSION

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = f"default-traffic-v{GENERATOR_VERSION}-seed{seed}-{minutes:g}min"
    return cache / "traffic_mpc" / name


def default_traffic(seed: int = 0, minutes: float = DEFAULT_MINUTES, quiet: bool = False
                    ) -> Path:
    """A folder of default generated traffic on the built-in road, generated on first use.

    The generator writes NGSIM text (as ``data synth`` does); the cache keeps each recording
    as a log folder (``.npy`` arrays with its ``road.toml``, read in a fraction of a second)
    with the generator's ``synth.json`` beside them. The folder appears whole or not at all.
    """
    from traffic_mpc.logs.synth import synthesize

    folder = default_traffic_folder(seed, minutes)
    try:
        find_logs(folder)
        return folder
    except InputError:
        pass
    if not quiet:
        print(f"generating {minutes:g} minutes of default traffic into {folder} "
              "(once; reused afterwards)")
    with atomic.atomic_path(folder) as staging:
        raw = staging / "generated"
        synthesize(raw, minutes=minutes, seed=seed, recordings=1, progress=not quiet)
        for index, (log, road) in enumerate(open_logs(raw), start=1):
            log.save(staging / f"recording-{index:02d}", road=road)
        shutil.copy(raw / "synth.json", staging / "synth.json")
        shutil.rmtree(raw)
    return folder

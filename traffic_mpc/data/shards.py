"""Shards: folders of memory-mapped ``.npy`` arrays holding whole episodes, row by row.

A shard holds the episodes of one chunk of one recording, one row per step, the rows of
an episode contiguous (so a training window is one contiguous slice of every array and
reading it is a memcpy from the page cache)::

    shard-00007/
      views.npy      uint8   (N, C, H, W)  ego views, 0..255 (stored channels only)
      states.npy     float32 (N, S)        ego state (STATE_FIELDS)
      actions.npy    float32 (N, 2)        action taken at the row's step (ACTION_FIELDS)
      costs.npy      float32 (N, 3)        costs at the row's step (COST_FIELDS)
      frames.npy     int32   (N,)          log frame of the row
      episodes.npy   int64   (E, 6)        EPISODE_COLUMNS, one line per episode
      ego_sizes.npy  float32 (E, 2)        ego length, width [m]
      footprints.npy uint8   (E, 1, H, W)  ego-footprint channel (only when it is not stored
                                           per row; it is constant over an episode)
      shard.json     what the shard is (its task key, rows, episodes)

A shard is written under a temporary name and renamed when complete
(:func:`traffic_mpc.atomic.atomic_path`), so a shard folder that exists is whole; an
extraction killed half-way leaves only finished shards and hidden temporaries.
Arrays are written through ``numpy.lib.format.open_memmap`` into the temporary folder, so
a worker never holds a whole shard in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from traffic_mpc import atomic
from traffic_mpc.errors import InputError

SHARD_FILE = "shard.json"

#: Columns of ``episodes.npy``: the global episode id, the recording's index in the
#: manifest's ``sources``, the logged vehicle id, the log frame of the first row, the
#: first row of the episode in the shard and its number of rows (steps).
EPISODE_COLUMNS = ("episode", "recording", "vehicle_id", "start_frame", "row_offset", "length")
EPISODE, RECORDING, VEHICLE_ID, START_FRAME, ROW_OFFSET, LENGTH = range(len(EPISODE_COLUMNS))

#: Per-row arrays: dtype and the shape after the row dimension (``None`` = from the layout).
ROW_ARRAYS = ("views", "states", "actions", "costs", "frames")
EPISODE_ARRAYS = ("episodes", "ego_sizes", "footprints")


@dataclass(frozen=True)
class Layout:
    """Shapes and dtypes of a dataset's arrays: ``channels`` stored per row, view ``height``
    and ``width`` [px], state size, and whether the ego footprint is stored per episode."""

    channels: int
    height: int
    width: int
    state_size: int
    footprint_per_episode: bool

    def row_spec(self, name: str) -> tuple[np.dtype, tuple[int, ...]]:
        return {
            "views": (np.dtype(np.uint8), (self.channels, self.height, self.width)),
            "states": (np.dtype(np.float32), (self.state_size,)),
            "actions": (np.dtype(np.float32), (2,)),
            "costs": (np.dtype(np.float32), (3,)),
            "frames": (np.dtype(np.int32), ()),
        }[name]

    def episode_spec(self, name: str) -> tuple[np.dtype, tuple[int, ...]]:
        return {
            "episodes": (np.dtype(np.int64), (len(EPISODE_COLUMNS),)),
            "ego_sizes": (np.dtype(np.float32), (2,)),
            "footprints": (np.dtype(np.uint8), (1, self.height, self.width)),
        }[name]

    def episode_array_names(self) -> tuple[str, ...]:
        return EPISODE_ARRAYS if self.footprint_per_episode else EPISODE_ARRAYS[:2]

    def as_json(self) -> dict:
        return {
            "channels": self.channels,
            "height": self.height,
            "width": self.width,
            "state_size": self.state_size,
            "footprint_per_episode": self.footprint_per_episode,
        }


class ShardWriter:
    """Open arrays of one shard being written (in its temporary folder)."""

    def __init__(self, folder: Path, layout: Layout, rows: int, episodes: int) -> None:
        self.folder = folder
        #: Extra fields for ``shard.json``; the filler may add to them.
        self.meta: dict = {}
        self.arrays: dict[str, np.ndarray] = {}
        for name in ROW_ARRAYS:
            dtype, shape = layout.row_spec(name)
            self.arrays[name] = np.lib.format.open_memmap(
                folder / f"{name}.npy", mode="w+", dtype=dtype, shape=(rows, *shape)
            )
        for name in layout.episode_array_names():
            dtype, shape = layout.episode_spec(name)
            self.arrays[name] = np.lib.format.open_memmap(
                folder / f"{name}.npy", mode="w+", dtype=dtype, shape=(episodes, *shape)
            )

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def close(self) -> None:
        for array in self.arrays.values():
            array.flush()
        self.arrays.clear()


@contextmanager
def write_shard(
    folder: str | Path, layout: Layout, rows: int, episodes: int, meta: dict
) -> Iterator[ShardWriter]:
    """Create the arrays of a shard, let the caller fill them, then publish it atomically.

    ``meta`` is written to ``shard.json`` (with ``rows`` and ``episodes`` added) after the
    arrays are flushed; the folder appears under its final name only if the block succeeds.
    """
    folder = Path(folder)
    with atomic.atomic_path(folder) as staging:
        staging.mkdir()
        writer = ShardWriter(staging, layout, rows, episodes)
        writer.meta.update(meta)
        yield writer
        writer.close()
        meta = {**writer.meta, "rows": rows, "episodes": episodes}
        (staging / SHARD_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def read_shard_meta(folder: Path) -> dict | None:
    """The ``shard.json`` of a finished shard, or None if the folder is not a finished shard."""
    try:
        return json.loads((folder / SHARD_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


class Shard:
    """The arrays of one shard, memory-mapped (copy-on-write: never written back) and checked
    against the layout.

    ``rows`` and ``episodes`` are what the manifest says the shard holds; any
    disagreement (missing array, other dtype or shape, episode rows that do not tile the
    shard) raises :class:`InputError` naming the file.
    """

    def __init__(self, folder: Path, layout: Layout, rows: int, episodes: int) -> None:
        self.folder = folder
        self.rows = rows
        self.n_episodes = episodes
        self.arrays: dict[str, np.ndarray] = {}
        for name in ROW_ARRAYS:
            self.arrays[name] = _load_checked(folder / f"{name}.npy", *layout.row_spec(name),
                                              rows)
        for name in layout.episode_array_names():
            self.arrays[name] = _load_checked(
                folder / f"{name}.npy", *layout.episode_spec(name), episodes
            )
        table = np.asarray(self.arrays["episodes"])
        offsets, lengths = table[:, ROW_OFFSET], table[:, LENGTH]
        expected = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(table) else offsets
        if np.any(lengths <= 0) or not np.array_equal(offsets, expected) or (
            int(lengths.sum()) != rows
        ):
            raise InputError(
                folder / "episodes.npy",
                f"episode rows do not tile the shard's {rows} rows "
                "(offsets must be the running sum of the lengths)",
            )
        self.episodes = table

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def _load_checked(
    path: Path, dtype: np.dtype, shape: tuple[int, ...], length: int
) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="c", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(path, "missing array of the dataset") from None
    except ValueError as error:
        raise InputError(path, f"not a readable .npy array: {error}") from None
    expected = (length, *shape)
    if array.dtype != dtype or array.shape != expected:
        raise InputError(
            path,
            f"holds {array.dtype} {array.shape}, expected {dtype} {expected} "
            "as manifest.json says; the dataset is damaged or was written by another extraction",
        )
    return array

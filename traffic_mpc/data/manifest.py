"""The dataset format: ``manifest.json`` plus sharded memory-mapped arrays, and its reader.

A dataset is a folder::

    DATASET/
      manifest.json   what the dataset is (below); written last, atomically
      road.toml       the road the episodes were extracted on
      shards/shard-00000/ ...   episodes, see :mod:`traffic_mpc.data.shards`

Time alignment (kept everywhere in this package)::

    Row t of an episode holds the ego view, ego state and costs at step t and the action
    taken at step t, which moves the ego from the state of row t to the state of row t+1.

``manifest.json`` fields:

- ``format`` (``"traffic_mpc.dataset"``), ``format_version`` (:data:`FORMAT_VERSION`);
- ``time_alignment``: the sentence above; ``dt`` [s]; ``units``: the unit of every
  state, action and cost component; ``state_fields``, ``action_fields``, ``cost_fields``;
- ``image``: the view spec the renderer used (``height``, ``width``, ``channels`` (names, in
  the order the loader returns them), ``stored_channels`` (those stored per row), the
  renderer's ``view_spec`` as JSON, and ``ego_channel`` when the ego footprint is stored once
  per episode instead of per row);
- ``layout``: array shapes (:class:`~traffic_mpc.data.shards.Layout`);
- ``road``: name, title and the file beside the manifest;
- ``sources``: one entry per recording (name, path, SHA-256 of the source, site, dt,
  vehicles and frames);
- ``extraction``: the settings (``min_steps``, ``episodes_per_shard``, ``seed``);
- ``shards``: name, recording, rows, episodes of every shard, in episode-id order;
- ``totals``: episodes and rows (transitions);
- ``splits``: ``random`` and ``recording`` (see :mod:`traffic_mpc.data.splits`), each with
  the episode ids of ``train``, ``val`` and ``test`` and ``test_vehicles`` listed explicitly;
- ``normalisation``: for each split kind, mean and std of states and actions (and of costs,
  for reference) over that kind's *training* episodes only.

:func:`open_dataset` reads the manifest, refuses another format version, and checks every
shard's arrays against it (names, dtypes, shapes, episode tiling); arrays are memory-mapped,
never loaded whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from traffic_mpc.data.shards import LENGTH, Layout, Shard
from traffic_mpc.errors import InputError

FORMAT = "traffic_mpc.dataset"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
ROAD_FILE = "road.toml"
SHARDS_DIR = "shards"

TIME_ALIGNMENT = (
    "Row t of an episode holds the ego view, ego state and costs at step t and the action "
    "taken at step t, which moves the ego from the state of row t to the state of row t+1."
)

STATE_FIELDS = ("x", "y", "vx", "vy", "heading", "speed")
ACTION_FIELDS = ("acceleration", "curvature")
COST_FIELDS = ("proximity", "lane", "off_road")
UNITS = {
    "x": "m", "y": "m", "vx": "m/s", "vy": "m/s", "heading": "rad", "speed": "m/s",
    "acceleration": "m/s^2", "curvature": "1/m",
    "proximity": "1", "lane": "1", "off_road": "1",
    "frame": "1 (log frame, steps of dt)", "views": "uint8, 0..255 = 0..1",
}
SPLIT_KINDS = ("random", "recording")
SPLIT_NAMES = ("train", "val", "test")


def state_vector(state: torch.Tensor) -> torch.Tensor:
    """Kinematic states ``(..., 4)`` (x, y, heading, speed) -> state vectors ``(..., 6)``
    (:data:`STATE_FIELDS`), computed in ``state``'s dtype: how ``data extract`` stores them
    and what the environments observe."""
    x, y, heading, speed = state.unbind(-1)
    return torch.stack(
        [x, y, speed * torch.cos(heading), speed * torch.sin(heading), heading, speed], dim=-1)


@dataclass(frozen=True)
class Normalisation:
    """Mean and std of states and actions (over a training split); ``std`` never below 1e-6."""

    state_mean: np.ndarray
    state_std: np.ndarray
    action_mean: np.ndarray
    action_std: np.ndarray

    @classmethod
    def from_json(cls, entry: dict) -> Normalisation:
        def vector(key, size):
            return np.asarray(entry[key]["mean"], np.float32)[:size], np.maximum(
                np.asarray(entry[key]["std"], np.float32)[:size], 1e-6
            )

        state_mean, state_std = vector("states", len(STATE_FIELDS))
        action_mean, action_std = vector("actions", len(ACTION_FIELDS))
        return cls(state_mean, state_std, action_mean, action_std)


@dataclass
class DatasetInfo:
    """An opened dataset: its manifest, layout and memory-mapped shards (validated)."""

    path: Path
    manifest: dict
    layout: Layout
    shards: list[Shard] = field(repr=False)

    @property
    def episodes(self) -> np.ndarray:
        """All episode lines (``EPISODE_COLUMNS``), in episode-id order, ``(E, 6)``."""
        return np.concatenate([shard.episodes for shard in self.shards])

    @property
    def channels(self) -> list[str]:
        return list(self.manifest["image"]["channels"])

    def split_episodes(self, kind: str, split: str) -> list[int]:
        """Episode ids of ``split`` (train, val, test) in split ``kind`` (random, recording)."""
        if kind not in SPLIT_KINDS:
            raise InputError(self.path / MANIFEST_FILE, f"unknown split kind {kind!r}; "
                             f"expected one of {SPLIT_KINDS}")
        if split not in SPLIT_NAMES:
            raise InputError(self.path / MANIFEST_FILE, f"unknown split {split!r}; "
                             f"expected one of {SPLIT_NAMES}")
        return list(self.manifest["splits"][kind][split])

    def normalisation(self, kind: str) -> Normalisation:
        """Normalisation statistics of split kind ``kind`` (from its training episodes)."""
        entry = self.manifest["normalisation"].get(kind)
        if not entry or entry.get("states") is None:
            raise InputError(self.path / MANIFEST_FILE, f"split kind {kind!r} has no training "
                             "episodes to normalise with (use normalise=False)",
                             field="normalisation")
        return Normalisation.from_json(entry)


def read_manifest(path: str | Path) -> dict:
    """The manifest of the dataset at ``path``; errors name the file and the problem."""
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    if not path.exists():
        raise InputError(path, "no such dataset folder")
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise InputError(
            path, "not a dataset (no manifest.json; an unfinished extraction resumes when "
            "run again)"
        ) from None
    except json.JSONDecodeError as error:
        raise InputError(manifest_path, f"not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise InputError(manifest_path, f"format is {found!r}, expected {FORMAT!r}",
                         field="format")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(
            manifest_path,
            f"format version {version} cannot be read by this version of traffic_mpc "
            f"(reads version {FORMAT_VERSION}); extract the dataset again",
            field="format_version",
        )
    for key in ("layout", "image", "shards", "splits", "normalisation", "sources", "totals"):
        if key not in manifest:
            raise InputError(manifest_path, "missing field", field=key)
    return manifest


def open_dataset(path: str | Path) -> DatasetInfo:
    """Open a dataset folder, checking the manifest against every shard's arrays."""
    path = Path(path)
    manifest = read_manifest(path)
    manifest_path = path / MANIFEST_FILE
    try:
        layout = Layout(**manifest["layout"])
    except TypeError as error:
        raise InputError(manifest_path, f"bad layout: {error}", field="layout") from None
    if len(manifest["image"]["stored_channels"]) != layout.channels:
        raise InputError(manifest_path, "image.stored_channels disagrees with layout.channels",
                         field="image")
    shards = [
        Shard(path / SHARDS_DIR / entry["name"], layout, int(entry["rows"]),
              int(entry["episodes"]))
        for entry in manifest["shards"]
    ]
    info = DatasetInfo(path=path, manifest=manifest, layout=layout, shards=shards)
    episodes = info.episodes if shards else np.zeros((0, 6), np.int64)
    totals = manifest["totals"]
    if len(episodes) != totals["episodes"] or int(episodes[:, LENGTH].sum()) != totals["rows"]:
        raise InputError(
            manifest_path,
            f"totals say {totals['episodes']} episodes / {totals['rows']} rows, the shards hold "
            f"{len(episodes)} / {int(episodes[:, LENGTH].sum())}",
            field="totals",
        )
    if not np.array_equal(episodes[:, 0], np.arange(len(episodes))):
        raise InputError(manifest_path, "episode ids of the shards are not 0..E-1 in order",
                         field="shards")
    for kind in SPLIT_KINDS:
        for split in SPLIT_NAMES:
            ids = np.asarray(manifest["splits"][kind][split], dtype=np.int64)
            if len(ids) and (ids.min() < 0 or ids.max() >= len(episodes)):
                raise InputError(manifest_path, f"split {kind}/{split} names an episode that "
                                 "no shard holds", field="splits")
    return info

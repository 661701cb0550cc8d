"""Statistics over the rows of chosen episodes: normalisation and ``data info`` figures.

Computed shard by shard from the memory-mapped arrays (float64 sums), so a dataset of any
size is summarised without loading it. Normalisation statistics are computed over a
split kind's *training* episodes only (the manifest keeps one set per split kind), so no
figure of a validation or test episode reaches a model through its input scaling.
"""

from __future__ import annotations

import numpy as np

from traffic_mpc.data.shards import EPISODE, LENGTH, Shard

#: Arrays summarised, with their per-row widths.
SUMMARISED = ("states", "actions", "costs")


def _row_mask(shard: Shard, episode_ids: np.ndarray) -> np.ndarray:
    chosen = np.isin(shard.episodes[:, EPISODE], episode_ids)
    return np.repeat(chosen, shard.episodes[:, LENGTH])


def moments(shards: list[Shard], episode_ids, chunk_rows: int = 1 << 16) -> dict:
    """Mean, std, min, max and (for costs) the fraction of rows above 0 of ``SUMMARISED``
    over the rows of ``episode_ids``; ``rows`` is their count."""
    episode_ids = np.asarray(list(episode_ids), dtype=np.int64)
    totals = {}
    rows = 0
    for shard in shards:
        mask = _row_mask(shard, episode_ids)
        if not mask.any():
            continue
        for start in range(0, shard.rows, chunk_rows):
            part = mask[start:start + chunk_rows]
            if not part.any():
                continue
            rows += int(part.sum())
            for name in SUMMARISED:
                values = np.asarray(shard[name][start:start + chunk_rows][part], np.float64)
                entry = totals.setdefault(name, {
                    "sum": 0.0, "squares": 0.0, "min": np.inf, "max": -np.inf, "positive": 0.0,
                })
                entry["sum"] = entry["sum"] + values.sum(0)
                entry["squares"] = entry["squares"] + (values ** 2).sum(0)
                entry["min"] = np.minimum(entry["min"], values.min(0))
                entry["max"] = np.maximum(entry["max"], values.max(0))
                entry["positive"] = entry["positive"] + (values > 0).sum(0)
    result: dict = {"rows": rows}
    for name in SUMMARISED:
        if name not in totals:
            result[name] = None
            continue
        entry = totals[name]
        mean = entry["sum"] / rows
        std = np.sqrt(np.maximum(entry["squares"] / rows - mean ** 2, 0.0))
        result[name] = {
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "min": [float(v) for v in entry["min"]],
            "max": [float(v) for v in entry["max"]],
        }
        if name == "costs":
            result[name]["fraction_positive"] = [float(v) for v in entry["positive"] / rows]
    return result


def normalisation(shards: list[Shard], train_ids) -> dict:
    """Mean and std of states, actions and costs over the training episodes' rows."""
    figures = moments(shards, train_ids)
    return {
        "computed_on": "train",
        "episodes": len(list(train_ids)),
        "rows": figures["rows"],
        **{
            name: None if figures[name] is None
            else {"mean": figures[name]["mean"], "std": figures[name]["std"]}
            for name in SUMMARISED
        },
    }

"""Train / val / test splits of a dataset's episodes; both kinds are stored in the manifest.

``random``: episodes (one per logged vehicle of a recording) shuffled with the seed and cut
80/10/10, as the reference does across the periods of a site (REFERENCE.md, 561 test cars
of 5,596). Comparable to published figures, but test cars drive in traffic that training
cars were part of.

``recording``: held out by recording, so test traffic is never seen in training. With three
or more recordings, whole recordings go to each split (shuffled with the seed; val and test
get ``max(1, round(10 %))`` recordings each, train the rest). With fewer than three there is
no whole period to spare, so each recording's time line is cut into blocks at 80 % and 90 %
of its frames and an episode belongs to the block that holds all of its frames; episodes
that straddle a cut are left out of this split kind (counted in ``dropped``), so no two
splits share a frame of traffic.

Both kinds list the episode ids of every split, and the test split's vehicles explicitly
(recording, vehicle id, first frame, steps), so evaluation episodes are fixed.
"""

from __future__ import annotations

import numpy as np

from traffic_mpc.data.shards import EPISODE, LENGTH, RECORDING, START_FRAME, VEHICLE_ID

FRACTIONS = (0.8, 0.1, 0.1)


def random_split(episodes: np.ndarray, seed: int) -> dict:
    """80/10/10 of the episodes at random (by vehicle), deterministic given ``seed``."""
    ids = episodes[:, EPISODE]
    order = np.random.default_rng(seed).permutation(len(ids))
    n_train = int(round(FRACTIONS[0] * len(ids)))
    n_val = int(round(FRACTIONS[1] * len(ids)))
    parts = np.split(ids[order], [n_train, n_train + n_val])
    return {
        "unit": "vehicle",
        "seed": seed,
        "fractions": list(FRACTIONS),
        **{name: sorted(int(i) for i in part) for name, part in zip(("train", "val", "test"),
                                                                     parts)},
        "dropped": 0,
    }


def recording_split(episodes: np.ndarray, recordings: list[str], seed: int) -> dict:
    """Held out by recording (or by time block with fewer than three recordings)."""
    count = len(recordings)
    if count >= 3:
        order = np.random.default_rng(seed).permutation(count)
        n_held = max(1, int(round(FRACTIONS[2] * count)))
        test_rec, val_rec = order[:n_held], order[n_held:2 * n_held]
        assign = np.zeros(count, dtype=np.int64)  # 0 train, 1 val, 2 test
        assign[val_rec], assign[test_rec] = 1, 2
        block = assign[episodes[:, RECORDING]]
        split = {
            "unit": "recording",
            "seed": seed,
            "recordings": {
                name: [recordings[i] for i in sorted(np.flatnonzero(assign == code))]
                for code, name in enumerate(("train", "val", "test"))
            },
        }
    else:
        block = np.full(len(episodes), -1, dtype=np.int64)
        cuts = {}
        for recording in range(count):
            mine = episodes[:, RECORDING] == recording
            if not mine.any():
                continue
            first = episodes[mine, START_FRAME]
            last = first + episodes[mine, LENGTH] - 1
            low, high = int(first.min()), int(last.max())
            edges = [low + FRACTIONS[0] * (high - low + 1),
                     low + (FRACTIONS[0] + FRACTIONS[1]) * (high - low + 1)]
            cuts[recordings[recording]] = [round(edge, 1) for edge in edges]
            start_block = np.searchsorted(edges, first, side="right")
            end_block = np.searchsorted(edges, last, side="right")
            block[mine] = np.where(start_block == end_block, start_block, -1)
        split = {"unit": "time_block", "seed": seed, "frame_cuts": cuts}
    ids = episodes[:, EPISODE]
    for code, name in enumerate(("train", "val", "test")):
        split[name] = sorted(int(i) for i in ids[block == code])
    split["dropped"] = int((block < 0).sum())
    return split


def test_vehicles(episodes: np.ndarray, test_ids: list[int], recordings: list[str]) -> list:
    """The test episodes spelled out: which vehicle of which recording, from which frame."""
    rows = episodes[np.asarray(test_ids, dtype=np.int64)] if test_ids else episodes[:0]
    return [
        {
            "episode": int(row[EPISODE]),
            "recording": recordings[int(row[RECORDING])],
            "vehicle_id": int(row[VEHICLE_ID]),
            "start_frame": int(row[START_FRAME]),
            "steps": int(row[LENGTH]),
        }
        for row in rows
    ]


def make_splits(episodes: np.ndarray, recordings: list[str], seed: int) -> dict:
    """Both split kinds, each with its test vehicles listed."""
    splits = {
        "random": random_split(episodes, seed),
        "recording": recording_split(episodes, recordings, seed),
    }
    for split in splits.values():
        split["test_vehicles"] = test_vehicles(episodes, split["test"], recordings)
    return splits

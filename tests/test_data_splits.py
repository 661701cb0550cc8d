"""Splits: disjoint, complete, deterministic; held out by recording; train-only statistics."""

import numpy as np
import pytest
from data_samples import constructed_dataset

from traffic_mpc.data import open_dataset
from traffic_mpc.data.shards import EPISODE, LENGTH, RECORDING, START_FRAME
from traffic_mpc.data.splits import make_splits, random_split, recording_split
from traffic_mpc.data.statistics import moments


def _table(recording_lengths, starts=None):
    rows = []
    for recording, lengths in enumerate(recording_lengths):
        for i, steps in enumerate(lengths):
            start = starts[recording][i] if starts else 10 * i
            rows.append([len(rows), recording, 100 + i, start, 0, steps])
    return np.array(rows, dtype=np.int64)


def _disjoint_and_complete(split, n, dropped=0):
    parts = [set(split[name]) for name in ("train", "val", "test")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert len(parts[0] | parts[1] | parts[2]) == n - dropped


def test_random_split_is_80_10_10_disjoint_and_seeded():
    table = _table([[50] * 400, [50] * 600])
    split = random_split(table, seed=3)
    _disjoint_and_complete(split, 1000)
    assert [len(split[name]) for name in ("train", "val", "test")] == [800, 100, 100]
    assert random_split(table, seed=3) == split
    assert random_split(table, seed=4)["test"] != split["test"]


def test_recording_split_holds_out_whole_recordings():
    table = _table([[50] * 30] * 5)
    split = recording_split(table, [f"r{i}" for i in range(5)], seed=0)
    assert split["unit"] == "recording"
    _disjoint_and_complete(split, 150)
    recordings = {name: set(table[split[name], RECORDING].tolist())
                  for name in ("train", "val", "test")}
    assert len(recordings["test"]) == 1 and len(recordings["val"]) == 1
    assert not recordings["train"] & (recordings["val"] | recordings["test"])


def test_one_recording_is_split_in_time_blocks_that_share_no_frame():
    rng = np.random.default_rng(0)
    starts = [rng.integers(0, 9000, 300).tolist()]
    lengths = [rng.integers(50, 700, 300).tolist()]
    table = _table(lengths, starts)
    split = recording_split(table, ["only"], seed=0)
    assert split["unit"] == "time_block"
    _disjoint_and_complete(split, 300, dropped=split["dropped"])
    assert 0 < split["dropped"] < 60

    def frames(name):
        rows = table[split[name]]
        return rows[:, START_FRAME].min(), (rows[:, START_FRAME] + rows[:, LENGTH] - 1).max()

    train, val, test = frames("train"), frames("val"), frames("test")
    assert train[1] < val[0] and val[1] < test[0]


def test_test_vehicles_are_listed_explicitly():
    table = _table([[50] * 20, [60] * 20, [70] * 20])
    splits = make_splits(table, ["a", "b", "c"], seed=0)
    for kind in ("random", "recording"):
        listed = splits[kind]["test_vehicles"]
        assert [entry["episode"] for entry in listed] == splits[kind]["test"]
        assert {"recording", "vehicle_id", "start_frame", "steps"} <= set(listed[0])


@pytest.mark.parametrize("kind", ["random", "recording"])
def test_normalisation_uses_the_training_split_only(tmp_path, kind):
    dataset = constructed_dataset(tmp_path / "ds", [[60] * 8, [70] * 8, [80] * 8])
    info = open_dataset(dataset)
    norm = info.manifest["normalisation"][kind]
    train = info.split_episodes(kind, "train")
    figures = moments(info.shards, train)
    assert norm["rows"] == figures["rows"] == int(info.episodes[train, LENGTH].sum())
    np.testing.assert_allclose(norm["states"]["mean"], figures["states"]["mean"])
    np.testing.assert_allclose(norm["actions"]["std"], figures["actions"]["std"])
    # By hand, over the training rows, and different from the statistics of all rows.
    rows = []
    for shard in info.shards:
        for line in shard.episodes:
            if line[EPISODE] in train:
                rows.append(shard["states"][line[4]:line[4] + line[5]])
    by_hand = np.concatenate(rows).astype(np.float64)
    np.testing.assert_allclose(norm["states"]["mean"], by_hand.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm["states"]["std"], by_hand.std(0), rtol=1e-5)
    everything = moments(info.shards, info.episodes[:, EPISODE])
    assert not np.allclose(norm["states"]["mean"], everything["states"]["mean"])

"""Training windows: alignment with the rows, normalisation, determinism, DataLoader workers."""

import pickle

import numpy as np
import pytest
import torch
from data_samples import DT, constructed_dataset, episode_rows

from traffic_mpc.data import EpisodeWindows, open_dataset, to_device
from traffic_mpc.sim import kinematics

NCOND, NPRED = 4, 6


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return constructed_dataset(tmp_path_factory.mktemp("windows") / "ds",
                               [[30, 12, 9, 40], [25, 33, 10], [18, 21]])


def _rows_of(info, episode):
    line = info.episodes[episode]
    return episode_rows(int(line[0]), int(line[5]), int(line[1]))


def test_windows_cover_every_start_of_every_long_enough_episode(dataset):
    info = open_dataset(dataset)
    windows = EpisodeWindows(dataset, split="train", ncond=NCOND, npred=NPRED, normalise=False)
    train = info.split_episodes("random", "train")
    lengths = info.episodes[train, 5]
    assert len(windows) == int(np.maximum(lengths - NCOND - NPRED + 1, 0).sum())
    assert 9 not in lengths or windows.n_episodes < len(train)  # a 9-step episode has none
    seen = {windows.locate(i) for i in range(len(windows))}
    assert len(seen) == len(windows)
    strided = EpisodeWindows(dataset, ncond=NCOND, npred=NPRED, stride=3)
    assert len(strided) == int(np.maximum((lengths - NCOND - NPRED) // 3 + 1, 0).sum())


def test_window_alignment_context_actions_future(dataset):
    info = open_dataset(dataset)
    windows = EpisodeWindows(dataset, ncond=NCOND, npred=NPRED, normalise=False)
    for index in (0, 7, len(windows) // 2, len(windows) - 1):
        item = windows[index]
        episode, start = int(item["episode"]), int(item["start"])
        assert windows.locate(index) == (episode, start)
        rows = _rows_of(info, episode)
        s, c, L = start, NCOND, NCOND + NPRED
        np.testing.assert_array_equal(item["context_states"], rows["states"][s:s + c])
        np.testing.assert_array_equal(item["future_states"], rows["states"][s + c:s + L])
        np.testing.assert_array_equal(item["actions"], rows["actions"][s + c - 1:s + L - 1])
        np.testing.assert_array_equal(item["future_costs"], rows["costs"][s + c:s + L])
        views = np.concatenate([item["context_views"], item["future_views"]])
        # Stored channels scaled to [0, 1]; the ego channel comes from the episode footprint.
        np.testing.assert_allclose(views[:, :3] * 255, rows["views"][s:s + L], atol=1e-4)
        np.testing.assert_allclose(views[:, 3], 200 / 255)
        # The first action applied to the last context state gives the first future state.
        x, y, _, _, heading, speed = item["context_states"][-1].double()
        after = kinematics.step(torch.stack([x, y, heading, speed]),
                                item["actions"][0].double(), DT)
        expected = item["future_states"][0].double()[[0, 1, 4, 5]]
        torch.testing.assert_close(after, expected, atol=1e-4, rtol=0)


def test_normalisation_comes_from_the_manifest(dataset):
    info = open_dataset(dataset)
    raw = EpisodeWindows(dataset, ncond=NCOND, npred=NPRED, normalise=False)[5]
    normalised = EpisodeWindows(dataset, ncond=NCOND, npred=NPRED)[5]
    entry = info.manifest["normalisation"]["random"]
    mean, std = np.array(entry["states"]["mean"]), np.array(entry["states"]["std"])
    expected = (raw["context_states"].numpy() - mean) / std
    np.testing.assert_allclose(normalised["context_states"], expected, rtol=1e-5, atol=1e-5)
    mean, std = np.array(entry["actions"]["mean"]), np.array(entry["actions"]["std"])
    np.testing.assert_allclose(normalised["actions"], (raw["actions"].numpy() - mean) / std,
                               rtol=1e-5, atol=1e-5)
    other = EpisodeWindows(dataset, split_kind="recording", ncond=NCOND, npred=NPRED)
    assert not np.allclose(other.normalisation.state_mean, windows_mean(dataset))


def windows_mean(dataset):
    return EpisodeWindows(dataset, ncond=NCOND, npred=NPRED).normalisation.state_mean


def test_uint8_views_are_the_stored_bytes(dataset):
    as_float = EpisodeWindows(dataset, ncond=NCOND, npred=NPRED)[3]
    as_bytes = EpisodeWindows(dataset, ncond=NCOND, npred=NPRED, view_dtype=torch.uint8)[3]
    assert as_bytes["future_views"].dtype == torch.uint8
    torch.testing.assert_close(as_bytes["future_views"].float() / 255, as_float["future_views"])
    moved = to_device(as_bytes, "cpu")
    assert moved["context_views"].dtype == torch.float32
    torch.testing.assert_close(moved["context_views"], as_float["context_views"])
    torch.testing.assert_close(moved["actions"], as_float["actions"])


def test_pickling_leaves_the_memory_maps_behind(dataset):
    windows = EpisodeWindows(dataset, ncond=NCOND, npred=NPRED)
    windows[0]
    blob = pickle.dumps(windows)
    assert len(blob) < 20_000
    again = pickle.loads(blob)
    torch.testing.assert_close(again[11], windows[11])


def test_loader_is_deterministic_and_workers_do_not_change_batches(dataset):
    windows = EpisodeWindows(dataset, ncond=NCOND, npred=NPRED, seed=5)
    assert windows.sampler(epoch=1) == EpisodeWindows(dataset, ncond=NCOND, npred=NPRED,
                                                      seed=5).sampler(epoch=1)
    assert windows.sampler(epoch=1) != windows.sampler(epoch=2)
    single = list(windows.loader(batch_size=8, workers=0, epoch=1))
    parallel = list(windows.loader(batch_size=8, workers=2, epoch=1))
    assert len(single) == len(parallel) == len(windows) // 8
    for a, b in zip(single, parallel):
        assert a["context_views"].shape == (8, NCOND, 4, 16, 8)
        for key in a:
            torch.testing.assert_close(a[key], b[key])
    # The plain DataLoader (default collation) gives the same items.
    plain = torch.utils.data.DataLoader(windows, batch_size=8, sampler=windows.sampler(1))
    first = next(iter(plain))
    torch.testing.assert_close(first["future_views"], single[0]["future_views"])


def test_stream_gives_the_loader_batches_from_reused_buffers(dataset):
    windows = EpisodeWindows(dataset, ncond=NCOND, npred=NPRED, seed=5)
    expected = list(windows.loader(batch_size=8, workers=0, epoch=3, drop_last=False))
    streamed, buffers = [], set()
    for batch in windows.stream(batch_size=8, threads=2, epoch=3, drop_last=False):
        buffers.add(batch["future_views"].data_ptr())
        streamed.append({key: value.clone() for key, value in batch.items()})
    assert len(streamed) == len(expected) and len(buffers) < len(expected)
    for a, b in zip(streamed, expected):
        for key in a:
            torch.testing.assert_close(a[key], b[key])

"""The dataset format: manifest and arrays validated together, clear errors, data info."""

import json

import numpy as np
import pytest
from data_samples import constructed_dataset

from traffic_mpc.data import (
    FORMAT_VERSION,
    TIME_ALIGNMENT,
    EpisodeWindows,
    dataset_summary,
    format_summary,
    open_dataset,
)
from traffic_mpc.errors import InputError

LENGTHS = [[60, 70, 55, 80], [90, 51, 65]]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return constructed_dataset(tmp_path_factory.mktemp("format") / "ds", LENGTHS)


def _copy(dataset, tmp_path):
    import shutil

    shutil.copytree(dataset, tmp_path / "copy")
    return tmp_path / "copy"


def _edit_manifest(path, change):
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_manifest_describes_the_arrays(dataset):
    info = open_dataset(dataset)
    manifest = info.manifest
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["time_alignment"] == TIME_ALIGNMENT
    assert manifest["units"]["x"] == "m" and manifest["units"]["curvature"] == "1/m"
    assert manifest["image"]["channels"] == ["lanes", "vehicles", "off_road", "ego"]
    assert manifest["image"]["stored_channels"] == ["lanes", "vehicles", "off_road"]
    assert manifest["totals"] == {"episodes": 7, "rows": sum(map(sum, LENGTHS))}
    episodes = info.episodes
    assert episodes[:, 0].tolist() == list(range(7))
    assert sorted(episodes[:, 5].tolist()) == sorted(sum(LENGTHS, []))
    assert [s["name"] for s in manifest["sources"]] == ["rec0", "rec1"]
    for kind in ("random", "recording"):
        assert set(manifest["normalisation"][kind]) >= {"states", "actions", "costs"}
    assert not list(dataset.rglob("*.pkl")) and not list(dataset.rglob("*.tmp"))


def test_another_format_version_fails_clearly(dataset, tmp_path):
    copy = _copy(dataset, tmp_path)
    _edit_manifest(copy, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    message = (rf"manifest\.json, field format_version: format version {FORMAT_VERSION + 1} "
               "cannot be read")
    with pytest.raises(InputError, match=message):
        open_dataset(copy)
    with pytest.raises(InputError, match=message):
        EpisodeWindows(copy)
    _edit_manifest(copy, lambda m: m.update(format="something.else"))
    with pytest.raises(InputError, match="field format: format is 'something.else'"):
        open_dataset(copy)


def test_manifest_that_does_not_match_its_arrays_fails_clearly(dataset, tmp_path):
    copy = _copy(dataset, tmp_path)
    shard = copy / "shards" / "shard-00000"
    # An array of another shape than the manifest says.
    states = np.load(shard / "states.npy")
    np.save(shard / "states.npy", states[:-1])
    with pytest.raises(InputError, match=r"shard-00000/states\.npy: holds float32 \(\d+, 6\), "
                       r"expected float32 \(\d+, 6\) as manifest\.json says"):
        open_dataset(copy)
    np.save(shard / "states.npy", states)
    open_dataset(copy)
    # A view size that is not the one of the arrays.
    _edit_manifest(copy, lambda m: m["layout"].update(height=17))
    with pytest.raises(InputError, match=r"views\.npy: holds uint8 .* expected uint8"):
        open_dataset(copy)
    _edit_manifest(copy, lambda m: m["layout"].update(height=16))
    # A missing array.
    (shard / "costs.npy").unlink()
    with pytest.raises(InputError, match=r"costs\.npy: missing array of the dataset"):
        open_dataset(copy)


def test_totals_and_episode_table_are_checked(dataset, tmp_path):
    copy = _copy(dataset, tmp_path)
    _edit_manifest(copy, lambda m: m["totals"].update(episodes=8))
    with pytest.raises(InputError, match="field totals: totals say 8 episodes"):
        open_dataset(copy)
    _edit_manifest(copy, lambda m: m["totals"].update(episodes=7))
    path = copy / "shards" / "shard-00001" / "episodes.npy"
    table = np.load(path)
    table[0, 4] += 1
    np.save(path, table)
    with pytest.raises(InputError, match="episode rows do not tile the shard"):
        open_dataset(copy)


def test_not_a_dataset(tmp_path):
    with pytest.raises(InputError, match="no such dataset folder"):
        open_dataset(tmp_path / "missing")
    with pytest.raises(InputError, match="not a dataset .no manifest.json"):
        open_dataset(tmp_path)


def test_summary_reports_splits_transitions_costs_and_size(dataset):
    summary = dataset_summary(dataset)
    assert summary["episodes"] == 7 and summary["transitions"] == sum(map(sum, LENGTHS))
    random = summary["splits"]["random"]
    assert sum(random[name]["episodes"] for name in ("train", "val", "test")) == 7
    assert set(summary["costs"]) == {"proximity", "lane", "off_road"}
    assert summary["bytes"] > summary["transitions"] * 16 * 8 * 3
    view_bytes = 3 * 16 * 8  # the ego channel is stored once per episode
    assert summary["view_bytes_per_transition"] == pytest.approx(view_bytes)
    text = format_summary(summary)
    for word in ("episodes", "transitions", "random", "recording", "proximity", "kB per"):
        assert word in text

"""Extraction: generated recordings to a dataset; replay consistency; resuming; workers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from traffic_mpc.data import EpisodeWindows, dataset_summary, extract_dataset, open_dataset
from traffic_mpc.data.shards import LENGTH, ROW_OFFSET, START_FRAME, VEHICLE_ID
from traffic_mpc.logs.synth import SynthConfig, generate
from traffic_mpc.road import Road
from traffic_mpc.sim import kinematics
from traffic_mpc.sim.render import EgoViewRenderer, ViewSpec, to_uint8
from traffic_mpc.sim.world import ReplayWorld

REPO = Path(__file__).resolve().parent.parent
VIEW = ViewSpec(height=40, width=12, pixel_size=1.5)
OPTIONS = dict(view_spec=VIEW, min_steps=30, max_episodes=8, episodes_per_shard=4,
               progress=False)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Two short generated recordings (10 s each) as log folders with their road."""
    folder = tmp_path_factory.mktemp("logs")
    road = Road.named("synth")
    for seed in (1, 2):
        log = generate(road, SynthConfig(duration=10.0, warm_up=30.0), seed=seed)
        log.save(folder / f"rec-{seed}", road=road)
    return folder


@pytest.fixture(scope="module")
def dataset(logs, tmp_path_factory):
    return extract_dataset(logs, tmp_path_factory.mktemp("ds") / "dataset", workers=2,
                           **OPTIONS)


def _episode(info, episode):
    """Rows of one episode: (line of the episode table, dict of its arrays)."""
    for shard in info.shards:
        for number, line in enumerate(shard.episodes):
            if line[0] == episode:
                rows = slice(line[ROW_OFFSET], line[ROW_OFFSET] + line[LENGTH])
                arrays = {name: np.asarray(shard[name][rows])
                          for name in ("views", "states", "actions", "costs", "frames")}
                arrays["footprint"] = np.asarray(shard["footprints"][number, 0])
                return line, arrays
    raise KeyError(episode)


def _world(logs, recording):
    from traffic_mpc.logs.sources import open_logs

    log, road = open_logs(logs)[recording]
    return ReplayWorld(log, road, ncond=0), road


def test_extraction_of_generated_recordings(dataset):
    info = open_dataset(dataset)
    manifest = info.manifest
    assert [s["name"] for s in manifest["sources"]] == ["rec-1", "rec-2"]
    assert all(len(s["sha256"]) == 64 for s in manifest["sources"])
    assert manifest["totals"]["episodes"] == 16 and len(manifest["shards"]) == 4
    assert manifest["dt"] == pytest.approx(0.1)
    assert manifest["image"]["view_spec"]["height"] == 40
    assert not (dataset / ".staging").exists()
    episodes = info.episodes
    assert (episodes[:, LENGTH] >= 30).all()
    for episode in (0, 7, 15):
        line, rows = _episode(info, episode)
        np.testing.assert_array_equal(rows["frames"],
                                      line[START_FRAME] + np.arange(line[LENGTH]))
        # The stored states obey the kinematics under the stored actions.
        x, y, vx, vy, heading, speed = torch.from_numpy(rows["states"]).double().unbind(-1)
        np.testing.assert_allclose(vx, speed * torch.cos(heading), atol=1e-5)
        after = kinematics.step(torch.stack([x, y, heading, speed], -1)[:-1],
                                torch.from_numpy(rows["actions"][:-1]).double(), 0.1)
        np.testing.assert_allclose(after, torch.stack([x, y, heading, speed], -1)[1:],
                                   atol=2e-4)
        assert rows["costs"].min() >= 0 and rows["costs"].max() <= 1
        assert rows["views"][:, 0].max() == 255  # lane markings are drawn
    summary = dataset_summary(dataset)
    assert summary["transitions"] == int(episodes[:, LENGTH].sum())
    assert summary["view_bytes_per_transition"] == 3 * 40 * 12


def test_rows_hold_the_view_state_and_costs_of_their_own_step(dataset, logs):
    """Row t is what the world shows at frame t: re-render from a fresh world and compare."""
    info = open_dataset(dataset)
    line, rows = _episode(info, 5)
    world, road = _world(logs, int(line[1]))
    t = 17
    scene = world.reset([int(line[VEHICLE_ID])], [int(rows["frames"][t])])
    renderer = EgoViewRenderer(road, VIEW)
    views = to_uint8(renderer.render(scene))[0]
    stored = torch.from_numpy(rows["views"][t])
    assert (views[:3].int() - stored.int()).abs().max() <= 1
    footprint = to_uint8(renderer.ego_layer(scene.ego_size))[0]
    assert torch.equal(footprint, torch.from_numpy(rows["footprint"]))
    state = world.state[0]
    np.testing.assert_allclose(rows["states"][t][[0, 1, 4, 5]], state, atol=1e-3)
    np.testing.assert_allclose(rows["costs"][t], world.costs(scene)[0], atol=1e-3)


def test_window_first_action_in_the_replay_world_gives_the_first_future_state(dataset, logs):
    """Tolerance: 1e-3 m, 1e-3 m/s, 1e-4 rad (float32 states; the world's reset state is its
    float64 replay of the log, the stored chain is float32)."""
    info = open_dataset(dataset)
    windows = EpisodeWindows(dataset, split="train", ncond=10, npred=15, normalise=False)
    for index in (0, len(windows) // 3, len(windows) - 1):
        item = windows[index]
        line, rows = _episode(info, int(item["episode"]))
        now = int(item["start"]) + 10 - 1  # the last context row
        world, _ = _world(logs, int(line[1]))
        world.reset([int(line[VEHICLE_ID])], [int(rows["frames"][now])])
        x, y, _, _, heading, speed = item["context_states"][-1]
        np.testing.assert_allclose(world.state[0], torch.stack([x, y, heading, speed]),
                                   atol=1e-3)
        result = world.step(item["actions"][:1])
        x, y, _, _, heading, speed = item["future_states"][0]
        expected = torch.stack([x, y, heading, speed])
        np.testing.assert_allclose(result.state[0, :2], expected[:2], atol=1e-3)
        np.testing.assert_allclose(result.state[0, 2], expected[2], atol=1e-4)
        np.testing.assert_allclose(result.state[0, 3], expected[3], atol=1e-3)
        assert int(result.frame[0]) == int(rows["frames"][now + 1])


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_killed_extraction_resumes_and_gives_the_same_dataset(dataset, logs, tmp_path):
    out = tmp_path / "resumed"
    code = (
        "from traffic_mpc.data import extract_dataset\n"
        "from traffic_mpc.sim.render import ViewSpec\n"
        f"extract_dataset({str(logs)!r}, {str(out)!r}, workers=1, view_spec=ViewSpec("
        f"height=40, width=12, pixel_size=1.5), min_steps=30, max_episodes=8, "
        f"episodes_per_shard=4, progress=False)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    shards = out / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if shards.is_dir() and any(p.name.startswith("shard") for p in shards.iterdir()):
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = sorted(p for p in shards.iterdir() if p.name.startswith("shard-"))
    assert not (out / "manifest.json").exists(), "the extraction ended before it was killed"
    assert 1 <= len(finished) < 4
    before = {p.name: (p.stat().st_ino, (p / "views.npy").stat().st_mtime_ns) for p in finished}

    extract_dataset(logs, out, workers=1, **OPTIONS)
    after = {p.name: (p.stat().st_ino, (p / "views.npy").stat().st_mtime_ns)
             for p in finished}
    assert after == before  # finished shards were kept, not rewritten
    # Identical to the uninterrupted run (made with 2 workers): byte for byte.
    assert _files(out) == _files(dataset)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]


def test_rerun_of_a_finished_extraction_rewrites_no_shard(dataset, logs):
    stamps = {p: p.stat().st_mtime_ns for p in dataset.rglob("*.npy")}
    manifest = json.loads((dataset / "manifest.json").read_text())
    extract_dataset(logs, dataset, workers=1, **OPTIONS)
    assert {p: p.stat().st_mtime_ns for p in dataset.rglob("*.npy")} == stamps
    assert json.loads((dataset / "manifest.json").read_text()) == manifest


def test_manifest_names_where_each_recording_was_read(logs, dataset):
    """Generated logs carry no file of their own: the manifest names the log folders they
    were read from, and the evaluator finds them there without being told where."""
    from traffic_mpc.data.sources import open_source_log

    info = open_dataset(dataset)
    road = Road.load(dataset / "road.toml")
    for source, name in zip(info.manifest["sources"], ("rec-1", "rec-2")):
        assert Path(source["path"]) == (logs / name).resolve()
        log = open_source_log(dataset, source, road)
        assert log.n_vehicles == source["vehicles"]

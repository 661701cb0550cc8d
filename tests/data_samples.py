"""Small datasets for the data tests, written without replaying anything.

:func:`constructed_dataset` writes the format of :mod:`traffic_mpc.data` directly: states
that follow the kinematic model under random actions, views whose first pixels encode the
episode and the row (so a window's frames can be traced back), random costs. The shards
and the manifest are produced by the same code as an extraction (``write_shard``,
``build_manifest``), so everything downstream of replaying is exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from traffic_mpc import atomic
from traffic_mpc.data import manifest as fmt
from traffic_mpc.data.extract import EpisodePlan, build_manifest, layout_for, plan_shards
from traffic_mpc.data.shards import write_shard
from traffic_mpc.road import Road
from traffic_mpc.sim import kinematics
from traffic_mpc.sim.render import ViewSpec

SMALL_VIEW = ViewSpec(height=16, width=8, pixel_size=2.0)
SMALL_VIEW_STORED = len([c for c in SMALL_VIEW.channels if c != "ego"])
DT = 0.1


def episode_rows(episode: int, steps: int, recording: int) -> dict[str, np.ndarray]:
    """Rows of one constructed episode; ``(state[t], action[t]) -> state[t+1]`` exactly."""
    rng = np.random.default_rng(1000 + episode)
    actions = np.stack([rng.normal(0.0, 1.0, steps), rng.normal(0.0, 0.002, steps)], -1)
    start = torch.tensor([50.0 + 10 * episode, -2.0 - recording, 0.01, 5.0 + recording],
                         dtype=torch.float64)
    after = kinematics.rollout(start, torch.from_numpy(actions), DT).numpy()
    kin = np.concatenate([start.numpy()[None], after[:-1]])  # state at each row
    x, y, heading, speed = kin.T
    states = np.stack([x, y, speed * np.cos(heading), speed * np.sin(heading), heading, speed],
                      -1)
    views = rng.integers(0, 256, (steps, SMALL_VIEW_STORED, SMALL_VIEW.height, SMALL_VIEW.width),
                         dtype=np.uint8)
    views[:, 0, 0, 0] = np.arange(steps) % 256
    views[:, 0, 0, 1] = episode % 256
    return {
        "states": states.astype(np.float32),
        "actions": actions.astype(np.float32),
        "costs": rng.uniform(0.0, 1.0, (steps, 3)).astype(np.float32),
        "frames": np.arange(steps, dtype=np.int32) + 100 * episode,
        "views": views,
    }



def constructed_dataset(
    path: Path, lengths: list[list[int]], seed: int = 0, episodes_per_shard: int = 3
) -> Path:
    """A dataset of ``len(lengths)`` recordings whose episodes have the given step counts."""
    plans = [
        [EpisodePlan(recording, 10 + i, 100 * i, steps) for i, steps in enumerate(per_rec)]
        for recording, per_rec in enumerate(lengths)
    ]
    tasks = plan_shards(plans, episodes_per_shard)
    layout = layout_for(SMALL_VIEW)
    shards_dir = path / fmt.SHARDS_DIR
    for task in tasks:
        meta = {"name": task.name, "key": "constructed", "recording": task.recording,
                "first_episode": task.first_episode}
        with write_shard(shards_dir / task.name, layout, task.rows, len(task.episodes),
                         meta) as writer:
            offset = 0
            for slot, plan in enumerate(task.episodes):
                episode = task.first_episode + slot
                rows = episode_rows(episode, plan.steps, plan.recording)
                for name, values in rows.items():
                    writer[name][offset:offset + plan.steps] = values
                writer["episodes"][slot] = [episode, plan.recording, plan.vehicle_id,
                                            plan.start_frame, offset, plan.steps]
                writer["ego_sizes"][slot] = [4.5, 1.8]
                writer["footprints"][slot] = 200
                offset += plan.steps
    road = Road.named("synth")
    sources = [{"name": f"rec{r}", "path": "", "sha256": "0" * 64, "site": "synth", "dt": DT,
                "vehicles": len(per_rec), "frames": [0, 1]} for r, per_rec in enumerate(lengths)]
    manifest = build_manifest(path, sources, DT, road, tasks, layout, SMALL_VIEW,
                              {"min_steps": 1, "episodes_per_shard": episodes_per_shard}, seed)
    atomic.write_text(path / fmt.ROAD_FILE, road.to_toml())
    atomic.write_text(path / fmt.MANIFEST_FILE, json.dumps(manifest, indent=1))
    return path

"""Gymnasium environments on the replay world: API conformance, episodes, rewards and ends,
registration, and the native vector env (autoreset, equality with single envs, one world)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from sim_samples import LogBuilder, lane_center, straight_road

import traffic_mpc.envs
from traffic_mpc.data.manifest import STATE_FIELDS
from traffic_mpc.envs import ENV_ID, VECTOR_ENV_ID, ReplayEnv, TrafficVectorEnv, register_envs
from traffic_mpc.envs import egos as egos_module
from traffic_mpc.logs.synth import SynthConfig, generate
from traffic_mpc.road import Road
from traffic_mpc.sim.kinematics import ACTION_HIGH, ACTION_LOW
from traffic_mpc.sim.render import ViewSpec
from traffic_mpc.sim.world import ReplayWorld

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent
INFO_KEYS = {"reason", "proximity", "lane", "off_road", "cost", "distance", "steps", "frame",
             "recording", "vehicle_id", "start_frame"}
COAST = np.zeros(2, np.float32)


@pytest.fixture(scope="module")
def synth_logs(tmp_path_factory) -> Path:
    """20 s of generated dense traffic, as a log folder with its road."""
    folder = tmp_path_factory.mktemp("env-logs") / "recording"
    road = Road.named("synth")
    generate(road, SynthConfig(duration=20.0, warm_up=30.0), seed=0).save(folder, road=road)
    return folder


def constructed(*vehicles, frames: int = 300):
    """In-memory ``logs`` of a straight 3-lane road: ``(id, x0, lane, speed)`` per vehicle,
    each at constant speed from frame 0 to ``frames - 1``."""
    builder = LogBuilder()
    for vehicle_id, x0, lane, speed in vehicles:
        builder.constant_speed(vehicle_id, np.arange(frames), x0, lane_center(lane), speed)
    return [(builder.build(), straight_road())]


def drive(env, action, limit: int = 400):
    """Step with a constant action until the episode ends; returns (steps, last transition)."""
    for count in range(1, limit + 1):
        transition = env.step(action)
        if transition[2] or transition[3]:
            return count, transition
    raise AssertionError(f"episode did not end in {limit} steps")


# ------------------------------------------------------------------------ single env
def test_check_env_passes(synth_logs):
    env = gymnasium.make(ENV_ID, logs=synth_logs, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded ego_state, asymmetric physical actions
        check_env(env.unwrapped)
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3


def test_spaces_dtypes_and_info_keys(synth_logs):
    env = ReplayEnv(logs=synth_logs, view={"height": 40, "width": 12, "pixel_size": 1.5})
    space = env.observation_space
    assert space["ego_view"].shape == (4, 40, 12) and space["ego_view"].dtype == np.uint8
    assert space["ego_state"].shape == (len(STATE_FIELDS),)
    assert space["ego_state"].dtype == np.float32
    assert env.action_space.dtype == np.float32
    np.testing.assert_array_equal(env.action_space.low, np.float32(ACTION_LOW))
    np.testing.assert_array_equal(env.action_space.high, np.float32(ACTION_HIGH))
    observation, info = env.reset(seed=0)
    assert observation in space and set(info) == INFO_KEYS
    assert info["steps"] == 0 and info["frame"] == info["start_frame"] + 20
    observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert observation in space and set(info) == INFO_KEYS
    assert isinstance(reward, float) and isinstance(terminated, bool) and info["steps"] == 1
    # ego_state is the dataset's state vector: x, y, vx, vy, heading, speed.
    x, y, vx, vy, heading, speed = observation["ego_state"]
    np.testing.assert_allclose([vx, vy], [speed * np.cos(heading), speed * np.sin(heading)],
                               rtol=1e-5, atol=1e-5)


def test_same_seed_same_episode_and_observations(synth_logs):
    def rollout(seed):
        env = ReplayEnv(logs=synth_logs)
        observation, info = env.reset(seed=seed)
        views, states, infos = [observation["ego_view"]], [observation["ego_state"]], [info]
        env.action_space.seed(seed)
        for _ in range(10):
            observation, _, terminated, truncated, info = env.step(env.action_space.sample())
            views.append(observation["ego_view"])
            states.append(observation["ego_state"])
            infos.append(info)
            if terminated or truncated:
                break
        return np.stack(views), np.stack(states), infos

    first, second = rollout(7), rollout(7)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]
    env = ReplayEnv(logs=synth_logs)
    others = {env.reset(seed=seed)[1]["vehicle_id"] for seed in range(6)}
    assert len(others) > 1  # the seed chooses the episode


def test_reward_is_minus_the_weighted_costs(synth_logs):
    env = ReplayEnv(logs=synth_logs, cost_weights={"lane": 0.5, "off_road": 2.0})
    env.reset(seed=1)
    for _ in range(8):
        _, reward, terminated, truncated, info = env.step(np.array([1.0, 0.05], np.float32))
        expected = info["proximity"] + 0.5 * info["lane"] + 2.0 * info["off_road"]
        assert reward == pytest.approx(-expected) and info["cost"] == pytest.approx(expected)
        if terminated or truncated:
            break


def test_warm_up_ends_where_the_world_warm_up_ends(synth_logs):
    env = ReplayEnv(logs=synth_logs, ncond=20)
    _, info = env.reset(options={"episode": 3})
    world = ReplayWorld(env.source.recordings[0].log, env.source.recordings[0].road, ncond=20)
    world.reset([info["vehicle_id"]], [info["start_frame"]])
    for _ in range(20):
        world.step(torch.zeros(1, 2))
    assert int(world.frame[0]) == info["frame"]
    torch.testing.assert_close(env.world.state, world.state)
    assert torch.equal(env.world.scene().others_id, world.scene().others_id)
    costs = world.costs(world.scene())[0].tolist()
    assert [info["proximity"], info["lane"], info["off_road"]] == pytest.approx(costs)


def test_off_road_terminates():
    env = ReplayEnv(logs=constructed((1, 60.0, 1, 10.0)))
    env.reset(options={"vehicle_id": 1, "start_frame": 0})
    steps, (_, reward, terminated, truncated, info) = drive(env, np.float32([0.0, 0.3]))
    assert steps < 10 and terminated and not truncated and info["reason"] == "off_road"
    assert info["off_road"] > 0 and reward < 0 and info["distance"] > 0


def test_collision_terminates():
    env = ReplayEnv(logs=constructed((1, 60.0, 2, 10.0), (2, 75.0, 2, 10.0)))
    env.reset(options={"vehicle_id": 1})
    _, (_, _, terminated, truncated, info) = drive(env, np.float32(ACTION_HIGH) * [1, 0])
    assert terminated and not truncated and info["reason"] == "collision_ahead"
    assert info["proximity"] > 0.5


def test_arrival_terminates():
    env = ReplayEnv(logs=constructed((1, 290.0, 2, 10.0), frames=150))
    env.reset(options={"vehicle_id": 1})
    _, (_, _, terminated, truncated, info) = drive(env, COAST)
    assert terminated and not truncated and info["reason"] == "arrived"


def test_end_of_log_truncates():
    env = ReplayEnv(logs=constructed((1, 60.0, 2, 5.0), frames=31), min_steps=21)
    _, info = env.reset(options={"vehicle_id": 1, "start_frame": 0})
    steps, (_, _, terminated, truncated, info) = drive(env, COAST)
    assert truncated and not terminated and info["reason"] == "end_of_log"
    assert steps == 30 - 20 and info["frame"] == 30


def test_actions_are_clipped_to_the_physical_bounds():
    logs = constructed((1, 60.0, 2, 10.0))
    clipped, exact = ReplayEnv(logs=logs), ReplayEnv(logs=logs)
    for env in (clipped, exact):
        env.reset(options={"vehicle_id": 1})
    for _ in range(3):
        beyond = clipped.step(np.float32([100.0, -5.0]))[0]
        bound = exact.step(np.float32([ACTION_HIGH[0], ACTION_LOW[1]]))[0]
    np.testing.assert_array_equal(beyond["ego_state"], bound["ego_state"])
    with pytest.raises(ValueError, match="finite"):
        clipped.step(np.float32([np.nan, 0.0]))


def test_reset_options_choose_the_episode_and_bad_ones_say_why(synth_logs):
    env = ReplayEnv(logs=synth_logs)
    episode = env.episodes[5]
    _, info = env.reset(options={"recording": 0, "vehicle_id": episode.vehicle_id})
    assert (info["vehicle_id"], info["start_frame"]) == (episode.vehicle_id, episode.start_frame)
    _, info = env.reset(options={"vehicle_id": episode.vehicle_id,
                                 "start_frame": episode.start_frame + 5})
    assert info["start_frame"] == episode.start_frame + 5
    with pytest.raises(ValueError, match="not in recording"):
        env.reset(options={"vehicle_id": 10**6})
    with pytest.raises(ValueError, match="warm-up"):
        env.reset(options={"vehicle_id": episode.vehicle_id, "start_frame": 10**6})
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"vehicle": 3})
    with pytest.raises(ValueError, match="unknown configuration key"):
        ReplayEnv(logs=synth_logs, ncnd=3)


def test_no_arguments_replay_the_default_traffic(synth_logs, monkeypatch):
    from traffic_mpc.logs import default_traffic

    calls = []
    monkeypatch.setattr(default_traffic, "default_traffic",
                        lambda *args, **kwargs: calls.append(1) or synth_logs)
    env = gymnasium.make(ENV_ID)
    observation, _ = env.reset(seed=0)
    assert calls and observation in env.observation_space


def test_dataset_episodes_match_the_dataset(synth_logs, tmp_path):
    from traffic_mpc.data import extract_dataset, open_dataset

    view = ViewSpec(height=40, width=12, pixel_size=1.5)
    dataset = extract_dataset(synth_logs, tmp_path / "dataset", view_spec=view, min_steps=30,
                              max_episodes=3, episodes_per_shard=3, progress=False)
    env = ReplayEnv(dataset=dataset, logs=synth_logs, split="train", ncond=5)
    info = open_dataset(dataset)
    assert env.observation_space["ego_view"].shape == (4, 40, 12)  # the dataset's view
    train = info.episodes[info.split_episodes("random", "train")]
    assert [(e.vehicle_id, e.start_frame) for e in env.episodes] == [
        (int(row[2]), int(row[3])) for row in train]
    observation, reset_info = env.reset(options={"episode": 0})
    shard = info.shards[0]
    position = list(shard.episodes[:, 0]).index(train[0, 0])
    row = shard.episodes[position, 4] + 5  # the row after the 5-step warm-up
    # The observation after the warm-up is the dataset's row after it (to float32 rounding).
    np.testing.assert_allclose(observation["ego_state"], shard["states"][row], atol=1e-3)
    assert reset_info["frame"] == shard["frames"][row]
    stored = np.abs(observation["ego_view"][:3].astype(int) - shard["views"][row].astype(int))
    assert stored.max() <= 1
    np.testing.assert_array_equal(observation["ego_view"][3], shard["footprints"][position][0])


# ------------------------------------------------------------------------ registration
def test_registering_twice_is_harmless():
    spec = gymnasium.spec(ENV_ID)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_envs()
        register_envs()
    assert gymnasium.spec(ENV_ID) is spec
    assert gymnasium.spec(VECTOR_ENV_ID).vector_entry_point.endswith(":TrafficVectorEnv")
    assert traffic_mpc.envs.ENV_ID in gymnasium.registry


def test_registration_in_a_fresh_subprocess(synth_logs):
    """Gymnasium 1.x loads no plugins: a fresh interpreter imports ``traffic_mpc.envs``, or
    names it in the id (``module:id``), which gymnasium imports first."""
    script = (
        "import gymnasium\n"
        f"env = gymnasium.make('traffic_mpc.envs:{ENV_ID}', logs={str(synth_logs)!r})\n"
        "observation, info = env.reset(seed=0)\n"
        "env.step(env.action_space.sample())\n"
        f"vector = gymnasium.make_vec('{VECTOR_ENV_ID}', num_envs=2, logs={str(synth_logs)!r})\n"
        "print(type(vector).__name__, observation['ego_view'].shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "TrafficVectorEnv (4, 117, 24)" in result.stdout


# ------------------------------------------------------------------------ vector env
def test_vector_env_shapes_and_infos(synth_logs):
    envs = gymnasium.make_vec(ENV_ID, num_envs=4, logs=synth_logs)
    assert isinstance(envs, TrafficVectorEnv)
    assert envs.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.NEXT_STEP
    observation, info = envs.reset(seed=0)
    assert observation in envs.observation_space
    assert observation["ego_view"].shape == (4, 4, 117, 24)
    assert observation["ego_state"].shape == (4, 6)
    assert INFO_KEYS <= set(info) and info["_reason"].all()
    envs.action_space.seed(0)
    observation, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert observation in envs.observation_space
    assert reward.shape == terminated.shape == truncated.shape == (4,)
    assert terminated.dtype == truncated.dtype == np.bool_
    assert INFO_KEYS <= set(info) and info["reason"].shape == (4,)
    np.testing.assert_allclose(reward, -info["cost"])


def test_vector_env_is_one_batched_world_with_one_render_call(synth_logs, monkeypatch):
    built, renders = [], []
    original_render = egos_module.EgoViewRenderer.render

    class CountingWorld(ReplayWorld):
        def __init__(self, *args, **kwargs):
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(egos_module, "ReplayWorld", CountingWorld)
    monkeypatch.setattr(egos_module.EgoViewRenderer, "render",
                        lambda self, scene: renders.append(scene.batch_size)
                        or original_render(self, scene))
    envs = TrafficVectorEnv(num_envs=4, logs=synth_logs)
    envs.reset(seed=0)
    for _ in range(5):
        envs.step(np.zeros((4, 2), np.float32))
    assert len(built) == 1 and built[0].batch_size == 4
    assert renders == [4] * 6  # one call for all egos per reset and per step


@pytest.mark.parametrize("traffic", ["replay", "reactive"])
def test_vector_env_equals_single_envs_on_the_same_episodes(synth_logs, traffic):
    chosen = [0, 4, 9, 13]
    envs = TrafficVectorEnv(num_envs=4, logs=synth_logs, traffic=traffic)
    singles = [ReplayEnv(logs=synth_logs, traffic=traffic) for _ in chosen]
    batch, _ = envs.reset(options={"episode": chosen})
    alone = [env.reset(options={"episode": k})[0] for env, k in zip(singles, chosen)]
    rng = np.random.default_rng(0)
    for _ in range(8):
        for key in ("ego_view", "ego_state"):
            np.testing.assert_array_equal(batch[key], np.stack([o[key] for o in alone]))
        actions = rng.uniform(ACTION_LOW, ACTION_HIGH, (4, 2)).astype(np.float32) * 0.3
        batch, rewards, terminated, truncated, _ = envs.step(actions)
        steps = [env.step(action) for env, action in zip(singles, actions)]
        alone = [step[0] for step in steps]
        np.testing.assert_allclose(rewards, [step[1] for step in steps], rtol=1e-6)
        assert list(terminated) == [step[2] for step in steps]
        if terminated.any() or truncated.any():
            break


def test_vector_env_autoresets_on_the_next_step():
    logs = constructed((1, 60.0, 1, 10.0), (2, 60.0, 3, 10.0), (3, 120.0, 2, 10.0))
    envs = TrafficVectorEnv(num_envs=3, logs=logs)
    _, info = envs.reset(seed=0, options={"vehicle_id": [1, 2, 3], "start_frame": 0})
    steer_off = np.float32([[0.0, 0.3], [0.0, 0.0], [0.0, 0.0]])
    for _ in range(20):
        observation, reward, terminated, truncated, info = envs.step(steer_off)
        if terminated[0]:
            break
    count = int(info["steps"][1])
    assert terminated.tolist() == [True, False, False] and not truncated.any()
    assert info["reason"][0] == "off_road" and reward[0] < 0
    last = observation["ego_state"][0].copy()
    # Next step: env 0 starts a new episode (its action ignored), the others go on.
    observation, reward, terminated, truncated, info = envs.step(steer_off)
    assert reward[0] == 0.0 and not terminated[0] and not truncated[0]
    assert info["steps"].tolist() == [0, count + 1, count + 1]
    assert info["reason"][0] == "none" and info["frame"][0] == info["start_frame"][0] + 20
    assert not np.array_equal(observation["ego_state"][0], last)
    assert observation in envs.observation_space


def test_vector_env_max_episode_steps_truncates_and_restarts(synth_logs):
    envs = gymnasium.make_vec(VECTOR_ENV_ID, num_envs=2, logs=synth_logs, max_episode_steps=3)
    envs.reset(seed=0, options={"episode": [0, 1]})
    coast = np.zeros((2, 2), np.float32)
    ends = [envs.step(coast)[3].tolist() for _ in range(4)]
    assert ends[2] == [True, True] and ends[3] == [False, False]
    assert envs.unwrapped.egos.steps.tolist() == [0, 0]


def test_vector_env_renders_every_sub_env(synth_logs):
    envs = TrafficVectorEnv(num_envs=2, logs=synth_logs, render_mode="rgb_array")
    envs.reset(seed=0)
    frames = envs.render()
    assert len(frames) == 2 and all(f.dtype == np.uint8 and f.shape[2] == 3 for f in frames)


def test_vector_env_over_several_recordings_renders_once_per_step(monkeypatch):
    renders = []
    original_render = egos_module.EgoViewRenderer.render
    monkeypatch.setattr(egos_module.EgoViewRenderer, "render",
                        lambda self, scene: renders.append(scene.batch_size)
                        or original_render(self, scene))
    logs = constructed((1, 60.0, 1, 10.0), (2, 60.0, 3, 10.0)) + constructed(
        (1, 80.0, 2, 8.0), (2, 120.0, 3, 9.0))
    options = {"recording": [0, 1, 0], "vehicle_id": [1, 2, 2]}
    envs = TrafficVectorEnv(num_envs=3, logs=logs)
    batch, info = envs.reset(options=options)
    singles = [ReplayEnv(logs=logs) for _ in range(3)]
    alone = [env.reset(options={key: value[i] for key, value in options.items()})[0]
             for i, env in enumerate(singles)]
    assert info["recording"].tolist() == [0, 1, 0] and info["vehicle_id"].tolist() == [1, 2, 2]
    actions = np.float32([[1.0, 0.01], [-1.0, 0.0], [0.5, -0.01]])
    for _ in range(5):
        np.testing.assert_array_equal(batch["ego_view"], np.stack([o["ego_view"] for o in alone]))
        np.testing.assert_array_equal(batch["ego_state"],
                                      np.stack([o["ego_state"] for o in alone]))
        renders.clear()
        batch = envs.step(actions)[0]
        assert renders == [3]  # the two recordings share one road: one call for all egos
        alone = [env.step(action)[0] for env, action in zip(singles, actions)]
    assert sorted(envs.worlds) == [0, 1] and all(w.batch_size == 3 for w in envs.worlds.values())


def test_vector_env_reset_mask_restarts_only_the_masked_envs(synth_logs):
    envs = TrafficVectorEnv(num_envs=3, logs=synth_logs)
    envs.reset(seed=0, options={"episode": [0, 1, 2]})
    for _ in range(2):
        envs.step(np.zeros((3, 2), np.float32))
    observation, info = envs.reset(options={"reset_mask": np.array([False, True, False]),
                                            "episode": 7})
    assert info["_reason"].tolist() == [False, True, False]
    assert info["steps"].tolist() == [2, 0, 2]
    assert info["vehicle_id"][1] == envs.episodes[7].vehicle_id
    assert observation in envs.observation_space

"""``traffic_mpc/VectorReplay-v0``: ``N`` egos as one batch of the replay world.

A native :class:`gymnasium.vector.VectorEnv`: the ``N`` sub-environments are the ``N`` egos
of one :class:`~traffic_mpc.envs.egos.ReplayEgos` (one world per recording, all egos in its
batch; one world step and one render call per step for all of them), not ``N`` copies of
:class:`~traffic_mpc.envs.replay_env.ReplayEnv`. Observations, rewards, ends and infos are
those of the single environment, batched: observation ``{"ego_view": uint8 (N, C, H, W),
"ego_state": float32 (N, 6)}``, action ``float32 (N, 2)``; ``info`` holds every key of the
single environment's info as an array ``(N,)`` with its ``_key`` mask.

**Autoreset**: ``AutoresetMode.NEXT_STEP`` (gymnasium's default). The step on which a
sub-environment's episode ends returns its last observation with ``terminated`` or
``truncated``; on the next ``step`` that sub-environment ignores its action, starts a new
episode (drawn with the vector env's generator) and returns the new episode's first
observation (after the warm-up) with reward 0, ``terminated = truncated = False`` and the new
episode's info. The others step as usual.

``reset(seed=..., options=...)``: ``seed`` seeds the vector env's generator, from which the
episodes of all sub-environments are drawn in order. ``options`` take the keys of the
single environment (``episode``, ``recording``, ``vehicle_id``, ``start_frame``), each a
scalar for every sub-environment or a sequence of ``N`` (None entries: drawn), and
``reset_mask`` (bool ``(N,)``) to restart only some sub-environments.

``max_episode_steps``: sub-environments are truncated after that many steps (what
``gymnasium.make_vec`` passes when the spec or the call sets it).

Built by ``gymnasium.make_vec("traffic_mpc/Replay-v0", num_envs=N)`` (its vector entry
point), ``gymnasium.make_vec("traffic_mpc/VectorReplay-v0", num_envs=N)`` or directly
``TrafficVectorEnv(num_envs=N, **config)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from traffic_mpc.envs.action import action_space, clip_actions
from traffic_mpc.envs.config import make_config
from traffic_mpc.envs.egos import ReplayEgos
from traffic_mpc.envs.episodes import OPTION_KEYS, choose_episode, load_episodes
from traffic_mpc.envs.observation import observation_space


class TrafficVectorEnv(VectorEnv):
    """``num_envs`` egos in the batched replay world (module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10,
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, render_mode: str | None = None,
                 max_episode_steps: int | None = None, **config: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of "
                             f"{self.metadata['render_modes']}, got {render_mode!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be positive, got {max_episode_steps}")
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self.config = make_config(**config)
        self.source = load_episodes(self.config)
        self.egos = ReplayEgos(self.source, self.config, self.num_envs)
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.egos.dt)}
        self.single_observation_space = observation_space(self.egos.view)
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._observation: dict[str, np.ndarray] | None = None

    @property
    def episodes(self):
        """The episodes resets choose from (``options={"episode": [...]}`` picks them)."""
        return self.source.episodes

    @property
    def worlds(self):
        """The replay worlds built so far, by recording index (one batch of ``num_envs``
        egos each)."""
        return self.egos.worlds

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        mask = (np.ones(self.num_envs, dtype=bool) if mask is None
                else np.asarray(mask, dtype=bool).reshape(self.num_envs))
        egos = np.flatnonzero(mask)
        self._start(egos, self._per_env_options(options, egos))
        self._autoreset[egos] = False
        observation = self._observe()
        return observation, self._info(mask)

    def step(self, actions):
        actions = clip_actions(actions, self.num_envs)
        restarting = np.flatnonzero(self._autoreset)
        self.egos.step(actions)
        rewards = self.egos.rewards()
        terminated = self.egos.terminated()
        truncated = self.egos.truncated()
        if self.max_episode_steps is not None:
            truncated = truncated | (self.egos.steps >= self.max_episode_steps)
        if len(restarting):
            # Their episodes ended on the previous step: they start new ones instead.
            self._start(restarting, [{} for _ in restarting])
            rewards[restarting] = 0.0
            terminated[restarting] = False
            truncated[restarting] = False
        self._autoreset = terminated | truncated
        observation = self._observe()
        return (observation, rewards, terminated, truncated,
                self._info(np.ones(self.num_envs, dtype=bool)))

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One RGB frame per sub-environment (:mod:`traffic_mpc.envs.rendering`)."""
        if self.render_mode is None:
            return None
        if self._observation is None:
            raise RuntimeError("call reset() before render()")
        return tuple(self.egos.render_frames(self._observation["ego_view"],
                                             self.config["top_down"]))

    # ------------------------------------------------------------------ helpers
    def _start(self, egos: np.ndarray, options: list[dict]) -> None:
        episodes = [choose_episode(self.source, self.np_random, entry, self.config["ncond"])
                    for entry in options]
        self.egos.start(egos, episodes)

    def _per_env_options(self, options: dict, egos: np.ndarray) -> list[dict]:
        """``options`` (scalars or sequences of ``num_envs``) -> one dict per restarted env."""
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; known: "
                             f"{[*OPTION_KEYS, 'reset_mask']}")
        per_env = []
        for ego in egos:
            entry = {}
            for key, value in options.items():
                if np.ndim(value) == 0:
                    entry[key] = value
                elif len(value) == self.num_envs:
                    entry[key] = value[ego]
                else:
                    raise ValueError(f"reset option {key} must be a scalar or have one entry "
                                     f"per sub-environment ({self.num_envs}), got {len(value)}")
            per_env.append(entry)
        return per_env

    def _observe(self) -> dict[str, np.ndarray]:
        self._observation = self.egos.observe()
        return {key: value.copy() for key, value in self._observation.items()}

    def _info(self, mask: np.ndarray) -> dict[str, np.ndarray]:
        info: dict[str, np.ndarray] = {}
        for key, value in self.egos.info().items():
            info[key] = value
            info[f"_{key}"] = mask.copy()
        return info

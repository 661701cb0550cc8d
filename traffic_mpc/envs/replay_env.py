"""``traffic_mpc/Replay-v0``: drive one logged vehicle through replayed traffic.

Each episode takes over a logged vehicle (:mod:`traffic_mpc.envs.episodes`): ``reset``
chooses it (``seed``, ``options``), lets it follow its log through the ``ncond`` warm-up
steps, and returns the first observation after the warm-up; then every ``step`` applies the
agent's action through the kinematics while the other vehicles replay the log (or react,
``traffic="reactive"``).

- observation: ``{"ego_view": uint8 (C, H, W), "ego_state": float32 (6,)}``
  (:mod:`traffic_mpc.envs.observation`);
- action: ``float32 (2,)`` acceleration [m/s²], curvature [1/m] in the physical bounds,
  clipped to them (:mod:`traffic_mpc.envs.action`);
- reward: minus the weighted cost; ``terminated`` on a collision, off road or arrival;
  ``truncated`` when the recording ends; ``info``: the reason, every cost term, the distance
  driven and the episode (:mod:`traffic_mpc.envs.egos`);
- ``render_mode="rgb_array"``: a top-down view around the ego above its ego view
  (:mod:`traffic_mpc.envs.rendering`).

Configuration: keyword arguments merged over :func:`traffic_mpc.envs.config.default_config`;
with none, the built-in generator's default traffic. ``max_episode_steps`` (a ``make``
argument) is gymnasium's ``TimeLimit``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from traffic_mpc.envs.action import action_space, clip_actions
from traffic_mpc.envs.config import make_config
from traffic_mpc.envs.egos import ReplayEgos
from traffic_mpc.envs.episodes import choose_episode, load_episodes
from traffic_mpc.envs.observation import observation_space


class ReplayEnv(gym.Env):
    """One ego in the replay world (module docstring). ``render_mode``: None or
    ``"rgb_array"``; ``**config``: see :mod:`traffic_mpc.envs.config`."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None, **config: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of "
                             f"{self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.config = make_config(**config)
        self.source = load_episodes(self.config)
        self.egos = ReplayEgos(self.source, self.config, 1)
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.egos.dt)}
        self.observation_space = observation_space(self.egos.view)
        self.action_space = action_space()
        self._observation: dict[str, np.ndarray] | None = None

    @property
    def episodes(self):
        """The episodes a reset chooses from (``options={"episode": k}`` picks the k-th)."""
        return self.source.episodes

    @property
    def world(self):
        """The :class:`~traffic_mpc.sim.world.ReplayWorld` of the current episode."""
        return self.egos.worlds[int(self.egos.recording[0])]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        episode = choose_episode(self.source, self.np_random, options, self.config["ncond"])
        self.egos.start([0], [episode])
        return self._observe(), self._info()

    def step(self, action):
        self.egos.step(clip_actions(action, 1))
        return (self._observe(), float(self.egos.rewards()[0]),
                bool(self.egos.terminated()[0]), bool(self.egos.truncated()[0]), self._info())

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() without a render_mode: pass render_mode='rgb_array'")
            return None
        if self._observation is None:
            raise RuntimeError("call reset() before render()")
        views = self._observation["ego_view"][None]
        return self.egos.render_frames(views, self.config["top_down"])[0]

    def _observe(self) -> dict[str, np.ndarray]:
        batch = self.egos.observe()
        self._observation = {key: value[0] for key, value in batch.items()}
        return self._observation

    def _info(self) -> dict[str, Any]:
        return {key: value[0].item() if isinstance(value[0], np.generic) else value[0]
                for key, value in self.egos.info().items()}

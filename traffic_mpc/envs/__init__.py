"""Gymnasium environments backed by the batched replay world.

Importing this package registers (:func:`register_envs`, idempotent):

- ``traffic_mpc/Replay-v0``: :class:`~traffic_mpc.envs.replay_env.ReplayEnv`, one ego;
  ``gymnasium.make_vec("traffic_mpc/Replay-v0", num_envs=N)`` builds the native vector env
  (its vector entry point);
- ``traffic_mpc/VectorReplay-v0``: :class:`~traffic_mpc.envs.vector_env.TrafficVectorEnv`
  only (``gymnasium.make_vec``).

Both with no arguments replay the built-in generator's default traffic (generated on first
use and cached); keyword arguments (:mod:`traffic_mpc.envs.config`) point them at any log
or dataset::

    import gymnasium
    import traffic_mpc.envs  # registers the ids

    # or, without the import: gymnasium.make("traffic_mpc.envs:traffic_mpc/Replay-v0", ...)

    env = gymnasium.make("traffic_mpc/Replay-v0", logs="path/to/logs")
    observation, info = env.reset(seed=0)
    observation, reward, terminated, truncated, info = env.step(env.action_space.sample())

The registry entries name their entry points as strings, so sub-processes (``AsyncVectorEnv``,
``spawn``) create the environments from the spec without registering anything themselves.
Gymnasium 1.x has no plugin loading: in a fresh interpreter, import this package or use the
``"traffic_mpc.envs:traffic_mpc/Replay-v0"`` id form (gymnasium imports the module first).
"""

from __future__ import annotations

ENV_ID = "traffic_mpc/Replay-v0"
VECTOR_ENV_ID = "traffic_mpc/VectorReplay-v0"
ENTRY_POINT = "traffic_mpc.envs.replay_env:ReplayEnv"
VECTOR_ENTRY_POINT = "traffic_mpc.envs.vector_env:TrafficVectorEnv"


def register_envs() -> None:
    """Register the environments with gymnasium; registering again changes nothing."""
    from gymnasium.envs.registration import register, registry

    if ENV_ID not in registry:
        register(id=ENV_ID, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT)
    if VECTOR_ENV_ID not in registry:
        register(id=VECTOR_ENV_ID, vector_entry_point=VECTOR_ENTRY_POINT)


def __getattr__(name: str):
    # The classes are imported on first use, so that registering stays cheap.
    if name == "ReplayEnv":
        from traffic_mpc.envs.replay_env import ReplayEnv

        return ReplayEnv
    if name == "TrafficVectorEnv":
        from traffic_mpc.envs.vector_env import TrafficVectorEnv

        return TrafficVectorEnv
    if name in ("default_config", "make_config"):
        from traffic_mpc.envs import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


register_envs()

__all__ = [
    "ENV_ID",
    "VECTOR_ENV_ID",
    "ReplayEnv",
    "TrafficVectorEnv",
    "default_config",
    "make_config",
    "register_envs",
]

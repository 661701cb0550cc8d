"""The configuration of the replay environments: every default in one place.

:func:`default_config` lists the keys; :func:`make_config` merges the keyword arguments of
:class:`~traffic_mpc.envs.replay_env.ReplayEnv` and
:class:`~traffic_mpc.envs.vector_env.TrafficVectorEnv` over it (an unknown key is an error
naming the known ones) and checks the values.

Keys:

- ``logs``: where the traffic comes from: a path that
  :func:`traffic_mpc.logs.sources.open_logs` reads (a log folder, an NGSIM file, a folder of
  them), a list of ``(TrafficLog, Road)`` pairs, or None: the built-in generator's default
  traffic (:func:`traffic_mpc.logs.default_traffic.default_traffic`, generated on first
  use and cached). With ``dataset``: where the dataset's source logs are, if not at the
  paths its manifest names.
- ``site``: road of NGSIM files that have no ``road.toml`` beside them.
- ``dataset``: a dataset folder (``traffic_mpc.data``): the episodes are those of its split
  ``split_kind``/``split``, replayed from its source logs on its road.
- ``split`` (``"train"``, ``"val"``, ``"test"``), ``split_kind`` (``"random"``,
  ``"recording"``): which of the dataset's episodes.
- ``min_steps``: without a dataset, the vehicles whose longest run of frames in the valid
  region has at least this many steps are the episodes (as ``data extract`` plans them).
- ``traffic``: ``"replay"`` (logged traffic, non-reactive) or ``"reactive"``.
- ``playback``: how logged vehicles move, ``"actions"`` or ``"positions"`` (see
  :class:`~traffic_mpc.sim.world.LoggedTraffic`).
- ``ncond``: warm-up steps in which the ego follows its log, inside ``reset``.
- ``view``: the ego view, a :class:`~traffic_mpc.sim.render.ViewSpec` or a dict of its
  fields merged over the default; None: the dataset's view spec, else ``ViewSpec()``.
- ``cost_weights``: a :class:`~traffic_mpc.sim.cost_masks.CostWeights` or a dict of its
  fields merged over the default (proximity 1, lane 0.2, off-road 1).
- ``device``: where the worlds and the renderer run (``"cpu"``, ``"cuda"``, ...).
- ``top_down``: the ``rgb_array`` picture: ``scale`` [px/m], ``behind`` and ``ahead`` [m]
  of road around the ego.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from traffic_mpc.data.extract import DEFAULT_MIN_STEPS
from traffic_mpc.data.manifest import SPLIT_KINDS, SPLIT_NAMES
from traffic_mpc.sim.cost_masks import CostWeights
from traffic_mpc.sim.render import ViewSpec

#: Warm-up steps (REFERENCE.md: the policy sees 20 frames of context, 2 s).
NCOND = 20
TRAFFIC_MODES = ("replay", "reactive")
PLAYBACK_MODES = ("actions", "positions")
TOP_DOWN = {"scale": 4.0, "behind": 40.0, "ahead": 40.0}


def default_config() -> dict[str, Any]:
    """A fresh dict of every key and its default (module docstring)."""
    return {
        "logs": None,
        "site": None,
        "dataset": None,
        "split": "test",
        "split_kind": "random",
        "min_steps": DEFAULT_MIN_STEPS,
        "traffic": "replay",
        "playback": "actions",
        "ncond": NCOND,
        "view": None,
        "cost_weights": CostWeights(),
        "device": "cpu",
        "top_down": dict(TOP_DOWN),
    }


def make_config(**overrides: Any) -> dict[str, Any]:
    """``overrides`` merged over :func:`default_config`, checked; ``view`` stays None when
    not given (the environment resolves it once it knows whether a dataset is used)."""
    config = default_config()
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ValueError(f"unknown configuration key(s) {unknown}; known: {sorted(config)}")
    config.update(overrides)
    config["cost_weights"] = _merged(CostWeights(), config["cost_weights"], "cost_weights")
    if config["view"] is not None:
        config["view"] = _merged(ViewSpec(), config["view"], "view")
    top_down = dict(TOP_DOWN)
    extra = sorted(set(config["top_down"] or {}) - set(top_down))
    if extra:
        raise ValueError(f"unknown top_down key(s) {extra}; known: {sorted(top_down)}")
    top_down.update(config["top_down"] or {})
    if not all(float(value) > 0 for value in top_down.values()):
        raise ValueError(f"top_down values must be positive, got {top_down}")
    config["top_down"] = {key: float(value) for key, value in top_down.items()}
    _check_choice(config, "traffic", TRAFFIC_MODES)
    _check_choice(config, "playback", PLAYBACK_MODES)
    _check_choice(config, "split", SPLIT_NAMES)
    _check_choice(config, "split_kind", SPLIT_KINDS)
    if int(config["ncond"]) < 0:
        raise ValueError(f"ncond must be >= 0, got {config['ncond']}")
    config["ncond"] = int(config["ncond"])
    if int(config["min_steps"]) < config["ncond"] + 1:
        raise ValueError(f"min_steps must be at least ncond + 1 = {config['ncond'] + 1} (one "
                         f"step after the warm-up), got {config['min_steps']}")
    config["min_steps"] = int(config["min_steps"])
    return config


def _merged(default, value, name: str):
    """A dataclass instance from ``value``: an instance of the same class, or a dict of its
    fields merged over ``default``."""
    if isinstance(value, type(default)):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a {type(default).__name__} or a dict of its fields, "
                         f"got {value!r}")
    known = {entry.name for entry in fields(default)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"unknown {name} field(s) {unknown}; known: {sorted(known)}")
    return replace(default, **value)


def _check_choice(config: dict, key: str, choices: tuple[str, ...]) -> None:
    if config[key] not in choices:
        raise ValueError(f"{key} must be one of {choices}, got {config[key]!r}")

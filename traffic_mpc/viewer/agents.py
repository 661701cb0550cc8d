"""Agents that can drive the selected vehicle, and the one function that finds them by spec.

An agent is any object with ``act(observation) -> actions``: ``observation`` an
:class:`Observation` of a batch of ``B`` egos, ``actions`` ``(B, 2)`` acceleration [m/s²]
and curvature [1/m] (a tensor or anything ``torch.as_tensor`` takes). It may also have
``reset(observation)``, called when it takes over, and a ``name``.

:func:`make_agent` is the only place a spec (``--agent SPEC``) becomes an agent. The
evaluation module will own the registry of agents (no-action, expert, idm, learned
policies); until it exists the built-in :class:`NoActionAgent` is the only one here, so the
path from the command line to a driving agent is exercised end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from traffic_mpc.errors import InputError
from traffic_mpc.sim.scene import EgoScene


@dataclass(frozen=True)
class Observation:
    """What an agent sees at one step, for ``B`` egos (the viewer drives one: ``B = 1``).

    - ``scene``: the egos' :class:`EgoScene` (poses, sizes, neighbours)
    - ``state``: ``(B, 4)`` x, y [m], heading [rad], speed [m/s]
    - ``ego_views``: ``(B, T, C, H, W)`` the last ``T`` ego views in [0, 1], oldest first
      (the context a learned policy conditions on), or None without a renderer
    - ``states``: ``(B, T, 4)`` the last ``T`` states, oldest first
    - ``frame``: ``(B,)`` int64 log frame numbers
    - ``world``: the :class:`~traffic_mpc.sim.world.ReplayWorld` the egos drive in (for
      agents that read the log, like an expert replaying recovered actions)
    """

    scene: EgoScene
    state: torch.Tensor
    ego_views: torch.Tensor | None
    states: torch.Tensor
    frame: torch.Tensor
    world: Any


class Agent(Protocol):
    def act(self, observation: Observation) -> torch.Tensor: ...


class NoActionAgent:
    """Keeps speed and heading: acceleration 0, curvature 0 (the reference's baseline)."""

    name = "no-action"

    def act(self, observation: Observation) -> torch.Tensor:
        return torch.zeros(observation.state.shape[0], 2, dtype=observation.state.dtype)


#: Built-in agents by spec. The evaluation module's registry takes this table's place.
BUILT_IN_AGENTS: dict[str, Callable[[int], Agent]] = {
    "no-action": lambda seed: NoActionAgent(),
}


def make_agent(spec: str, seed: int = 0) -> Agent:
    """The agent a ``--agent SPEC`` names (``seed`` for agents that sample).

    Raises :class:`InputError` naming the known specs when the spec is unknown.
    """
    factory = BUILT_IN_AGENTS.get(spec)
    if factory is None:
        known = ", ".join(sorted(BUILT_IN_AGENTS))
        raise InputError("--agent", f"unknown agent {spec!r}; known agents: {known}")
    return factory(seed)


def agent_name(agent: object, spec: str) -> str:
    return str(getattr(agent, "name", spec))

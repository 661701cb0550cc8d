"""How the agent acts: longitudinal acceleration [m/s²] and curvature [1/m] (positive turns
left), applied through :mod:`traffic_mpc.sim.kinematics`.

The action space is ``Box(ACTION_LOW, ACTION_HIGH)`` (``float32``) with the physical bounds of
:mod:`~traffic_mpc.sim.kinematics` (±6.2 m/s², ±0.3 1/m). Actions outside it are clipped to
it before the world sees them (the world itself never clips); a non-finite action is an
error.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from traffic_mpc.sim.kinematics import ACTION_HIGH, ACTION_LOW


def action_space() -> spaces.Box:
    """The action space of one ego."""
    return spaces.Box(np.array(ACTION_LOW, np.float32), np.array(ACTION_HIGH, np.float32),
                      dtype=np.float32)


def clip_actions(actions, batch: int) -> np.ndarray:
    """Actions of ``batch`` egos (anything array-like with ``2 * batch`` numbers) as a
    ``(batch, 2)`` float64 array clipped to the action space."""
    array = np.asarray(actions, dtype=np.float64)
    if array.size != 2 * batch:
        raise ValueError(f"expected {batch} action(s) of (acceleration, curvature), got an "
                         f"array of shape {array.shape}")
    array = array.reshape(batch, 2)
    if not np.isfinite(array).all():
        raise ValueError(f"actions must be finite, got {array.tolist()}")
    return np.clip(array, ACTION_LOW, ACTION_HIGH)

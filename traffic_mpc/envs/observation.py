"""What the agent sees: the ego view and the ego state, and their gymnasium spaces.

Observation (a dict, per ego):

- ``ego_view``: ``uint8`` ``(C, H, W)``, the ego-centred raster of
  :class:`~traffic_mpc.sim.render.EgoViewRenderer` scaled to 0..255
  (:func:`~traffic_mpc.sim.render.to_uint8`); channels in the order of the view spec
  (default lanes, vehicles, off-road, ego), row 0 the far front, column 0 the ego's left.
- ``ego_state``: ``float32`` ``(6,)``, the dataset's state vector
  (:data:`traffic_mpc.data.manifest.STATE_FIELDS`), in the road frame:
  ``x, y`` [m] of the ego's centre, ``vx, vy`` [m/s] its velocity, ``heading`` [rad]
  (counter-clockwise from +x, the direction of travel) and ``speed`` [m/s]. Unnormalised;
  a dataset's manifest holds the statistics a model trained on it normalises with.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

from traffic_mpc.data.manifest import STATE_FIELDS, state_vector
from traffic_mpc.sim.render import ViewSpec

#: Names of the ``ego_state`` components, in order.
EGO_STATE_FIELDS = STATE_FIELDS


def observation_space(view: ViewSpec) -> spaces.Dict:
    """The observation space of one ego for views of ``view``."""
    return spaces.Dict({
        "ego_view": spaces.Box(0, 255, (len(view.channels), view.height, view.width),
                               np.uint8),
        "ego_state": spaces.Box(-np.inf, np.inf, (len(EGO_STATE_FIELDS),), np.float32),
    })


def ego_state(state: torch.Tensor) -> np.ndarray:
    """World states ``(B, 4)`` (x, y, heading, speed) -> ``(B, 6)`` ``float32`` ego states
    (:data:`EGO_STATE_FIELDS`), computed as ``data extract`` stores them."""
    return state_vector(state.detach()).cpu().numpy().astype(np.float32)

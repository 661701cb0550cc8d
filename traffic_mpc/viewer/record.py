"""What the viewer shows as pixels, for its mp4 recordings.

:func:`surface_rgb` turns a drawn pygame surface into an ``(H, W, 3)`` RGB array — the one
way a viewer frame becomes pixels, used by the recorder, the tests and anything else that
wants the viewer's pictures (evaluation videos, TensorBoard). The frames are written by
:class:`traffic_mpc.video.VideoRecorder` (``mp4v``, the file appears whole or not at all).
"""

from __future__ import annotations

import numpy as np
import pygame


def surface_rgb(surface: pygame.Surface) -> np.ndarray:
    """The pixels of a surface as a new ``(height, width, 3)`` uint8 RGB array."""
    width, height = surface.get_size()
    data = pygame.image.tobytes(surface, "RGB")
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3).copy()

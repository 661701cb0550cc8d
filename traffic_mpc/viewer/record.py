"""Writing what the viewer shows to an mp4 file (opencv, ``mp4v`` codec).

:func:`surface_rgb` turns a drawn pygame surface into an ``(H, W, 3)`` RGB array — the one
way a viewer frame becomes pixels, used by the recorder, the tests and anything else that
wants the viewer's pictures (evaluation videos, TensorBoard). The file appears whole or not
at all: frames go to a temporary file beside the target, renamed on :meth:`close`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pygame

from traffic_mpc.errors import InputError


def surface_rgb(surface: pygame.Surface) -> np.ndarray:
    """The pixels of a surface as a new ``(height, width, 3)`` uint8 RGB array."""
    width, height = surface.get_size()
    data = pygame.image.tobytes(surface, "RGB")
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3).copy()


class VideoRecorder:
    """Frames ``(H, W, 3)`` RGB uint8 of one size in, an mp4 at ``fps`` frames/s out.

    Use as a context manager, or call :meth:`close` (which publishes the file); on an error
    inside the ``with`` block the partial file is removed.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise InputError(self.path, "the recording must be an .mp4 file")
        self.size = (int(size[0]), int(size[1]))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".mp4",
                                        dir=self.path.parent)
        os.close(handle)
        self._temporary = Path(name)
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        self._writer = cv2.VideoWriter(str(self._temporary), fourcc, float(fps), self.size)
        if not self._writer.isOpened():
            self._temporary.unlink(missing_ok=True)
            raise InputError(self.path, "opencv cannot write an mp4v video here")
        self.frames_written = 0

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame ``(height, width, 3)`` uint8 RGB."""
        if rgb.shape != (self.size[1], self.size[0], 3):
            raise ValueError(f"frame of shape {rgb.shape}, expected "
                             f"{(self.size[1], self.size[0], 3)}")
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and give it its final name."""
        self._writer.release()
        os.replace(self._temporary, self.path)
        return self.path

    def discard(self) -> None:
        self._writer.release()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

"""Writing RGB frames to an mp4 file (opencv, ``mp4v`` codec), whole or not at all.

Frames go to a temporary file beside the target, renamed (mode 0644) on
:meth:`VideoRecorder.close`, removed on :meth:`VideoRecorder.discard`. Used by the viewer's
``--record`` (:mod:`traffic_mpc.viewer.app`) and the evaluation videos
(:mod:`traffic_mpc.evaluate.videos`); no pygame here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from traffic_mpc.errors import InputError


class VideoRecorder:
    """Frames ``(H, W, 3)`` RGB uint8 of ``size`` ``(W, H)`` in, an mp4 at ``fps`` frames/s
    out.

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
        """Append one frame ``(height, width, 3)`` uint8 RGB of the recorder's ``size``
        (opencv skips a frame of another size, with a warning)."""
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self, path: str | Path | None = None) -> Path:
        """Finish the file and give it its final name: ``path`` if given, else the one it
        was opened with. Returns that name."""
        self._writer.release()
        target = Path(path) if path is not None else self.path
        os.chmod(self._temporary, 0o644)
        os.replace(self._temporary, target)
        return target

    def discard(self) -> None:
        """Stop and remove the partial file."""
        self._writer.release()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

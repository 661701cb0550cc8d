"""The timeline under the road view: vehicles on the road over the whole log, where the
playback is, and the span of the episode being driven; a click or drag on it seeks."""

from __future__ import annotations

import numpy as np
import pygame

from traffic_mpc.viewer import draw

BACKGROUND = (16, 18, 22)
COUNT_COLOUR = (70, 90, 120)
CURSOR = (255, 255, 255)
EPISODE = draw.HIGHLIGHT
ENDED = draw.EVENT_FLASH


class Timeline:
    """Drawn in ``rect`` (screen pixels); ``vehicles_per_frame`` ``(T,)`` is plotted once."""

    def __init__(self, rect: pygame.Rect, vehicles_per_frame: np.ndarray) -> None:
        self.rect = rect
        self.n_frames = len(vehicles_per_frame)
        self.plot = self._plot(vehicles_per_frame)

    @property
    def track(self) -> pygame.Rect:
        """Where frames are laid out: the rectangle minus a margin for the labels."""
        return pygame.Rect(self.rect.left + 8, self.rect.top + 4, self.rect.width - 16,
                           self.rect.height - 8)

    def x_of(self, t: int | float) -> float:
        """Screen x of frame index ``t``."""
        track = self.track
        return track.left + track.width * (t + 0.5) / self.n_frames

    def frame_at(self, sx: float) -> int:
        """Frame index under screen x ``sx`` (clamped to the log)."""
        track = self.track
        t = int((sx - track.left) / track.width * self.n_frames)
        return int(np.clip(t, 0, self.n_frames - 1))

    def _plot(self, counts: np.ndarray) -> pygame.Surface:
        """Vehicles on the road per frame as a filled profile, one column per pixel."""
        track = self.track
        surface = pygame.Surface(track.size)
        surface.fill(BACKGROUND)
        columns = np.arange(track.width + 1)
        edges = (columns * len(counts)) // track.width
        peak = max(int(counts.max()), 1)
        for column in range(track.width):
            start = min(int(edges[column]), len(counts) - 1)
            chunk = counts[start:max(int(edges[column + 1]), start + 1)]
            height = round(track.height * float(chunk.max()) / peak)
            if height:
                pygame.draw.line(surface, COUNT_COLOUR, (column, track.height - 1),
                                 (column, track.height - height))
        return surface

    def draw(self, surface: pygame.Surface, t: int, episode=None) -> None:
        surface.fill(BACKGROUND, self.rect)
        surface.blit(self.plot, self.track)
        if episode is not None:
            top = self.track.top
            start, last = self.x_of(episode.start_t), self.x_of(episode.last_t)
            pygame.draw.rect(surface, EPISODE,
                             (round(start), top, max(2, round(last - start)), 4))
            if episode.finished:
                pygame.draw.line(surface, ENDED, (round(last), top),
                                 (round(last), self.track.bottom - 1), 2)
        cursor = round(self.x_of(t))
        pygame.draw.line(surface, CURSOR, (cursor, self.rect.top + 1),
                         (cursor, self.rect.bottom - 2), 2)

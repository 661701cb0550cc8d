"""World ↔ screen transform of the main road view: a *wrapped* road, like lines of text.

A site is long and thin (the I-80 section is about 500 m by 26 m), so a plain camera either
shows the whole road as a sliver a few pixels high or a short piece of it at a readable scale.
The main view therefore cuts the road into rows of equal length and stacks them top to bottom:
row ``k`` shows road ``x`` in ``[x_origin + k L, x_origin + (k + 1) L)``, with
``L = view width / zoom``. At the default zoom the whole road fits in three or four rows at
about 5 px/m (a car is about 25 × 10 px); zooming in lengthens nothing but the rows' pixel
size, so at high zoom one row fills the view and the camera is an ordinary pan-and-zoom
camera. Panning along x flows the road through the rows; vertical panning scrolls the rows.

Screen coordinates are pygame pixels (x to the right, y down). Road coordinates follow
:mod:`traffic_mpc.road` (x [m] along travel, y [m] to the left, road at y <= 0), so the
left-most lane is drawn at the top of each row and traffic moves to the right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Vertical space between two rows, where the row's x range is written [px].
ROW_GAP = 18
#: Road margin kept above and below the road in each row [m].
ROW_MARGIN = 2.0
#: Zoom limits [px/m].
MIN_ZOOM, MAX_ZOOM = 0.5, 60.0


@dataclass
class WrappedCamera:
    """The road view's transform; see the module docstring.

    ``view`` is the screen rectangle ``(left, top, width, height)`` [px] of the road view;
    ``y_top`` and ``y_bottom`` [m] the road's lateral extent with margins (``y_top > y_bottom``);
    ``x_origin`` [m] the road x at the left end of row 0; ``scroll`` [px] how far the row stack
    is scrolled up; ``zoom`` [px/m]; ``x_limits`` [m] the road's extent along x: rows wholly
    outside it are left empty.
    """

    view: tuple[int, int, int, int]
    y_top: float
    y_bottom: float
    zoom: float = 5.0
    x_origin: float = 0.0
    scroll: float = 0.0
    x_limits: tuple[float, float] = (-math.inf, math.inf)

    def row_has_road(self, row: int) -> bool:
        """Whether a row shows any of ``x_limits`` (the road's extent) [m]."""
        start, end = self.row_x_range(row)
        return end > self.x_limits[0] and start < self.x_limits[1]

    # --------------------------------------------------------------- geometry
    @property
    def row_length(self) -> float:
        """Road length shown by one row [m]."""
        return self.view[2] / self.zoom

    @property
    def row_height(self) -> float:
        """Height of one row's road band [px]."""
        return (self.y_top - self.y_bottom) * self.zoom

    @property
    def row_pitch(self) -> float:
        """Vertical distance from one row to the next [px]."""
        return self.row_height + ROW_GAP

    def visible_rows(self) -> range:
        """Indices of the rows that intersect the view (may be negative)."""
        first = math.floor((self.scroll - self.row_height) / self.row_pitch) + 1
        last = math.floor((self.scroll + self.view[3]) / self.row_pitch)
        return range(first, last + 1)

    def row_rect(self, row: int) -> tuple[int, int, int, int]:
        """Screen rectangle of a row's road band (may extend beyond the view)."""
        left, top, width, _ = self.view
        return (left, round(top - self.scroll + row * self.row_pitch), width,
                round(self.row_height))

    def row_x_range(self, row: int) -> tuple[float, float]:
        """Road x range [m] that a row shows."""
        start = self.x_origin + row * self.row_length
        return start, start + self.row_length

    # ------------------------------------------------------------ transforms
    def row_of(self, x: np.ndarray) -> np.ndarray:
        """Row index of road positions ``x`` [m] (any shape)."""
        return np.floor((np.asarray(x, dtype=np.float64) - self.x_origin) / self.row_length)

    def to_screen(
        self, x: np.ndarray, y: np.ndarray, row: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Screen pixels of road points ``(x, y)`` [m], drawn in ``row`` (default: their own).

        Passing the row of a vehicle's centre for all its corners keeps the vehicle in one
        piece; corners beyond the row's ends fall outside the view and are clipped there.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if row is None:
            row = self.row_of(x)
        left, top, _, _ = self.view
        sx = left + (x - self.x_origin - row * self.row_length) * self.zoom
        sy = top - self.scroll + row * self.row_pitch + (self.y_top - y) * self.zoom
        return sx, sy

    def to_road(self, sx: float, sy: float) -> tuple[float, float] | None:
        """Road point ``(x, y)`` [m] under a screen pixel, or None off the view or in a gap."""
        left, top, width, height = self.view
        if not (left <= sx < left + width and top <= sy < top + height):
            return None
        offset = sy - top + self.scroll
        row = math.floor(offset / self.row_pitch)
        within = offset - row * self.row_pitch
        if within > self.row_height:
            return None
        x = self.x_origin + row * self.row_length + (sx - left) / self.zoom
        y = self.y_top - within / self.zoom
        return x, y

    # -------------------------------------------------------------- movement
    def fit(self, x_min: float, x_max: float) -> None:
        """The largest zoom at which road ``[x_min, x_max]`` fits the view, rows centred."""
        _, _, width, height = self.view
        span = max(x_max - x_min, 1.0)
        band = self.y_top - self.y_bottom
        candidates = []
        for rows in range(1, 64):
            zoom = min(width * rows / span, (height - (rows - 1) * ROW_GAP) / (rows * band))
            candidates.append((zoom, rows))
        best = max(zoom for zoom, _ in candidates)
        # Of the zooms within 5 % of the largest, the one with the fewest rows: a nearly
        # equal scale is not worth a row that is almost empty.
        zoom = min((rows, zoom) for zoom, rows in candidates if zoom >= 0.95 * best)[1]
        self.zoom = float(np.clip(zoom, MIN_ZOOM, MAX_ZOOM))
        rows = math.ceil(span / self.row_length - 1e-9)
        used = rows * self.row_pitch - ROW_GAP
        self.x_origin = x_min - 0.5 * (rows * self.row_length - span)
        self.scroll = -0.5 * max(height - used, 0.0)

    def zoom_at(self, factor: float, sx: float, sy: float) -> None:
        """Zoom by ``factor`` keeping the road point under screen pixel ``(sx, sy)`` there."""
        left, top, width, height = self.view
        sx = float(np.clip(sx, left, left + width - 1))
        sy = float(np.clip(sy, top, top + height - 1))
        anchor = self._nearest_road_point(sx, sy)
        self.zoom = float(np.clip(self.zoom * factor, MIN_ZOOM, MAX_ZOOM))
        self.place(anchor[0], anchor[1], sx, sy)

    def place(self, x: float, y: float, sx: float, sy: float) -> None:
        """Pan so that road point ``(x, y)`` [m] appears at screen pixel ``(sx, sy)``.

        Of the rows that could show it there, the one needing the least vertical scroll.
        """
        left, top, _, _ = self.view
        band_offset = (self.y_top - y) * self.zoom
        row = round((sy - top + self.scroll - band_offset) / self.row_pitch)
        self.x_origin = x - row * self.row_length - (sx - left) / self.zoom
        self.scroll = top + row * self.row_pitch + band_offset - sy

    def pan(self, dx_px: float, dy_px: float) -> None:
        """Move the content by a screen drag of ``(dx_px, dy_px)``: along x, and the rows."""
        self.x_origin -= dx_px / self.zoom
        self.scroll -= dy_px

    def shows_whole(self, x_min: float, x_max: float) -> bool:
        """Whether road ``[x_min, x_max]`` lies entirely in visible rows."""
        rows = self.visible_rows()
        full = [r for r in rows if self._row_fully_visible(r)]
        if not full:
            return False
        return (self.row_x_range(full[0])[0] <= x_min
                and self.row_x_range(full[-1])[1] >= x_max)

    def follow(self, x: float) -> None:
        """Keep road position ``x`` [m] at the centre of the view, the road band level."""
        left, top, width, height = self.view
        self.place(x, 0.5 * (self.y_top + self.y_bottom), left + width / 2, top + height / 2)

    # --------------------------------------------------------------- helpers
    def _row_fully_visible(self, row: int) -> bool:
        _, top, _, height = self.view
        _, row_top, _, row_height = self.row_rect(row)
        return row_top >= top - 1 and row_top + row_height <= top + height + 1

    def _nearest_road_point(self, sx: float, sy: float) -> tuple[float, float]:
        left, top, _, _ = self.view
        offset = sy - top + self.scroll
        row = math.floor(offset / self.row_pitch)
        within = min(offset - row * self.row_pitch, self.row_height)
        return (self.x_origin + row * self.row_length + (sx - left) / self.zoom,
                self.y_top - within / self.zoom)

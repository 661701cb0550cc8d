"""Drawing the road and the vehicles on a pygame surface, through a :class:`WrappedCamera`.

The road is static, so it is painted once per zoom level into tiles (road x ranges of
:data:`TILE_PX` pixels) that each frame only blits; vehicles are vectorised into screen
polygons (one ``pygame.draw.polygon`` per visible vehicle) with colours from a speed lookup
table.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pygame

from traffic_mpc.road import Road
from traffic_mpc.sim.top_down import speed_colours, speed_palette
from traffic_mpc.viewer.camera import WrappedCamera

# ------------------------------------------------------------------------- palette
BACKGROUND = (24, 27, 31)
VERGE = (39, 47, 40)
ASPHALT = (62, 64, 70)
RAMP_ASPHALT = (70, 66, 74)
LANE_LINE = (205, 205, 200)
EDGE_LINE = (232, 226, 170)
VALID_LINE = (92, 128, 190)
TICK = (120, 126, 120)
TEXT = (225, 228, 232)
TEXT_DIM = (150, 156, 164)
OUTLINE = (16, 16, 18)
WINDSHIELD = (30, 34, 40)
#: Outline of the selected vehicle (the ego highlight).
HIGHLIGHT = (255, 64, 255)
#: Outline of the selected vehicle while it collides or is off the road.
EVENT_FLASH = (255, 40, 40)
#: Logged trajectory of a controlled ego (its ghost).
GHOST = (255, 255, 255)

#: Dash and gap of painted lane lines [m] (US practice: 10 ft dashes, 30 ft gaps).
DASH, DASH_GAP = 3.05, 9.15
#: Zoom [px/m] from which vehicles get a dark outline (below it the gaps between vehicles
#: show them apart, and the outlines would cost a third of the drawing time).
OUTLINE_ZOOM = 8.0
#: Width of a road tile [px].
TILE_PX = 512

class SpeedColours:
    """Vehicle colour by speed: ``colours(speed)`` for speeds [m/s] in ``[0, top_speed]``."""

    def __init__(self, top_speed: float) -> None:
        self.top_speed = float(top_speed)
        self.palette = speed_palette()

    def colours(self, speed: np.ndarray) -> np.ndarray:
        """``(N, 3)`` uint8 colours of speeds ``(N,)`` [m/s] (the videos' ramp)."""
        return speed_colours(speed, self.top_speed)


def top_speed_for(speed_95: float) -> float:
    """The legend's top speed [m/s]: the 95th percentile of logged speeds rounded up to
    5 m/s, at least 15 m/s, so a congested log uses the whole ramp."""
    return max(15.0, 5.0 * math.ceil(speed_95 / 5.0))


# ------------------------------------------------------------------------------ text
class TextCache:
    """Rendered text surfaces, reused while the same string is shown (most HUD text is)."""

    def __init__(self, font: pygame.font.Font, capacity: int = 512) -> None:
        self.font = font
        self.capacity = capacity
        self._cache: OrderedDict[tuple[str, tuple], pygame.Surface] = OrderedDict()

    def render(self, text: str, colour: tuple = TEXT) -> pygame.Surface:
        key = (text, tuple(colour))
        surface = self._cache.get(key)
        if surface is None:
            surface = self.font.render(text, True, colour)
            self._cache[key] = surface
            if len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return surface

    def blit(self, target: pygame.Surface, text: str, position: tuple[float, float],
             colour: tuple = TEXT, anchor: str = "topleft") -> pygame.Rect:
        surface = self.render(text, colour)
        rect = surface.get_rect(**{anchor: (round(position[0]), round(position[1]))})
        target.blit(surface, rect)
        return rect

    @property
    def line_height(self) -> int:
        return self.font.get_linesize()


# ------------------------------------------------------------------------------ road
class RoadPainter:
    """Paints a road's rows through a camera from cached tiles (re-made when zoom changes)."""

    def __init__(self, road: Road, text: TextCache, max_tiles: int = 96) -> None:
        self.road = road
        self.text = text
        self.max_tiles = max_tiles
        self._tiles: OrderedDict[tuple, pygame.Surface] = OrderedDict()

    def draw(self, surface: pygame.Surface, camera: WrappedCamera) -> None:
        """Draw every visible row: road tiles, then the row's x range in the gap above it."""
        left, top, width, height = camera.view
        surface.set_clip(pygame.Rect(camera.view))
        tile_length = TILE_PX / camera.zoom
        for row in camera.visible_rows():
            x_start, x_end = camera.row_x_range(row)
            if not camera.row_has_road(row):
                continue  # a row beyond the road's ends stays background
            _, row_top, _, _ = camera.row_rect(row)
            first = math.floor(x_start / tile_length)
            last = math.floor((x_end - 1e-9) / tile_length)
            for index in range(first, last + 1):
                tile = self._tile(camera, index)
                tile_x = left + (index * tile_length - x_start) * camera.zoom
                surface.blit(tile, (round(tile_x), row_top))
            label = f"x {x_start:.0f} – {x_end:.0f} m"
            self.text.blit(surface, label, (left + 6, row_top - 2), TEXT_DIM, "bottomleft")
        surface.set_clip(None)

    def _tile(self, camera: WrappedCamera, index: int) -> pygame.Surface:
        key = (round(camera.zoom, 6), camera.y_top, camera.y_bottom, index)
        tile = self._tiles.get(key)
        if tile is not None:
            self._tiles.move_to_end(key)
            return tile
        if self._tiles and next(iter(self._tiles))[0] != key[0]:
            self._tiles.clear()  # zoom changed: the old tiles will not be shown again
        tile = self._paint_tile(camera, index)
        self._tiles[key] = tile
        if len(self._tiles) > self.max_tiles:
            self._tiles.popitem(last=False)
        return tile

    def _paint_tile(self, camera: WrappedCamera, index: int) -> pygame.Surface:
        zoom = camera.zoom
        tile_length = TILE_PX / zoom
        x0 = index * tile_length
        x1 = x0 + tile_length
        height = max(1, round(camera.row_height))
        tile = pygame.Surface((TILE_PX, height))
        tile.fill(VERGE)

        def to_tile(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
            return list(zip(((x - x0) * zoom).tolist(), ((camera.y_top - y) * zoom).tolist()))

        pad = 2.0 / zoom + 1.0
        road = self.road
        for lane in road.lanes:
            lo, hi = max(lane.x_start, x0 - pad), min(lane.x_end, x1 + pad)
            if lo >= hi:
                continue
            xs = _sample_xs(lane.left, lane.right, lo, hi)
            polygon = to_tile(xs, lane.left_y(xs)) + to_tile(xs[::-1], lane.right_y(xs[::-1]))
            colour = ASPHALT if lane.kind == "main" else RAMP_ASPHALT
            pygame.draw.polygon(tile, colour, polygon)
        for marking in road.markings:
            points = marking.points
            lo, hi = max(points[0, 0], x0 - pad), min(points[-1, 0], x1 + pad)
            if lo >= hi:
                continue
            if marking.kind == "edge":
                xs = _sample_xs(points, points, lo, hi)
                ys = np.interp(xs, points[:, 0], points[:, 1])
                pygame.draw.lines(tile, EDGE_LINE, False, to_tile(xs, ys), 2)
            elif zoom * DASH < 3.0:  # dashes would be noise: a thin solid line
                xs = _sample_xs(points, points, lo, hi)
                ys = np.interp(xs, points[:, 0], points[:, 1])
                pygame.draw.lines(tile, LANE_LINE, False, to_tile(xs, ys), 1)
            else:
                period = DASH + DASH_GAP
                starts = np.arange(math.floor(lo / period) * period, hi, period)
                starts = starts[starts + DASH > points[0, 0]]
                for start in starts:
                    xs = np.clip(np.array([start, start + DASH]), points[0, 0], points[-1, 0])
                    ys = np.interp(xs, points[:, 0], points[:, 1])
                    pygame.draw.lines(tile, LANE_LINE, False, to_tile(xs, ys),
                                      max(1, round(0.15 * zoom)))
        y_low, y_high = road.y_range
        for boundary in road.valid_x:  # where an ego may be controlled
            if x0 - pad <= boundary <= x1 + pad:
                column = (boundary - x0) * zoom
                top = (camera.y_top - y_high) * zoom - 4
                bottom = (camera.y_top - y_low) * zoom + 4
                pygame.draw.line(tile, VALID_LINE, (column, top), (column, bottom), 2)
        self._paint_ticks(tile, camera, x0, x1)
        return tile

    def _paint_ticks(self, tile: pygame.Surface, camera: WrappedCamera, x0: float,
                     x1: float) -> None:
        """Distance ticks along the bottom margin: every 10 m, labelled every 50 m."""
        zoom = camera.zoom
        step = 10.0 if zoom >= 1.5 else 50.0
        bottom = tile.get_height() - 1
        for x in np.arange(math.floor(x0 / step) * step, x1 + step, step):
            if not 0.0 <= x <= self.road.length:
                continue
            column = (x - x0) * zoom
            major = round(x) % 50 == 0
            pygame.draw.line(tile, TICK, (column, bottom), (column, bottom - (6 if major else 3)))
            if major:
                label = self.text.render(f"{x:.0f}", TICK)
                tile.blit(label, label.get_rect(midbottom=(round(column), bottom - 6)))


def _sample_xs(left: np.ndarray, right: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Sorted x samples in ``[lo, hi]``: both ends plus every polyline vertex inside."""
    vertices = np.concatenate([left[:, 0], right[:, 0]])
    inside = vertices[(vertices > lo) & (vertices < hi)]
    return np.unique(np.concatenate([[lo, hi], inside]))


# -------------------------------------------------------------------------- vehicles
def screen_polygons(camera: WrappedCamera, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Screen polygons of road-frame boxes ``(N, 4, 2)``: ``(M, 4, 2)`` pixels and, for each,
    the index of its box. A box is drawn in the row of its centre; one that crosses a row's
    end is drawn again at the other end of the neighbouring row (the view clips both) unless
    that row is beyond the road, and boxes entirely outside the view are dropped."""
    if not len(corners):
        return np.zeros((0, 4, 2)), np.zeros(0, dtype=np.intp)
    left, top, width, height = camera.view
    centre_x = corners[:, :, 0].mean(axis=1)
    row = camera.row_of(centre_x)[:, None]
    indices = np.arange(len(corners))
    rows, owners = [row], [indices]
    sx, _ = camera.to_screen(corners[..., 0], corners[..., 1], row)
    before = sx.min(axis=1) < left
    after = sx.max(axis=1) > left + width
    rows += [row[before] - 1, row[after] + 1]
    owners += [indices[before], indices[after]]
    row = np.concatenate(rows)
    owner = np.concatenate(owners)
    start = camera.x_origin + row[:, 0] * camera.row_length
    has_road = (start + camera.row_length > camera.x_limits[0]) & (start < camera.x_limits[1])
    row, owner = row[has_road], owner[has_road]  # no copies into rows left empty
    sx, sy = camera.to_screen(corners[owner, :, 0], corners[owner, :, 1], row)
    visible = (
        (sx.max(axis=1) >= left) & (sx.min(axis=1) <= left + width)
        & (sy.max(axis=1) >= top) & (sy.min(axis=1) <= top + height)
    )
    return np.stack([sx[visible], sy[visible]], axis=-1), owner[visible]


def draw_vehicles(
    surface: pygame.Surface,
    camera: WrappedCamera,
    corners: np.ndarray,
    colours: np.ndarray,
    outline: tuple | None = OUTLINE,
) -> None:
    """Fill oriented boxes ``(N, 4, 2)`` [m] with ``colours (N, 3)``, with a windshield mark
    at the front and, zoomed in, a thin outline."""
    polygons, owner = screen_polygons(camera, corners)
    if not len(owner):
        return
    surface.set_clip(pygame.Rect(camera.view))
    draw_polygon = pygame.draw.polygon
    count = len(owner)
    shapes = polygons
    if camera.zoom >= 4.0:  # windshield: a dark band across the front of each box
        front = polygons[:, [0, 1]]
        rear = polygons[:, [3, 2]]
        near = front + 0.18 * (rear - front)
        far = front + 0.32 * (rear - front)
        shapes = np.concatenate([polygons, np.concatenate([near, far[:, ::-1]], axis=1)])
    shapes = shapes.tolist()  # one conversion for all polygons: tolist dominates otherwise
    for shape, fill in zip(shapes, colours[owner].tolist()):
        draw_polygon(surface, fill, shape)
    for shape in shapes[count:]:
        draw_polygon(surface, WINDSHIELD, shape)
    if outline is not None and camera.zoom >= OUTLINE_ZOOM:
        for shape in shapes[:count]:
            draw_polygon(surface, outline, shape, 1)
    surface.set_clip(None)


def draw_outline(
    surface: pygame.Surface,
    camera: WrappedCamera,
    corners: np.ndarray,
    colour: tuple,
    width: int = 3,
    grow: float = 0.0,
) -> None:
    """Outline boxes ``(N, 4, 2)`` [m], grown outward by ``grow`` [px] (the ego highlight)."""
    polygons, _ = screen_polygons(camera, corners)
    surface.set_clip(pygame.Rect(camera.view))
    for shape in polygons:
        if grow:
            offset = shape - shape.mean(axis=0)
            distance = np.maximum(np.linalg.norm(offset, axis=1, keepdims=True), 1e-6)
            shape = shape + offset / distance * grow
        pygame.draw.polygon(surface, colour, shape.tolist(), width)
    surface.set_clip(None)


def draw_polyline(
    surface: pygame.Surface,
    camera: WrappedCamera,
    x: np.ndarray,
    y: np.ndarray,
    colour: tuple,
    width: int = 1,
) -> None:
    """A road-frame polyline ``(x, y)`` [m], split where it passes from one row to the next."""
    if len(x) < 2:
        return
    row = camera.row_of(x)
    surface.set_clip(pygame.Rect(camera.view))
    breaks = np.flatnonzero(np.diff(row)) + 1
    for segment in np.split(np.arange(len(x)), breaks):
        # extend each piece by one point into the next row so the line reaches the row's end
        stop = min(segment[-1] + 2, len(x))
        piece = np.arange(segment[0], stop)
        if len(piece) < 2:
            continue
        sx, sy = camera.to_screen(x[piece], y[piece], np.full(len(piece), row[segment[0]]))
        pygame.draw.lines(surface, colour, False, list(zip(sx.tolist(), sy.tolist())), width)
    surface.set_clip(None)

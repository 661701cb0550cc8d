"""Top-down RGB pictures of a road and its vehicles, for videos (numpy + OpenCV).

The picture looks down on the road frame with x (the direction of travel) to the right and
y (left of travel) up: pixel column ``c`` and row ``r`` have their centres at::

    x = x0 + (c + 0.5) / scale,   y = y_top - (r + 0.5) / scale

where ``scale`` is in pixels per metre, ``(x0, x1)`` the window along the road and
``y_top`` the road's highest y plus a margin (:class:`TopDownFrame` holds them).

Drawn, back to front: the verge (off-road, dark green), the road surface (lanes, ramps
included, grey), lane markings (white, dashed: 3 m painted, 9 m gap, as on US highways),
road edges (white, solid), then the vehicles as anti-aliased oriented rectangles filled by
speed, and highlighted vehicles (egos) in their highlight colour with a white outline.

Speed colormap (:func:`speed_colours`, shared with the viewer): speed clipped to
``[0, max_speed]`` (default 25 m/s, 90 km/h) maps red (stopped) -> orange -> yellow (half)
-> green -> blue (``max_speed``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from traffic_mpc.road import Road

ROAD_COLOUR = (90, 90, 90)
VERGE_COLOUR = (40, 70, 40)
MARKING_COLOUR = (235, 235, 235)
HIGHLIGHT_COLOUR = (40, 120, 255)
OUTLINE_COLOUR = (255, 255, 255)
#: Painted and unpainted lengths of a dashed lane marking [m].
DASH, GAP = 3.0, 9.0
#: Margin of verge drawn beyond the outermost road edges [m].
MARGIN = 2.0
#: Speed mapped to the end of the colormap [m/s].
MAX_SPEED = 25.0

_SHIFT = 4  # fractional bits of the sub-pixel coordinates given to OpenCV
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class TopDownFrame:
    """Where a top-down picture lies on the road: window ``(x0, x1)`` [m] along the road,
    ``y_top`` [m] of its upper edge and ``scale`` [px/m]; ``height`` x ``width`` pixels."""

    x0: float
    x1: float
    y_top: float
    scale: float
    height: int
    width: int

    def to_pixels(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Road-frame points [m] to (column, row) image coordinates (pixel edges at
        integers, so a pixel's centre is at +0.5)."""
        return (np.asarray(x) - self.x0) * self.scale, (self.y_top - np.asarray(y)) * self.scale


def top_down_frame(road: Road, scale: float, window: tuple[float, float] | None = None):
    """The :class:`TopDownFrame` of ``road`` at ``scale`` [px/m] over ``window`` (default:
    the whole road)."""
    if not scale > 0:
        raise ValueError(f"scale must be positive (pixels per metre), got {scale}")
    x0, x1 = (0.0, road.length) if window is None else (float(window[0]), float(window[1]))
    if not x1 > x0:
        raise ValueError(f"window must have x1 > x0, got {window}")
    y_low, y_high = road.y_range
    y_top = y_high + MARGIN
    # Sizes rounded to a micrometre first: a window that moves with a vehicle keeps its size
    # although x1 - x0 is rounded differently at each position (a video needs every frame
    # the same size).
    height = int(np.ceil(round((y_high - y_low + 2 * MARGIN) * scale, 6)))
    width = int(np.ceil(round((x1 - x0) * scale, 6)))
    return TopDownFrame(x0, x1, y_top, float(scale), height, width)


#: Speed colour ramp: fractions of the top speed and their colours (slow red to fast blue).
SPEED_STOPS = (
    (0.0, (214, 48, 49)),
    (0.25, (240, 136, 30)),
    (0.5, (236, 212, 64)),
    (0.75, (92, 196, 96)),
    (1.0, (64, 164, 232)),
)


def speed_palette(levels: int = 256) -> np.ndarray:
    """``(levels, 3)`` uint8 colours from standstill (index 0) to the top speed (last)."""
    fractions = np.linspace(0.0, 1.0, levels)
    stops = np.array([s for s, _ in SPEED_STOPS])
    colours = np.array([c for _, c in SPEED_STOPS], dtype=np.float64)
    return np.stack(
        [np.interp(fractions, stops, colours[:, channel]) for channel in range(3)], axis=1
    ).round().astype(np.uint8)


_PALETTE = speed_palette()


def speed_colours(speed: np.ndarray, max_speed: float = MAX_SPEED) -> np.ndarray:
    """RGB ``uint8`` colours ``(N, 3)`` for speeds ``(N,)`` [m/s] on the speed ramp, with
    ``max_speed`` (and above) at its end."""
    levels = len(_PALETTE) - 1
    index = np.clip(np.asarray(speed, dtype=np.float64) / max_speed * levels, 0, levels)
    return _PALETTE[index.astype(np.intp)]


def render_top_down(
    road: Road,
    poses: np.ndarray,
    sizes: np.ndarray,
    speeds: np.ndarray,
    highlight: np.ndarray | None = None,
    highlight_colours: np.ndarray | tuple[int, int, int] = HIGHLIGHT_COLOUR,
    scale: float = 2.0,
    window: tuple[float, float] | None = None,
    max_speed: float = MAX_SPEED,
) -> np.ndarray:
    """A top-down picture of ``road`` and ``N`` vehicles: ``(H, W, 3)`` ``uint8`` RGB.

    - ``poses``: ``(N, 3)`` x, y [m] of the centre, heading [rad] (road frame);
    - ``sizes``: ``(N, 2)`` length, width [m]; ``speeds``: ``(N,)`` [m/s] (colour);
    - ``highlight``: ``(N,)`` bool, vehicles drawn in ``highlight_colours`` (one RGB
      triple, or ``(N, 3)`` per vehicle) with a white outline, e.g. the egos;
    - ``scale`` [px/m]; ``window`` ``(x0, x1)`` [m] along the road (default: all of it).

    Geometry of the picture: :func:`top_down_frame` and the module docstring.
    """
    frame = top_down_frame(road, scale, window)
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, 3)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    speeds = np.asarray(speeds, dtype=np.float64).reshape(-1)
    if not len(poses) == len(sizes) == len(speeds):
        raise ValueError(
            f"poses, sizes and speeds need one row per vehicle, got {len(poses)}, "
            f"{len(sizes)} and {len(speeds)}"
        )
    highlight = (
        np.zeros(len(poses), dtype=bool)
        if highlight is None
        else np.asarray(highlight, dtype=bool).reshape(-1)
    )
    if len(highlight) != len(poses):
        raise ValueError(f"highlight needs one entry per vehicle ({len(poses)})")
    highlight_colours = np.broadcast_to(
        np.asarray(highlight_colours, dtype=np.int64), (len(poses), 3)
    )
    image = np.empty((frame.height, frame.width, 3), dtype=np.uint8)
    image[:] = VERGE_COLOUR
    _draw_road(image, road, frame)
    _draw_markings(image, road, frame)
    _draw_vehicles(image, frame, poses, sizes, speeds, highlight, highlight_colours, max_speed)
    return image


def _fixed_point(frame: TopDownFrame, points: np.ndarray) -> np.ndarray:
    """Road-frame points ``(..., 2)`` to OpenCV's sub-pixel integer coordinates (pixel
    centres at integers in OpenCV's convention, hence the half-pixel shift)."""
    column, row = frame.to_pixels(points[..., 0], points[..., 1])
    return np.round(np.stack([column - 0.5, row - 0.5], axis=-1) * _ONE).astype(np.int32)


def _draw_road(image: np.ndarray, road: Road, frame: TopDownFrame) -> None:
    polygons = []
    for lane in road.lanes:
        xs = np.unique(np.concatenate([lane.left[:, 0], lane.right[:, 0]]))
        xs = xs[(xs >= lane.x_start) & (xs <= lane.x_end)]
        xs = np.unique(np.concatenate([[lane.x_start, lane.x_end], xs]))
        outline = np.concatenate(
            [
                np.stack([xs, lane.left_y(xs)], axis=1),
                np.stack([xs[::-1], lane.right_y(xs[::-1])], axis=1),
            ]
        )
        polygons.append(_fixed_point(frame, outline))
    cv2.fillPoly(image, polygons, ROAD_COLOUR, lineType=cv2.LINE_AA, shift=_SHIFT)


def _draw_markings(image: np.ndarray, road: Road, frame: TopDownFrame) -> None:
    thickness = max(1, int(round(0.15 * frame.scale)))
    solid, dashed = [], []
    for marking in road.markings:
        points = marking.points
        keep = (points[:, 0] >= frame.x0 - GAP - DASH) & (points[:, 0] <= frame.x1 + DASH)
        if keep.sum() < 2:
            continue
        if marking.kind == "edge":
            solid.append(_fixed_point(frame, points[keep]))
            continue
        # Dashes start every DASH + GAP metres from x = 0, so they do not move with the window.
        period = DASH + GAP
        first = np.floor(max(points[0, 0], frame.x0 - period) / period) * period
        starts = np.arange(first, min(points[-1, 0], frame.x1 + period), period)
        x = np.clip(np.stack([starts, starts + DASH], axis=1), points[0, 0], points[-1, 0])
        x = x[x[:, 1] > x[:, 0]]
        y = np.interp(x, points[:, 0], points[:, 1])
        dashed.extend(_fixed_point(frame, np.stack([x, y], axis=-1)))
    lines = solid + dashed
    if lines:
        cv2.polylines(
            image, lines, False, MARKING_COLOUR, thickness, lineType=cv2.LINE_AA, shift=_SHIFT
        )


def vehicle_corners(x, y, heading, length, width) -> np.ndarray:
    """``(N, 4, 2)`` road-frame corners [m] of oriented boxes (centres ``x``, ``y``,
    ``heading`` [rad], ``length``, ``width`` [m], ``(N,)`` each): front-left, front-right,
    rear-right, rear-left — clockwise seen from above (x right, y up). Shared with the
    viewer (:mod:`traffic_mpc.viewer.draw`)."""
    cos, sin = np.cos(heading), np.sin(heading)
    half_l, half_w = np.asarray(length) / 2, np.asarray(width) / 2
    along = np.array([1.0, 1.0, -1.0, -1.0])
    across = np.array([1.0, -1.0, -1.0, 1.0])
    du = along[None, :] * half_l[:, None]
    dv = across[None, :] * half_w[:, None]
    cx = np.asarray(x)[:, None] + cos[:, None] * du - sin[:, None] * dv
    cy = np.asarray(y)[:, None] + sin[:, None] * du + cos[:, None] * dv
    return np.stack([cx, cy], axis=-1)


def _draw_vehicles(
    image: np.ndarray,
    frame: TopDownFrame,
    poses: np.ndarray,
    sizes: np.ndarray,
    speeds: np.ndarray,
    highlight: np.ndarray,
    highlight_colours: np.ndarray,
    max_speed: float,
) -> None:
    if len(poses) == 0:
        return
    half_length, half_width = sizes[:, 0] / 2, sizes[:, 1] / 2
    reach = np.hypot(half_length, half_width)
    shown = (poses[:, 0] + reach >= frame.x0) & (poses[:, 0] - reach <= frame.x1)
    corners = vehicle_corners(poses[:, 0], poses[:, 1], poses[:, 2], sizes[:, 0], sizes[:, 1])
    polygons = _fixed_point(frame, corners)
    fills = speed_colours(speeds, max_speed)
    # Highlighted vehicles last, so that they stay visible where boxes overlap.
    for index in np.flatnonzero(shown & ~highlight):
        cv2.fillPoly(
            image, [polygons[index]], tuple(int(c) for c in fills[index]), cv2.LINE_AA, _SHIFT
        )
    for index in np.flatnonzero(shown & highlight):
        colour = tuple(int(c) for c in highlight_colours[index])
        cv2.fillPoly(image, [polygons[index]], colour, cv2.LINE_AA, _SHIFT)
        cv2.polylines(image, [polygons[index]], True, OUTLINE_COLOUR, 1, cv2.LINE_AA, _SHIFT)

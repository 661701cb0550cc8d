"""Road-wide rasters of the static ego-view channels (lane markings, off-road), built once.

The renderer samples every ego's rotated view from these rasters with
``torch.nn.functional.grid_sample`` (bilinear), so they are stored at a resolution finer
than the view's and already hold the *view-resolution* profile of each feature: bilinear
sampling at a view pixel's centre then gives that pixel's value directly, with no further
filtering.

The raster's pixels are anisotropic: by default an eighth of a view pixel across the road
(y, where the profiles below have kinks half a view pixel apart; bilinear interpolation
then deviates from them by at most 1/16) and one view pixel along it (x, along which the
static layers of a highway change slowly: a taper of the I-80 on-ramp moves its edge by
1 cm per texel; marking ends and lane starts are smoothed over one view pixel). This keeps
the raster small (I-80 at 0.62 m/px: 363 x 816 texels, 2.4 MB for both channels), which
is what makes the sampling fast: it is memory-bound (half the x spacing costs ~20 % more).

Profiles, with ``p`` the view's pixel size [m]:

* **Lane markings** (lane lines and road edges, drawn solid), at distance ``d`` [m] from
  the marking's centre line::

      lane_marking_profile(d) = clip(2 - 2 |d| / p, 0, 1)

  i.e. 1 within half a view pixel of the line and falling linearly to 0 one pixel away.
  This is *max-preserving* resampling: a painted line ~0.15 m wide would be lost by
  point-sampling at 0.62 m/px and reduced to ~0.25 by area-averaging (the reference
  multiplies its lane channel by 4 to compensate); here every view pixel whose centre lies
  within ``p/2`` of a marking is 1, wherever the marking falls between pixel centres, and
  the linear edge keeps the channel continuous in the ego pose (so it carries a gradient).
  The lane cost computed on the view is then within ``(p/2) * 2/lane_width`` (plus the
  1/16 interpolation dip) of the exact one: 0.17 + 0.06 at 0.62 m/px; see
  :mod:`traffic_mpc.sim.raster_costs`.

* **Off-road**, at signed distance ``t`` [m] past the road edge (positive off the road)::

      off_road_profile(t) = clip(1/2 + t / p, 0, 1)

  i.e. the fraction of a view pixel (an axis-aligned square of side ``p``) that lies off
  the road: area-averaged, like the vehicles channel, 1 beyond half a pixel past the edge.

Distances are measured across the road (along y) in each raster column: exact for
boundaries parallel to x, and within a factor ``1/cos(alpha)`` for a boundary slanted by
``alpha`` (under 0.02 % on the I-80 on-ramp taper). Lane-marking ends are rounded (the
distance past an end counts). The section's ends (x < 0, x > length) are off the road
with a sharp edge; egos in the valid region do not see them.

The raster's outermost texels are "off road, no marking" (it extends two view pixels
beyond the road), so a sampler that repeats the border reads what lies beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from traffic_mpc.road import _BOUNDARY_TOLERANCE, Road


def lane_marking_profile(distance: np.ndarray, view_pixel_size: float) -> np.ndarray:
    """Lane-marking channel value at ``distance`` [m] from a marking's centre line."""
    return np.clip(2.0 - 2.0 * np.abs(distance) / view_pixel_size, 0.0, 1.0)


def off_road_profile(signed_distance: np.ndarray, view_pixel_size: float) -> np.ndarray:
    """Off-road channel value at ``signed_distance`` [m] past the road edge (> 0 off road)."""
    return np.clip(0.5 + signed_distance / view_pixel_size, 0.0, 1.0)


@dataclass(frozen=True)
class StaticLayers:
    """The static channels of a whole road, as ``(rows, columns)`` float arrays in [0, 1].

    Column ``j`` covers ``x0 + j * pixel_x <= x < x0 + (j + 1) * pixel_x`` [m] and row
    ``i`` covers ``y0 + i * pixel_y <= y < ...`` (row 0 is the lowest y: the rightmost part
    of the road). ``lane_markings`` and ``off_road`` hold the profiles of the module
    docstring for views of pixel size ``view_pixel_size``.
    """

    lane_markings: np.ndarray
    off_road: np.ndarray
    x0: float
    y0: float
    pixel_x: float
    pixel_y: float
    view_pixel_size: float

    @property
    def extent(self) -> tuple[float, float]:
        """Size of the raster in x and y [m]."""
        rows, columns = self.lane_markings.shape
        return columns * self.pixel_x, rows * self.pixel_y


def default_static_resolution(view_pixel_size: float) -> tuple[float, float]:
    """The static raster's pixel size [m] along the road (x) and across it (y)."""
    return view_pixel_size, view_pixel_size / 8


def rasterise_static_layers(
    road: Road, view_pixel_size: float, resolution: tuple[float, float] | None = None
) -> StaticLayers:
    """Rasterise ``road``'s lane markings and off-road area for views of ``view_pixel_size``.

    ``resolution`` is the raster's own pixel size [m] along x and y (default
    :func:`default_static_resolution`). The raster covers the road plus a margin of two
    view pixels; its border reads "off road, no marking", as does everything beyond it.
    """
    if not view_pixel_size > 0:
        raise ValueError(f"view_pixel_size must be positive, got {view_pixel_size}")
    if resolution is None:
        resolution = default_static_resolution(view_pixel_size)
    pixel_x, pixel_y = (float(size) for size in resolution)
    if not (pixel_x > 0 and pixel_y > 0):
        raise ValueError(f"static raster resolution must be positive, got {resolution}")
    margin = 2.0 * view_pixel_size
    y_low, y_high = road.y_range
    x0, y0 = -margin, y_low - margin
    columns = int(np.ceil((road.length + 2 * margin) / pixel_x))
    rows = int(np.ceil((y_high - y_low + 2 * margin) / pixel_y))
    xs = x0 + (np.arange(columns) + 0.5) * pixel_x
    ys = y0 + (np.arange(rows) + 0.5) * pixel_y
    return StaticLayers(
        lane_markings=_lane_markings(road, xs, ys, view_pixel_size).astype(np.float32),
        off_road=off_road_profile(_distance_past_edge(road, xs, ys), view_pixel_size).astype(
            np.float32
        ),
        x0=x0,
        y0=y0,
        pixel_x=pixel_x,
        pixel_y=pixel_y,
        view_pixel_size=view_pixel_size,
    )


def _lane_markings(road: Road, xs: np.ndarray, ys: np.ndarray, view_pixel_size: float):
    """Max over markings of the lane-marking profile at the raster's pixel centres."""
    layer = np.zeros((len(ys), len(xs)), dtype=np.float64)
    reach = view_pixel_size  # the profile is 0 beyond one view pixel
    for marking in road.markings:
        points = marking.points
        near = (xs >= points[0, 0] - reach) & (xs <= points[-1, 0] + reach)
        if not near.any():
            continue
        rows = slice(
            np.searchsorted(ys, points[:, 1].min() - reach),
            np.searchsorted(ys, points[:, 1].max() + reach, side="right"),
        )
        columns = slice(np.flatnonzero(near)[0], np.flatnonzero(near)[-1] + 1)
        x = xs[columns]
        line_y = np.interp(x, points[:, 0], points[:, 1])
        past_end = np.maximum(np.maximum(points[0, 0] - x, x - points[-1, 0]), 0.0)
        distance = np.hypot(ys[rows, None] - line_y[None, :], past_end[None, :])
        layer[rows, columns] = np.maximum(
            layer[rows, columns], lane_marking_profile(distance, view_pixel_size)
        )
    return layer


def _distance_past_edge(road: Road, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Signed distance [m] across the road from each pixel centre to the road edge:
    negative on the road, positive off it (``+inf`` where a column has no road)."""
    lefts = np.stack([lane.left_y(xs) for lane in road.lanes])  # (lanes, columns)
    rights = np.stack([lane.right_y(xs) for lane in road.lanes])
    present = np.stack([(xs >= lane.x_start) & (xs <= lane.x_end) for lane in road.lanes])
    # Merge touching lanes into disjoint stretches of road, in every column at once: sort
    # the lanes from left to right (absent lanes last); a lane starts a new stretch when
    # its left boundary lies below the lowest right boundary seen so far (by more than the
    # road's boundary tolerance).
    order = np.argsort(np.where(present, -lefts, np.inf), axis=0, kind="stable")
    lefts = np.take_along_axis(lefts, order, axis=0)
    rights = np.take_along_axis(np.where(present, rights, np.inf), order, axis=0)
    present = np.take_along_axis(present, order, axis=0)
    lowest = np.minimum.accumulate(rights, axis=0)
    starts = np.ones_like(present)
    starts[1:] = lefts[1:] < lowest[:-1] - _BOUNDARY_TOLERANCE
    positions = np.arange(len(lefts))[:, None]
    first = np.maximum.accumulate(np.where(starts, positions, 0), axis=0)
    ends = present.copy()
    ends[:-1] &= starts[1:] | ~present[1:]
    tops = np.where(ends, np.take_along_axis(lefts, first, axis=0), np.nan)
    bottoms = np.where(ends, lowest, np.nan)
    # Keep only as many stretches per column as the most any column has.
    compact = np.argsort(~ends, axis=0, kind="stable")[: max(int(ends.sum(axis=0).max()), 1)]
    tops = np.take_along_axis(tops, compact, axis=0).T  # (columns, stretches)
    bottoms = np.take_along_axis(bottoms, compact, axis=0).T
    # Signed distance to a union of disjoint intervals: the minimum over intervals of
    # max(bottom - y, y - top) (negative inside an interval).
    signed = np.maximum(
        bottoms[None, :, :] - ys[:, None, None], ys[:, None, None] - tops[None, :, :]
    )
    signed = np.where(np.isnan(signed), np.inf, signed)
    return signed.min(axis=2)

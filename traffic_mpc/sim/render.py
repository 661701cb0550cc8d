"""Ego views: batched, differentiable rasters centred on each ego, facing forward.

Geometry (:class:`ViewSpec`): an ego view is ``height x width`` square pixels of
``pixel_size`` metres (default 117 x 24 at 0.62 m/px: 72.5 m along the ego's heading x
14.9 m across, REFERENCE.md "Ego view and costs"). Image row 0 is the far front, the last
row the far back; column 0 is the ego's left. The ego's centre lies at the centre of the
image. Pixel ``(i, j)`` has its centre at ego-frame coordinates (u forward, v left, [m])::

    u_i = ((height - 1) / 2 - i) * pixel_size,   v_j = ((width - 1) / 2 - j) * pixel_size

(:meth:`ViewSpec.pixel_coordinates`, the one place this is defined; the raster costs use
it too). Channels, in the order the spec lists them (any subset, any order):

* ``lanes`` — lane markings and road edges, solid, max-preserving (every pixel within half
  a pixel of a marking is 1; see :mod:`traffic_mpc.sim.render_static`);
* ``vehicles`` — the other vehicles of the scene: each pixel's value is the fraction of
  its area covered by a vehicle (sum over vehicles, clipped to 1);
* ``off_road`` — the fraction of each pixel off the road;
* ``ego`` — the ego's own footprint at the centre (area coverage, from its size).

Values are floats in [0, 1]; :func:`to_uint8` / :func:`from_uint8` convert for storage.

How:

* static channels: one road-wide raster per road, built once (:mod:`render_static`:
  anisotropic, fine across the road), sampled for every ego's rotated view by a single
  bilinear ``grid_sample`` call over the whole batch, so the view is differentiable w.r.t.
  the ego pose. The sampling positions are one batched matrix product of the pixels'
  ``(u, v, 1)`` with each ego's affine map.
* vehicles: rasterised analytically into each ego's view, each vehicle touching only its
  own small window of view pixels (one window size per call, from the largest extent;
  vehicles longer than :data:`PIECE_LENGTH` are drawn as equal pieces end to end, so a
  truck does not inflate every window). A pixel's coverage is the product of the overlaps
  of the pixel (taken as a square of side ``p`` aligned with the vehicle) with the
  vehicle's length and width, ``clip(min(p, 2h, h + p/2 - |a|) / p, 0, 1)`` per axis, with
  ``a`` the pixel centre's coordinate in the vehicle's frame and ``h`` the half-size: the
  exact area coverage when the vehicle is aligned with the ego (the covered area stays
  within 0.3 % of the vehicle's up to 30 degrees of relative heading, 2 % at 45), piecewise
  linear and so differentiable in both poses. The windows' pixel
  coordinates in every vehicle's frame come from one batched matrix product, and the
  windows are summed into the views with one ``scatter_add``.

  The egos of a batch are independent episodes at different places and times, each with
  its own ``K`` neighbours, so vehicles cannot come from one shared road-wide raster. A
  per-ego local raster at 0.25 m/px sampled by ``grid_sample`` (the other design
  considered) touches ~3x more pixels per vehicle and needs a second sampling pass whose
  cost alone (measured ~12 ms at batch 256 on one thread) exceeds that of the whole
  analytic pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from traffic_mpc.road import Road
from traffic_mpc.sim.render_static import StaticLayers, rasterise_static_layers
from traffic_mpc.sim.scene import EgoScene

#: Channels an ego view can hold, in their default order.
CHANNELS: tuple[str, ...] = ("lanes", "vehicles", "off_road", "ego")
#: Vehicles longer than this [m] are drawn as equal pieces (trucks), keeping windows small.
PIECE_LENGTH = 6.0


@dataclass(frozen=True)
class ViewSpec:
    """Geometry and channels of an ego view (see the module docstring).

    - ``height``, ``width``: pixels along and across the ego's heading;
    - ``pixel_size``: metres per pixel (square pixels);
    - ``channels``: names from :data:`CHANNELS`, in the order the view stores them;
    - ``static_resolution``: pixel size [m] along and across the road of the road-wide
      static raster the view is sampled from (default ``(pixel_size, pixel_size / 8)``,
      see :mod:`traffic_mpc.sim.render_static`).
    """

    height: int = 117
    width: int = 24
    pixel_size: float = 0.62
    channels: tuple[str, ...] = CHANNELS
    static_resolution: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ValueError(f"view size must be positive, got {self.height} x {self.width}")
        if not self.pixel_size > 0:
            raise ValueError(f"pixel_size must be positive, got {self.pixel_size}")
        channels = tuple(self.channels)
        unknown = [name for name in channels if name not in CHANNELS]
        if unknown or not channels or len(set(channels)) != len(channels):
            raise ValueError(
                f"channels must be distinct names from {CHANNELS}, got {self.channels}"
            )
        object.__setattr__(self, "channels", channels)
        if self.static_resolution is not None:
            resolution = tuple(float(size) for size in self.static_resolution)
            if len(resolution) != 2 or not all(size > 0 for size in resolution):
                raise ValueError(
                    "static_resolution must be two positive sizes [m] (along, across the "
                    f"road), got {self.static_resolution}"
                )
            object.__setattr__(self, "static_resolution", resolution)

    def as_dict(self) -> dict:
        """JSON-ready description (for manifests); :meth:`from_dict` reads it back."""
        return {
            "height": self.height,
            "width": self.width,
            "pixel_size": self.pixel_size,
            "channels": list(self.channels),
            "static_resolution": None
            if self.static_resolution is None
            else list(self.static_resolution),
        }

    @classmethod
    def from_dict(cls, values: dict) -> ViewSpec:
        """A spec from :meth:`as_dict`'s output (unknown keys are an error)."""
        known = {"height", "width", "pixel_size", "channels", "static_resolution"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ViewSpec field(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    @property
    def extent(self) -> tuple[float, float]:
        """Size of the view [m]: along the heading, across it."""
        return self.height * self.pixel_size, self.width * self.pixel_size

    @property
    def centre(self) -> tuple[float, float]:
        """Row and column (fractional) of the ego's centre."""
        return (self.height - 1) / 2, (self.width - 1) / 2

    def channel_index(self, name: str) -> int:
        """Position of channel ``name`` in the view; a clear error if the view lacks it."""
        if name not in self.channels:
            raise ValueError(f"ego view has no '{name}' channel (channels: {self.channels})")
        return self.channels.index(name)

    def pixel_coordinates(
        self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ego-frame coordinates of the pixel centres: ``(u, v)``, each ``(height, width)``
        [m], ``u`` forward and ``v`` to the left of the ego's centre."""
        row_centre, column_centre = self.centre
        rows = torch.arange(self.height, device=device, dtype=dtype)
        columns = torch.arange(self.width, device=device, dtype=dtype)
        u = (row_centre - rows) * self.pixel_size
        v = (column_centre - columns) * self.pixel_size
        return u[:, None].expand(self.height, self.width), v[None, :].expand(
            self.height, self.width
        )


def to_uint8(views: torch.Tensor) -> torch.Tensor:
    """Views in [0, 1] (any shape) to ``uint8`` in [0, 255], rounded, for storage."""
    return (views.detach().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def from_uint8(views: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Inverse of :func:`to_uint8` (to within 1/510)."""
    return views.to(dtype) / 255.0


def box_overlap(offset: torch.Tensor, half_size: torch.Tensor, pixel_size: float) -> torch.Tensor:
    """Fraction of a pixel of side ``pixel_size`` [m] centred at ``offset`` [m] that lies
    within ``[-half_size, half_size]`` (one axis). Shapes broadcast; piecewise linear."""
    overlap = half_size + pixel_size / 2 - offset.abs()
    limit = torch.clamp(2 * half_size, max=pixel_size)
    return torch.minimum(overlap, limit).clamp(min=0.0) / pixel_size


class EgoViewRenderer:
    """Renders batches of ego views of one road (see the module docstring).

    ``road``'s static layers are rasterised once, here. ``device`` and ``dtype`` are those
    of the rendered views; scenes are moved/cast to them.
    """

    def __init__(
        self,
        road: Road,
        spec: ViewSpec | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.road = road
        self.spec = spec or ViewSpec()
        self.device = torch.device(device)
        self.dtype = dtype
        self.static = rasterise_static_layers(
            road, self.spec.pixel_size, self.spec.static_resolution
        )
        self._static_channels = [
            name for name in self.spec.channels if name in ("lanes", "off_road")
        ]
        layers = {"lanes": self.static.lane_markings, "off_road": self.static.off_road}
        if self._static_channels:
            stacked = np.stack([layers[name] for name in self._static_channels])
            self._static_raster = torch.as_tensor(stacked, dtype=dtype, device=self.device)[None]
        u, v = self.spec.pixel_coordinates(self.device, dtype)
        self._u, self._v = u, v
        self._pixel_uv1 = torch.stack([u, v, torch.ones_like(u)], dim=-1).reshape(-1, 3)

    # ------------------------------------------------------------------ public
    def render(self, scene: EgoScene) -> torch.Tensor:
        """Ego views ``(B, C, H, W)`` in [0, 1], channels as in ``spec.channels``.

        Differentiable w.r.t. the float tensors of ``scene`` (ego pose, other vehicles'
        poses and sizes, ego size).
        """
        scene = self._cast(scene)
        layers: dict[str, torch.Tensor] = {}
        if self._static_channels:
            static = self.static_layers(scene.ego_pose)
            for index, name in enumerate(self._static_channels):
                layers[name] = static[index]
        if "vehicles" in self.spec.channels:
            layers["vehicles"] = self.vehicle_layer(scene)
        if "ego" in self.spec.channels:
            layers["ego"] = self.ego_layer(scene.ego_size)
        return torch.stack([layers[name] for name in self.spec.channels], dim=1)

    def static_layers(self, ego_pose: torch.Tensor) -> torch.Tensor:
        """The static channels present in the spec (``lanes``, ``off_road``, in spec
        order) for egos at ``ego_pose`` ``(B, 3)``: ``(S, B, H, W)`` (channel first)."""
        batch = ego_pose.shape[0]
        height, width = self.spec.height, self.spec.width
        extent_x, extent_y = self.static.extent
        # grid_sample's normalised sampling position of each pixel is affine in the
        # pixel's ego-frame (u, v, 1): one small matrix product per batch.
        cos, sin = torch.cos(ego_pose[:, 2]), torch.sin(ego_pose[:, 2])
        scale_x, scale_y = 2.0 / extent_x, 2.0 / extent_y
        affine = torch.stack(
            [
                torch.stack([cos * scale_x, sin * scale_y], dim=-1),  # u ->
                torch.stack([-sin * scale_x, cos * scale_y], dim=-1),  # v ->
                torch.stack(
                    [
                        (ego_pose[:, 0] - self.static.x0) * scale_x - 1.0,
                        (ego_pose[:, 1] - self.static.y0) * scale_y - 1.0,
                    ],
                    dim=-1,
                ),
            ],
            dim=1,
        )  # (B, 3, 2)
        grid = torch.matmul(self._pixel_uv1.to(ego_pose.dtype), affine)  # (B, H*W, 2)
        sampled = F.grid_sample(
            self._static_raster.to(ego_pose.dtype),
            grid.reshape(1, batch * height, width, 2),
            mode="bilinear",
            # The raster's border is "off road, no marking", as is everything beyond it.
            padding_mode="border",
            align_corners=False,
        )  # (1, S, B*H, W)
        return sampled.reshape(-1, batch, height, width)

    def vehicle_layer(self, scene: EgoScene) -> torch.Tensor:
        """Area coverage of each ego's view by its other vehicles: ``(B, H, W)``."""
        spec = self.spec
        batch, height, width, pixel = scene.batch_size, spec.height, spec.width, spec.pixel_size
        dtype, device = scene.ego_pose.dtype, scene.ego_pose.device
        others = scene.others_pose.shape[1]
        if others == 0 or batch == 0:
            return torch.zeros(batch, height, width, dtype=dtype, device=device)
        u, v, relative_heading = (part.reshape(-1) for part in scene.others_in_ego_frame())
        length = scene.others_size[..., 0].reshape(-1)
        half_width = scene.others_size[..., 1].reshape(-1) / (2 * pixel)  # [pixels]
        row_centre, column_centre = spec.centre
        row = row_centre - u / pixel  # fractional pixel position of each vehicle's centre
        column = column_centre - v / pixel
        with torch.no_grad():
            abs_cos, abs_sin = relative_heading.cos().abs(), relative_heading.sin().abs()
            # Extent [pixels] along the view's rows and columns of the vehicle enlarged by
            # half a pixel on every side: pixels whose centres lie outside are not covered.
            reach_rows = (length / pixel + 1) * abs_cos + (2 * half_width + 1) * abs_sin
            reach_columns = (length / pixel + 1) * abs_sin + (2 * half_width + 1) * abs_cos
            visible = (
                scene.others_valid.reshape(-1)
                & (row + reach_rows / 2 > 0)
                & (row - reach_rows / 2 < height - 1)
                & (column + reach_columns / 2 > 0)
                & (column - reach_columns / 2 < width - 1)
            )
            selected = torch.nonzero(visible).squeeze(1)
            if selected.numel() == 0:
                return torch.zeros(batch, height, width, dtype=dtype, device=device)
            # Vehicles longer than PIECE_LENGTH are drawn as equal pieces end to end (the
            # coverage is additive along the length), so that every window is car-sized.
            pieces = torch.ceil(length[selected] / PIECE_LENGTH).clamp(min=1).long()
            owner = torch.repeat_interleave(selected, pieces)
            first_piece = torch.cumsum(pieces, 0) - pieces
            piece_index = torch.arange(len(owner), device=device) - torch.repeat_interleave(
                first_piece, pieces
            )
            piece_count = torch.repeat_interleave(pieces, pieces).to(dtype)
        # Per piece (gradients flow from here), gathered in one go: its vehicle's centre,
        # heading, length and half-width, then its own length and centre.
        row, column, heading, length, half_width = (
            torch.stack([row, column, relative_heading, length, half_width], dim=1)
            .index_select(0, owner)
            .unbind(dim=1)
        )
        piece_length = length / piece_count
        along_offset = (piece_index.to(dtype) + 0.5) * piece_length - length / 2
        cos, sin = torch.cos(heading), torch.sin(heading)
        piece_row = row - along_offset * cos / pixel
        piece_column = column - along_offset * sin / pixel
        half_length = piece_length / (2 * pixel)
        with torch.no_grad():
            reach_rows = (2 * half_length + 1) * cos.abs() + (2 * half_width + 1) * sin.abs()
            reach_columns = (2 * half_length + 1) * sin.abs() + (2 * half_width + 1) * cos.abs()
            # One window for all pieces: an open interval of length L holds at most
            # ceil(L) integers, starting at floor(lower end) + 1.
            rows = int(math.ceil(float(reach_rows.max())))
            columns = int(math.ceil(float(reach_columns.max())))
            # Windows land in a view padded by a window on every side: no bounds checks.
            # (A piece of a partly visible truck may lie farther out: its window is moved
            # into the padding, where the piece covers none of its pixels.)
            first_row = (torch.floor(piece_row - rows / 2) + 1).clamp(-rows, height)
            first_column = (torch.floor(piece_column - columns / 2) + 1).clamp(-columns, width)
            window_row, window_column = torch.meshgrid(
                torch.arange(rows, device=device, dtype=dtype),
                torch.arange(columns, device=device, dtype=dtype),
                indexing="ij",
            )
            window = torch.stack(
                [
                    window_row.reshape(-1),
                    window_column.reshape(-1),
                    torch.ones(rows * columns, device=device, dtype=dtype),
                ]
            )  # (3, rows*columns)
            padded_height, padded_width = height + 2 * rows, width + 2 * columns
            ego_index = torch.div(owner, others, rounding_mode="floor")
            corner = (ego_index * padded_height + first_row.long() + rows) * padded_width + (
                first_column.long() + columns
            )
            offsets = (window[0] * padded_width + window[1]).long()
            target = corner[:, None] + offsets[None, :]  # (pieces, rows*columns)
            small = bool((half_length < 0.5).any() | (half_width < 0.5).any())
        # Pixel centres in each piece's frame, in pixels: with (dr, dc) the window pixel's
        # offset from the window's corner,
        #   along  = cos * du + sin * dv,  across = cos * dv - sin * du,
        #   du = (piece_row - first_row - dr) [pixels forward], dv = (... column ... - dc).
        du = piece_row - first_row
        dv = piece_column - first_column
        coefficients = torch.stack(
            [
                torch.stack([-cos, -sin, cos * du + sin * dv], dim=-1),
                torch.stack([sin, -cos, cos * dv - sin * du], dim=-1),
            ],
            dim=1,
        )  # (pieces, 2, 3)
        in_piece_frame = torch.matmul(coefficients, window)  # (pieces, 2, rows*columns)
        half_size = torch.stack([half_length, half_width], dim=-1)[:, :, None]
        if in_piece_frame.requires_grad:
            overlap = (half_size + 0.5) - in_piece_frame.abs()
        else:  # no gradient wanted (datasets, evaluation): work in place
            overlap = torch.sub(half_size + 0.5, in_piece_frame.abs_(), out=in_piece_frame)
        if small:  # a piece narrower than a pixel covers at most its own size
            overlap = torch.minimum(overlap, (2 * half_size).clamp(max=1.0)).clamp(min=0.0)
        else:
            overlap = overlap.clamp(0.0, 1.0)
        coverage = overlap[:, 0] * overlap[:, 1]
        flat = torch.zeros(batch * padded_height * padded_width, dtype=dtype, device=device)
        flat.scatter_add_(0, target.reshape(-1), coverage.reshape(-1))
        view = flat.reshape(batch, padded_height, padded_width)
        return view[:, rows : rows + height, columns : columns + width].clamp(max=1.0)

    def ego_layer(self, ego_size: torch.Tensor) -> torch.Tensor:
        """Area coverage of the view by the ego's own footprint ``(B, 2)`` -> ``(B, H, W)``."""
        pixel = self.spec.pixel_size
        u = self._u[:, 0].to(ego_size.dtype)
        v = self._v[0].to(ego_size.dtype)
        along = box_overlap(u[None, :], ego_size[:, 0, None] / 2, pixel)  # (B, H)
        across = box_overlap(v[None, :], ego_size[:, 1, None] / 2, pixel)  # (B, W)
        return along[:, :, None] * across[:, None, :]

    # ------------------------------------------------------------------ helpers
    def _cast(self, scene: EgoScene) -> EgoScene:
        def cast(tensor: torch.Tensor) -> torch.Tensor:
            if tensor.is_floating_point():
                return tensor.to(device=self.device, dtype=self.dtype)
            return tensor.to(self.device)

        return EgoScene(
            ego_pose=cast(scene.ego_pose),
            ego_speed=cast(scene.ego_speed),
            ego_size=cast(scene.ego_size),
            others_pose=cast(scene.others_pose),
            others_size=cast(scene.others_size),
            others_speed=cast(scene.others_speed),
            others_valid=scene.others_valid.to(self.device, torch.bool),
            others_id=scene.others_id.to(self.device),
        )


__all__ = [
    "CHANNELS",
    "EgoViewRenderer",
    "StaticLayers",
    "ViewSpec",
    "box_overlap",
    "from_uint8",
    "to_uint8",
]

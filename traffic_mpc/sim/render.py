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
  ``(u, v, 1)`` with each ego's affine map. On the CPU, without gradient (datasets,
  evaluation), the sampling is the same but skips what is known to be zero: a view
  column (a line along the ego's heading) whose texels are zero in every static channel
  (half of them in dense traffic: the lane interiors) samples to exactly 0, which a
  summed-area table of the raster's non-zero texels tells from the column's two ends, so
  only the other columns are sampled, column by column (neighbouring samples then share
  texels, which halves the gather time). Same values, bit for bit; the CPU's gathers are
  what the sampling costs.
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
from traffic_mpc.sim.geometry import needs_grad
from traffic_mpc.sim.render_static import StaticLayers, rasterise_static_layers
from traffic_mpc.sim.scene import EgoScene

#: Channels an ego view can hold, in their default order.
CHANNELS: tuple[str, ...] = ("lanes", "vehicles", "off_road", "ego")
#: Vehicles longer than this [m] are drawn as equal pieces (trucks), keeping windows small.
PIECE_LENGTH = 6.0
#: Rows of static samples worth a thread of their own (see EgoViewRenderer._sample).
_MIN_SAMPLES_PER_THREAD = 64


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
    levels = views.detach().clamp(0.0, 1.0).mul_(255.0).round_()  # whole numbers
    if levels.device.type == "cpu" and levels.dtype in (torch.float32, torch.float64):
        # numpy's cast to uint8 is vectorised: twice as fast as torch's
        return torch.from_numpy(levels.numpy().astype(np.uint8))
    return levels.to(torch.uint8)


def from_uint8(views: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Inverse of :func:`to_uint8` (to within 1/510)."""
    return views.to(dtype) / 255.0


def _zeros(batch: int, height: int, width: int, dtype, device, out: torch.Tensor | None):
    if out is None:
        return torch.zeros(batch, height, width, dtype=dtype, device=device)
    return out.zero_()


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
            # For sampling channel by channel (see _sample_busy_columns): each channel's
            # raster alone, and the summed-area table of its non-zero texels (entry (y, x)
            # of channel s counts those in rows < y and columns < x).
            self._static_rasters = [layer[None, None] for layer in self._static_raster[0]]
            # Stored texel-major, (rows + 1) * (columns + 1) x S, so that one lookup reads
            # the counts of every channel.
            busy = np.zeros((stacked.shape[1] + 1, stacked.shape[2] + 1, len(stacked)),
                            dtype=np.int32)
            busy[1:, 1:] = (stacked != 0).transpose(1, 2, 0).cumsum(axis=0).cumsum(axis=1)
            self._busy_texels = torch.as_tensor(busy.reshape(-1, len(stacked)),
                                                device=self.device)
        u, v = self.spec.pixel_coordinates(self.device, dtype)
        self._u, self._v = u, v
        self._windows: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        uv1 = torch.stack([u, v, torch.ones_like(u)], dim=-1)  # (H, W, 3)
        self._pixel_uv1 = uv1.reshape(-1, 3)
        # The same pixels column by column, and each column's first and last pixel, as
        # (3, pixels) (see _sample_busy_columns).
        self._pixel_uv1_by_column = uv1.transpose(0, 1).reshape(-1, 3).T.contiguous()
        self._column_ends_uv1 = uv1[[0, -1]].transpose(0, 1).reshape(-1, 3).T.contiguous()

    # ------------------------------------------------------------------ public
    def render(self, scene: EgoScene) -> torch.Tensor:
        """Ego views ``(B, C, H, W)`` in [0, 1], channels as in ``spec.channels``.

        Differentiable w.r.t. the float tensors of ``scene`` (ego pose, other vehicles'
        poses and sizes, ego size).
        """
        scene = self._cast(scene)
        spec = self.spec
        if needs_grad(scene.ego_pose, scene.ego_size, scene.others_pose, scene.others_size):
            layers: dict[str, torch.Tensor] = {}
            if self._static_channels:
                static = self._sample_static(scene.ego_pose)
                for index, name in enumerate(self._static_channels):
                    layers[name] = static[index]
            if "vehicles" in spec.channels:
                layers["vehicles"] = self._vehicle_layer(scene)
            if "ego" in spec.channels:
                layers["ego"] = self._ego_layer(scene.ego_size)
            return torch.stack([layers[name] for name in spec.channels], dim=1)
        # No gradient: every channel is written straight into the views.
        views = scene.ego_pose.new_empty(
            (scene.batch_size, len(spec.channels), spec.height, spec.width))
        if self._static_channels:
            targets = [views[:, spec.channel_index(name)] for name in self._static_channels]
            if self._samples_busy_columns(scene.ego_pose):
                self._sample_busy_columns(scene.ego_pose, targets)
            else:
                for target, layer in zip(targets, self._sample_static(scene.ego_pose)):
                    target.copy_(layer)
        if "vehicles" in spec.channels:
            self._vehicle_layer(scene, views[:, spec.channel_index("vehicles")])
        if "ego" in spec.channels:
            self._ego_layer(scene.ego_size, views[:, spec.channel_index("ego")])
        return views

    def static_layers(self, ego_pose: torch.Tensor) -> torch.Tensor:
        """The static channels present in the spec (``lanes``, ``off_road``, in spec
        order) for egos at ``ego_pose`` ``(B, 3)``: ``(S, B, H, W)`` (channel first)."""
        if self._samples_busy_columns(ego_pose):
            layers = ego_pose.new_empty(
                (len(self._static_channels), ego_pose.shape[0], self.spec.height, self.spec.width))
            self._sample_busy_columns(ego_pose, list(layers))
            return layers
        return self._sample_static(ego_pose)

    def _static_affine(self, ego_pose: torch.Tensor, transposed: bool = False) -> torch.Tensor:
        """``(B, 3, 2)``: grid_sample's normalised sampling position of a pixel is its
        ego-frame ``(u, v, 1)`` times this matrix (``transposed``: ``(B, 2, 3)``)."""
        extent_x, extent_y = self.static.extent
        cos, sin = torch.cos(ego_pose[:, 2]), torch.sin(ego_pose[:, 2])
        scale_x, scale_y = 2.0 / extent_x, 2.0 / extent_y
        u_to = torch.stack([cos * scale_x, sin * scale_y], dim=-1)
        v_to = torch.stack([-sin * scale_x, cos * scale_y], dim=-1)
        offset = torch.stack(
            [
                (ego_pose[:, 0] - self.static.x0) * scale_x - 1.0,
                (ego_pose[:, 1] - self.static.y0) * scale_y - 1.0,
            ],
            dim=-1,
        )
        return torch.stack([u_to, v_to, offset], dim=2 if transposed else 1)

    def _sample(self, grid: torch.Tensor, raster: torch.Tensor | None = None) -> torch.Tensor:
        """Bilinear samples ``(S, N, M)`` of the static raster (or of ``raster``
        ``(1, S, rows, columns)``) at normalised positions ``grid`` ``(N, M, 2)``.

        On a CPU with several torch threads the positions are split into one batch entry
        per thread (``grid_sample`` parallelises over the batch only); each sample is the
        same arithmetic either way."""
        raster = (self._static_raster if raster is None else raster).to(grid.dtype)
        count = grid.shape[0]
        parts = torch.get_num_threads() if grid.device.type == "cpu" else 1
        parts = max(1, min(parts, count // _MIN_SAMPLES_PER_THREAD))
        if parts > 1:
            padded = -(-count // parts) * parts
            grid = F.pad(grid, (0, 0, 0, 0, 0, padded - count)).reshape(
                parts, padded // parts, *grid.shape[1:])
        sampled = F.grid_sample(
            raster.expand(parts, -1, -1, -1),
            grid if parts > 1 else grid[None],
            mode="bilinear",
            # The raster's border is "off road, no marking", as is everything beyond it.
            padding_mode="border",
            align_corners=False,
        )  # (parts, S, N / parts, M)
        if parts == 1:
            return sampled[0]
        return sampled.transpose(0, 1).reshape(sampled.shape[1], -1, sampled.shape[3])[:, :count]

    def _sample_static(self, ego_pose: torch.Tensor) -> torch.Tensor:
        """Every pixel of the static channels, one ``grid_sample`` call: ``(S, B, H, W)``."""
        batch = ego_pose.shape[0]
        height, width = self.spec.height, self.spec.width
        # grid_sample's normalised sampling position of each pixel is affine in the
        # pixel's ego-frame (u, v, 1): one small matrix product per batch.
        affine = self._static_affine(ego_pose)
        grid = torch.matmul(self._pixel_uv1.to(ego_pose.dtype), affine)  # (B, H*W, 2)
        sampled = self._sample(grid.reshape(batch * height, width, 2))  # (S, B*H, W)
        return sampled.reshape(-1, batch, height, width)

    def _samples_busy_columns(self, ego_pose: torch.Tensor) -> bool:
        """Whether the static channels are sampled column by column, skipping the columns
        that are zero (on the CPU, without gradient; see the module docstring)."""
        return ego_pose.device.type == "cpu" and not needs_grad(ego_pose)

    def _sample_busy_columns(self, ego_pose: torch.Tensor, targets: list[torch.Tensor]):
        """The static channels, written into ``targets`` (one ``(B, H, W)`` per channel),
        sampling only the view columns that may be non-zero: the same values as
        :meth:`_sample_static` (each sample is the same arithmetic on the same position)."""
        batch = ego_pose.shape[0]
        height, width = self.spec.height, self.spec.width
        _, _, texel_rows, texel_columns = self._static_raster.shape
        # Sampling positions as x and y planes, one matrix product for the whole batch:
        # (B * 2, 3) x (3, pixels) holds the same products and sums as _sample_static's
        # (pixels, 3) x (B, 3, 2), in the same order.
        affine = self._static_affine(ego_pose, transposed=True).reshape(batch * 2, 3)
        # Texels each column can touch: its samples lie on the segment between its ends;
        # grid_sample reads the texels around floor(position) and the one after (in
        # texels, position = (normalised + 1) * size / 2 - 1/2); one texel more on each
        # side absorbs rounding.
        ends = torch.mm(affine, self._column_ends_uv1.to(ego_pose.dtype))  # (B * 2, W * 2)
        first, final = ends.reshape(batch, 2, width, 2).permute(3, 0, 2, 1)  # (B, W, 2) each
        size = ends.new_tensor([texel_columns, texel_rows])
        last = size - 1
        low = ((torch.minimum(first, final) + 1) * (size / 2) - 0.5).floor() - 1
        high = ((torch.maximum(first, final) + 1) * (size / 2) - 0.5).floor() + 2
        low = torch.minimum(low.clamp(min=0), last)
        high = torch.minimum(high.clamp(min=0), last) + 1  # (B, W, 2): x, y of the box
        # Non-zero texels in the box [low, high) of every channel, from the box's corners
        # in the summed-area tables (S, rows + 1, columns + 1), flattened.
        (x0, y0), (x1, y1) = low.unbind(-1), high.unbind(-1)
        stride = texel_columns + 1
        corners = torch.stack([y1 * stride + x1, y0 * stride + x0,
                               y0 * stride + x1, y1 * stride + x0]).long()  # (4, B, W)
        sums = self._busy_texels.index_select(0, corners.view(-1)).view(4, -1, len(targets))
        busy = (sums[0] + sums[1] - sums[2] - sums[3] > 0).T  # (S, B * W)
        planes = None
        for target, raster, channel_busy in zip(targets, self._static_rasters, busy):
            target.zero_()
            columns = channel_busy.nonzero().squeeze(1)  # index of (ego, column)
            if columns.numel() == 0:
                continue
            if planes is None:  # (B, x and y, W, H): each column's positions in a row
                planes = torch.mm(affine, self._pixel_uv1_by_column.to(ego_pose.dtype))
                planes = planes.reshape(batch * 2 * width, height)
            ego, column = columns // width, columns % width
            rows = (ego * 2 * width + column)[:, None] + planes.new_tensor(
                [0, width], dtype=torch.int64)  # x, y rows of each busy column
            grid = planes.index_select(0, rows.reshape(-1)).reshape(-1, 2, height)
            sampled = self._sample(grid.transpose(1, 2), raster)[0]  # (columns, H)
            target.transpose(1, 2).index_put_((ego, column), sampled)

    def _vehicle_layer(self, scene: EgoScene, out: torch.Tensor | None = None) -> torch.Tensor:
        """Area coverage of each ego's view by its other vehicles: ``(B, H, W)``, written
        into ``out`` if given (no gradient)."""
        spec = self.spec
        batch, height, width, pixel = scene.batch_size, spec.height, spec.width, spec.pixel_size
        dtype, device = scene.ego_pose.dtype, scene.ego_pose.device
        others = scene.others_pose.shape[1]
        if others == 0 or batch == 0:
            return _zeros(batch, height, width, dtype, device, out)
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
                return _zeros(batch, height, width, dtype, device, out)
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
            window, offsets = self._window(rows, columns, dtype, device)
            padded_height, padded_width = height + 2 * rows, width + 2 * columns
            ego_index = torch.div(owner, others, rounding_mode="floor")
            corner = (ego_index * padded_height + first_row.long() + rows) * padded_width + (
                first_column.long() + columns
            )
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
        elif overlap.requires_grad:
            overlap = overlap.clamp(0.0, 1.0)
        else:
            overlap = overlap.clamp_(0.0, 1.0)
        coverage = overlap[:, 0] * overlap[:, 1]
        flat = torch.zeros(batch * padded_height * padded_width, dtype=dtype, device=device)
        flat.scatter_add_(0, target.reshape(-1), coverage.reshape(-1))
        view = flat.reshape(batch, padded_height, padded_width)
        view = view[:, rows : rows + height, columns : columns + width]
        if out is None:
            return view.clamp(max=1.0)
        return torch.clamp(view, max=1.0, out=out)

    def _window(self, rows: int, columns: int, dtype: torch.dtype, device: torch.device
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """A window of ``rows x columns`` view pixels: their ``(row, column, 1)`` offsets
        from its corner ``(3, rows * columns)`` and their offsets in the padded view
        (``width + 2 * columns`` pixels a row) ``(rows * columns,)``; kept per size."""
        key = (rows, columns, dtype, device)
        if key not in self._windows:
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
            )
            padded_width = self.spec.width + 2 * columns
            self._windows[key] = (window, (window[0] * padded_width + window[1]).long())
        return self._windows[key]

    def ego_layer(self, ego_size: torch.Tensor) -> torch.Tensor:
        """Area coverage of the view by the ego's own footprint ``(B, 2)`` -> ``(B, H, W)``."""
        return self._ego_layer(ego_size)

    def _ego_layer(self, ego_size: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`ego_layer`, written into ``out`` ``(B, H, W)`` if given (no gradient)."""
        pixel = self.spec.pixel_size
        u = self._u[:, 0].to(ego_size.dtype)
        v = self._v[0].to(ego_size.dtype)
        along = box_overlap(u[None, :], ego_size[:, 0, None] / 2, pixel)  # (B, H)
        across = box_overlap(v[None, :], ego_size[:, 1, None] / 2, pixel)  # (B, W)
        if out is None:
            return along[:, :, None] * across[:, None, :]
        return torch.mul(along[:, :, None], across[:, None, :], out=out)

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

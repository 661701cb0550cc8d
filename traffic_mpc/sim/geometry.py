"""Plane geometry on tensors: oriented boxes, their overlap, frames, and the road as tensors.

A vehicle footprint is an oriented rectangle: pose ``(..., 3)`` (x, y [m] of its centre,
heading [rad]) and size ``(..., 2)`` (length along the heading, width [m]). Frames: the
*ego frame* of a pose has ``u`` [m] forward along its heading and ``v`` [m] to its left,
origin at the pose's centre. All functions broadcast over leading dimensions and run on
any device and floating dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from traffic_mpc.road import Road

#: Consecutive marking vertices closer to a straight line than this [m] are merged.
_COLLINEAR_TOLERANCE = 1e-6


def to_frame(
    x: torch.Tensor, y: torch.Tensor, frame_pose: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Road-frame points ``x, y`` in the frame of ``frame_pose`` ``(..., 3)``: ``(u, v)``.

    ``frame_pose[..., i]`` broadcasts against ``x`` and ``y``.
    """
    dx = x - frame_pose[..., 0]
    dy = y - frame_pose[..., 1]
    cos, sin = torch.cos(frame_pose[..., 2]), torch.sin(frame_pose[..., 2])
    return cos * dx + sin * dy, -sin * dx + cos * dy


def needs_grad(*tensors: torch.Tensor) -> bool:
    """Whether autograd records operations on any of ``tensors`` (then no shortcut that
    returns fresh constants may replace the computation)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def box_corners(pose: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Corners of oriented boxes, ``(..., 4, 2)`` [m], counter-clockwise from front-left."""
    cos, sin = torch.cos(pose[..., 2]), torch.sin(pose[..., 2])
    half_length, half_width = size[..., 0] / 2, size[..., 1] / 2
    signs = pose.new_tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    along = signs[:, 0] * half_length[..., None]
    across = signs[:, 1] * half_width[..., None]
    x = pose[..., 0, None] + along * cos[..., None] - across * sin[..., None]
    y = pose[..., 1, None] + along * sin[..., None] + across * cos[..., None]
    return torch.stack([x, y], dim=-1)


def boxes_overlap(
    pose_a: torch.Tensor, size_a: torch.Tensor, pose_b: torch.Tensor, size_b: torch.Tensor
) -> torch.Tensor:
    """Whether oriented boxes overlap (touching counts), by the separating-axis theorem.

    Two convex polygons are disjoint exactly when their projections are disjoint on one of
    their edge normals; for two rectangles those are the four axes of their headings.
    Shapes broadcast; returns bool of the broadcast shape.
    """
    delta = pose_b[..., :2] - pose_a[..., :2]
    heading_a, heading_b = pose_a[..., 2], pose_b[..., 2]
    separated = torch.zeros(delta.shape[:-1], dtype=torch.bool, device=delta.device)
    for axis_heading in (heading_a, heading_b):
        for offset in (0.0, torch.pi / 2):
            angle = axis_heading + offset
            axis = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
            centre_gap = (delta * axis).sum(-1).abs()
            radius_a = _projected_radius(heading_a, size_a, angle)
            radius_b = _projected_radius(heading_b, size_b, angle)
            separated = separated | (centre_gap > radius_a + radius_b)
    return ~separated


def _projected_radius(heading: torch.Tensor, size: torch.Tensor, axis: torch.Tensor):
    """Half the extent of a box projected on the unit axis at angle ``axis``."""
    relative = axis - heading
    return (size[..., 0] / 2 * torch.cos(relative).abs()
            + size[..., 1] / 2 * torch.sin(relative).abs())


def box_extent_in_frame(
    frame_pose: torch.Tensor, pose: torch.Tensor, size: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bounding intervals of boxes along the axes of ``frame_pose``: ``u_min, u_max, v_min,
    v_max`` [m], each of the broadcast shape."""
    u, v = to_frame(pose[..., 0], pose[..., 1], frame_pose)
    relative = pose[..., 2] - frame_pose[..., 2]
    # Half extents along the frame's axes (angles 0 and pi/2), both at once: (..., 2).
    axes = relative.new_tensor([0.0, torch.pi / 2])
    half = _projected_radius(relative[..., None], size[..., None, :], axes)
    half_u, half_v = half[..., 0], half[..., 1]
    return u - half_u, u + half_u, v - half_v, v + half_v


# ------------------------------------------------------------------------- the road
def _piecewise_linear(points: np.ndarray, count: int) -> np.ndarray:
    """``y(x)`` of a polyline as ``(count, 3)`` rows (x_k, dx_k, slope_k), padded with
    zero-length pieces; ``y(x) = y_0 + sum_k slope_k clamp(x - x_k, 0, dx_k)``."""
    x, y = points[:, 0], points[:, 1]
    table = np.zeros((count, 3))
    table[: len(x) - 1, 0] = x[:-1]
    table[: len(x) - 1, 1] = np.diff(x)
    table[: len(x) - 1, 2] = np.diff(y) / np.diff(x)
    table[len(x) - 1:, 0] = x[-1]
    return table


def _piecewise_y(table: torch.Tensor, y0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``y(x)`` of :func:`_piecewise_linear` tables ``(..., P, 3)`` whose value at the first
    vertex is ``y0``: ``table``, ``y0`` and ``x`` broadcast over the leading dimensions."""
    offset = (x[..., None] - table[..., 0]).clamp(min=0.0)
    return y0 + (table[..., 2] * torch.minimum(offset, table[..., 1])).sum(-1)


def _simplify(points: np.ndarray) -> np.ndarray:
    """Drop vertices that lie on the straight line through their neighbours."""
    keep = [0]
    for index in range(1, len(points) - 1):
        a, b, c = points[keep[-1]], points[index], points[index + 1]
        ab, ac = b - a, c - a
        offset = abs(ab[0] * ac[1] - ab[1] * ac[0]) / max(np.hypot(*ac), 1e-12)
        if offset > _COLLINEAR_TOLERANCE:
            keep.append(index)
    keep.append(len(points) - 1)
    return points[keep]


def _segments(polylines: list[np.ndarray]) -> np.ndarray:
    rows = [np.concatenate([p[:-1], p[1:]], axis=1) for p in polylines if len(p) >= 2]
    return np.concatenate(rows) if rows else np.zeros((0, 4))


@dataclass(frozen=True)
class RoadTensors:
    """A :class:`~traffic_mpc.road.Road` as tensors on one device, for batched queries.

    - ``lane_ids`` ``(L,)``; ``lane_x_range`` ``(L, 2)`` [m]; ``lane_left``, ``lane_right``
      ``(L, P, 3)`` piecewise-linear boundaries ``y(x)`` (see :func:`_piecewise_linear`)
      with ``lane_left_y0``, ``lane_right_y0`` ``(L,)`` their values at the first vertex.
    - ``marking_segments`` ``(G, 4)``: every lane marking and road edge as straight
      segments (x0, y0, x1, y1) [m], collinear vertices merged.
    - ``boundary_segments`` ``(E, 4)``: where the road ends: the road edges plus the two
      ends of the section (x = 0 and x = length across the lanes there).
    - Lane topology (:meth:`Road.successor`, :meth:`Road.route_end`,
      :meth:`Road.merges_into`), as lane indices (-1: none): ``lane_successor`` ``(L,)``
      the lane that continues each lane where it ends; ``lane_route_end`` ``(L,)`` [m]
      where a lane and its successors end inside the section (``inf`` for a route that
      reaches the section's end); ``lane_merge_into`` ``(L,)`` the lane its traffic must
      merge into before then.

    Lanes are ordered left to right (by the ``y`` of their centre where they start), so
    that where two lanes touch the left one wins, as in :meth:`Road.lane_at`.
    """

    lane_ids: torch.Tensor
    lane_x_range: torch.Tensor
    lane_left: torch.Tensor
    lane_right: torch.Tensor
    lane_left_y0: torch.Tensor
    lane_right_y0: torch.Tensor
    marking_segments: torch.Tensor
    boundary_segments: torch.Tensor
    lane_successor: torch.Tensor
    lane_route_end: torch.Tensor
    lane_merge_into: torch.Tensor

    @classmethod
    def from_road(
        cls,
        road: Road,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> RoadTensors:
        lanes = sorted(road.lanes, key=lambda lane: -lane.center_y(lane.x_start))
        pieces = max(max(len(lane.left), len(lane.right)) for lane in lanes) - 1
        left = np.stack([_piecewise_linear(lane.left, pieces) for lane in lanes])
        right = np.stack([_piecewise_linear(lane.right, pieces) for lane in lanes])
        markings = [_simplify(m.points) for m in road.markings]
        edges = [_simplify(m.points) for m in road.markings if m.kind == "edge"]
        caps = []
        for x_cap in (0.0, road.length):
            present = [lane for lane in road.lanes if lane.x_start <= x_cap <= lane.x_end]
            if present:
                top = max(float(lane.left_y(x_cap)) for lane in present)
                bottom = min(float(lane.right_y(x_cap)) for lane in present)
                caps.append(np.array([[x_cap, top], [x_cap, bottom]]))

        def tensor(array) -> torch.Tensor:
            return torch.as_tensor(np.asarray(array), dtype=dtype, device=device)

        index_of = {lane.id: index for index, lane in enumerate(lanes)}

        def indices(lane_ids) -> torch.Tensor:
            return torch.as_tensor([-1 if i is None else index_of[i] for i in lane_ids],
                                   dtype=torch.int64, device=device)

        return cls(
            lane_ids=torch.as_tensor([lane.id for lane in lanes], device=device),
            lane_x_range=tensor([[lane.x_start, lane.x_end] for lane in lanes]),
            lane_left=tensor(left),
            lane_right=tensor(right),
            lane_left_y0=tensor([lane.left[0, 1] for lane in lanes]),
            lane_right_y0=tensor([lane.right[0, 1] for lane in lanes]),
            marking_segments=tensor(_segments(markings)),
            boundary_segments=tensor(_segments(edges + caps)),
            lane_successor=indices([road.successor(lane.id) for lane in lanes]),
            lane_route_end=tensor([road.route_end(lane.id) if road.ends_inside(lane.id)
                                   else np.inf for lane in lanes]),
            lane_merge_into=indices([road.merges_into(lane.id) for lane in lanes]),
        )

    @property
    def n_lanes(self) -> int:
        return len(self.lane_ids)

    def lane_bounds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Left and right boundary ``y`` of every lane at ``x`` and whether the lane exists
        there: three ``(..., L)`` tensors."""
        left = _piecewise_y(self.lane_left, self.lane_left_y0, x[..., None])
        right = _piecewise_y(self.lane_right, self.lane_right_y0, x[..., None])
        exists = (x[..., None] >= self.lane_x_range[:, 0]) & (
            x[..., None] <= self.lane_x_range[:, 1])
        return left, right, exists

    def lane_index_at(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Index (into ``lane_ids``) of the lane at each point, -1 off the road. Where two
        lanes touch, the left one wins."""
        left, right, exists = self.lane_bounds(x)
        inside = exists & (y[..., None] <= left) & (y[..., None] >= right)
        index = torch.argmax(inside.to(torch.int8), dim=-1)
        return torch.where(inside.any(-1), index, -1)

    def on_road(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """True where a point lies on a lane (as :meth:`Road.is_off_road`, negated)."""
        return self.lane_index_at(x, y) >= 0

    def lane_center_y(self, lane_index: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Centre line ``y`` [m] of lane ``lane_index`` (shape of ``x``) at ``x``; beyond a
        lane's ends its boundaries are held constant."""
        left, right, _ = self.bounds_of_lane(lane_index, x)
        return (left + right) / 2

    def bounds_of_lane(
        self, lane_index: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Left and right boundary ``y`` [m] of one lane per point, lane ``lane_index``
        (shape of ``x``, clamped to 0 and up) at ``x``, and whether it exists there: three
        tensors of the shape of ``x``. As :meth:`lane_bounds` for that lane only (its
        boundaries held constant beyond its ends), at a cost that does not grow with L."""
        index = lane_index.clamp(min=0)
        x_range = self.lane_x_range[index]
        exists = (x >= x_range[..., 0]) & (x <= x_range[..., 1])
        return (_piecewise_y(self.lane_left[index], self.lane_left_y0[index], x),
                _piecewise_y(self.lane_right[index], self.lane_right_y0[index], x), exists)


def segments_in_frame(
    segments: torch.Tensor, frame_pose: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Segments ``(G, 4)`` in the frames of poses ``(B, 3)``: ``u0, v0, u1, v1`` ``(B, G)``."""
    # Both ends at once: x (G, 2) = (x0, x1), y = (y0, y1) -> u, v (B, G, 2).
    u, v = to_frame(segments[:, 0::2], segments[:, 1::2], frame_pose[:, None, None, :])
    return u[..., 0], v[..., 0], u[..., 1], v[..., 1]

"""Exact geometric costs and collisions of an :class:`~traffic_mpc.sim.scene.EgoScene`.

The costs are those defined in :mod:`traffic_mpc.sim.cost_masks` (the masks are evaluated
by the functions there, never re-implemented), maximised exactly over the geometry instead
of over raster pixels:

* **proximity**: max of ``proximity_mask`` over the other vehicles' footprints (filled
  oriented rectangles). The mask is a product ``f(|u|) g(|v|)`` of non-increasing ramps, so
  over a convex footprint that does not contain the ego's centre its maximum lies on the
  footprint's boundary (moving a point straight towards the ego's centre lowers both
  ``|u|`` and ``|v|``); if the footprint contains the centre the maximum is the mask there.
  Along one edge ``|u|`` and ``|v|`` are linear between the points where ``u`` or ``v``
  cross 0 or a ramp end, so ``f g`` is piecewise a product of two linear functions: its
  maximum is at an end of a piece or at the vertex of that quadratic. All those candidates
  (edge ends, the 10 crossings, the 4 vertices — one per sign of ``u`` and ``v``) are
  evaluated with ``proximity_mask`` and the largest kept: **analytic, exact up to
  rounding**, no sampling.
* **lane**: max of ``lane_mask`` over lane markings and road edges, zero-width lines. The
  mask is ``[|u| <= L/2] ramp(|v|)``, so each straight segment is clipped to the band
  ``|u| <= L/2`` and the mask is evaluated at the clipped segment's point of smallest
  ``|v|`` (a crossing of ``v = 0`` or an end): exact.
* **off-road**: max of ``lane_mask`` over the off-road area (outside all lanes). It is the
  mask at the ego's centre (1) if the centre is off the road; otherwise the off-road point
  of least ``|v|`` within the band lies on the road's boundary (edges and section ends), so
  it is the lane cost over those lines: exact.

Speed inside the proximity mask is a constant (detached), as the cost definition requires.

Collisions: a pair collides when the footprints overlap (separating-axis test, touching
counts). It is classified from the ego's point of view using the other footprint's extent
along the ego's axes (its bounding intervals in the ego frame, ``u`` forward, ``v`` left):
the overlap depth along the heading is ``min(L/2 - u_min, u_max + L/2)`` and across it
``min(W/2 - v_min, v_max + W/2)``. The contact is *longitudinal* when the depth along the
heading is not larger than the depth across it (the boxes meet bumper to bumper); then it is
**ahead** if the other's centre is in front of the ego's centre (``u > 0``) and **behind**
otherwise. Any other contact is **side** (cut-ins, side-swipes: the boxes meet flank first).
"""

from __future__ import annotations

import torch

from traffic_mpc.sim import cost_masks
from traffic_mpc.sim.geometry import (
    RoadTensors,
    box_corners,
    box_extent_in_frame,
    boxes_overlap,
    needs_grad,
    segments_in_frame,
    to_frame,
)
from traffic_mpc.sim.scene import EgoScene

#: Column order of the cost tensors.
COST_NAMES = ("proximity", "lane", "off_road")
#: Column order of the collision flags.
COLLISION_NAMES = ("ahead", "behind", "side")
#: Per-pair collision classes returned by :func:`collision_classes`.
NO_COLLISION, AHEAD, BEHIND, SIDE = range(4)


def _proximity_margin(scene: EgoScene, lateral_margin) -> torch.Tensor:
    width = scene.ego_size[:, 1]
    margin = width if lateral_margin is None else lateral_margin
    return torch.as_tensor(margin, dtype=width.dtype, device=width.device).expand_as(width)


def _safety_distance(speed: torch.Tensor) -> torch.Tensor:
    """Longitudinal reach of the proximity mask beyond the ego's half length [m]."""
    return cost_masks.SAFETY_TIME * speed.abs() + cost_masks.SAFETY_DISTANCE


Extents = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _extents_in_ego_frame(scene: EgoScene) -> Extents:
    """Bounding intervals ``u_min, u_max, v_min, v_max`` ``(B, K)`` [m] of every other
    footprint in its ego's frame: the cheap screen before any exact pair test. Computed once
    per scene and shared by the proximity cost and the collision test."""
    return box_extent_in_frame(scene.ego_pose[:, None], scene.others_pose, scene.others_size)


def _pairs_within_reach(
    scene: EgoScene, forward: torch.Tensor, lateral: torch.Tensor,
    extents: Extents | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(ego, other)`` of the valid pairs whose footprint's bounding intervals in
    the ego frame reach within ``|u| < forward``, ``|v| < lateral`` (``(B,)`` each [m])."""
    u_min, u_max, v_min, v_max = extents if extents is not None else _extents_in_ego_frame(scene)
    forward, lateral = forward[:, None], lateral[:, None]
    near = (u_min <= forward) & (u_max >= -forward) & (v_min <= lateral) & (v_max >= -lateral)
    return (near & scene.others_valid).nonzero(as_tuple=True)


def proximity_cost_per_vehicle(
    scene: EgoScene, lateral_margin: torch.Tensor | float | None = None
) -> torch.Tensor:
    """Max of the proximity mask over each other vehicle's footprint: ``(B, K)`` in [0, 1]
    (0 for padding). ``lateral_margin`` [m] as in :func:`cost_masks.proximity_mask`.

    Only pairs whose footprint reaches into the mask's support are evaluated (the mask is 0
    beyond it), so the work scales with the vehicles near each ego, not with ``K``.
    """
    return _proximity_cost_per_vehicle(scene, lateral_margin)


def _proximity_cost_per_vehicle(
    scene: EgoScene, lateral_margin=None, extents: Extents | None = None
) -> torch.Tensor:
    length, width = scene.ego_size[:, 0], scene.ego_size[:, 1]
    speed = scene.ego_speed.detach()
    margin = _proximity_margin(scene, lateral_margin)
    ego, other = _pairs_within_reach(
        scene, length / 2 + _safety_distance(speed), width / 2 + margin, extents)
    per_vehicle = scene.others_pose.new_zeros(scene.others_valid.shape)
    if ego.numel() == 0 and not needs_grad(
            scene.ego_pose, scene.ego_size, scene.others_pose, scene.others_size):
        return per_vehicle
    values = proximity_of_footprints(
        scene.ego_pose[ego], scene.ego_size[ego], speed[ego], margin[ego],
        scene.others_pose[ego, other], scene.others_size[ego, other],
    )
    return per_vehicle.index_put((ego, other), values)


def proximity_of_footprints(
    ego_pose: torch.Tensor,
    ego_size: torch.Tensor,
    ego_speed: torch.Tensor,
    lateral_margin: torch.Tensor,
    other_pose: torch.Tensor,
    other_size: torch.Tensor,
) -> torch.Tensor:
    """Max of the proximity mask of egos over other footprints, pair by pair: ``(P, 3)``
    poses, ``(P, 2)`` sizes [m], ``(P,)`` speeds [m/s] and margins [m] -> ``(P,)``.

    The analytic maximum of the module docstring: 16 candidate points on each of the
    footprint's 4 edges, and the ego's centre if the footprint contains it.
    """
    length, width = ego_size[:, 0], ego_size[:, 1]
    # Ramp ends of the mask (see cost_masks): candidates where |u| or |v| crosses them.
    full_u = length / 2 - cost_masks.ALLOWED_OVERLAP
    zero_u = length / 2 + _safety_distance(ego_speed)
    full_v, zero_v = width / 2, width / 2 + lateral_margin
    crossings = torch.stack([  # (P, 2, 1, 5): u, then v
        torch.stack([torch.zeros_like(full_u), full_u, -full_u, zero_u, -zero_u], -1),
        torch.stack([torch.zeros_like(full_v), full_v, -full_v, zero_v, -zero_v], -1),
    ], 1)[:, :, None, :]

    corners = box_corners(other_pose, other_size)  # (P, 4, 2)
    u, v = to_frame(corners[..., 0], corners[..., 1], ego_pose[:, None, :])
    uv = torch.stack([u, v], 1)[..., None]  # (P, 2, 4, 1): the corners' u, then v
    duv = uv.roll(-1, dims=2) - uv  # edge vectors
    u, v, du, dv = uv[:, 0], uv[:, 1], duv[:, 0], duv[:, 1]  # (P, 4, 1)

    def solve(start, slope, target):  # s with start + s * slope = target, 0 if parallel
        parallel = slope.abs() < 1e-12
        return torch.where(parallel, 0.0, (target - start) / torch.where(parallel, 1.0, slope))

    s_uv = solve(uv, duv, crossings)  # (P, 2, 4, 5): where u, then v, cross a ramp end
    # The vertices of f g, one per sign of u and v (last dimension ++, +-, -+, --):
    # f ~ (zero_u - sign_u u(s)), g ~ (zero_v - sign_v v(s)): d(f g)/ds = 0.
    sign_u = u.new_tensor([1.0, 1.0, -1.0, -1.0])
    sign_v = u.new_tensor([1.0, -1.0, 1.0, -1.0])
    a1, b1 = zero_u[:, None, None] - sign_u * u, -sign_u * du
    a2, b2 = zero_v[:, None, None] - sign_v * v, -sign_v * dv
    vertices = solve(a1 * b2 + a2 * b1, 2 * b1 * b2, 0.0)  # (P, 4, 4)
    ends = u.new_tensor([0.0, 1.0]).expand(*u.shape[:-1], 2)
    s = torch.cat([ends, s_uv[:, 0], s_uv[:, 1], vertices], dim=-1).clamp(0.0, 1.0)
    points = (uv + s[:, None] * duv).flatten(2)  # (P, 2, 64): 16 candidates on 4 edges
    values = cost_masks.proximity_mask(
        points[:, 0], points[:, 1], length, width, ego_speed, lateral_margin).amax(dim=-1)

    # The ego's centre inside a footprint: the mask's value at the centre.
    cu, cv = to_frame(ego_pose[:, 0], ego_pose[:, 1], other_pose)
    inside = (cu.abs() <= other_size[:, 0] / 2) & (cv.abs() <= other_size[:, 1] / 2)
    origin = torch.zeros_like(ego_speed)[:, None]
    at_centre = cost_masks.proximity_mask(
        origin, origin, length, width, ego_speed, lateral_margin)[:, 0]
    return torch.where(inside, torch.maximum(values, at_centre), values)


def line_cost(
    ego_pose: torch.Tensor,
    ego_length: torch.Tensor,
    segments: torch.Tensor,
    lane_width: float = cost_masks.LANE_WIDTH,
) -> torch.Tensor:
    """Max of ``lane_mask`` over zero-width line segments: ``(B, 3)`` poses, ``(B,)``
    lengths [m], ``(G, 4)`` segments (x0, y0, x1, y1) [m] -> ``(B,)`` in [0, 1]."""
    if segments.shape[0] == 0:
        return torch.zeros_like(ego_length)
    return _line_values(ego_pose, ego_length, segments, lane_width).amax(dim=1)


def _line_values(
    ego_pose: torch.Tensor, ego_length: torch.Tensor, segments: torch.Tensor, lane_width: float
) -> torch.Tensor:
    """Max of ``lane_mask`` over each segment separately: ``(B, G)``."""
    u0, v0, u1, v1 = segments_in_frame(segments, ego_pose)  # (B, G)
    half = (ego_length / 2)[:, None]
    du, dv = u1 - u0, v1 - v0
    across = du.abs() < 1e-9  # segment perpendicular to the heading: u constant
    safe = torch.where(across, 1.0, du)
    t_a, t_b = (-half - u0) / safe, (half - u0) / safe
    low = torch.where(across, 0.0, torch.minimum(t_a, t_b).clamp(min=0.0))
    high = torch.where(across, 1.0, torch.maximum(t_a, t_b).clamp(max=1.0))
    in_band = torch.where(across, u0.abs() <= half, low <= high)
    v_low, v_high = v0 + low * dv, v0 + high * dv
    crosses = (v_low * v_high) <= 0
    t_cross = torch.where(crosses & (dv.abs() > 0), -v0 / torch.where(dv == 0, 1.0, dv), low)
    t_near = torch.where(crosses, t_cross, torch.where(v_low.abs() <= v_high.abs(), low, high))
    u_near = (u0 + t_near * du).clamp(-half, half)  # in the band by construction
    v_near = torch.where(crosses, torch.zeros_like(v0), v0 + t_near * dv)
    values = cost_masks.lane_mask(u_near, v_near, ego_length, lane_width)
    return torch.where(in_band, values, 0.0)


class GeometricCosts:
    """Exact proximity, lane and off-road costs of scenes on one road (see module doc).

    ``road``: the site's geometry as tensors; ``lane_width`` [m] of the lane and off-road
    masks; ``lateral_margin`` [m] of the proximity mask (default: the ego's width).
    """

    def __init__(
        self,
        road: RoadTensors,
        lane_width: float = cost_masks.LANE_WIDTH,
        lateral_margin: float | None = None,
    ) -> None:
        self.road = road
        self.lane_width = lane_width
        self.lateral_margin = lateral_margin
        # Lane markings, then the road's boundary: both line costs in one pass.
        self._lines = torch.cat([road.marking_segments, road.boundary_segments])
        self._markings = road.marking_segments.shape[0]

    def lane(self, ego_pose: torch.Tensor, ego_length: torch.Tensor) -> torch.Tensor:
        return line_cost(ego_pose, ego_length, self.road.marking_segments, self.lane_width)

    def off_road(self, ego_pose: torch.Tensor, ego_length: torch.Tensor) -> torch.Tensor:
        boundary = line_cost(ego_pose, ego_length, self.road.boundary_segments, self.lane_width)
        centre_on_road = self.road.on_road(ego_pose[:, 0], ego_pose[:, 1])
        return self._off_road(boundary, centre_on_road, ego_length)

    def _off_road(self, boundary: torch.Tensor, centre_on_road: torch.Tensor,
                  ego_length: torch.Tensor) -> torch.Tensor:
        origin = torch.zeros_like(ego_length)[:, None]
        at_centre = cost_masks.lane_mask(origin, origin, ego_length, self.lane_width)[:, 0]
        return torch.where(~centre_on_road, torch.maximum(boundary, at_centre), boundary)

    def __call__(self, scene: EgoScene) -> torch.Tensor:
        """Costs ``(B, 3)``: proximity, lane, off-road (:data:`COST_NAMES`), in [0, 1]."""
        return self._costs(scene, None, None)

    def costs_and_collisions(
        self, scene: EgoScene, centre_on_road: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``self(scene)`` and :func:`collisions` of ``scene`` together, sharing the work
        they have in common (the other footprints' extents in the ego frames).
        ``centre_on_road`` ``(B,)``: ``road.on_road`` at the egos' centres, if known."""
        costs, classes = self.costs_and_collision_classes(scene, centre_on_road)
        return costs, collision_flags(classes)

    def costs_and_collision_classes(
        self, scene: EgoScene, centre_on_road: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``self(scene)`` and :func:`collision_classes` ``(B, K)`` of ``scene`` together
        (as :meth:`costs_and_collisions`, with the class of every pair)."""
        extents = _extents_in_ego_frame(scene)
        costs = self._costs(scene, extents, centre_on_road)
        return costs, _collision_classes(scene, extents)

    def _costs(self, scene: EgoScene, extents: Extents | None,
               centre_on_road: torch.Tensor | None) -> torch.Tensor:
        pose, length = scene.ego_pose, scene.ego_size[:, 0]
        per_vehicle = _proximity_cost_per_vehicle(scene, self.lateral_margin, extents)
        proximity = (per_vehicle.amax(dim=1) if per_vehicle.shape[1]
                     else torch.zeros_like(scene.ego_speed))
        lines = (_line_values(pose, length, self._lines, self.lane_width)
                 if self._lines.shape[0] else pose.new_zeros(pose.shape[0], 0))
        markings, boundary = lines[:, :self._markings], lines[:, self._markings:]
        lane = markings.amax(dim=1) if markings.shape[1] else torch.zeros_like(length)
        boundary = boundary.amax(dim=1) if boundary.shape[1] else torch.zeros_like(length)
        if centre_on_road is None:
            centre_on_road = self.road.on_road(pose[:, 0], pose[:, 1])
        off_road = self._off_road(boundary, centre_on_road, length)
        return torch.stack([proximity, lane, off_road], dim=-1)


def collision_classes(scene: EgoScene) -> torch.Tensor:
    """Collision class of every (ego, other) pair, ``(B, K)`` int64: :data:`NO_COLLISION`,
    :data:`AHEAD`, :data:`BEHIND` or :data:`SIDE` (definition in the module docstring).
    Only pairs whose bounding intervals in the ego frame overlap the ego are tested."""
    return _collision_classes(scene, None)


def _collision_classes(scene: EgoScene, extents: Extents | None) -> torch.Tensor:
    classes = torch.full(scene.others_valid.shape, NO_COLLISION, dtype=torch.int64,
                         device=scene.others_valid.device)
    if extents is None:
        extents = _extents_in_ego_frame(scene)
    ego, other = _pairs_within_reach(
        scene, scene.ego_size[:, 0] / 2, scene.ego_size[:, 1] / 2, extents)
    if ego.numel() == 0:  # the usual case: no footprint comes near the ego's own
        return classes
    ego_pose, ego_size = scene.ego_pose[ego], scene.ego_size[ego]
    pose, size = scene.others_pose[ego, other], scene.others_size[ego, other]
    overlap = boxes_overlap(ego_pose, ego_size, pose, size)
    u_min, u_max, v_min, v_max = (extent[ego, other] for extent in extents)
    half_length, half_width = ego_size[:, 0] / 2, ego_size[:, 1] / 2
    depth_along = torch.minimum(half_length - u_min, u_max + half_length)
    depth_across = torch.minimum(half_width - v_min, v_max + half_width)
    longitudinal = depth_along <= depth_across
    in_front = (u_min + u_max) > 0
    kind = torch.where(longitudinal, torch.where(in_front, AHEAD, BEHIND), SIDE)
    return classes.index_put((ego, other), torch.where(overlap, kind, NO_COLLISION))


def collisions(scene: EgoScene) -> torch.Tensor:
    """Collision flags of every ego, ``(B, 3)`` bool: ahead, behind, side
    (:data:`COLLISION_NAMES`); several may be set at once."""
    return collision_flags(collision_classes(scene))


def collision_flags(classes: torch.Tensor) -> torch.Tensor:
    """Collision flags ``(B, 3)`` bool (ahead, behind, side) of per-pair collision classes
    ``(B, K)`` (:func:`collision_classes`): whether any pair of each class is in a row."""
    return torch.stack([(classes == kind).any(dim=1) for kind in (AHEAD, BEHIND, SIDE)], -1)

"""Differentiable costs on ego views: the cost masks of :mod:`traffic_mpc.sim.cost_masks`
evaluated at the view's pixel centres, times a channel, maximum over pixels.

::

    proximity = max_pixels proximity_mask(u, v) * vehicles
    lane      = max_pixels lane_mask(u, v)      * lanes
    off_road  = max_pixels lane_mask(u, v)      * off_road

with ``(u, v)`` the ego-frame coordinates of the pixel centres
(:meth:`ViewSpec.pixel_coordinates`) and the ego's speed detached inside the proximity
mask (REFERENCE.md: the policy must not lower the cost by slowing the mask down). The
gradient flows into the views, and through the renderer into the ego pose.

How close they are to the exact geometric costs (:mod:`traffic_mpc.sim.geometric_costs`;
measured in ``tests/test_raster_costs.py``): a pixel's centre stands for its whole area, so
a feature is seen up to about a pixel farther (area-averaged channels: vehicles, off-road)
or half a pixel nearer or farther (max-preserving lane markings) than it is. With ``p`` the
pixel size and ``s`` the slope of the mask across the feature (``2 / lane_width`` for the
lane and off-road masks; ``1 / margin`` laterally and ``1 / (1.5 s * speed + 2 m)``
longitudinally for proximity), the error is at most about

* lane: ``s p / 2`` plus the static raster's interpolation dip (1/16 of the value): 0.23
  at 0.62 m/px (measured worst 0.15), 0.04 at 0.1 m/px with a static raster of p/32
  across (measured 0.026);
* off-road: ``s p`` plus 1/32, an underestimate: 0.37 at 0.62 m/px (measured 0.37), 0.06
  at 0.1 m/px (measured 0.03);
* proximity: ``s p`` per axis along which the mask varies within a pixel and a half of
  the nearest point, an underestimate: up to 0.4 at 0.62 m/px for a car beside the ego,
  where the lateral ramp falls from 1 to 0 over three pixels (measured worst 0.25; mean
  0.06 on random I-80-like scenes), 0.05 at 0.1 m/px.

Gradients: the costs are maxima over pixels of piecewise-linear functions of the poses.
Where the maximising pixel is only partly covered (a vehicle's or the road's edge, a
marking's anti-aliased side) the pose gradient is that of the edge moving across it; where
it is fully covered (inside a vehicle, on a marking's plateau) it is 0 — measured for about
half to two thirds of random poses near a car, a marking or the road edge. The gradient
with respect to the views themselves is always there (what a world model's predicted
views get).
"""

from __future__ import annotations

import torch

from traffic_mpc.sim.cost_masks import LANE_WIDTH, lane_mask, proximity_mask
from traffic_mpc.sim.geometric_costs import COST_NAMES as COST_NAMES  # its columns
from traffic_mpc.sim.render import ViewSpec


def view_cost_masks(
    spec: ViewSpec,
    ego_size: torch.Tensor,
    ego_speed: torch.Tensor,
    lane_width: float = LANE_WIDTH,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The proximity and lane masks on the view's pixel grid, each ``(B, H, W)`` in [0, 1].

    ``ego_size``: ``(B, 2)`` length, width [m]; ``ego_speed``: ``(B,)`` [m/s], detached
    here. The lane mask serves the lane and off-road costs.
    """
    u, v = spec.pixel_coordinates(ego_size.device, ego_size.dtype)
    batch = ego_size.shape[0]
    u = u.expand(batch, *u.shape)
    v = v.expand(batch, *v.shape)
    length, width = ego_size[:, 0], ego_size[:, 1]
    proximity = proximity_mask(u, v, length, width, ego_speed.detach().to(ego_size.dtype))
    lane = lane_mask(u, v, length, lane_width)
    return proximity, lane


def raster_costs(
    views: torch.Tensor,
    spec: ViewSpec,
    ego_size: torch.Tensor,
    ego_speed: torch.Tensor,
    lane_width: float = LANE_WIDTH,
) -> torch.Tensor:
    """Proximity, lane and off-road costs of ego views: ``(B, 3)`` in [0, 1].

    ``views``: ``(B, C, H, W)`` with the channels of ``spec`` (it must hold ``vehicles``,
    ``lanes`` and ``off_road``); ``ego_size``: ``(B, 2)`` length, width [m];
    ``ego_speed``: ``(B,)`` [m/s] (a constant inside the proximity mask);
    ``lane_width`` [m] sets the lane and off-road masks. Columns as in :data:`COST_NAMES`.
    """
    if views.dim() != 4 or views.shape[1:] != (len(spec.channels), spec.height, spec.width):
        raise ValueError(
            f"views should be (B, {len(spec.channels)}, {spec.height}, {spec.width}) "
            f"for this ViewSpec, got {tuple(views.shape)}"
        )
    proximity, lane = view_cost_masks(spec, ego_size.to(views.dtype), ego_speed, lane_width)
    vehicles = views[:, spec.channel_index("vehicles")]
    lanes = views[:, spec.channel_index("lanes")]
    off_road = views[:, spec.channel_index("off_road")]
    return torch.stack(
        [
            (proximity * vehicles).amax(dim=(1, 2)),
            (lane * lanes).amax(dim=(1, 2)),
            (lane * off_road).amax(dim=(1, 2)),
        ],
        dim=1,
    )

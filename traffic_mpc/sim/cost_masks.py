"""The cost masks: the single definition of the proximity, lane and off-road costs.

Both ways of computing a cost use these functions — the exact geometric costs of the
replay world and the differentiable costs on rendered ego views — so they cannot drift
apart. Coordinates are in the ego frame: ``u`` [m] forward along the ego's heading,
``v`` [m] to its left, origin at the ego's centre.

Proximity (REFERENCE.md, "Ego view and costs"): a separable mask, 1 over the ego's
footprint shrunk by the allowed overlap and falling linearly to 0 at the safety distance::

    proximity_mask(u, v) = ramp(|u|; full=L/2 - overlap, zero=L/2 + 1.5 s * speed + 1 m)
                         * ramp(|v|; full=W/2,           zero=W/2 + lateral_margin)

with ``ramp(d; full, zero) = clip((zero - d) / (zero - full), 0, 1)``. The proximity
cost is the maximum of the mask over the footprints of the other vehicles, in [0, 1];
1 means at least ``overlap`` of bumper overlap (the reference's collision threshold).
``speed`` is a constant inside the mask (callers pass it detached).

Lane and off-road: a mask over the ego's length that is 1 on the ego's centre line and
falls to 0 half a lane away::

    lane_mask(u, v) = [|u| <= L/2] * ramp(|v|; full=0, zero=lane_width/2)

The lane cost is its maximum over lane markings (and road edges), the off-road cost its
maximum over off-road area.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Time headway of the proximity safety distance [s] (REFERENCE.md).
SAFETY_TIME = 1.5
#: Constant part of the longitudinal safety distance [m].
SAFETY_DISTANCE = 1.0
#: Bumper overlap allowed before the proximity cost reaches 1 [m].
ALLOWED_OVERLAP = 1.0
#: Default lane width used by the lane and off-road masks [m] (12 ft).
LANE_WIDTH = 3.66


@dataclass(frozen=True)
class CostWeights:
    """Weights of the policy cost: proximity + 0.2 lane + 1.0 off-road (REFERENCE.md)."""

    proximity: float = 1.0
    lane: float = 0.2
    off_road: float = 1.0


def ramp(distance: torch.Tensor, full, zero) -> torch.Tensor:
    """1 for ``distance <= full``, 0 for ``distance >= zero``, linear between."""
    return ((zero - distance) / (zero - full)).clamp(0.0, 1.0)


def proximity_mask(
    u: torch.Tensor,
    v: torch.Tensor,
    length: torch.Tensor,
    width: torch.Tensor,
    speed: torch.Tensor,
    lateral_margin: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Proximity mask at ego-frame points.

    ``u, v``: ``(B, ...)`` [m]; ``length, width, speed``: ``(B,)`` [m, m, m/s], broadcast
    over the trailing dimensions of ``u``. ``lateral_margin`` [m] defaults to the ego's
    width (about one car width). Returns values in [0, 1] with the shape of ``u``.
    """
    extra = (1,) * (u.dim() - 1)
    half_length = (length / 2).reshape(-1, *extra)
    half_width = (width / 2).reshape(-1, *extra)
    margin = width if lateral_margin is None else torch.as_tensor(lateral_margin, dtype=u.dtype)
    margin = torch.as_tensor(margin, dtype=u.dtype, device=u.device)
    margin = margin.reshape(-1, *extra) if margin.dim() else margin
    safety = SAFETY_TIME * speed.abs().reshape(-1, *extra) + SAFETY_DISTANCE
    longitudinal = ramp(u.abs(), half_length - ALLOWED_OVERLAP, half_length + safety)
    lateral = ramp(v.abs(), half_width, half_width + margin)
    return longitudinal * lateral


def lane_mask(
    u: torch.Tensor, v: torch.Tensor, length: torch.Tensor, lane_width: float = LANE_WIDTH
) -> torch.Tensor:
    """Lane / off-road mask at ego-frame points: ``(B, ...)`` in, values in [0, 1] out."""
    extra = (1,) * (u.dim() - 1)
    half_length = (length / 2).reshape(-1, *extra)
    along_footprint = (u.abs() <= half_length).to(u.dtype)
    return along_footprint * ramp(v.abs(), 0.0, lane_width / 2)

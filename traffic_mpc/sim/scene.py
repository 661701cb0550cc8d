"""`EgoScene`: what each of a batch of egos has around it at one step.

The replay world produces it, the renderer draws it, the geometric costs and the
collision test read it. All tensors share a leading batch dimension ``B`` (one entry per
ego, i.e. per independent episode) and live on the same device. Poses are in the road
frame (:mod:`traffic_mpc.road`): ``x, y`` [m] of the vehicle centre, heading [rad].
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from traffic_mpc.sim.geometry import to_frame


@dataclass(frozen=True)
class EgoScene:
    """The egos and, for each, the ``K`` other vehicles it may see (padded, with a mask).

    - ``ego_pose``: ``(B, 3)`` x, y [m], heading [rad]
    - ``ego_speed``: ``(B,)`` [m/s]
    - ``ego_size``: ``(B, 2)`` length, width [m]
    - ``others_pose``: ``(B, K, 3)``; ``others_size``: ``(B, K, 2)``; ``others_speed``: ``(B, K)``
    - ``others_valid``: ``(B, K)`` bool — False entries are padding and must be ignored
    - ``others_id``: ``(B, K)`` int64 logged vehicle id (-1 for padding)

    An ego never appears among its own ``others``: its logged counterpart is removed,
    and other egos are not visible either (each ego lives in its own episode).
    """

    ego_pose: torch.Tensor
    ego_speed: torch.Tensor
    ego_size: torch.Tensor
    others_pose: torch.Tensor
    others_size: torch.Tensor
    others_speed: torch.Tensor
    others_valid: torch.Tensor
    others_id: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.ego_pose.shape[0]

    @property
    def device(self) -> torch.device:
        return self.ego_pose.device

    def to(self, device: torch.device | str) -> EgoScene:
        return EgoScene(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def index(self, selection) -> EgoScene:
        """The scene of a subset of egos (any tensor index over the batch dimension)."""
        return EgoScene(**{f.name: getattr(self, f.name)[selection] for f in fields(self)})

    def others_in_ego_frame(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Other vehicles' centres and headings relative to the ego: ``(u, v, dtheta)``,
        each ``(B, K)``; ``u`` [m] forward along the ego's heading, ``v`` [m] to its left."""
        u, v = to_frame(self.others_pose[..., 0], self.others_pose[..., 1], self.ego_pose[:, None])
        return u, v, self.others_pose[..., 2] - self.ego_pose[:, None, 2]

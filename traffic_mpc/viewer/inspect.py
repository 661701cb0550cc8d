"""What the ego panel shows of a vehicle: its ego view, its cost terms and its events.

The viewer sits on top of the simulator: the ego view comes from the renderer
(:mod:`traffic_mpc.sim.render`), the cost terms and collisions from the exact geometric costs
(:mod:`traffic_mpc.sim.geometric_costs`) — the same code the replay world and the
evaluation use, never a re-implementation. Where there is no ego view (no renderer, or the
renderer fails on a scene) the inspector says why (``view_note``, ``view_failure``) and the
panel shows the note instead; ``cost_note`` is the panel's note for an ego without costs.

A logged vehicle is inspected through an :class:`~traffic_mpc.sim.scene.EgoScene` made
from the log frame (:func:`scene_from_frame`): the vehicle as the ego, every other logged
vehicle within the view range (:data:`VIEW_RANGE`) as its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from traffic_mpc.road import Road
from traffic_mpc.sim.geometric_costs import COLLISION_NAMES, COST_NAMES, GeometricCosts
from traffic_mpc.sim.geometry import RoadTensors
from traffic_mpc.sim.render import EgoViewRenderer, ViewSpec
from traffic_mpc.sim.scene import EgoScene
from traffic_mpc.sim.world import DEFAULT_VIEW_RANGE
from traffic_mpc.viewer.playback import FrameVehicles

#: Which neighbours an ego sees: (forward, backward, lateral) [m] bounds on their centres in
#: the ego frame — the replay world's view range, so that a logged vehicle's costs here are
#: the costs the world computes for it.
VIEW_RANGE = DEFAULT_VIEW_RANGE
#: Event names of the collision flags (ahead, behind, side), in their order.
COLLISION_EVENTS = tuple(f"collision-{name}" for name in COLLISION_NAMES)


def ego_events(collision, off_road: bool) -> set[str]:
    """The events of an ego: ``collision`` flags ``(3,)`` (ahead, behind, side) as
    :data:`COLLISION_EVENTS` names, and ``off_road`` if it is off the road."""
    events = {name for name, hit in zip(COLLISION_EVENTS, collision) if hit}
    if off_road:
        events.add("off_road")
    return events


@dataclass
class Inspection:
    """One ego at one step: ``ego_view`` ``(C, H, W)`` in [0, 1] or None; ``costs`` by name
    (:data:`~traffic_mpc.sim.geometric_costs.COST_NAMES`) in [0, 1] or None; ``events``:
    names among ``collision-ahead``, ``collision-behind``, ``collision-side``, ``off_road``
    (:func:`ego_events`)."""

    ego_view: np.ndarray | None = None
    costs: dict[str, float] | None = None
    events: set[str] = field(default_factory=set)


def scene_from_frame(
    frame: FrameVehicles,
    ego_pose: tuple[float, float, float],
    ego_speed: float,
    ego_size: tuple[float, float],
    exclude_id: int | None = None,
    view_range: tuple[float, float, float] = VIEW_RANGE,
) -> EgoScene:
    """A batch-1 scene: an ego at ``ego_pose`` (x, y [m], heading [rad]) with ``ego_speed``
    [m/s] and ``ego_size`` (length, width [m]) among the vehicles of ``frame`` whose centres
    lie within ``view_range`` (forward, backward, lateral [m]) of it, leaving out
    ``exclude_id`` (the ego's own logged counterpart)."""
    forward, backward, lateral = view_range
    dx, dy = frame.x - ego_pose[0], frame.y - ego_pose[1]
    cos, sin = np.cos(ego_pose[2]), np.sin(ego_pose[2])
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    near = (u <= forward) & (u >= -backward) & (np.abs(v) <= lateral)
    if exclude_id is not None:
        near &= frame.vehicle_id != exclude_id
    pick = np.flatnonzero(near)

    def tensor(values, dtype=torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values), dtype=dtype)

    return EgoScene(
        ego_pose=tensor([ego_pose]),
        ego_speed=tensor([ego_speed]),
        ego_size=tensor([ego_size]),
        others_pose=tensor(np.stack([frame.x[pick], frame.y[pick], frame.heading[pick]],
                                    axis=-1)[None]).reshape(1, len(pick), 3),
        others_size=tensor(np.stack([frame.length[pick], frame.width[pick]],
                                    axis=-1)[None]).reshape(1, len(pick), 2),
        others_speed=tensor(frame.speed[pick][None]),
        others_valid=torch.ones(1, len(pick), dtype=torch.bool),
        others_id=tensor(frame.vehicle_id[pick][None], torch.int64),
    )


class EgoInspector:
    """Ego views, costs and events of batch-1 scenes on one road (see the module doc)."""

    def __init__(self, road: Road) -> None:
        self.road = road
        self.view_note = "renderer not available"
        self.cost_note = "cost terms not available"
        self.view_failure: str | None = None
        self._renderer: EgoViewRenderer | None = EgoViewRenderer(road, ViewSpec(), "cpu")
        self.view_spec = self._renderer.spec
        self._costs = GeometricCosts(RoadTensors.from_road(road))

    @property
    def has_renderer(self) -> bool:
        return self._renderer is not None

    @torch.no_grad()
    def ego_view(self, scene: EgoScene) -> np.ndarray | None:
        """The ego view ``(C, H, W)`` of the single ego of ``scene``; None without a renderer
        or when the renderer fails on this scene — then :attr:`view_failure` says why and
        the panel shows it, instead of the viewer stopping mid-session."""
        self.view_failure = None
        if self._renderer is None:
            return None
        try:
            return self._renderer.render(scene)[0].numpy()
        except (IndexError, RuntimeError, ValueError) as error:
            self.view_failure = f"renderer failed: {type(error).__name__}: {error}"
            return None

    @torch.no_grad()
    def inspect(self, scene: EgoScene) -> Inspection:
        """Ego view, costs and events of the single ego of ``scene``."""
        result = Inspection()
        result.ego_view = self.ego_view(scene)
        costs, collision = self._costs.costs_and_collisions(scene)
        result.costs = dict(zip(COST_NAMES, costs[0].tolist()))
        x, y = float(scene.ego_pose[0, 0]), float(scene.ego_pose[0, 1])
        result.events = ego_events(collision[0].tolist(), bool(self.road.is_off_road(x, y)))
        return result

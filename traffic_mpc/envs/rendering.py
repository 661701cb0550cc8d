"""``render_mode="rgb_array"``: a picture of one ego's episode, for videos.

The frame stacks, top to bottom:

1. a top-down view (:func:`traffic_mpc.sim.top_down.render_top_down`) of the whole road
   width, ``behind`` metres behind the ego to ``ahead`` metres ahead of it, at ``scale``
   px/m: the logged vehicles at the ego's frame (without the ego's own logged vehicle, as
   the ego sees them) and the ego highlighted. Vehicles of the ego's scene (its nearest,
   in reactive traffic at their reactive poses) are drawn where the scene has them;
   farther ones at their logged poses.
2. the ego view the agent gets, turned so that the ego drives to the right (as in the
   top-down view) and scaled to the same metres per pixel, channels composited in
   :data:`CHANNEL_COLOURS`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from traffic_mpc.sim.render import ViewSpec
from traffic_mpc.sim.scene import EgoScene
from traffic_mpc.sim.top_down import render_top_down
from traffic_mpc.sim.world import ReplayWorld

#: RGB of each ego-view channel, composited in this order (alpha = the channel's value).
CHANNEL_COLOURS = {
    "off_road": (40, 70, 40),
    "lanes": (235, 235, 235),
    "vehicles": (240, 190, 30),
    "ego": (40, 120, 255),
}
BACKGROUND = (90, 90, 90)


def rgb_frame(world: ReplayWorld, ego: int, scene: EgoScene, view: np.ndarray, spec: ViewSpec,
              top_down: dict) -> np.ndarray:
    """The frame of ego ``ego`` of ``world`` (its scene ``scene``, batch of the world) with
    its ego view ``view`` ``uint8 (C, H, W)``: ``(height, width, 3)`` ``uint8`` RGB."""
    road_view = _top_down(world, ego, scene, top_down)
    ego_view = _ego_view_picture(view, spec, top_down["scale"])
    width = max(road_view.shape[1], ego_view.shape[1])
    return np.concatenate([_pad_width(road_view, width), _pad_width(ego_view, width)], axis=0)


def _top_down(world: ReplayWorld, ego: int, scene: EgoScene, top_down: dict) -> np.ndarray:
    traffic = world.traffic
    row = int(world.frame[ego]) - traffic.first_frame
    slots = torch.nonzero(traffic.valid[row]).reshape(-1)
    index = traffic.vehicle[row, slots]
    ids = traffic.vehicle_ids[index]
    shown = scene.others_valid[ego]
    scene_ids = scene.others_id[ego][shown]
    # The ego's logged vehicle is not in its episode; scene vehicles are drawn from the scene.
    keep = (ids != world.vehicle_ids[ego]) & ~torch.isin(ids, scene_ids)
    state = traffic.state[row, slots[keep]]
    poses = torch.cat([state[:, :3], scene.others_pose[ego][shown], scene.ego_pose[ego, None]])
    sizes = torch.cat([traffic.vehicle_size[index[keep]], scene.others_size[ego][shown],
                       scene.ego_size[ego, None]])
    speeds = torch.cat([state[:, 3], scene.others_speed[ego][shown], scene.ego_speed[ego, None]])
    highlight = np.zeros(len(poses), dtype=bool)
    highlight[-1] = True
    x = float(scene.ego_pose[ego, 0])
    return render_top_down(
        world.road, poses.detach().cpu().double().numpy(),
        sizes.detach().cpu().double().numpy(), speeds.detach().cpu().double().numpy(),
        highlight=highlight, scale=top_down["scale"],
        window=(x - top_down["behind"], x + top_down["ahead"]))


def _ego_view_picture(view: np.ndarray, spec: ViewSpec, scale: float) -> np.ndarray:
    """``uint8 (C, H, W)`` ego view -> RGB, front to the right, left up, ``scale`` px/m."""
    alpha = view.astype(np.float32) / 255.0
    image = np.empty((*view.shape[1:], 3), np.float32)
    image[:] = BACKGROUND
    for name, colour in CHANNEL_COLOURS.items():
        if name in spec.channels:
            a = alpha[spec.channel_index(name)][..., None]
            image = image * (1 - a) + np.asarray(colour, np.float32) * a
    # Row 0 is the front, column 0 the left: the front goes to the right, the left up.
    image = np.ascontiguousarray(image.transpose(1, 0, 2)[:, ::-1])
    size = (max(1, round(spec.height * spec.pixel_size * scale)),
            max(1, round(spec.width * spec.pixel_size * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
    return np.round(image).clip(0, 255).astype(np.uint8)


def _pad_width(image: np.ndarray, width: int) -> np.ndarray:
    if image.shape[1] == width:
        return image
    pad = np.zeros((image.shape[0], width - image.shape[1], 3), np.uint8)
    return np.concatenate([image, pad], axis=1)

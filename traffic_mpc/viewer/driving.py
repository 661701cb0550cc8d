"""Driving the selected vehicle through the replay world: by hand (arrow keys) or by an agent.

An :class:`Episode` is one ego of a batch-1 :class:`~traffic_mpc.sim.world.ReplayWorld`:
the selected vehicle is taken over at the frame shown, follows its log for the world's
warm-up (``ncond`` steps, 2 s), and is then driven by its driver until the world ends the
episode (collision, off road, arrived, end of log). The world, never the viewer, decides
the ego's motion, costs, collisions and why the episode ended, so what is shown is what an
evaluation would measure.

Every step is kept (:class:`EpisodeStep`), so after — or during — an episode one can step
back and forth through it; the viewer's playback drives :meth:`Episode.advance_to`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pygame
import torch

from traffic_mpc.evaluate.agents import Agent, Observation, agent_name, clip_actions, make_agent
from traffic_mpc.sim import kinematics
from traffic_mpc.sim.top_down import vehicle_corners
from traffic_mpc.viewer import draw
from traffic_mpc.viewer.inspect import ego_events

if TYPE_CHECKING:
    from traffic_mpc.sim.world import ReplayWorld
    from traffic_mpc.viewer.app import EgoStatus, Viewer


class EpisodeUnavailable(Exception):
    """The selected vehicle cannot be taken over here (the message says why)."""


# ----------------------------------------------------------------------- manual
class ManualControls:
    """Arrow keys to an action, for a person trying the task at 10 steps per second.

    Up accelerates at :attr:`ACCELERATION`, Down brakes at :attr:`BRAKING`, neither keeps
    the speed. Left / Right move the car sideways: while one is held the heading is steered
    towards the one that drifts the car across the road at :attr:`LATERAL_SPEED` (at most
    :attr:`MAX_HEADING` off the road's direction); released, towards the road's direction
    again — with time constant :attr:`STEERING_TIME` either way. So holding Left for about
    three seconds changes one lane, and a tap nudges the car, without counter-steering.
    Actions are clipped to the action space of :mod:`~traffic_mpc.sim.kinematics`.
    """

    ACCELERATION = 2.0  # m/s²
    BRAKING = 4.0  # m/s²
    LATERAL_SPEED = 1.2  # m/s
    MAX_HEADING = 0.3  # rad
    STEERING_TIME = 0.4  # s

    def __init__(self) -> None:
        self.held: set[int] = set()

    def action(self, state: torch.Tensor) -> tuple[float, float]:
        """``(acceleration [m/s²], curvature [1/m])`` for an ego state (x, y, heading, speed)."""
        heading, speed = float(state[2]), float(state[3])
        acceleration = 0.0
        if pygame.K_UP in self.held:
            acceleration += self.ACCELERATION
        if pygame.K_DOWN in self.held:
            acceleration -= self.BRAKING
        steer = (pygame.K_LEFT in self.held) - (pygame.K_RIGHT in self.held)
        target = steer * min(math.atan2(self.LATERAL_SPEED, max(speed, 0.1)), self.MAX_HEADING)
        # heading rate (target - heading) / STEERING_TIME = curvature * speed
        curvature = (target - heading) / (self.STEERING_TIME * max(speed, 1.0))
        acceleration = float(np.clip(acceleration, -kinematics.MAX_DECELERATION,
                                     kinematics.MAX_ACCELERATION))
        curvature = float(np.clip(curvature, -kinematics.MAX_CURVATURE, kinematics.MAX_CURVATURE))
        return acceleration, curvature


# ---------------------------------------------------------------------- episodes
@dataclass
class EpisodeStep:
    """The ego after one step: what the panels show at that frame."""

    status: EgoStatus
    action: tuple[float, float]
    warmup: bool
    distance: float
    reason: str | None


def reason_text(reason: int) -> str:
    """A termination reason as words (``collision ahead``, ``off road``, ...)."""
    from traffic_mpc.sim.world import TerminationReason

    return TerminationReason(int(reason)).name.lower().replace("_", " ")


class Episode:
    """One controlled ego in the replay world (see the module docstring).

    ``manual``: driven by the arrow keys; otherwise by ``agent`` (named ``driver``).
    """

    def __init__(self, viewer: Viewer, world: ReplayWorld, vehicle_id: int, start_t: int,
                 manual: bool, agent: Agent | None, driver: str) -> None:
        self.viewer = viewer
        self.world = world
        self.vehicle_id = int(vehicle_id)
        self.start_t = start_t
        self.manual = manual
        self.agent = agent
        self.driver = driver
        self.controls = ManualControls()
        self.finished = False
        self.end_reason: str | None = None
        self.end_t: int | None = None
        self.steps: dict[int, EpisodeStep] = {}
        self._agent_started = False
        self._view: np.ndarray | None = None  # the ego view at the last step
        frame_number = viewer.frames.frame_number(start_t)
        try:
            scene = world.reset([self.vehicle_id], [frame_number])
        except ValueError as error:
            raise EpisodeUnavailable(f"cannot take over: {error}") from None
        costs = world.costs(scene)[0]
        self._record(start_t, scene, world.state[0], (0.0, 0.0), costs,
                     torch.zeros(3, dtype=torch.bool), warmup=True, distance=0.0, reason=0)
        trajectory = viewer.frames.trajectory(self.vehicle_id)
        self.logged_x = trajectory["x"]
        self.logged_y = trajectory["y"]

    # -------------------------------------------------------------------- stepping
    @property
    def last_t(self) -> int:
        return max(self.steps)

    def advance_to(self, t: int) -> None:
        """Step the world until the episode has reached frame index ``t`` or has ended."""
        while not self.finished and self.last_t < t:
            self._step()

    def read_controls(self, held: set[int]) -> None:
        """The keys held now (the viewer's), for manual driving."""
        self.controls.held = set(held)

    def _step(self) -> None:
        world = self.world
        warmup = bool(world.in_warmup[0])
        state = world.state[0]
        if self.manual:
            # During the warm-up the world follows the log and ignores the action.
            action = (0.0, 0.0) if warmup else self.controls.action(state)
        else:
            # An agent sees every step, warm-up included (it may build a context from it).
            action = self._agent_action()
        result = world.step(torch.tensor([action], dtype=world.dtype))
        t = self.last_t + 1
        reason = int(result.reason[0])
        applied = tuple(float(value) for value in result.action[0])
        self._record(t, world.scene(), result.state[0], applied, result.costs[0],
                     result.collision[0], warmup=bool(result.warmup[0]),
                     distance=float(result.distance[0]), reason=reason)
        if bool(result.done[0]):
            self.finished = True
            self.end_t = t
            self.end_reason = reason_text(reason)
            self.viewer.on_episode_end(self)

    def _agent_action(self) -> tuple[float, float]:
        observation = self.observation()
        if not self._agent_started:
            self._agent_started = True
            self.agent.reset(torch.ones(1, dtype=torch.bool))
        with torch.no_grad():
            actions = torch.as_tensor(self.agent.act(observation)).reshape(-1, 2)
        if getattr(self.agent, "bounded_actions", True):
            actions = clip_actions(actions)
        return float(actions[0, 0]), float(actions[0, 1])

    def observation(self) -> Observation:
        """The agent's observation of the ego now (the evaluator's :class:`Observation`)."""
        world = self.world
        scene = world.scene()
        view, channels = None, None
        if getattr(self.agent, "needs_views", False) and self._view is not None:
            view = torch.as_tensor(self._view, dtype=world.dtype)[None]
            channels = tuple(self.viewer.inspector.view_spec.channels)
        return Observation(
            ego_state=world.state.clone(),
            ego_size=scene.ego_size,
            scene=scene,
            frame=world.frame.clone(),
            steps=torch.tensor([self.last_t - self.start_t]),
            in_warmup=world.in_warmup.clone(),
            done=world.done.clone(),
            road=world.road,
            road_tensors=world.road_tensors,
            dt=world.dt,
            ego_view=view,
            view_channels=channels,
        )

    def _record(self, t: int, scene, state: torch.Tensor, action: tuple[float, float],
                costs: torch.Tensor, collision: torch.Tensor, warmup: bool, distance: float,
                reason: int) -> None:
        from traffic_mpc.sim.geometric_costs import COST_NAMES
        from traffic_mpc.sim.world import TerminationReason
        from traffic_mpc.viewer.app import EgoStatus

        viewer = self.viewer
        view = self._view = viewer.inspector.ego_view(scene)
        x, y, heading, speed = (float(value) for value in state[:4])
        length, width = (float(value) for value in scene.ego_size[0])
        events = ego_events(collision.tolist(), reason == TerminationReason.OFF_ROAD)
        status = EgoStatus(
            vehicle_id=self.vehicle_id, x=x, y=y, heading=heading, speed=speed,
            acceleration=action[0], length=length, width=width,
            lane=int(viewer.road.lane_at(x, y)),
            driver="log (warm-up)" if warmup else self.driver,
            ego_view=view,
            costs=dict(zip(COST_NAMES, (float(c) for c in costs))),
            events=events,
            view_note=viewer.inspector.view_failure,
        )
        self.steps[t] = EpisodeStep(status, action, warmup, distance,
                                    reason_text(reason) if reason else None)

    # ---------------------------------------------------------------------- views
    def step_at(self, t: int) -> EpisodeStep | None:
        """The recorded step shown at frame index ``t``: the last one at or before it
        (a finished ego stays where it ended), None before the takeover."""
        if t < self.start_t:
            return None
        return self.steps[min(t, self.last_t)]

    def status_line(self, t: int) -> str:
        step = self.step_at(t)
        ncond = self.world.ncond
        done = t - self.start_t
        if step is None:
            return f"taken over at frame {self.viewer.frames.frame_number(self.start_t)}"
        if step.warmup and not step.reason:
            return f"warm-up {done}/{ncond}: following its log"
        controlled = max(0, min(t, self.last_t) - self.start_t - ncond)
        return f"{self.driver}: {controlled} steps, {step.distance:.0f} m driven"

    def draw_ghost(self, surface: pygame.Surface, camera, t: int) -> None:
        """The logged trajectory (the ghost), the logged box at frame ``t``, and the path
        driven so far."""
        draw.draw_polyline(surface, camera, self.logged_x, self.logged_y, draw.GHOST, 1)
        frame = self.viewer.frames.at(t)
        index = frame.index_of(self.vehicle_id)
        if index is not None:
            one = slice(index, index + 1)
            corners = vehicle_corners(frame.x[one], frame.y[one], frame.heading[one],
                                      frame.length[one], frame.width[one])
            draw.draw_outline(surface, camera, corners, draw.GHOST, width=1)
        last = min(t, self.last_t)
        driven = [self.steps[k].status for k in range(self.start_t, last + 1) if k in self.steps]
        if len(driven) >= 2:
            draw.draw_polyline(surface, camera, np.array([s.x for s in driven]),
                               np.array([s.y for s in driven]), draw.HIGHLIGHT, 2)


# --------------------------------------------------------------------- starting
def replay_world(viewer: Viewer) -> ReplayWorld:
    """The viewer's replay world of the recording shown (built on first use)."""
    if viewer.replay_world is None:
        from traffic_mpc.sim.world import ReplayWorld

        viewer.replay_world = ReplayWorld(viewer.log, viewer.road)
    return viewer.replay_world


def start_episode(viewer: Viewer, vehicle_id: int, manual: bool) -> Episode:
    """Take over ``vehicle_id`` at the frame shown, by hand or by the viewer's agent."""
    if manual:
        agent, driver = None, "you"
    else:
        spec = viewer.agent_spec or "no-action"
        agent = make_agent(spec, world=replay_world(viewer), seed=viewer.seed)
        driver = f"agent {agent_name(agent, spec)}"
    world = replay_world(viewer)
    return Episode(viewer, world, vehicle_id, viewer.t, manual, agent, driver)


def choose_vehicle(viewer: Viewer) -> int | None:
    """A vehicle for an automatic episode at the frame shown: of the moving vehicles on main
    lanes within 40 m past the start of the valid region, the one logged longest from here
    (any vehicle on the road if there is none such)."""
    world = replay_world(viewer)
    frame = viewer.frames.at(viewer.t)
    if not len(frame):
        return None
    start = viewer.road.valid_x[0]
    main_lanes = [lane.id for lane in viewer.road.lanes if lane.kind == "main"]
    candidates = np.flatnonzero((frame.x >= start) & (frame.x <= start + 40.0)
                                & np.isin(frame.lane, main_lanes) & (frame.speed > 1.0))
    if not len(candidates):
        candidates = np.arange(len(frame))
    ids = frame.vehicle_id[candidates]
    _, last = world.vehicle_frames(ids)
    remaining = last - viewer.frames.frame_number(viewer.t)
    best = int(np.argmax(remaining))
    if remaining[best] <= world.ncond:
        return None
    return int(ids[best])


def start_automatic_episode(viewer: Viewer) -> Episode | None:
    """Select a vehicle (:func:`choose_vehicle`) and hand it to the viewer's agent."""
    vehicle = choose_vehicle(viewer)
    if vehicle is None:
        viewer.say("no vehicle to hand to the agent at this frame")
        return None
    viewer.select(vehicle)
    viewer.command_hand_to_agent()
    return viewer.episode

"""Vehicle kinematics: one invertible model shared by the egos and the replayed traffic.

State ``(..., 4)``: x, y [m] of the vehicle centre in the road frame, heading [rad]
(counter-clockwise from +x), speed [m/s]. Action ``(..., 2)``: longitudinal acceleration
[m/s²], curvature [1/m] (positive turns left). One step of ``dt`` seconds, semi-implicit
(the new speed and heading move the car), so that the inverse is exact::

    v' = v + a dt
    theta' = theta + kappa v' dt
    p' = p + v' dt (cos theta', sin theta')

Inverse, from a state and the next position: ``v' = |dp| / dt``, ``theta' = atan2(dp)``,
``a = (v' - v) / dt``, ``kappa = wrap(theta' - theta) / (v' dt)``. A displacement shorter
than :data:`STOPPED_SPEED` ``* dt`` carries no heading information (a stopped car): the
heading is held and ``kappa = 0``; such a step reproduces the next position only to within
twice its (tiny) length.

The kinematic state of a logged vehicle at frame ``t`` comes from its logged centre
positions by backward differences: speed and heading are those of the last displacement
``p_t - p_{t-1}`` (the heading held through stops); at the vehicle's first frame the first
forward difference ``p_{t+1} - p_t`` is used. :func:`logged_states` computes them,
:func:`logged_actions` the actions between consecutive logged states, and
:func:`recover_actions` the actions that replay them; see there for the closed-loop
correction that keeps the replay on the log through stops.

Everything is batched over leading dimensions, differentiable, and works on any device in
float32 or float64. Logged replays are computed in float64 (see :func:`recover_actions`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: Below this speed [m/s] a displacement is position noise: the heading is held.
STOPPED_SPEED = 0.1

#: Acceleration bounds of the action space [m/s²]: the reference clips |a| <= ~6.2 m/s²
#: (REFERENCE.md, "Replay world").
MAX_ACCELERATION = 6.2
MAX_DECELERATION = 6.2
#: Curvature bound of the action space [1/m]: a turning radius of 3.3 m, the tightest a
#: car can physically drive (Waymax's kinematic-infeasibility bound, below).
MAX_CURVATURE = 0.3

#: Kinematic infeasibility bounds (Waymax's): an action beyond them is not physically
#: drivable. Kept for a future kinematic-infeasibility metric; nothing uses them yet, and
#: they never clip.
INFEASIBLE_ACCELERATION = 10.4
INFEASIBLE_CURVATURE = 0.3

#: Action space bounds ``(acceleration, curvature)``: low and high.
ACTION_LOW = (-MAX_DECELERATION, -MAX_CURVATURE)
ACTION_HIGH = (MAX_ACCELERATION, MAX_CURVATURE)

X, Y, HEADING, SPEED = range(4)
ACCELERATION, CURVATURE = range(2)


Array = torch.Tensor | np.ndarray


def _namespace(array: Array):
    """``numpy`` for arrays, ``torch`` for tensors: :func:`step` and :func:`inverse` are
    written once for both (torch for egos and gradients, numpy for fast logged replays)."""
    return np if isinstance(array, np.ndarray) else torch


def wrap_angle(angle: Array) -> Array:
    """Angle wrapped to [-pi, pi)."""
    xp = _namespace(angle)
    return xp.remainder(angle + math.pi, 2 * math.pi) - math.pi


def step(state: Array, action: Array, dt: float) -> Array:
    """One kinematic step: ``(..., 4)`` state and ``(..., 2)`` action -> ``(..., 4)`` state.

    Works on torch tensors (differentiable) and numpy arrays alike.
    """
    xp = _namespace(state)
    speed = state[..., SPEED] + action[..., ACCELERATION] * dt
    heading = state[..., HEADING] + action[..., CURVATURE] * speed * dt
    x = state[..., X] + speed * dt * xp.cos(heading)
    y = state[..., Y] + speed * dt * xp.sin(heading)
    return xp.stack([x, y, heading, speed], -1)


def inverse(state: Array, next_position: Array, dt: float) -> Array:
    """The action that moves ``state`` ``(..., 4)`` to ``next_position`` ``(..., 2)`` [m].

    Returns ``(..., 2)`` (acceleration [m/s²], curvature [1/m]). Exact, except for
    displacements shorter than ``STOPPED_SPEED * dt`` (heading held, zero curvature).
    Works on torch tensors and numpy arrays alike.
    """
    xp = _namespace(state)
    dx = next_position[..., 0] - state[..., X]
    dy = next_position[..., 1] - state[..., Y]
    next_speed = xp.hypot(dx, dy) / dt
    moving = next_speed >= STOPPED_SPEED
    turn = xp.where(moving, wrap_angle(xp.arctan2(dy, dx) - state[..., HEADING]), 0.0)
    acceleration = (next_speed - state[..., SPEED]) / dt
    curvature = turn / xp.where(moving, next_speed * dt, 1.0)
    return xp.stack([acceleration, curvature], -1)


def rollout(initial_state: torch.Tensor, actions: torch.Tensor, dt: float) -> torch.Tensor:
    """States after each of ``T`` actions: ``(..., 4)`` and ``(..., T, 2)`` -> ``(..., T, 4)``.

    The kinematics integrate by cumulative sums (speed from accelerations, heading from
    turns, position from displacements), so the whole rollout is a few vectorised ops.
    """
    speed = initial_state[..., None, SPEED] + torch.cumsum(actions[..., ACCELERATION] * dt, -1)
    turn = actions[..., CURVATURE] * speed * dt
    heading = initial_state[..., None, HEADING] + torch.cumsum(turn, -1)
    x = initial_state[..., None, X] + torch.cumsum(speed * dt * torch.cos(heading), -1)
    y = initial_state[..., None, Y] + torch.cumsum(speed * dt * torch.sin(heading), -1)
    return torch.stack([x, y, heading, speed], dim=-1)


# ------------------------------------------------------------------ logged trajectories
def _starts(valid: np.ndarray, track: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where a track begins and where it continues to the next frame, both ``(T, S)``."""
    same_next = np.zeros_like(valid)
    same_next[:-1] = valid[:-1] & valid[1:] & (track[:-1] == track[1:])
    continues_from_previous = np.zeros_like(valid)
    continues_from_previous[1:] = same_next[:-1]
    return valid & ~continues_from_previous, same_next


def _prepare(
    position: np.ndarray,
    valid: np.ndarray,
    track: np.ndarray | None,
    fallback_heading: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The inputs of :func:`logged_states` with their defaults: positions as float64, the
    fallback heading, then where each track begins and where it continues (:func:`_starts`)."""
    position = np.asarray(position, dtype=np.float64)
    track = np.zeros(valid.shape, dtype=np.int64) if track is None else track
    fallback = np.zeros(valid.shape) if fallback_heading is None else fallback_heading
    return position, fallback, *_starts(valid, track)


def _initial_states(
    position: np.ndarray, fallback_heading: np.ndarray, has_next: np.ndarray, dt: float
) -> np.ndarray:
    """States from the first forward difference at every cell, ``(T, S, 4)`` float64."""
    forward = np.zeros_like(position)
    forward[:-1] = np.where(has_next[:-1, :, None], position[1:] - position[:-1], 0.0)
    speed = np.linalg.norm(forward, axis=-1) / dt
    heading = np.where(
        speed >= STOPPED_SPEED, np.arctan2(forward[..., 1], forward[..., 0]), fallback_heading
    )
    return np.concatenate([position, heading[..., None], speed[..., None]], axis=-1)


def logged_states(
    position: np.ndarray,
    valid: np.ndarray,
    dt: float,
    track: np.ndarray | None = None,
    fallback_heading: np.ndarray | None = None,
) -> np.ndarray:
    """Kinematic states of logged vehicles from their positions (backward differences).

    ``position`` ``(T, S, 2)`` [m] and ``valid`` ``(T, S)`` over frames and vehicle slots;
    ``track`` ``(T, S)`` says which vehicle holds a slot at a frame (two vehicles may follow
    each other in one slot; by default one vehicle per slot); ``fallback_heading`` ``(T, S)``
    [rad] is used for a first frame that has no usable forward difference (default 0).
    Returns ``(T, S, 4)`` float64; invalid cells are 0. Heading is held through stops.
    """
    position, fallback, first, has_next = _prepare(position, valid, track, fallback_heading)
    states = _initial_states(position, fallback, has_next, dt)
    backward = np.zeros_like(position)
    backward[1:] = position[1:] - position[:-1]
    continues = valid & ~first
    speed = np.where(continues, np.linalg.norm(backward, axis=-1) / dt, states[..., SPEED])
    # Heading of the last displacement that was not a stop (or the first state's heading):
    # forward-fill by the frame index of the last informative cell.
    informative = first | (continues & (speed >= STOPPED_SPEED))
    heading_now = np.where(
        first, states[..., HEADING], np.arctan2(backward[..., 1], backward[..., 0])
    )
    frames = np.arange(valid.shape[0])[:, None]
    source = np.maximum.accumulate(np.where(informative, frames, 0), axis=0)
    heading = np.take_along_axis(heading_now, source, axis=0)
    states[..., HEADING] = heading
    states[..., SPEED] = speed
    return np.where(valid[..., None], states, 0.0)


def logged_actions(
    position: np.ndarray,
    valid: np.ndarray,
    dt: float,
    track: np.ndarray | None = None,
    fallback_heading: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Logged states and the actions between consecutive ones: float64 arrays.

    Inputs as for :func:`logged_states`. Returns ``(states (T, S, 4), actions (T, S, 2))``:
    ``states`` are :func:`logged_states`, ``actions[t]`` the :func:`inverse` from
    ``states[t]`` to the logged position at ``t + 1`` (0 at a vehicle's last frame and on
    invalid cells). Replayed open loop they drift through stops (:func:`recover_actions`).
    """
    states = logged_states(position, valid, dt, track, fallback_heading)
    position, _, _, has_next = _prepare(position, valid, track, fallback_heading)
    actions = inverse(states, np.roll(position, -1, axis=0), dt)
    return states, np.where(has_next[..., None], actions, 0.0)


def recover_actions(
    position: np.ndarray,
    valid: np.ndarray,
    dt: float,
    track: np.ndarray | None = None,
    fallback_heading: np.ndarray | None = None,
    closed_loop: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Actions that replay logged positions, and the states they replay: float64 arrays.

    Inputs as for :func:`logged_states`. Returns ``(states (T, S, 4), actions (T, S, 2))``
    with ``step(states[t], actions[t]) == states[t + 1]`` wherever a vehicle continues
    to frame ``t + 1`` (actions are 0 at a vehicle's last frame and on invalid cells);
    ``states`` at a vehicle's first frame is its logged state there.

    ``closed_loop=False``: the actions are the inverse between consecutive *logged* states
    (:func:`logged_actions`), and ``states`` is their open-loop replay. Moving steps are
    exact; every stopped step (heading held) leaves an error of up to twice its length, and
    these errors add up over a long stop.

    ``closed_loop=True`` (the default, used by the replay world): each action is the inverse
    from the *replayed* state to the next logged position, so an error left by a stopped
    step is taken back at the next step and never accumulates: the replay stays within
    ``2 * STOPPED_SPEED * dt`` (2 cm) of the log at every frame. On moving stretches both
    give the same actions.

    Both replay frame by frame with :func:`step` (vectorised over vehicles) in float64, so
    rounding does not accumulate over a recording of thousands of frames.
    """
    position, fallback, first, has_next = _prepare(position, valid, track, fallback_heading)
    if closed_loop:
        start_states = _initial_states(position, fallback, has_next, dt)
        open_loop = None
    else:
        start_states, open_loop = logged_actions(position, valid, dt, track, fallback_heading)
    replayed = np.zeros((*valid.shape, 4))
    actions = np.zeros((*valid.shape, 2))
    state = np.zeros((valid.shape[1], 4))
    for t in range(valid.shape[0]):
        state = np.where(first[t, :, None], start_states[t], state)
        replayed[t] = state
        if t + 1 == valid.shape[0]:
            break
        if open_loop is None:
            action = inverse(state, position[t + 1], dt)
        else:
            action = open_loop[t]
        action = np.where(has_next[t, :, None], action, 0.0)
        actions[t] = action
        state = step(state, action, dt)
    return np.where(valid[..., None], replayed, 0.0), actions

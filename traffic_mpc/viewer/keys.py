"""Key bindings: the one table that both the event handler and the help overlay read.

Each binding maps pygame keys to a command name; :class:`~traffic_mpc.viewer.app.Viewer`
runs a command by calling its method ``command_<name>``. While the selected vehicle is
driven by hand, the arrow keys steer and accelerate it instead (``DRIVING_KEYS``) and
``,`` / ``.`` still step frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame


@dataclass(frozen=True)
class Binding:
    """Keys (pygame key codes), how the help overlay names them, the command, what it does."""

    keys: tuple[int, ...]
    label: str
    command: str
    description: str


BINDINGS: tuple[Binding, ...] = (
    Binding((pygame.K_SPACE,), "Space", "play_pause", "play / pause"),
    Binding((pygame.K_RIGHT, pygame.K_PERIOD), "Right  or  .", "step_forward",
            "step one frame forward (pauses)"),
    Binding((pygame.K_LEFT, pygame.K_COMMA), "Left  or  ,", "step_back",
            "step one frame back (pauses)"),
    Binding((pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS), "+", "faster",
            "play faster (×2)"),
    Binding((pygame.K_MINUS, pygame.K_KP_MINUS), "-", "slower", "play slower (÷2)"),
    Binding((pygame.K_RIGHTBRACKET,), "]  or  wheel up", "zoom_in", "zoom in"),
    Binding((pygame.K_LEFTBRACKET,), "[  or  wheel down", "zoom_out", "zoom out"),
    Binding((pygame.K_0, pygame.K_HOME), "0  or  Home", "fit", "fit the whole road"),
    Binding((pygame.K_a,), "A / D  or  drag", "pan_back", "pan along the road"),
    Binding((pygame.K_d,), "", "pan_forward", ""),
    Binding((pygame.K_w,), "W / S", "pan_up", "scroll the rows"),
    Binding((pygame.K_s,), "", "pan_down", ""),
    Binding((), "click", "", "select a vehicle and follow it"),
    Binding((), "click timeline", "", "jump to a frame (drag to scrub)"),
    Binding((pygame.K_f,), "F", "toggle_follow", "follow the selected vehicle on / off"),
    Binding((pygame.K_ESCAPE,), "Esc", "release", "release the selected vehicle"),
    Binding((pygame.K_t,), "T", "take_over", "drive the selected vehicle yourself"),
    Binding((pygame.K_g,), "G", "hand_to_agent", "hand the selected vehicle to the agent"),
    Binding((), "arrow keys", "", "accelerate, brake, steer (while driving)"),
    Binding((pygame.K_r,), "R", "restart_episode", "restart the episode"),
    Binding((pygame.K_n,), "N", "next_recording", "next recording of the folder"),
    Binding((pygame.K_h, pygame.K_F1), "H", "toggle_help", "show / hide this help"),
    Binding((pygame.K_q,), "Q", "quit", "quit"),
)

#: Keys read as held (not as presses) while a person drives the selected vehicle.
DRIVING_KEYS = (pygame.K_UP, pygame.K_DOWN, pygame.K_LEFT, pygame.K_RIGHT)


def command_for(key: int) -> str | None:
    """The command bound to a pygame key code, or None."""
    return _BY_KEY.get(key)


def help_lines() -> list[tuple[str, str]]:
    """(keys, description) pairs for the help overlay, in table order."""
    lines = []
    for binding in BINDINGS:
        if binding.description:
            lines.append((binding.label, binding.description))
    return lines


_BY_KEY = {key: binding.command for binding in BINDINGS for key in binding.keys}

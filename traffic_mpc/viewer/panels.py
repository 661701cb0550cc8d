"""The side panels: a column of independent panels, each a small object with two methods.

A panel says how tall it wants to be and draws itself into the rectangle it is given; the
column stacks the panels top to bottom under their title bars. Adding a view (e.g. the
sampled futures of a world model) is appending one more panel object to
``Viewer.panels`` — nothing else on the screen moves or changes.

Panels read the viewer's current state (:class:`~traffic_mpc.viewer.app.Viewer`) and never
change it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pygame

from traffic_mpc.viewer import draw

if TYPE_CHECKING:
    from traffic_mpc.viewer.app import Viewer

PANEL_BACKGROUND = (32, 36, 42)
TITLE_BACKGROUND = (46, 52, 62)
TITLE_HEIGHT = 20
PADDING = 8
FLASH = (200, 30, 40)
BAR_BACKGROUND = (54, 58, 66)
#: Cost bar colours from 0 (fast-traffic blue-green) to 1 (stopped red): the speed ramp reversed.
_COST_COLOURS = draw.speed_palette()[::-1]

#: Colour of each ego-view channel when the channels are composed into one image.
CHANNEL_COLOURS: dict[str, tuple[int, int, int]] = {
    "lanes": (170, 170, 160),
    "vehicles": (80, 200, 255),
    "off_road": (150, 70, 40),
    "ego": (255, 64, 255),
}


class Panel(Protocol):
    """What the column needs of a panel."""

    title: str

    def height(self, viewer: Viewer, width: int) -> int:
        """Height [px] of the panel's body (under its title bar) at this width."""

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, viewer: Viewer) -> None:
        """Draw the body into ``rect`` (clipped to it)."""


class PanelColumn:
    """Panels stacked top to bottom in a rectangle; a panel that does not fit is cut."""

    def __init__(self, panels: list[Panel]) -> None:
        self.panels = panels

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, viewer: Viewer) -> None:
        surface.fill(PANEL_BACKGROUND, rect)
        top = rect.top
        for panel in self.panels:
            if top >= rect.bottom:
                break
            title = pygame.Rect(rect.left, top, rect.width, TITLE_HEIGHT)
            surface.fill(TITLE_BACKGROUND, title)
            viewer.text.blit(surface, panel.title, (title.left + PADDING, title.centery),
                             draw.TEXT, "midleft")
            body_height = panel.height(viewer, rect.width)
            body = pygame.Rect(rect.left, title.bottom, rect.width,
                               min(body_height, rect.bottom - title.bottom))
            surface.set_clip(body)
            panel.draw(surface, body, viewer)
            surface.set_clip(None)
            top = body.bottom + 4


# ---------------------------------------------------------------------------- helpers
def draw_bar(surface: pygame.Surface, viewer: Viewer, rect: pygame.Rect, label: str,
             value: float, low: float, high: float, text: str, colour: tuple,
             centred: bool = False) -> None:
    """A labelled horizontal bar: ``value`` in ``[low, high]``; centred bars grow from 0."""
    label_width = 96
    viewer.text.blit(surface, label, (rect.left, rect.centery), draw.TEXT_DIM, "midleft")
    bar = pygame.Rect(rect.left + label_width, rect.top + 3, rect.width - label_width - 70,
                      rect.height - 6)
    surface.fill(BAR_BACKGROUND, bar)
    fraction = (np.clip(value, low, high) - low) / (high - low)
    if centred:
        zero = bar.left + bar.width * (0.0 - low) / (high - low)
        end = bar.left + bar.width * fraction
        filled = pygame.Rect(round(min(zero, end)), bar.top, max(1, round(abs(end - zero))),
                             bar.height)
        surface.fill(colour, filled)
        pygame.draw.line(surface, draw.TEXT_DIM, (round(zero), bar.top - 2),
                         (round(zero), bar.bottom + 1))
    else:
        surface.fill(colour, pygame.Rect(bar.left, bar.top, round(bar.width * fraction),
                                         bar.height))
    viewer.text.blit(surface, text, (rect.right - 4, rect.centery), draw.TEXT, "midright")


def ego_view_image(view: np.ndarray, channels: tuple[str, ...]) -> np.ndarray:
    """Compose an ego view ``(C, H, W)`` in [0, 1] into an RGB image ``(H, W, 3)`` uint8,
    each channel in its colour of :data:`CHANNEL_COLOURS`, added and clipped."""
    image = np.zeros((*view.shape[1:], 3), dtype=np.float32)
    for index, name in enumerate(channels):
        colour = np.asarray(CHANNEL_COLOURS.get(name, (255, 255, 255)), dtype=np.float32)
        image += view[index][..., None] * colour
    return np.clip(image, 0, 255).astype(np.uint8)


def _lines(surface: pygame.Surface, viewer: Viewer, rect: pygame.Rect, top: int,
           rows: list[tuple[str, str]], columns: int = 2) -> int:
    """Key/value pairs in ``columns`` columns from ``top``; returns the next free y."""
    line = viewer.text.line_height
    column_width = (rect.width - 2 * PADDING) // columns
    for index, (key, value) in enumerate(rows):
        x = rect.left + PADDING + (index % columns) * column_width
        y = top + (index // columns) * line
        key_rect = viewer.text.blit(surface, key, (x, y), draw.TEXT_DIM)
        viewer.text.blit(surface, value, (key_rect.right + 6, y), draw.TEXT)
    return top + math.ceil(len(rows) / columns) * line


# ----------------------------------------------------------------------------- panels
class TrafficPanel:
    """The recording shown, and the legend of vehicle colours by speed."""

    title = "Traffic"

    def _ramp(self, palette: np.ndarray, size: tuple[int, int]) -> pygame.Surface:
        """The colour ramp ``(levels, 3)`` stretched to ``size`` (made once per palette)."""
        cached = getattr(self, "_cached", None)
        if cached is None or cached[0] is not palette or cached[1] != size:
            strip = pygame.surfarray.make_surface(np.ascontiguousarray(palette[:, None, :]))
            cached = (palette, size, pygame.transform.scale(strip, size))
            self._cached = cached
        return cached[2]

    def height(self, viewer: Viewer, width: int) -> int:
        return 2 * viewer.text.line_height + 44

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, viewer: Viewer) -> None:
        line = viewer.text.line_height
        top = rect.top + 4
        viewer.text.blit(surface, viewer.recording_label, (rect.left + PADDING, top))
        top += line
        viewer.text.blit(surface, "vehicle colour: speed", (rect.left + PADDING, top),
                         draw.TEXT_DIM)
        top += line + 2
        ramp = pygame.Rect(rect.left + PADDING, top, rect.width - 2 * PADDING, 12)
        surface.blit(self._ramp(viewer.speed_colours.palette, ramp.size), ramp)
        top_speed = viewer.speed_colours.top_speed
        step = 5.0 if top_speed <= 30 else 10.0
        for speed in np.arange(0.0, top_speed + 1e-6, step):
            x = ramp.left + ramp.width * speed / top_speed
            pygame.draw.line(surface, draw.TEXT, (round(x), ramp.bottom),
                             (round(x), ramp.bottom + 3))
            anchor = "topleft" if speed == 0 else "topright" if speed >= top_speed else "midtop"
            viewer.text.blit(surface, f"{speed:.0f}" + (" m/s" if speed >= top_speed else ""),
                             (x, ramp.bottom + 3), draw.TEXT_DIM, anchor)


class EgoPanel:
    """The selected vehicle: its ego view, its state, its cost terms; flashes on events."""

    title = "Selected vehicle"
    #: Enlargement of the ego view on screen.
    SCALE = 3

    def height(self, viewer: Viewer, width: int) -> int:
        line = viewer.text.line_height
        view_height = self._view_size(viewer)[1] if viewer.ego_view_spec else 40
        return 4 + view_height + 26 + 4 * line + 8 + 3 * 18 + 6

    def _view_surface(self, view: np.ndarray, viewer: Viewer,
                      size: tuple[int, int]) -> pygame.Surface:
        """The ego view ``(C, H, W)`` coloured, lying down and enlarged (kept while the same
        view is shown, as it is for the several screen frames of one log frame)."""
        cached = getattr(self, "_cached", None)
        if cached is not None and cached[0] is view and cached[1] == size:
            return cached[2]
        image = ego_view_image(view, viewer.ego_view_spec.channels)
        # Image rows run front to back, columns left to right of the ego; make_surface takes
        # (screen x, screen y): x = rows from back to front, y = columns (left at the top).
        lying = np.ascontiguousarray(image[::-1])
        enlarged = pygame.transform.scale(pygame.surfarray.make_surface(lying), size)
        self._cached = (view, size, enlarged)
        return enlarged

    def _view_size(self, viewer: Viewer) -> tuple[int, int]:
        """On-screen size of the ego view, drawn lying down: forward is to the right."""
        spec = viewer.ego_view_spec
        return spec.height * self.SCALE, spec.width * self.SCALE

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, viewer: Viewer) -> None:
        ego = viewer.ego
        text = viewer.text
        if ego is None:
            text.blit(surface, "click a vehicle to select and follow it",
                      (rect.left + PADDING, rect.top + 8), draw.TEXT_DIM)
            return
        if ego.events and (viewer.blink_phase or viewer.recording):
            surface.fill(FLASH, rect)
        top = rect.top + 4
        # ego view: lying on its side, front to the right like the traffic on the road view
        width, height = self._view_size(viewer) if viewer.ego_view_spec else (rect.width, 40)
        view_rect = pygame.Rect(rect.left + (rect.width - width) // 2, top, width, height)
        if ego.ego_view is not None:
            surface.blit(self._view_surface(ego.ego_view, viewer, view_rect.size), view_rect)
            pygame.draw.rect(surface, draw.TEXT_DIM, view_rect, 1)
        else:
            pygame.draw.rect(surface, BAR_BACKGROUND, view_rect)
            note = ego.view_note or viewer.ego_view_note
            text.blit(surface, note[:60], view_rect.center, draw.TEXT_DIM, "center")
        top = view_rect.bottom + 4
        legend_x = rect.left + PADDING
        for name in viewer.ego_view_spec.channels if viewer.ego_view_spec else ():
            pygame.draw.rect(surface, CHANNEL_COLOURS.get(name, (255, 255, 255)),
                             (legend_x, top + 4, 10, 10))
            legend_x = text.blit(surface, name.replace("_", "-"), (legend_x + 14, top),
                                 draw.TEXT_DIM).right + 12
        top += 22
        events = " ".join(event.upper().replace("_", "-") for event in sorted(ego.events))
        header = f"vehicle {ego.vehicle_id}  ·  {ego.driver}"
        text.blit(surface, header, (rect.left + PADDING, top), draw.TEXT)
        if events:
            text.blit(surface, events, (rect.right - PADDING, top), (255, 210, 210), "topright")
        top += text.line_height
        rows = [
            ("speed", f"{ego.speed:5.1f} m/s  {ego.speed * 3.6:4.0f} km/h"),
            ("accel.", f"{ego.acceleration:+5.2f} m/s²"),
            ("heading", f"{math.degrees(ego.heading):+5.1f}°"),
            ("lane", "off road" if ego.lane == 0 else str(ego.lane)),
            ("x, y", f"{ego.x:6.1f}, {ego.y:5.1f} m"),
            ("size", f"{ego.length:.1f} × {ego.width:.1f} m"),
        ]
        top = _lines(surface, viewer, rect, top, rows) + 6
        if ego.costs is None:
            text.blit(surface, viewer.cost_note, (rect.left + PADDING, top), draw.TEXT_DIM)
            return
        for name in ("proximity", "lane", "off_road"):
            value = float(ego.costs.get(name, 0.0))
            colour = _COST_COLOURS[int(np.clip(value, 0, 1) * (len(_COST_COLOURS) - 1))].tolist()
            draw_bar(surface, viewer, pygame.Rect(rect.left + PADDING, top,
                                                  rect.width - 2 * PADDING, 18),
                     name.replace("_", "-") + " cost", value, 0.0, 1.0, f"{value:.2f}", colour)
            top += 18


class DriverPanel:
    """Who drives the selected vehicle, its actions, and how its episode stands or ended."""

    title = "Driver"

    def height(self, viewer: Viewer, width: int) -> int:
        return 3 * viewer.text.line_height + 2 * 18 + 14

    def draw(self, surface: pygame.Surface, rect: pygame.Rect, viewer: Viewer) -> None:
        text = viewer.text
        top = rect.top + 4
        episode = viewer.episode
        if episode is None:
            message = viewer.driver_note
            text.blit(surface, message, (rect.left + PADDING, top), draw.TEXT_DIM)
            top += text.line_height
            text.blit(surface, f"agent: {viewer.agent_name}", (rect.left + PADDING, top),
                      draw.TEXT_DIM)
            return
        step = viewer.episode_step
        status = episode.status_line(viewer.t)
        text.blit(surface, status, (rect.left + PADDING, top), draw.TEXT)
        top += text.line_height
        if step is not None and step.reason:
            text.blit(surface, f"episode ended: {step.reason}", (rect.left + PADDING, top),
                      (255, 190, 120))
        elif step is None:
            text.blit(surface, "before the takeover: the log drives", (rect.left + PADDING, top),
                      draw.TEXT_DIM)
        top += text.line_height + 2
        acceleration, curvature = step.action if step is not None else (0.0, 0.0)
        bar = pygame.Rect(rect.left + PADDING, top, rect.width - 2 * PADDING, 18)
        draw_bar(surface, viewer, bar, "acceleration", acceleration, -6.0, 6.0,
                 f"{acceleration:+.2f} m/s²", (120, 190, 255), centred=True)
        bar = bar.move(0, 18)
        draw_bar(surface, viewer, bar, "curvature", curvature, -0.02, 0.02,
                 f"{curvature * 1000:+.1f} /km", (255, 200, 90), centred=True)

"""The viewer: its state, event handling, drawing, and the ``traffic-mpc view`` entry point.

Screen (default 1280 × 720): a HUD bar across the top left, the wrapped road view under it
(:mod:`traffic_mpc.viewer.camera` says why the road is wrapped into rows), a timeline of the
log at the bottom (:mod:`traffic_mpc.viewer.timeline`), and on the right a column of panels
(:mod:`traffic_mpc.viewer.panels`): traffic legend, selected vehicle, driver. A new view
(e.g. a world model's sampled futures) is one more panel appended to :attr:`Viewer.panels`.

Time: the log advances in whole frames of ``dt`` seconds; :meth:`Viewer.update` turns
wall-clock time × playback speed into frame steps, independently of how often the screen
is drawn; :meth:`Viewer.draw` draws the current state and changes nothing but the camera
(which follows the selected vehicle). Headless runs (``frames``) draw one log frame per
video frame, off-screen (no window, no display driver).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pygame

from traffic_mpc.errors import InputError
from traffic_mpc.logs.default_traffic import default_traffic
from traffic_mpc.logs.traffic_log import TrafficLog
from traffic_mpc.road import Road
from traffic_mpc.sim.top_down import vehicle_corners
from traffic_mpc.torch_threads import torch_threads
from traffic_mpc.video import VideoRecorder
from traffic_mpc.viewer import draw, keys
from traffic_mpc.viewer.camera import ROW_MARGIN, WrappedCamera
from traffic_mpc.viewer.inspect import EgoInspector, Inspection, scene_from_frame
from traffic_mpc.viewer.panels import DriverPanel, EgoPanel, Panel, PanelColumn, TrafficPanel
from traffic_mpc.viewer.playback import TrafficFrames
from traffic_mpc.viewer.record import surface_rgb
from traffic_mpc.viewer.timeline import Timeline

if TYPE_CHECKING:
    from traffic_mpc.viewer.driving import Episode, EpisodeStep

#: Default window size [px].
SCREEN_SIZE = (1280, 720)
#: Width of the panel column [px].
PANEL_WIDTH = 384
#: Height of the HUD bar [px].
HUD_HEIGHT = 26
#: Height of the timeline under the road view [px].
TIMELINE_HEIGHT = 30
#: Playback speeds offered by +/-.
PLAYBACK_SPEEDS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
#: Display frame rate of the interactive window [1/s].
DISPLAY_FPS = 60
#: Zoom factor of one wheel notch or one [ / ] press.
ZOOM_STEP = 1.25
#: Pan of one A/D/W/S press, as a fraction of the view.
PAN_STEP = 0.2
#: Mouse travel [px] below which a press-and-release is a click, not a drag.
CLICK_TOLERANCE = 4


@dataclass
class EgoStatus:
    """The selected vehicle at the current frame, as the ego panel shows it.

    ``x, y`` [m], ``heading`` [rad], ``speed`` [m/s], ``acceleration`` [m/s²],
    ``length, width`` [m], ``lane`` id (0 off the road); ``driver`` says who drives it.
    """

    vehicle_id: int
    x: float
    y: float
    heading: float
    speed: float
    acceleration: float
    length: float
    width: float
    lane: int
    driver: str = "log"
    ego_view: np.ndarray | None = None
    costs: dict[str, float] | None = None
    events: set[str] = field(default_factory=set)
    view_note: str | None = None  # why there is no ego view, when the renderer failed


class Viewer:
    """Everything on screen: the recordings, the current frame, camera, selection, panels.

    ``recordings``: (log, road) pairs (the first is shown; N shows the next);
    ``size``: screen size [px]; ``agent_spec``: the agent that G hands a vehicle to (and
    that drives automatically in headless runs); ``seed``: for agents that sample;
    ``start_frame``: frame index shown first (default: where the road has filled up).

    ``t`` is the frame index shown (0 = the log's first frame); ``ego`` the selected
    vehicle's :class:`EgoStatus` at ``t``; ``episode`` the
    :class:`~traffic_mpc.viewer.driving.Episode` driving it, if any.
    """

    def __init__(
        self,
        recordings: list[tuple[TrafficLog, Road]],
        *,
        size: tuple[int, int] = SCREEN_SIZE,
        agent_spec: str | None = None,
        seed: int = 0,
        start_frame: int | None = None,
    ) -> None:
        if not recordings:
            raise ValueError("no recordings to view")
        self.recordings = recordings
        self.size = size
        self.seed = seed
        self.agent_spec = agent_spec
        self.agent_name = agent_spec or "none (--agent SPEC)"
        self.text = draw.TextCache(pygame.font.Font(None, 18))
        self.hud_text = draw.TextCache(pygame.font.Font(None, 20))
        self.help_text = draw.TextCache(pygame.font.Font(None, 22))
        self.panels: list[Panel] = [TrafficPanel(), EgoPanel(), DriverPanel()]
        self.panel_column = PanelColumn(self.panels)
        self.playing = False
        self.speed_index = PLAYBACK_SPEEDS.index(1.0)
        self.show_help = False
        self.quit_requested = False
        self.selected: int | None = None
        self.following = True
        self.ego: EgoStatus | None = None
        self.episode: Episode | None = None
        self.driver_note = "replaying the log"
        self.message = ""
        self._message_until = 0.0
        self._clock = 0.0
        self._held: set[int] = set()
        self._press: tuple[int, int] | None = None
        self._dragging = False
        self.recording = False  # set while frames go to a video (flashes are then steady)
        self._open(0, start_frame)

    # ------------------------------------------------------------------ recordings
    def _open(self, index: int, start_frame: int | None = None) -> None:
        self.recording_index = index
        log, road = self.recordings[index]
        self.log, self.road = log, road
        self.frames = TrafficFrames(log)
        self.t = self.frames.busy_frame() if start_frame is None else int(start_frame)
        self.t = int(np.clip(self.t, 0, self.frames.n_frames - 1))
        self.speed_colours = draw.SpeedColours(draw.top_speed_for(self.frames.speed_quantile(0.95)))
        left_width = self.size[0] - PANEL_WIDTH
        view = (0, HUD_HEIGHT, left_width, self.size[1] - HUD_HEIGHT - TIMELINE_HEIGHT)
        self.timeline = Timeline(
            pygame.Rect(0, self.size[1] - TIMELINE_HEIGHT, left_width, TIMELINE_HEIGHT),
            self.frames.vehicles_per_frame)
        y_low, y_high = road.y_range
        self.camera = WrappedCamera(view, y_top=y_high + ROW_MARGIN,
                                    y_bottom=y_low - ROW_MARGIN, x_limits=(0.0, road.length))
        self.fit_road()
        self.road_painter = draw.RoadPainter(road, self.text)
        self.inspector = EgoInspector(road)
        self.ego_view_spec = self.inspector.view_spec
        self.ego_view_note = self.inspector.view_note
        self.cost_note = self.inspector.cost_note
        self.selected = None
        self.episode = None
        self.replay_world = None  # built on the first takeover (traffic_mpc.viewer.driving)
        name = Path(log.source).name if log.source else "log"
        count = f" ({index + 1}/{len(self.recordings)})" if len(self.recordings) > 1 else ""
        self.recording_label = f"{name}{count}  ·  site {road.name}  ·  {log.n_vehicles} vehicles"
        self._refresh_ego()

    def fit_road(self) -> None:
        self.camera.fit(0.0, self.road.length)

    # ---------------------------------------------------------------------- timing
    @property
    def playback_speed(self) -> float:
        return PLAYBACK_SPEEDS[self.speed_index]

    @property
    def blink_phase(self) -> bool:
        """Alternates 4 times a second: drives the collision / off-road flash."""
        return int(time.monotonic() * 8) % 2 == 0

    def update(self, seconds: float) -> None:
        """Advance by ``seconds`` of wall-clock time at the playback speed (if playing)."""
        if self.episode is not None:
            self.episode.read_controls(self._held)
        if not self.playing:
            self._clock = 0.0
            return
        self._clock += seconds * self.playback_speed
        steps = int(self._clock / self.frames.dt + 1e-6)  # 60 × 1/60 s is one whole second
        self._clock -= steps * self.frames.dt
        for _ in range(min(steps, 64)):
            if not self.step(+1):
                self.playing = False
                break

    def step(self, direction: int) -> bool:
        """One frame forward (+1) or back (-1); False at either end of the log.

        A running episode is stepped in the replay world when the frame moves past its
        last step; stepping back shows its recorded steps."""
        target = self.t + direction
        if not 0 <= target < self.frames.n_frames:
            return False
        self.t = target
        if self.episode is not None and direction > 0:
            self.episode.advance_to(target)
        self._refresh_ego()
        return True

    def on_episode_end(self, episode: Episode) -> None:
        """Called by an episode when the world ends it: pause (interactive) and say why."""
        if not self.recording:
            self.playing = False
        self.say(f"episode ended: {episode.end_reason}  (R restarts, Esc releases)", 6.0)

    def seek(self, t: int) -> None:
        """Show frame index ``t`` (a running episode is stepped up to it if it lies ahead)."""
        t = int(np.clip(t, 0, self.frames.n_frames - 1))
        self.playing = False
        self.t = t
        if self.episode is not None:
            self.episode.advance_to(t)
        self._refresh_ego()

    def say(self, message: str, seconds: float = 3.0) -> None:
        """Show a one-line message at the bottom of the road view for a while."""
        self.message = message
        self._message_until = time.monotonic() + seconds

    # ---------------------------------------------------------------------- events
    def handle_event(self, event: pygame.event.Event) -> None:
        """React to one pygame event (keys, mouse, window close)."""
        if event.type == pygame.QUIT:
            self.quit_requested = True
        elif event.type == pygame.KEYDOWN:
            self._held.add(event.key)
            driving = self.episode is not None and self.episode.manual and not \
                self.episode.finished
            if driving and event.key in keys.DRIVING_KEYS:
                return
            command = keys.command_for(event.key)
            if command:
                getattr(self, f"command_{command}")()
        elif event.type == pygame.KEYUP:
            self._held.discard(event.key)
        elif event.type == pygame.MOUSEWHEEL:
            x, y = pygame.mouse.get_pos()
            self.camera.zoom_at(ZOOM_STEP ** event.y, x, y)
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            self._press = event.pos
            self._dragging = False
            if self.timeline.rect.collidepoint(event.pos):
                self.seek(self.timeline.frame_at(event.pos[0]))
            else:
                self.click(*event.pos)
        elif event.type == pygame.MOUSEMOTION and self._press is not None:
            if self.timeline.rect.collidepoint(self._press):  # scrubbing the timeline
                self.seek(self.timeline.frame_at(event.pos[0]))
                return
            moved = math.dist(event.pos, self._press)
            if self._dragging or moved > CLICK_TOLERANCE:
                self._dragging = True
                self.following = False  # the person looks elsewhere: F follows again
                self.camera.pan(*event.rel)
        elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
            self._press = None
            self._dragging = False

    def click(self, sx: int, sy: int) -> None:
        """Select (and follow) the vehicle under a screen pixel, if any."""
        point = self.camera.to_road(sx, sy)
        if point is None:
            return
        vehicle = self.frames.at(self.t).vehicle_under(*point)
        if vehicle is None and self.episode is not None and self.ego is not None:
            status = self.ego
            if math.hypot(point[0] - status.x, point[1] - status.y) < status.length / 2:
                vehicle = status.vehicle_id
        if vehicle is not None:
            self.select(vehicle)

    def select(self, vehicle_id: int | None) -> None:
        """Select a vehicle by id (None releases); a running episode of another ends."""
        if self.episode is not None and vehicle_id != self.episode.vehicle_id:
            self.episode = None
        self.selected = vehicle_id
        self.following = vehicle_id is not None
        self._refresh_ego()

    # ------------------------------------------------------------------- commands
    def command_play_pause(self) -> None:
        self.playing = not self.playing

    def command_step_forward(self) -> None:
        self.playing = False
        self.step(+1)

    def command_step_back(self) -> None:
        self.playing = False
        self.step(-1)

    def command_faster(self) -> None:
        self.speed_index = min(self.speed_index + 1, len(PLAYBACK_SPEEDS) - 1)

    def command_slower(self) -> None:
        self.speed_index = max(self.speed_index - 1, 0)

    def _zoom_centre(self, factor: float) -> None:
        left, top, width, height = self.camera.view
        if self.ego is not None:
            sx, sy = self.camera.to_screen(self.ego.x, self.ego.y)
            sx, sy = float(sx), float(sy)
        else:
            sx, sy = left + width / 2, top + height / 2
        self.camera.zoom_at(factor, sx, sy)

    def command_zoom_in(self) -> None:
        self._zoom_centre(ZOOM_STEP)

    def command_zoom_out(self) -> None:
        self._zoom_centre(1 / ZOOM_STEP)

    def command_fit(self) -> None:
        self.fit_road()

    def command_pan_back(self) -> None:
        self.camera.pan(PAN_STEP * self.camera.view[2], 0)
        self.following = False

    def command_pan_forward(self) -> None:
        self.camera.pan(-PAN_STEP * self.camera.view[2], 0)
        self.following = False

    def command_pan_up(self) -> None:
        self.camera.pan(0, PAN_STEP * self.camera.view[3])

    def command_pan_down(self) -> None:
        self.camera.pan(0, -PAN_STEP * self.camera.view[3])

    def command_toggle_follow(self) -> None:
        self.following = not self.following and self.selected is not None

    def command_release(self) -> None:
        if self.show_help:
            self.show_help = False
            return
        self.select(None)

    def command_take_over(self) -> None:
        self._start_episode(manual=True)

    def command_hand_to_agent(self) -> None:
        self._start_episode(manual=False)

    def command_restart_episode(self) -> None:
        if self.episode is None:
            self.say("no episode to restart: select a vehicle and press T or G")
            return
        manual = self.episode.manual
        self.t = self.episode.start_t
        self.episode = None
        self.playing = False
        self._start_episode(manual=manual)

    def command_next_recording(self) -> None:
        self._open((self.recording_index + 1) % len(self.recordings))

    def command_toggle_help(self) -> None:
        self.show_help = not self.show_help

    def command_quit(self) -> None:
        self.quit_requested = True

    def _start_episode(self, manual: bool) -> None:
        if self.selected is None:
            self.say("select a vehicle first (click it)")
            return
        from traffic_mpc.viewer import driving

        try:
            self.episode = driving.start_episode(self, self.selected, manual=manual)
        except driving.EpisodeUnavailable as reason:
            self.episode = None
            self.say(str(reason))
            return
        if manual:
            self.say("you drive: Up/Down accelerate and brake, Left/Right steer", 5.0)
        self.playing = not self.recording
        self._refresh_ego()

    # --------------------------------------------------------------------- state
    @property
    def episode_step(self) -> EpisodeStep | None:
        """The running episode's step at the frame shown (None without one or before it)."""
        return None if self.episode is None else self.episode.step_at(self.t)

    def _refresh_ego(self) -> None:
        """Recompute the selected vehicle's status for the current frame."""
        self.ego = None
        if self.selected is None:
            return
        step = self.episode_step
        if step is not None:
            self.ego = step.status
            return
        frame = self.frames.at(self.t)
        index = frame.index_of(self.selected)
        if index is None:
            return
        pose = (float(frame.x[index]), float(frame.y[index]), float(frame.heading[index]))
        speed = float(frame.speed[index])
        size = (float(frame.length[index]), float(frame.width[index]))
        scene = scene_from_frame(frame, pose, speed, size, exclude_id=self.selected)
        inspection: Inspection = self.inspector.inspect(scene)
        self.ego = EgoStatus(
            vehicle_id=self.selected, x=pose[0], y=pose[1], heading=pose[2], speed=speed,
            acceleration=float(frame.acceleration[index]), length=size[0], width=size[1],
            lane=int(frame.lane[index]), driver="log", ego_view=inspection.ego_view,
            costs=inspection.costs, events=inspection.events,
            view_note=self.inspector.view_failure,
        )

    # ---------------------------------------------------------------------- draw
    def draw(self, surface: pygame.Surface) -> None:
        """Draw the current state onto ``surface`` (of :attr:`size`)."""
        camera = self.camera
        if self.following and self.ego is not None and not camera.shows_whole(
                0.0, self.road.length):
            camera.follow(self.ego.x)
        surface.fill(draw.BACKGROUND)
        self.road_painter.draw(surface, camera)
        frame = self.frames.at(self.t)
        controlled = self.episode_step is not None
        if self.episode is not None:
            self.episode.draw_ghost(surface, camera, self.t)
        if controlled:
            frame = frame.without(self.episode.vehicle_id)
        corners = vehicle_corners(frame.x, frame.y, frame.heading, frame.length, frame.width)
        draw.draw_vehicles(surface, camera, corners, self.speed_colours.colours(frame.speed))
        ego = self.ego
        if ego is not None:
            ego_corners = vehicle_corners(
                np.array([ego.x]), np.array([ego.y]), np.array([ego.heading]),
                np.array([ego.length]), np.array([ego.width]))
            if controlled:
                draw.draw_vehicles(surface, camera, ego_corners,
                                   self.speed_colours.colours(np.array([ego.speed])))
            flash = ego.events and (self.blink_phase or self.recording)
            draw.draw_outline(surface, camera, ego_corners,
                              draw.EVENT_FLASH if flash else draw.HIGHLIGHT, width=2, grow=3.0)
        self._draw_hud(surface)
        self.timeline.draw(surface, self.t, self.episode)
        panel_rect = pygame.Rect(self.size[0] - PANEL_WIDTH, 0, PANEL_WIDTH, self.size[1])
        self.panel_column.draw(surface, panel_rect, self)
        if self.message and time.monotonic() < self._message_until:
            left, top, width, height = camera.view
            self.hud_text.blit(surface, self.message, (left + width / 2, top + height - 8),
                               (255, 220, 120), "midbottom")
        if self.show_help:
            self._draw_help(surface)

    def _draw_hud(self, surface: pygame.Surface) -> None:
        bar = pygame.Rect(0, 0, self.size[0] - PANEL_WIDTH, HUD_HEIGHT)
        surface.fill((16, 18, 22), bar)
        frames = self.frames
        state = "recording" if self.recording else "playing" if self.playing else "paused"
        items = [
            f"t {frames.time(self.t):7.1f} s",
            f"frame {frames.frame_number(self.t)}  ({self.t + 1}/{frames.n_frames})",
            f"vehicles {int(frames.vehicles_per_frame[self.t])}",
            f"{state} ×{self.playback_speed:g}",
            f"zoom {self.camera.zoom:.1f} px/m",
        ]
        x = 8
        for item in items:
            x = self.hud_text.blit(surface, item, (x, bar.centery), draw.TEXT, "midleft").right
            x += 22
        self.hud_text.blit(surface, "H: help", (bar.right - 8, bar.centery), draw.TEXT_DIM,
                           "midright")

    def _draw_help(self, surface: pygame.Surface) -> None:
        lines = keys.help_lines()
        line = self.help_text.line_height + 2
        box = pygame.Rect(0, 0, 560, line * len(lines) + 56)
        box.center = (self.camera.view[0] + self.camera.view[2] // 2,
                      self.camera.view[1] + self.camera.view[3] // 2)
        shade = pygame.Surface(box.size, pygame.SRCALPHA)
        shade.fill((10, 12, 16, 225))
        surface.blit(shade, box)
        pygame.draw.rect(surface, draw.TEXT_DIM, box, 1)
        self.help_text.blit(surface, "Keys", (box.left + 20, box.top + 14), draw.HIGHLIGHT)
        for index, (label, description) in enumerate(lines):
            y = box.top + 42 + index * line
            self.help_text.blit(surface, label, (box.left + 20, y), (255, 230, 150))
            self.help_text.blit(surface, description, (box.left + 200, y), draw.TEXT)

    def screen_rgb(self, surface: pygame.Surface) -> np.ndarray:
        """Draw the current state and return it as ``(H, W, 3)`` RGB pixels."""
        self.draw(surface)
        return surface_rgb(surface)


# --------------------------------------------------------------------- entry point
def load_recordings(path: str | None, seed: int = 0) -> list[tuple[TrafficLog, Road]]:
    """The (log, road) pairs that ``path`` stands for; the default traffic for None."""
    from traffic_mpc.logs.sources import open_logs

    if path is None:
        path = str(default_traffic(seed))
    if (Path(path) / "manifest.json").is_file():
        raise InputError(path, "this is an episode dataset; view the logs it was made from")
    return open_logs(path)


def run_viewer(
    path: str | None,
    *,
    agent: str | None = None,
    record: str | None = None,
    frames: int | None = None,
    seed: int = 0,
) -> int:
    """``traffic-mpc view``: open the viewer on a log, a folder of logs, or (``path`` None)
    the default generated traffic; returns the exit status.

    ``agent``: an agent spec that G hands the selected vehicle to (headless: it drives a
    vehicle chosen automatically). ``record``: write what is shown to this .mp4. ``frames``:
    run headless for this many frames (one log frame each) and exit.
    """
    if frames is not None and frames < 1:
        raise InputError("--frames", f"must be at least 1, got {frames}")
    if record is not None and Path(record).suffix.lower() != ".mp4":
        raise InputError(record, "the recording must be an .mp4 file")
    recordings = load_recordings(path, seed)
    if agent is not None:
        from traffic_mpc.evaluate.agents import make_agent

        make_agent(agent, seed=seed)  # a bad spec fails here, before a window opens
    # Ego views and costs are batch-1 tensors: a second thread costs more than it saves.
    with torch_threads(1):
        if frames is not None:  # headless: drawn off-screen, no window, no display driver
            viewer, screen = offscreen_viewer(recordings, agent_spec=agent, seed=seed)
            return _run_headless(viewer, screen, frames, record)
        return _run_window(recordings, agent, seed, record)


def _run_window(recordings: list[tuple[TrafficLog, Road]], agent: str | None, seed: int,
                record: str | None) -> int:
    owns_display = not pygame.display.get_init()  # a caller's display is left as it was
    pygame.display.init()
    pygame.font.init()
    try:
        screen = pygame.display.set_mode(SCREEN_SIZE)
        pygame.display.set_caption("traffic-mpc view")
        viewer = Viewer(recordings, agent_spec=agent, seed=seed)
        return _loop(viewer, screen, record)
    finally:
        if owns_display:
            pygame.quit()


def offscreen_viewer(
    recordings: list[tuple[TrafficLog, Road]], **options
) -> tuple[Viewer, pygame.Surface]:
    """A viewer that draws into an off-screen surface: no window and no display driver.

    ``viewer.screen_rgb(surface)`` then gives what it shows as an ``(H, W, 3)`` RGB array —
    the pictures of ``--record``, and the frames evaluation videos and TensorBoard use.
    ``options`` are those of :class:`Viewer`.
    """
    pygame.font.init()
    viewer = Viewer(recordings, **options)
    return viewer, pygame.Surface(viewer.size)


def _run_headless(viewer: Viewer, screen: pygame.Surface, frames: int,
                  record: str | None) -> int:
    if viewer.agent_spec is not None:
        from traffic_mpc.viewer import driving

        driving.start_automatic_episode(viewer)
    if record is not None:
        viewer.recording = True
    with _recorder(record, fps=1.0 / viewer.frames.dt) as recorder:
        for index in range(frames):
            viewer.draw(screen)
            if recorder is not None:
                recorder.write(surface_rgb(screen))
            if index + 1 < frames and not viewer.step(+1):
                viewer.say("end of the log")
    return 0


@contextlib.contextmanager
def _recorder(record: str | None, fps: float) -> Iterator[VideoRecorder | None]:
    """An mp4 recorder for ``record`` (None: no recording). The file is written whole when
    the block ends, and discarded if it fails."""
    if record is None:
        yield None
        return
    recorder = VideoRecorder(record, SCREEN_SIZE, fps=fps)
    try:
        yield recorder
    except BaseException:
        recorder.discard()
        raise
    print(f"wrote {recorder.close()} ({recorder.frames_written} frames)")


def _loop(viewer: Viewer, screen: pygame.Surface, record: str | None) -> int:
    """The interactive loop: events, playback, drawing at :data:`DISPLAY_FPS`."""
    fps = 30 if record is not None else DISPLAY_FPS
    clock = pygame.time.Clock()
    with _recorder(record, fps) as recorder:
        while not viewer.quit_requested:
            seconds = clock.tick(fps) / 1000.0
            for event in pygame.event.get():
                viewer.handle_event(event)
            viewer.update(seconds)
            viewer.draw(screen)
            pygame.display.flip()
            if recorder is not None:
                recorder.write(surface_rgb(screen))
    return 0

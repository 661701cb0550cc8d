"""The pygame viewer, headless: screenshots checked at known frames, keys driven by posted
events, a recorded video read back, episodes driven by hand and by an agent."""

from __future__ import annotations

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame initialises a display

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pytest  # noqa: E402

from traffic_mpc.errors import InputError  # noqa: E402
from traffic_mpc.evaluate.agents import make_agent  # noqa: E402
from traffic_mpc.logs.traffic_log import CAR, TRUCK, TrafficLog  # noqa: E402
from traffic_mpc.road import Road  # noqa: E402
from traffic_mpc.viewer import app, draw, panels  # noqa: E402
from traffic_mpc.viewer.app import Viewer, run_viewer  # noqa: E402
from traffic_mpc.viewer.camera import WrappedCamera  # noqa: E402
from traffic_mpc.viewer.record import surface_rgb  # noqa: E402

DT = 0.1
LANE = 3.66
N_FRAMES = 120


def lane_y(lane: int) -> float:
    """Centre ``y`` [m] of a mainline lane of the synth road (1 = leftmost)."""
    return -(lane - 0.5) * LANE


def make_log(vehicles: list[dict], n_frames: int = N_FRAMES) -> TrafficLog:
    """Vehicles at constant speed along a lane: dicts with id, x0 [m], lane, speed [m/s] and
    optionally first/last frame, length, width, vehicle_class."""
    columns: dict[str, list] = {name: [] for name in (
        "vehicle_id", "frame", "time", "x", "y", "heading", "speed", "length", "width",
        "vehicle_class", "lane")}
    for vehicle in sorted(vehicles, key=lambda v: v["id"]):
        frames = np.arange(vehicle.get("first", 0), vehicle.get("last", n_frames - 1) + 1)
        count = len(frames)
        columns["vehicle_id"].append(np.full(count, vehicle["id"]))
        columns["frame"].append(frames)
        columns["time"].append(frames * DT)
        columns["x"].append(vehicle["x0"] + vehicle["speed"] * DT * (frames - frames[0]))
        columns["y"].append(np.full(count, lane_y(vehicle["lane"])))
        columns["heading"].append(np.zeros(count))
        columns["speed"].append(np.full(count, float(vehicle["speed"])))
        columns["length"].append(np.full(count, vehicle.get("length", 4.5)))
        columns["width"].append(np.full(count, vehicle.get("width", 1.8)))
        columns["vehicle_class"].append(np.full(count, vehicle.get("vehicle_class", CAR)))
        columns["lane"].append(np.full(count, vehicle["lane"]))
    return TrafficLog(**{name: np.concatenate(parts) for name, parts in columns.items()},
                      dt=DT, site="synth", source="constructed")


VEHICLES = [
    {"id": 1, "x0": 60.0, "lane": 2, "speed": 10.0},
    {"id": 2, "x0": 120.0, "lane": 4, "speed": 2.0},
    {"id": 3, "x0": 240.0, "lane": 1, "speed": 14.0, "length": 12.0, "width": 2.5,
     "vehicle_class": TRUCK},
    {"id": 4, "x0": 330.0, "lane": 6, "speed": 6.0},
    {"id": 5, "x0": 30.0, "lane": 3, "speed": 8.0, "first": 10},
]


@pytest.fixture(scope="module")
def road() -> Road:
    return Road.named("synth")


@pytest.fixture(scope="module")
def screen():
    pygame.display.init()
    pygame.font.init()
    return pygame.display.set_mode(app.SCREEN_SIZE)


@pytest.fixture
def viewer(screen, road) -> Viewer:
    return Viewer([(make_log(VEHICLES), road)], start_frame=20)


def handle(viewer: Viewer, *events: pygame.event.Event) -> None:
    """Post events to pygame's queue and hand what comes out to the viewer, as the loop does."""
    pygame.event.clear()
    for event in events:
        pygame.event.post(event)
    for event in pygame.event.get():
        viewer.handle_event(event)


def key(code: int, down: bool = True) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN if down else pygame.KEYUP, key=code, mod=0)


def screen_point(viewer: Viewer, vehicle_id: int) -> tuple[int, int]:
    frame = viewer.frames.at(viewer.t)
    index = frame.index_of(vehicle_id)
    sx, sy = viewer.camera.to_screen(frame.x[index], frame.y[index])
    return int(round(float(sx))), int(round(float(sy)))


def colour_count(image: np.ndarray, colour, box=None) -> int:
    """Pixels of exactly ``colour`` in ``image`` (H, W, 3), within ``box`` (x0, y0, x1, y1)."""
    if box is not None:
        x0, y0, x1, y1 = box
        image = image[max(y0, 0):y1, max(x0, 0):x1]
    return int(np.all(image == np.asarray(colour, dtype=np.uint8), axis=-1).sum())


# ------------------------------------------------------------------------- camera
def test_camera_round_trip_over_wrapped_rows():
    camera = WrappedCamera((0, 26, 896, 694), y_top=2.0, y_bottom=-27.6)
    camera.fit(0.0, 500.0)
    assert len([r for r in camera.visible_rows() if 0 <= r]) >= 3  # the road is wrapped
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 500.0, 200)
    y = rng.uniform(-25.0, 0.0, 200)
    sx, sy = camera.to_screen(x, y)
    back = np.array([camera.to_road(a, b) for a, b in zip(sx, sy)])
    assert np.allclose(back[:, 0], x, atol=1e-6) and np.allclose(back[:, 1], y, atol=1e-6)
    assert camera.shows_whole(0.0, 500.0)


def test_zoom_keeps_the_point_under_the_cursor():
    camera = WrappedCamera((0, 26, 896, 694), y_top=2.0, y_bottom=-27.6)
    camera.fit(0.0, 500.0)
    before = camera.to_road(400, 300)
    camera.zoom_at(2.0, 400, 300)
    after = camera.to_road(400, 300)
    assert camera.zoom == pytest.approx(2 * 5.376, rel=0.05)
    assert np.allclose(before, after, atol=1e-6)


# -------------------------------------------------------------------- screenshots
def test_vehicles_drawn_at_their_positions_in_their_speed_colour(viewer, screen):
    image = viewer.screen_rgb(screen)
    assert image.shape == (720, 1280, 3)
    frame = viewer.frames.at(viewer.t)
    assert len(frame) == 5
    for index, vehicle_id in enumerate(frame.vehicle_id):
        sx, sy = screen_point(viewer, vehicle_id)
        expected = viewer.speed_colours.colours(frame.speed[index:index + 1])[0]
        assert tuple(image[sy, sx]) == tuple(expected), f"vehicle {vehicle_id}"
    # slow and fast vehicles differ in colour; the legend's ramp is in the panel
    assert tuple(viewer.speed_colours.colours(np.array([0.0]))[0]) != tuple(
        viewer.speed_colours.colours(np.array([14.0]))[0])


def test_selected_vehicle_is_highlighted_and_panel_shows_it(viewer, screen):
    before = viewer.screen_rgb(screen)
    sx, sy = screen_point(viewer, 1)
    box = (sx - 30, sy - 14, sx + 30, sy + 14)
    assert colour_count(before, draw.HIGHLIGHT, box) == 0
    viewer.select(1)
    image = viewer.screen_rgb(screen)
    assert colour_count(image, draw.HIGHLIGHT, box) > 40
    assert viewer.ego is not None and viewer.ego.vehicle_id == 1
    assert viewer.ego.speed == pytest.approx(10.0)
    # the panel column: backgrounds, title bars, and the ego view (or the note saying why not)
    panel = image[:, app.SCREEN_SIZE[0] - app.PANEL_WIDTH:]
    assert colour_count(panel, panels.PANEL_BACKGROUND) > 20_000
    assert colour_count(panel, panels.TITLE_BACKGROUND) > 3 * 300
    if viewer.ego_view_spec is not None:
        assert viewer.ego.ego_view.shape == (4, 117, 24)
        ego_colour = panels.CHANNEL_COLOURS["ego"]
        assert colour_count(panel, ego_colour) > 50  # the ego footprint, enlarged


def test_a_panel_is_added_by_appending_it(viewer, screen):
    class Futures:
        title = "World model futures"
        drawn: list = []

        def height(self, viewer, width):
            return 60

        def draw(self, surface, rect, viewer):
            self.drawn.append(rect)
            surface.fill((1, 2, 3), rect)

    futures = Futures()
    viewer.panels.append(futures)
    image = viewer.screen_rgb(screen)
    assert futures.drawn and futures.drawn[-1].left == app.SCREEN_SIZE[0] - app.PANEL_WIDTH
    assert colour_count(image, (1, 2, 3)) == futures.drawn[-1].width * futures.drawn[-1].height


# ------------------------------------------------------------------------- keys
def test_space_toggles_play_and_steps_move_exactly_one_frame(viewer):
    assert not viewer.playing
    handle(viewer, key(pygame.K_SPACE))
    assert viewer.playing
    handle(viewer, key(pygame.K_SPACE))
    assert not viewer.playing
    start = viewer.t
    handle(viewer, key(pygame.K_RIGHT))
    assert viewer.t == start + 1
    handle(viewer, key(pygame.K_LEFT), key(pygame.K_LEFT))
    assert viewer.t == start - 1
    handle(viewer, key(pygame.K_SPACE), key(pygame.K_PERIOD))
    assert viewer.t == start and not viewer.playing  # a step pauses


def test_playback_is_decoupled_from_drawing(viewer):
    start = viewer.t
    handle(viewer, key(pygame.K_SPACE))
    for _ in range(60):  # one second of display frames at 60 Hz
        viewer.update(1 / 60)
    assert viewer.t == start + 10  # 1 s of log at dt = 0.1 s
    handle(viewer, key(pygame.K_EQUALS))
    assert viewer.playback_speed == 2.0
    viewer.update(0.5)
    assert viewer.t == start + 20
    handle(viewer, key(pygame.K_MINUS), key(pygame.K_MINUS))
    assert viewer.playback_speed == 0.5


def test_zoom_keys_and_wheel_change_the_scale(viewer):
    zoom = viewer.camera.zoom
    handle(viewer, key(pygame.K_RIGHTBRACKET))
    assert viewer.camera.zoom == pytest.approx(zoom * app.ZOOM_STEP)
    handle(viewer, pygame.event.Event(pygame.MOUSEWHEEL, x=0, y=-2, flipped=False))
    assert viewer.camera.zoom == pytest.approx(zoom / app.ZOOM_STEP)
    handle(viewer, key(pygame.K_0))
    assert viewer.camera.zoom == pytest.approx(zoom)


def test_pan_keys_and_drag_move_along_the_road(viewer):
    origin = viewer.camera.x_origin
    handle(viewer, key(pygame.K_d))
    assert viewer.camera.x_origin > origin
    handle(viewer, key(pygame.K_a))
    assert viewer.camera.x_origin == pytest.approx(origin)
    handle(viewer,
           pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(400, 60)),
           pygame.event.Event(pygame.MOUSEMOTION, pos=(300, 60), rel=(-100, 0), buttons=(1, 0, 0)),
           pygame.event.Event(pygame.MOUSEBUTTONUP, button=1, pos=(300, 60)))
    assert viewer.camera.x_origin == pytest.approx(origin + 100 / viewer.camera.zoom)


def test_help_overlay_appears_and_goes(viewer, screen):
    plain = viewer.screen_rgb(screen)
    handle(viewer, key(pygame.K_h))
    assert viewer.show_help
    shown = viewer.screen_rgb(screen)
    view = (0, app.HUD_HEIGHT, app.SCREEN_SIZE[0] - app.PANEL_WIDTH, app.SCREEN_SIZE[1])
    changed = np.any(shown != plain, axis=-1)[view[1]:view[3], view[0]:view[2]]
    assert changed.mean() > 0.3  # a large box over the road view
    handle(viewer, key(pygame.K_ESCAPE))
    assert not viewer.show_help


def test_click_selects_the_vehicle_under_the_cursor_and_esc_releases(viewer):
    sx, sy = screen_point(viewer, 3)
    handle(viewer, pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(sx + 3, sy)),
           pygame.event.Event(pygame.MOUSEBUTTONUP, button=1, pos=(sx + 3, sy)))
    assert viewer.selected == 3 and viewer.following
    handle(viewer, pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(5, 700)))
    assert viewer.selected == 3  # empty road: selection kept
    handle(viewer, key(pygame.K_ESCAPE))
    assert viewer.selected is None and viewer.ego is None


def test_following_keeps_the_selected_vehicle_in_view_when_zoomed(viewer, screen):
    viewer.select(3)
    for _ in range(6):
        handle(viewer, key(pygame.K_RIGHTBRACKET))
    for _ in range(30):
        viewer.step(+1)
        viewer.draw(screen)
        sx, sy = screen_point(viewer, 3)
        left, top, width, height = viewer.camera.view
        assert left <= sx < left + width and top <= sy < top + height


def test_quit_key(viewer):
    handle(viewer, key(pygame.K_q))
    assert viewer.quit_requested


# --------------------------------------------------------------------- recording
def test_record_frames_writes_a_video_that_reads_back(tmp_path, road, screen):
    folder = make_log(VEHICLES).save(tmp_path / "log", road=road)
    video = tmp_path / "out" / "view.mp4"
    assert run_viewer(str(folder), record=str(video), frames=10) == 0
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    assert len(frames) == 10
    assert all(image.shape == (720, 1280, 3) for image in frames)
    assert not any(p.name.startswith(".") for p in video.parent.iterdir())  # no temporaries
    assert pygame.display.get_init()  # the caller's display is left as it was


def test_bad_record_name_and_unknown_agent_fail_clearly(tmp_path):
    with pytest.raises(InputError, match="mp4"):
        run_viewer(str(tmp_path), record=str(tmp_path / "x.avi"), frames=1)
    with pytest.raises(InputError, match="no-action"):
        make_agent("teleport")


def test_default_traffic_is_generated_once_then_reused(tmp_path, monkeypatch, road):
    import traffic_mpc.logs.synth as synth
    from traffic_mpc.logs import default_traffic

    calls = []

    def fake_synthesize(out_dir, minutes, seed, recordings, progress):
        calls.append((minutes, seed, recordings))
        make_log(VEHICLES).save(os.path.join(out_dir, "recording-01"), road=road)
        with open(os.path.join(out_dir, "synth.json"), "w") as stream:
            stream.write("{}")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(synth, "synthesize", fake_synthesize)
    first = app.load_recordings(None, seed=3)
    second = app.load_recordings(None, seed=3)
    assert len(calls) == 1 and calls[0][1:] == (3, 1)
    assert first[0][0].equals(second[0][0])
    assert default_traffic.default_traffic_folder(3).is_relative_to(tmp_path)


# ---------------------------------------------------------------------- episodes
def test_agent_takes_over_after_warm_up_with_ghost_and_actions(screen, road):
    viewer = Viewer([(make_log(VEHICLES), road)], agent_spec="no-action", start_frame=20)
    viewer.select(1)
    handle(viewer, key(pygame.K_g))
    episode = viewer.episode
    assert episode is not None and not episode.manual and viewer.playing
    viewer.playing = False
    for _ in range(episode.world.ncond):
        viewer.step(+1)
        assert viewer.episode_step.warmup
    viewer.step(+1)
    step = viewer.episode_step
    assert not step.warmup and step.action == (0.0, 0.0)
    assert viewer.ego.driver == "agent no-action"
    image = viewer.screen_rgb(screen)
    assert colour_count(image, draw.GHOST, (0, 0, 896, 720)) > 20  # logged path, logged box
    # stepping back shows the recorded steps, forward again continues the episode
    viewer.step(-1)
    assert viewer.episode_step.warmup
    viewer.step(+1)
    viewer.step(+1)
    assert episode.last_t == viewer.t


def test_episode_ends_with_its_reason_and_flashes(screen, road):
    # a standing car in lane 2, 40 m ahead of vehicle 1 which the no-action agent keeps at
    # 10 m/s: a collision ahead after the warm-up
    vehicles = [{"id": 1, "x0": 60.0, "lane": 2, "speed": 10.0},
                {"id": 2, "x0": 100.0 + 10.0 * 2.0 + 2.0, "lane": 2, "speed": 0.0,
                 "first": 20, "last": 119}]
    log = make_log(vehicles)
    viewer = Viewer([(log, road)], agent_spec="no-action", start_frame=0)
    viewer.select(1)
    viewer.command_hand_to_agent()
    viewer.recording = True  # steady flash, no blinking
    for _ in range(80):
        viewer.step(+1)
        if viewer.episode.finished:
            break
    assert viewer.episode.end_reason == "collision ahead"
    assert "collision-ahead" in viewer.ego.events
    image = viewer.screen_rgb(screen)
    assert colour_count(image[:, -app.PANEL_WIDTH:], panels.FLASH) > 2000


def test_manual_driving_with_arrow_keys(screen, road):
    viewer = Viewer([(make_log(VEHICLES), road)], start_frame=20)
    viewer.select(1)
    handle(viewer, key(pygame.K_t))
    episode = viewer.episode
    assert episode is not None and episode.manual
    viewer.playing = False
    for _ in range(episode.world.ncond):
        viewer.step(+1)
    t = viewer.t
    handle(viewer, key(pygame.K_UP), key(pygame.K_RIGHT))  # held: driving, not stepping
    assert viewer.t == t
    viewer.update(0.0)  # the loop reads the held keys
    for _ in range(5):
        viewer.step(+1)
    acceleration, curvature = viewer.episode_step.action
    assert acceleration == pytest.approx(episode.controls.ACCELERATION)
    assert curvature < 0  # right
    assert viewer.ego.speed == pytest.approx(10.0 + 5 * DT * acceleration, abs=1e-3)
    handle(viewer, key(pygame.K_UP, down=False), key(pygame.K_RIGHT, down=False))
    viewer.update(0.0)
    viewer.step(+1)
    assert viewer.episode_step.action[0] == 0.0


def test_headless_agent_run_picks_a_vehicle(tmp_path, road, screen):
    log = make_log([{"id": 7, "x0": 40.0, "lane": 3, "speed": 8.0},
                    {"id": 8, "x0": 150.0, "lane": 5, "speed": 8.0}])
    folder = log.save(tmp_path / "log", road=road)
    video = tmp_path / "agent.mp4"
    assert run_viewer(str(folder), agent="no-action", record=str(video), frames=30) == 0
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    capture.release()


def test_surface_rgb_matches_pixels(screen):
    surface = pygame.Surface((4, 3))
    surface.fill((10, 20, 30))
    surface.set_at((2, 1), (200, 100, 50))
    rgb = surface_rgb(surface)
    assert rgb.shape == (3, 4, 3)
    assert tuple(rgb[1, 2]) == (200, 100, 50) and tuple(rgb[0, 0]) == (10, 20, 30)


def test_timeline_click_seeks(viewer):
    timeline = viewer.timeline
    sx = round(timeline.x_of(90))
    handle(viewer, pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1,
                                      pos=(sx, timeline.rect.centery)),
           pygame.event.Event(pygame.MOUSEBUTTONUP, button=1, pos=(sx, timeline.rect.centery)))
    assert abs(viewer.t - 90) <= 1 and viewer.selected is None


def test_without_renderer_the_panel_says_so(viewer, screen):
    viewer.ego_view_spec = None
    viewer.inspector._renderer = None
    viewer.select(2)
    assert viewer.ego is not None and viewer.ego.ego_view is None
    image = viewer.screen_rgb(screen)  # draws the note instead of the view
    assert viewer.ego_view_note == "renderer not available"
    assert image.shape == (720, 1280, 3)


def test_interactive_loop_quits_on_q_and_records_what_is_shown(tmp_path, road, screen):
    folder = make_log(VEHICLES).save(tmp_path / "log", road=road)
    video = tmp_path / "shown.mp4"
    pygame.event.clear()
    pygame.event.post(key(pygame.K_q))
    assert run_viewer(str(folder), record=str(video)) == 0
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) >= 1
    capture.release()


def test_a_renderer_failure_is_shown_not_fatal(viewer, screen, monkeypatch):
    if viewer.inspector._renderer is None:
        pytest.skip("no renderer")

    def fail(scene):
        raise IndexError("index out of range in self")

    monkeypatch.setattr(viewer.inspector._renderer, "render", fail)
    viewer.select(1)
    assert viewer.ego.ego_view is None
    assert viewer.ego.view_note.startswith("renderer failed: IndexError")
    assert viewer.ego.costs is not None  # the costs do not depend on the picture
    viewer.screen_rgb(screen)


@pytest.mark.parametrize("spec", ["expert", "idm"])
def test_evaluation_agents_drive_the_selected_vehicle(screen, road, spec):
    # The viewer's --agent takes the evaluator's agents: the expert retraces its log, the
    # IDM driver follows a free lane at its own pace; both keep the car on the road.
    viewer = Viewer([(make_log(VEHICLES), road)], agent_spec=spec, start_frame=20)
    viewer.select(1)
    handle(viewer, key(pygame.K_g))
    episode = viewer.episode
    viewer.playing = False
    for _ in range(episode.world.ncond + 30):
        viewer.step(+1)
    assert viewer.ego.driver == f"agent {spec}"
    assert not episode.finished or episode.end_reason in ("arrived", "end of log")
    state = episode.world.state[0]
    frame = int(episode.world.frame[0])
    logged = make_log(VEHICLES).rows_of(1)
    logged_x = float(logged.x[logged.frame == frame][0])
    if spec == "expert":
        assert abs(float(state[0]) - logged_x) < 0.05
    else:
        assert float(state[3]) > 1.0 and episode.steps[episode.last_t].action != (0.0, 0.0)

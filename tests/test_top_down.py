"""Top-down pictures: vehicles, highlights, road and markings land where they should."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_render import straight_road

from traffic_mpc.road import Road
from traffic_mpc.sim.top_down import (
    DASH,
    GAP,
    HIGHLIGHT_COLOUR,
    MARGIN,
    ROAD_COLOUR,
    VERGE_COLOUR,
    render_top_down,
    speed_colours,
    top_down_frame,
)

SCALE = 4.0


@pytest.fixture(scope="module")
def road() -> Road:
    return straight_road(n_lanes=3, length=200.0)


def pixel_at(image, road, x, y, scale=SCALE, window=None):
    """The RGB value of the pixel containing road-frame point (x, y)."""
    frame = top_down_frame(road, scale, window)
    column, row = frame.to_pixels(x, y)
    return tuple(int(c) for c in image[int(math.floor(row)), int(math.floor(column))])


def test_picture_size_and_background(road):
    image = render_top_down(road, np.zeros((0, 3)), np.zeros((0, 2)), np.zeros(0), scale=SCALE)
    height = (road.y_range[1] - road.y_range[0] + 2 * MARGIN) * SCALE
    assert image.shape == (math.ceil(height), 200 * SCALE, 3) and image.dtype == np.uint8
    assert pixel_at(image, road, 50.3, -1.83) == ROAD_COLOUR  # a lane centre
    assert pixel_at(image, road, 50.3, 1.5) == VERGE_COLOUR  # beyond the left edge
    assert pixel_at(image, road, 50.3, -3 * 3.66 - 1.5) == VERGE_COLOUR


def test_edges_are_solid_and_lane_markings_dashed(road):
    image = render_top_down(road, np.zeros((0, 3)), np.zeros((0, 2)), np.zeros(0), scale=SCALE)
    xs = np.arange(1.0, 199.0, 0.25)
    edge = [pixel_at(image, road, x, 0.0) for x in xs]
    assert all(np.mean(colour) > 150 for colour in edge)  # white all along
    marking = np.array([np.mean(pixel_at(image, road, x, -3.66)) for x in xs])
    painted = marking > 150
    # Dashes of DASH m every DASH + GAP m.
    assert painted.mean() == pytest.approx(DASH / (DASH + GAP), abs=0.05)
    assert np.mean(pixel_at(image, road, 1.5, -3.66)) > np.mean(ROAD_COLOUR) + 100  # a dash


def test_a_vehicle_has_its_speed_colour_where_it_is(road):
    poses = np.array([[100.0, -5.49, 0.0], [60.0, -1.83, math.pi / 2]])
    sizes = np.array([[4.5, 1.8], [4.0, 2.0]])
    speeds = np.array([10.0, 0.0])
    image = render_top_down(road, poses, sizes, speeds, scale=SCALE)
    colours = speed_colours(speeds)
    for dx, dy in ((0.0, 0.0), (2.0, 0.0), (-2.0, 0.7), (1.9, -0.7)):
        assert pixel_at(image, road, 100.0 + dx, -5.49 + dy) == tuple(colours[0])
    assert pixel_at(image, road, 100.0 + 2.6, -5.49) != tuple(colours[0])
    assert pixel_at(image, road, 100.0, -5.49 + 1.1) != tuple(colours[0])
    # The second one is turned by 90 degrees: long along y.
    assert pixel_at(image, road, 60.0, -1.83 + 1.8) == tuple(colours[1])
    assert pixel_at(image, road, 60.0 + 1.5, -1.83) != tuple(colours[1])


def test_highlighted_egos_have_their_colour_and_an_outline(road):
    poses = np.array([[100.0, -5.49, 0.1], [120.0, -5.49, 0.0], [140.0, -9.15, 0.0]])
    sizes = np.tile([4.5, 1.8], (3, 1))
    speeds = np.array([5.0, 5.0, 5.0])
    image = render_top_down(road, poses, sizes, speeds, highlight=[True, False, True], scale=SCALE)
    assert pixel_at(image, road, 100.0, -5.49) == HIGHLIGHT_COLOUR
    assert pixel_at(image, road, 120.0, -5.49) == tuple(speed_colours([5.0])[0])
    assert pixel_at(image, road, 140.0, -9.15) == HIGHLIGHT_COLOUR
    # Outline: the pixels on the rectangle's border are brighter than the fill.
    border = pixel_at(image, road, 140.0, -9.15 + 0.9)
    assert np.mean(border) > np.mean(HIGHLIGHT_COLOUR)
    # One colour per vehicle.
    colours = np.array([[255, 0, 255], [0, 0, 0], [0, 255, 255]])
    image = render_top_down(
        road,
        poses,
        sizes,
        speeds,
        highlight=[True, False, True],
        highlight_colours=colours,
        scale=SCALE,
    )
    assert pixel_at(image, road, 100.0, -5.49) == (255, 0, 255)
    assert pixel_at(image, road, 140.0, -9.15) == (0, 255, 255)


def test_a_window_shows_its_part_of_the_road(road):
    poses = np.array([[100.0, -5.49, 0.0], [30.0, -5.49, 0.0]])
    sizes = np.tile([4.5, 1.8], (2, 1))
    speeds = np.array([20.0, 20.0])
    window = (80.0, 130.0)
    image = render_top_down(road, poses, sizes, speeds, scale=SCALE, window=window)
    assert image.shape[1] == 50 * SCALE
    assert pixel_at(image, road, 100.0, -5.49, window=window) == tuple(speed_colours([20.0])[0])


def test_speed_colours_go_from_red_through_yellow_to_blue():
    colours = speed_colours(np.array([0.0, 12.5, 25.0, 40.0]))
    red, yellow, blue, beyond = (tuple(int(c) for c in colour) for colour in colours)
    assert red == (214, 48, 49)
    assert yellow[0] > 200 and yellow[1] > 200 and yellow[2] < 100
    assert blue[2] > 200 and blue[0] < 100
    assert beyond == blue


def test_whole_i80_road_with_its_ramp():
    road = Road.named("i80")
    rng = np.random.default_rng(0)
    poses = np.stack(
        [rng.uniform(0, 500, 100), rng.uniform(-21, -1, 100), rng.normal(0, 0.05, 100)], axis=1
    )
    image = render_top_down(
        road, poses, np.tile([4.5, 1.8], (100, 1)), rng.uniform(0, 25, 100), scale=2.0
    )
    assert image.shape == (60, 1006, 3)
    # The on-ramp (lane 7) is road near its start, verge beyond its end.
    assert pixel_at(image, road, 20.0, -23.8, scale=2.0) == ROAD_COLOUR
    assert pixel_at(image, road, 300.0, -23.8, scale=2.0) == VERGE_COLOUR


def test_bad_input_is_refused(road):
    with pytest.raises(ValueError, match="one row per vehicle"):
        render_top_down(road, np.zeros((2, 3)), np.zeros((1, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="scale"):
        render_top_down(road, np.zeros((0, 3)), np.zeros((0, 2)), np.zeros(0), scale=0)
    with pytest.raises(ValueError, match="window"):
        render_top_down(road, np.zeros((0, 3)), np.zeros((0, 2)), np.zeros(0), window=(5, 1))


def test_a_window_that_moves_keeps_its_size(road):
    """A window 90 m long that follows a vehicle: x1 - x0 rounds differently at different
    positions, but every picture is 360 pixels wide (video frames must all be one size)."""
    widths = {top_down_frame(road, SCALE, (x - 30.0, x + 60.0)).width
              for x in np.random.default_rng(0).uniform(0.0, 500.0, 2000)}
    assert widths == {360}

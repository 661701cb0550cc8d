"""Road geometry: lanes, off-road, markings and the valid region of the shipped sites."""

import numpy as np
import pytest

from traffic_mpc.errors import InputError
from traffic_mpc.road import Road

LANE = 3.66


@pytest.mark.parametrize("site", ["i80", "us101", "synth"])
def test_shipped_roads_load_and_round_trip_through_toml(site):
    import tomllib

    road = Road.named(site)
    again = Road.from_dict(tomllib.loads(road.to_toml()))
    assert again.name == road.name
    assert again.valid_x == pytest.approx(road.valid_x)
    xs = np.linspace(0, road.length, 200)
    for lane, other in zip(road.lanes, again.lanes, strict=True):
        assert lane.id == other.id
        np.testing.assert_allclose(lane.left_y(xs), other.left_y(xs), atol=1e-3)
        np.testing.assert_allclose(lane.right_y(xs), other.right_y(xs), atol=1e-3)


def test_i80_lane_at_points_and_off_road():
    road = Road.named("i80")
    # Lane k (1 = leftmost) is centred at y = -(k - 0.5) * LANE.
    for lane_id in range(1, 7):
        assert road.lane_at(300.0, -(lane_id - 0.5) * LANE) == lane_id
    # On-ramp (lane 7) exists upstream, not downstream of its taper.
    assert road.lane_at(50.0, -6.5 * LANE) == 7
    assert road.lane_at(300.0, -6.5 * LANE) == 0
    assert road.is_off_road(300.0, 0.5)  # left of the left edge
    assert road.is_off_road(-1.0, -2.0)  # before the section
    assert not road.is_off_road(100.0, -10.0)
    # Vectorised over arrays of points.
    lanes = road.lane_at(np.full(6, 250.0), -(np.arange(1, 7) - 0.5) * LANE)
    np.testing.assert_array_equal(lanes, np.arange(1, 7))


def test_valid_region_keeps_the_look_ahead_at_both_ends():
    road = Road.named("us101")
    assert road.valid_x == pytest.approx((36.1, road.length - 36.1))
    end = road.length - 36.1
    assert list(road.in_valid_region([0.0, 36.0, 37.0, end - 0.5, end + 0.5])) == [
        False, False, True, True, False]


def test_i80_and_generated_roads_use_the_reference_benchmark_region():
    """The reference benchmark's I-80 map is 85 lane widths of 3.7 m long and starts 470
    pixels (at 24 pixels per lane width) into the section; an ego arrives when its rear is
    1.75 look-aheads before the map's end. Centres of a 4.5 m car."""
    lane = 3.7
    map_start, map_length = 470 / (24 / lane), 85 * lane
    arrival_rear = map_start + map_length - 1.75 * 130 / 3.6
    for name in ("i80", "synth"):
        road = Road.named(name)
        assert road.valid_x[0] == pytest.approx(map_start - 4.5 / 2, abs=0.05)
        assert road.valid_x[1] == pytest.approx(arrival_rear + 4.5 / 2, abs=0.05)
        # The ego view (36.1 m ahead and behind) stays on the mapped road.
        assert road.valid_x[0] - 36.1 > 0 and road.valid_x[1] + 36.1 < road.length


def test_markings_separate_lanes_and_edges_bound_the_road():
    road = Road.named("i80")
    lane_lines = [m for m in road.markings if m.kind == "lane"]
    edges = [m for m in road.markings if m.kind == "edge"]
    # Mainline: 5 dashed lines between 6 lanes, plus the ramp's line to lane 6.
    at_300 = sorted(
        float(np.interp(300.0, m.points[:, 0], m.points[:, 1]))
        for m in lane_lines
        if m.points[0, 0] <= 300.0 <= m.points[-1, 0]
    )
    np.testing.assert_allclose(at_300, -LANE * np.arange(5, 0, -1), atol=1e-6)
    # At x = 300 the road edges are the left edge y = 0 and lane 6's right boundary.
    edge_ys = sorted(
        float(np.interp(300.0, m.points[:, 0], m.points[:, 1]))
        for m in edges
        if m.points[0, 0] <= 300.0 <= m.points[-1, 0]
    )
    np.testing.assert_allclose(edge_ys, [-6 * LANE, 0.0], atol=1e-6)
    # Every marking point lies on a lane boundary: just beside it is road on one side.
    for marking in road.markings:
        x, y = marking.points[len(marking.points) // 2]
        sides = road.is_off_road([x, x], [y + 0.3, y - 0.3])
        assert sides.tolist() == ([False, False] if marking.kind == "lane" else sides.tolist())
        if marking.kind == "edge":
            assert sides.any() and not sides.all()


def test_bad_road_files_name_the_file_and_field(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nlength = 100.0\n[[lanes]]\nid = 1\nleft = [[0, 0]]\n'
                    'right = [[0, -3], [100, -3]]\n')
    with pytest.raises(InputError, match=r"bad\.toml.*lanes\[0\]\.left"):
        Road.load(path)
    path.write_text('name = "x"\n[[lanes]]\n')
    with pytest.raises(InputError, match=r"bad\.toml.*missing field 'length'"):
        Road.load(path)
    path.write_text("name = \n")
    with pytest.raises(InputError, match=r"bad\.toml: not valid TOML"):
        Road.load(path)
    with pytest.raises(InputError, match="unknown site; known sites: i80, synth, us101"):
        Road.named("i-81")

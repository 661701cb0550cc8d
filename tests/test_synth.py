"""The built-in traffic generator: calibration targets, determinism, driver models, files."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from traffic_mpc.errors import InputError
from traffic_mpc.logs.stats import calibration_check, format_statistics, log_statistics
from traffic_mpc.logs.synth import (
    SimulationReport,
    SynthConfig,
    TrafficSimulation,
    generate,
    synthesize,
)
from traffic_mpc.logs.synth_drivers import (
    CAR_SPEC,
    DEFAULT_VEHICLE_MIX,
    idm_acceleration,
    minimum_jerk_profile,
    sample_vehicles,
)
from traffic_mpc.logs.traffic_log import FIELDS, file_checksum
from traffic_mpc.road import ROADS_DIR, Road

LANE_WIDTH = 3.66

#: Recorded minutes of the calibration run (after the default 4-minute warm-up).
CALIBRATION_MINUTES = 3.0


@pytest.fixture(scope="module")
def road() -> Road:
    return Road.named("synth")


@pytest.fixture(scope="module")
def default_run(road):
    """A few minutes of default traffic, long enough for every target to mean something."""
    report = SimulationReport()
    config = SynthConfig(duration=CALIBRATION_MINUTES * 60.0)
    log = generate(road, config, seed=0, report=report)
    return log, log_statistics(log, road), report


def straight_road(lanes: int, length: float = 500.0) -> Road:
    return Road.from_dict({
        "name": "straight",
        "length": length,
        "lanes": [
            {"id": index + 1, "kind": "main",
             "left": [[0.0, -index * LANE_WIDTH], [length, -index * LANE_WIDTH]],
             "right": [[0.0, -(index + 1) * LANE_WIDTH], [length, -(index + 1) * LANE_WIDTH]]}
            for index in range(lanes)
        ],
    })


#: No noise, no arrivals, no bottleneck: only the vehicles a test places.
QUIET = SynthConfig(acceleration_noise=0.0, demand=1e-9, upstream_length=0.0,
                    downstream_length=5000.0, bottleneck_offset=5000.0)


def one_car(rng: np.random.Generator, **attributes) -> dict[str, np.ndarray]:
    car = sample_vehicles((CAR_SPEC,), rng, 1)
    car["lane_offset"][:] = 0.0
    for name, value in attributes.items():
        car[name] = np.array([value], dtype=np.float64)
    return car


# ---------------------------------------------------------------- calibration targets
def test_default_traffic_meets_every_calibration_target(default_run):
    _, stats, _ = default_run
    checks = calibration_check(stats)
    assert all(checks.values()), f"{checks}\n{format_statistics(stats)}"


def test_default_traffic_is_congested_with_stop_and_go(default_run):
    _, stats, report = default_run
    speed = stats["speed_m_s"]
    assert 4.0 <= speed["mean"] <= 9.0
    assert speed["std"] >= 2.5
    assert speed["p5"] < 1.5 and speed["p95"] > 10.0  # vehicles stop and drive off again
    assert stats["vehicles_in_section"]["mean"] >= 100
    assert stats["lane_changes"]["merges"] > 0
    assert report.hard_limit_steps == 0  # the IDM alone kept every gap


def test_log_layout_and_kinematics(default_run, road):
    log, _, _ = default_run
    assert log.is_sorted()
    assert log.site == road.name and log.dt == road.dt
    assert log.first_frame == 1 and log.last_frame == int(CALIBRATION_MINUTES * 600)
    np.testing.assert_allclose(log.time, (log.frame - 1) * log.dt)
    np.testing.assert_array_equal(log.lane, road.lane_at(log.x, log.y))
    assert np.all(log.lane > 0)
    assert np.all((log.x >= 0) & (log.x <= road.length))
    assert set(np.unique(log.vehicle_class)) <= {1, 2, 3}
    # Every vehicle appears once: its frames are contiguous.
    same = log.vehicle_id[1:] == log.vehicle_id[:-1]
    assert np.all(np.diff(log.frame)[same] == 1)
    # Poses follow the replay world's kinematics exactly: p' = p + v' dt (cos, sin) heading'.
    step_x = log.x[:-1] + log.speed[1:] * log.dt * np.cos(log.heading[1:])
    step_y = log.y[:-1] + log.speed[1:] * log.dt * np.sin(log.heading[1:])
    np.testing.assert_allclose(step_x[same], log.x[1:][same], atol=1e-9)
    np.testing.assert_allclose(step_y[same], log.y[1:][same], atol=1e-9)
    # Headings stay those of a road vehicle changing lane.
    assert np.abs(log.heading).max() < np.radians(20.0)


def test_vehicle_sizes_follow_their_class(default_run):
    log, _, _ = default_run
    for spec in DEFAULT_VEHICLE_MIX:
        rows = log.vehicle_class == spec.vehicle_class
        if not np.any(rows):
            continue
        for name in ("length", "width"):
            bounds, values = getattr(spec, name), getattr(log, name)[rows]
            assert bounds.low <= values.min() <= values.max() <= bounds.high
    trucks, cars = log.vehicle_class == 3, log.vehicle_class == 2
    assert log.length[trucks].mean() > 2 * log.length[cars].mean()


def test_ramp_vehicles_all_merge_before_the_ramp_ends(default_run, road):
    log, stats, _ = default_run
    ramp = road.lane(7)
    on_ramp = log.lane == ramp.id
    assert np.any(on_ramp)
    # While on the ramp, a vehicle's front stays before the ramp's end.
    front = log.x + 0.5 * log.length * np.cos(log.heading)
    assert front[on_ramp].max() < ramp.x_end
    # Every vehicle seen on the ramp moves from it into lane 6, unless the recording ends
    # first; it never comes back to the ramp.
    merged = 0
    for vehicle_id, rows in log.vehicle_slices().items():
        lanes = log.lane[rows]
        ramp_rows = np.flatnonzero(lanes == ramp.id)
        if not len(ramp_rows):
            continue
        assert np.all(np.diff(ramp_rows) == 1), f"vehicle {vehicle_id} came back to the ramp"
        if ramp_rows[-1] + 1 < len(lanes):
            assert lanes[ramp_rows[-1] + 1] == 6, f"vehicle {vehicle_id} left the ramp badly"
            merged += 1
        else:
            assert log.frame[rows][-1] == log.last_frame, f"vehicle {vehicle_id} never merged"
    assert merged == stats["lane_changes"]["merges"] > 0


# ---------------------------------------------------------------- determinism
def test_same_seed_same_numbers_different_seed_different(road):
    config = SynthConfig(duration=15.0, warm_up=15.0)
    first = generate(road, config, seed=7)
    again = generate(road, config, seed=7)
    other = generate(road, config, seed=8)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name), err_msg=name)
    assert len(first) != len(other) or not np.array_equal(first.x, other.x)
    assert generate(road, replace(config, seed=7)).equals(first)


# ---------------------------------------------------------------- driver models
def test_idm_free_vehicle_accelerates_towards_its_desired_speed():
    rng = np.random.default_rng(1)
    simulation = TrafficSimulation(straight_road(1), QUIET, rng, fill=False)
    simulation.place(one_car(rng, desired_speed=25.0), x=10.0, lane=0, speed=0.0)
    speeds = []
    for _ in range(1200):
        simulation.step()
        speeds.append(simulation.vehicles["speed"][0])
    speeds = np.array(speeds)
    assert np.all(np.diff(speeds) >= 0.0)
    assert speeds[-1] <= 25.0
    assert speeds[-1] > 0.97 * 25.0


def test_idm_follower_stops_behind_a_stopped_leader_with_its_minimum_gap():
    rng = np.random.default_rng(2)
    simulation = TrafficSimulation(straight_road(1), QUIET, rng, fill=False)
    # A leader that stays put (no acceleration to speak of).
    simulation.place(one_car(rng, max_acceleration=1e-9), x=200.0, lane=0, speed=0.0)
    follower = one_car(rng)
    simulation.place(follower, x=100.0, lane=0, speed=15.0)
    gaps = []
    for _ in range(900):
        simulation.step()
        vehicles = simulation.vehicles
        half = 0.5 * vehicles["length"]
        gaps.append(vehicles["x"][0] - half[0] - vehicles["x"][1] - half[1])
    assert simulation.vehicles["speed"][1] < 0.01
    assert min(gaps) >= follower["minimum_gap"][0] - 1e-9
    assert gaps[-1] < follower["minimum_gap"][0] + 0.1
    assert simulation.report.hard_limit_steps == 0


def test_idm_acceleration_formula():
    # On a free road at its desired speed a driver neither accelerates nor brakes; at the
    # equilibrium gap s0 + v T (no approach) braking cancels the free-road term.
    args = dict(desired_speed=30.0, time_headway=1.5, minimum_gap=2.0,
                max_acceleration=1.0, comfortable_deceleration=2.0)
    assert idm_acceleration(30.0, np.inf, 0.0, **args) == pytest.approx(0.0)
    assert idm_acceleration(0.0, np.inf, 0.0, **args) == pytest.approx(1.0)
    at_equilibrium = idm_acceleration(10.0, 2.0 + 15.0, 0.0, **args)
    assert at_equilibrium == pytest.approx(-(10.0 / 30.0) ** 4)


def test_mobil_lane_change_is_smooth_and_takes_the_configured_duration():
    rng = np.random.default_rng(3)
    simulation = TrafficSimulation(straight_road(2), QUIET, rng, fill=False)
    # A slow truck-like leader ahead in the left lane; the right lane is free.
    simulation.place(one_car(rng, desired_speed=12.0), x=150.0, lane=0, speed=12.0)
    simulation.place(one_car(rng, desired_speed=30.0), x=20.0, lane=0, speed=25.0)
    duration = CAR_SPEC.lane_change_duration
    dt = simulation.dt
    y, heading, speed, lane = [], [], [], []
    for _ in range(300):
        simulation.step()
        vehicles = simulation.vehicles
        y.append(vehicles["y"][1])
        heading.append(vehicles["heading"][1])
        speed.append(vehicles["speed"][1])
        lane.append(vehicles["lane"][1])
    y, heading, speed = np.array(y), np.array(heading), np.array(speed)
    assert simulation.report.lane_changes_started >= 1
    moving = np.flatnonzero(np.abs(np.diff(y)) > 1e-12)
    start = moving[0]
    first_change = moving[moving < start + 2 * duration / dt]
    # One continuous lateral move of one lane width over the configured duration.
    assert np.all(np.diff(first_change) == 1)
    assert len(first_change) * dt == pytest.approx(duration, abs=dt)
    assert y[first_change[-1] + 1] - y[start] == pytest.approx(-LANE_WIDTH)
    lateral_speed = np.abs(np.diff(y)) / dt
    assert lateral_speed.max() <= 1.875 * LANE_WIDTH / duration + 1e-9
    assert np.abs(np.diff(lateral_speed)).max() / dt < 3.0  # lateral acceleration, m/s²
    assert np.all(speed[start:first_change[-1]] >= CAR_SPEC.lateral_reference_speed)
    assert lane[first_change[-1] + 1] == 1
    # The heading follows the velocity and returns to the lane direction.
    assert np.abs(heading).max() > 0.01
    assert heading[first_change[-1] + 2] == pytest.approx(0.0, abs=1e-12)


def test_minimum_jerk_profile():
    tau = np.linspace(0.0, 1.0, 101)
    fraction = minimum_jerk_profile(tau)
    assert fraction[0] == 0.0 and fraction[-1] == 1.0 and fraction[50] == pytest.approx(0.5)
    assert np.all(np.diff(fraction) >= 0)
    slope = np.gradient(fraction, tau)
    assert slope.max() == pytest.approx(1.875, abs=1e-3)


def test_sample_vehicles_respects_shares_and_bounds():
    rng = np.random.default_rng(4)
    vehicles = sample_vehicles(DEFAULT_VEHICLE_MIX, rng, 20000)
    shares = {spec.vehicle_class: spec.share for spec in DEFAULT_VEHICLE_MIX}
    for vehicle_class, share in shares.items():
        assert np.mean(vehicles["vehicle_class"] == vehicle_class) == pytest.approx(share, abs=0.01)
    for spec in DEFAULT_VEHICLE_MIX:
        rows = vehicles["vehicle_class"] == spec.vehicle_class
        for name in ("desired_speed", "time_headway", "minimum_gap", "max_acceleration"):
            bounds = getattr(spec, name)
            assert bounds.low <= vehicles[name][rows].min()
            assert vehicles[name][rows].max() <= bounds.high


def test_config_rejects_nonsense():
    with pytest.raises(ValueError, match="demand"):
        SynthConfig(demand=-1.0)
    with pytest.raises(ValueError, match="duration"):
        SynthConfig(duration=0.0)


def test_settings_from_the_command_line_change_numeric_options_only():
    config = SynthConfig().with_settings(["bottleneck_time_headway_factor=1.3",
                                          "max-entry-queue=5"])
    assert config.bottleneck_time_headway_factor == 1.3
    assert config.max_entry_queue == 5 and isinstance(config.max_entry_queue, int)
    assert config.demand == SynthConfig().demand
    for settings, message in ((["nope=1"], "'nope' is not a numeric generator option"),
                              (["seed=3"], "'seed' is not a numeric generator option"),
                              (["demand=abc"], "demand needs a number, got 'abc'"),
                              (["max_entry_queue=1.5"], "needs a whole number"),
                              (["demand=nan"], "demand must be finite"),
                              (["demand=-5"], "demand must be positive")):
        with pytest.raises(InputError, match=message):
            SynthConfig().with_settings(settings)


# ---------------------------------------------------------------- files
FAST = SynthConfig(warm_up=5.0)


def test_synthesize_writes_road_recordings_and_manifest(tmp_path):
    from traffic_mpc.logs.ngsim import read_ngsim

    out = tmp_path / "synth"
    written = synthesize(out, minutes=0.2, seed=5, recordings=2, progress=False, config=FAST)
    assert [path.name for path in written] == ["recording-01.txt", "recording-02.txt"]
    assert (out / "road.toml").read_bytes() == (ROADS_DIR / "synth.toml").read_bytes()
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["generator_version"] >= 1 and manifest["seed"] == 5
    assert manifest["config"]["duration"] == pytest.approx(12.0)
    assert [entry["file"] for entry in manifest["recordings"]] == [p.name for p in written]
    for entry, path in zip(manifest["recordings"], written):
        assert entry["sha256"] == file_checksum(path)
        assert entry["statistics"]["rows"] > 0
    assert file_checksum(written[0]) != file_checksum(written[1])  # independent periods

    # Reading a recording back gives the generated traffic.
    road = Road.load(out / "road.toml")
    children = np.random.SeedSequence(5).spawn(2)
    expected = generate(road, replace(FAST, duration=12.0, seed=5), children[0])
    back = read_ngsim(written[0], road)
    np.testing.assert_array_equal(back.vehicle_id, expected.vehicle_id)
    np.testing.assert_array_equal(back.frame, expected.frame)
    np.testing.assert_array_equal(back.lane, expected.lane)
    np.testing.assert_allclose(back.length, expected.length, atol=1e-5)
    # Front positions are what NGSIM stores; they agree to the file's precision.
    for axis, direction in (("x", np.cos), ("y", np.sin)):
        fronts = [getattr(log, axis) + 0.5 * log.length * direction(log.heading)
                  for log in (back, expected)]
        np.testing.assert_allclose(fronts[0], fronts[1], atol=1e-5)


def test_synthesize_same_seed_same_bytes(tmp_path):
    first = synthesize(tmp_path / "a", minutes=0.1, seed=9, progress=False, config=FAST)
    second = synthesize(tmp_path / "b", minutes=0.1, seed=9, progress=False, config=FAST)
    for name in ("recording-01.txt", "synth.json", "road.toml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert [p.name for p in first] == [p.name for p in second]
    assert not list((tmp_path / "a").glob(".*"))  # no temporary files left behind


def test_synthesize_shows_progress_over_simulated_time(tmp_path, capsys):
    synthesize(tmp_path, minutes=0.05, seed=1, progress=True, config=FAST)
    assert "simulated" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [({"minutes": 0.0}, "minutes"), ({"recordings": 0}, "recordings"),
     ({"demand": -5.0}, "demand")],
)
def test_synthesize_rejects_bad_options_with_one_line(tmp_path, options, message):
    with pytest.raises(InputError, match=message):
        synthesize(tmp_path, progress=False, **options)


def test_synthesize_rejects_a_road_it_cannot_drive(tmp_path):
    road_file = tmp_path / "odd.toml"
    road_file.write_text(
        'name = "odd"\nlength = 100.0\n[[lanes]]\nid = 1\nkind = "main"\n'
        "left = [[20.0, 0.0], [100.0, 0.0]]\nright = [[20.0, -3.66], [100.0, -3.66]]\n"
    )
    with pytest.raises(InputError, match="whole section"):
        synthesize(tmp_path / "out", minutes=0.1, road_path=road_file, progress=False)

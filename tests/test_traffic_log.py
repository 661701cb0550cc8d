"""TrafficLog: structure, dense frame arrays and the on-disk log folder."""

import json

import numpy as np
import pytest

from traffic_mpc.errors import InputError
from traffic_mpc.logs.traffic_log import TrafficLog
from traffic_mpc.road import Road


def small_log() -> TrafficLog:
    # Vehicle 4 on frames 10..14, vehicle 9 on frames 12..13.
    vehicle = np.array([4, 4, 4, 4, 4, 9, 9])
    frame = np.array([10, 11, 12, 13, 14, 12, 13])
    n = len(vehicle)
    return TrafficLog(
        vehicle_id=vehicle, frame=frame, time=(frame - 10) * 0.1,
        x=np.arange(n, dtype=float), y=-np.ones(n), heading=np.zeros(n), speed=np.full(n, 5.0),
        length=np.full(n, 4.5), width=np.full(n, 1.8), vehicle_class=np.full(n, 2),
        lane=np.ones(n), dt=0.1, site="i80",
    )


def test_structure_and_dense_arrays():
    log = small_log()
    assert len(log) == 7 and log.n_vehicles == 2 and log.is_sorted()
    assert log.duration == pytest.approx(0.4)
    assert log.vehicle_slices() == {4: slice(0, 5), 9: slice(5, 7)}
    ids, valid, arrays = log.frame_arrays(("x",))
    assert ids.tolist() == [4, 9]
    assert valid.shape == (5, 2)
    assert valid[:, 1].tolist() == [False, False, True, True, False]
    assert arrays["x"][2:4, 1].tolist() == [5.0, 6.0]
    shuffled = log.select(np.array([6, 0, 3, 1, 5, 2, 4]))
    assert not shuffled.is_sorted() and shuffled.sorted().equals(log)


def test_save_and_load_round_trip(tmp_path):
    log = small_log()
    folder = log.save(tmp_path / "log", road=Road.named("i80"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log"]  # no temporaries left
    again = TrafficLog.load(folder)
    assert again.equals(log) and again.dt == log.dt and again.site == "i80"
    assert Road.load(folder / "road.toml").lane_ids.tolist() == [1, 2, 3, 4, 5, 6, 7]


def test_load_rejects_another_format_version_and_damaged_arrays(tmp_path):
    folder = small_log().save(tmp_path / "log")
    manifest = json.loads((folder / "log.json").read_text())
    manifest["format_version"] = 99
    (folder / "log.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"log\.json, field format_version: format version 99"):
        TrafficLog.load(folder)
    manifest["format_version"] = 1
    (folder / "log.json").write_text(json.dumps(manifest))
    np.save(folder / "x.npy", np.zeros(3))
    with pytest.raises(InputError, match=r"x\.npy: holds float64 \(3,\), expected float64 \(7,\)"):
        TrafficLog.load(folder)
    with pytest.raises(InputError, match="not a traffic log folder"):
        TrafficLog.load(tmp_path)

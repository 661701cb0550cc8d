"""Small constructed roads and logs for the replay-world tests: a few vehicles, a few hundred
frames, positions given as functions of time so that the expected events are known."""

from __future__ import annotations

import numpy as np

from traffic_mpc.logs.traffic_log import CAR, FIELDS, TrafficLog
from traffic_mpc.road import Road

DT = 0.1
LANE = 3.66
CAR_LENGTH, CAR_WIDTH = 4.5, 1.8


def lane_center(lane: int) -> float:
    """``y`` [m] of the centre of lane ``lane`` (1 = leftmost) on :func:`straight_road`."""
    return -(lane - 0.5) * LANE


def straight_road(n_lanes: int = 3, length: float = 400.0) -> Road:
    """A straight road of ``n_lanes`` 3.66 m lanes; valid region keeps 36.1 m at both ends."""
    lanes = [
        {"id": i, "left": [[0.0, -(i - 1) * LANE], [length, -(i - 1) * LANE]],
         "right": [[0.0, -i * LANE], [length, -i * LANE]]}
        for i in range(1, n_lanes + 1)
    ]
    return Road.from_dict({"name": "test", "length": length, "lanes": lanes,
                           "valid": {"look_ahead": 36.1}})


class LogBuilder:
    """Collects vehicle trajectories (centre positions per frame) into a :class:`TrafficLog`."""

    def __init__(self, dt: float = DT) -> None:
        self.dt = dt
        self.rows: list[dict[str, np.ndarray]] = []

    def add(self, vehicle_id: int, frames, x, y, length: float = CAR_LENGTH,
            width: float = CAR_WIDTH) -> LogBuilder:
        frames = np.asarray(frames, dtype=np.int64)
        x = np.broadcast_to(np.asarray(x, dtype=np.float64), frames.shape)
        y = np.broadcast_to(np.asarray(y, dtype=np.float64), frames.shape)
        dx, dy = np.gradient(x) if len(x) > 1 else [0.0], np.gradient(y) if len(y) > 1 else [0.0]
        self.rows.append({
            "vehicle_id": np.full(frames.shape, vehicle_id),
            "frame": frames,
            "time": frames * self.dt,
            "x": x,
            "y": y,
            "heading": np.arctan2(dy, dx) * np.ones(frames.shape),
            "speed": np.hypot(dx, dy) / self.dt * np.ones(frames.shape),
            "length": np.full(frames.shape, length),
            "width": np.full(frames.shape, width),
            "vehicle_class": np.full(frames.shape, CAR),
            "lane": np.zeros(frames.shape),
        })
        return self

    def constant_speed(self, vehicle_id: int, frames, x0: float, y: float, speed: float,
                       **size) -> LogBuilder:
        """A vehicle at constant ``speed`` [m/s] along +x from ``x0`` at the first frame."""
        frames = np.asarray(frames)
        return self.add(vehicle_id, frames, x0 + speed * self.dt * (frames - frames[0]), y,
                        **size)

    def build(self, site: str = "test") -> TrafficLog:
        arrays = {name: np.concatenate([row[name] for row in self.rows]) for name in FIELDS}
        return TrafficLog(**arrays, dt=self.dt, site=site).sorted()


def smoothstep(t: np.ndarray) -> np.ndarray:
    """0 before 0, 1 after 1, a smooth S between (zero slope at both ends)."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def realistic_log(seed: int = 0, n_vehicles: int = 16, n_frames: int = 900) -> TrafficLog:
    """Vehicles with varying accelerations, lane changes and stops, positions perturbed by
    noise smoothed with a centred 1.5 s moving average (like NGSIM after smoothing)."""
    rng = np.random.default_rng(seed)
    builder = LogBuilder()
    window = 15
    for vehicle in range(1, n_vehicles + 1):
        start = int(rng.integers(0, n_frames // 4))
        frames = np.arange(start, n_frames)
        steps = len(frames)
        # Speed: random acceleration held for 2 s at a time, within [0, 20] m/s.
        acceleration = np.repeat(rng.uniform(-1.5, 1.5, steps // 20 + 1), 20)[:steps]
        speed = np.empty(steps)
        speed[0] = rng.uniform(4, 14)
        for t in range(1, steps):
            speed[t] = np.clip(speed[t - 1] + acceleration[t] * DT, 0.0, 20.0)
        if vehicle % 2:  # a stop: brake to standstill, wait 4 s, drive on
            stop = int(rng.integers(steps // 5, steps // 2))
            brake = np.clip(speed[stop] - 3.0 * DT * np.arange(steps - stop), 0.0, None)
            speed[stop:] = np.minimum(speed[stop:], brake)
            standing = stop + int(np.argmax(brake == 0))
            speed[standing: standing + 40] = 0.0
            restart = np.minimum(speed[standing + 40:], 1.5 * DT * np.arange(
                1, steps - standing - 40 + 1))
            speed[standing + 40:] = restart
        x = 10.0 + np.concatenate([[0.0], np.cumsum(speed[1:] * DT)])
        lane = int(rng.integers(1, 4))
        y = np.full(steps, lane_center(lane))
        for _ in range(2):  # two lane changes of 4 s to a neighbouring lane
            begin = int(rng.integers(0, steps - 40))
            target = lane + (1 if lane < 3 and (lane == 1 or rng.random() < 0.5) else -1)
            y += (lane_center(target) - lane_center(lane)) * smoothstep(
                (np.arange(steps) - begin) / 40)
            lane = target
        noise = rng.normal(0.0, 0.05, (2, steps + window - 1))
        kernel = np.ones(window) / window
        x = x + np.convolve(noise[0], kernel, mode="valid")
        y = y + np.convolve(noise[1], kernel, mode="valid")
        builder.add(vehicle, frames, x, y)
    return builder.build()

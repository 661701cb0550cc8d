"""Metric definitions: what is measured per episode, and how episodes are aggregated.

**Per episode** (one row of ``episodes.csv``; the evaluator fills them, see
:mod:`traffic_mpc.evaluate.evaluator` for the protocol). "Control" is the part of the
episode after the warm-up, up to the step that ends it:

- ``outcome``: why the episode ended (:class:`~traffic_mpc.sim.world.TerminationReason`
  name: ``arrived``, ``collision_ahead``, ``collision_side``, ``collision_behind``,
  ``off_road``, ``end_of_log``); the first that holds, in that order, at the ending step;
- ``success``: ``outcome == arrived`` (reached the end of the valid region with no
  collision and on the road);
- ``success_ignoring_rear_end``: the episode driven on through rear-end hits (a collision
  classified *behind* at first contact; that vehicle is ignored from then on) arrives.
  Equal to ``success`` unless the ego was hit from behind ("success_alt" of later work);
- ``collision_ahead``, ``collision_behind``, ``collision_side``: the collision flags at
  the ending step (several may be set; the classification is the world's, by the overlap
  geometry, :mod:`traffic_mpc.sim.geometric_costs`); ``collision`` is any of them;
  ``collided_with``: the logged id of the vehicle whose contact ended the episode (the
  most serious, as ``outcome``; the hitter, for a rear-end hit), -1 without a collision;
  ``off_road``: the ego's centre left the road;
- ``distance`` [m]: path length driven under control; ``time`` [s]: control steps × dt;
  ``mean_speed`` [m/s]: distance / time;
- comfort, with the nuPlan bounds (:data:`COMFORT_BOUNDS`), over the control steps:
  ``beyond_longitudinal_acceleration`` share of steps with the applied acceleration
  outside [-4.05, 2.40] m/s²; ``beyond_lateral_acceleration`` share with
  ``|curvature| speed² > 4.89`` m/s² (speed after the step); ``beyond_jerk`` share with
  ``|a_t - a_{t-1}| / dt > 4.13`` m/s³ (``a_{t-1}`` of the first control step is the last
  warm-up action: a jump at the hand-over counts); ``beyond_comfort`` share beyond any;
- ``proximity_cost``, ``lane_cost``, ``off_road_cost``: mean of each cost term (the
  world's exact geometric costs, in [0, 1]) over the control steps;
- ``ade``, ``fde`` [m]: mean and final distance between the ego's centre and its logged
  vehicle's centre at the same frame, over the control steps at which that vehicle is in
  the log (empty, hence NaN, if there are none).

**Aggregates** over the scored episodes (:func:`aggregate`): proportions with a 95 %
Wilson score interval (good at rates near 0 and 1, where the normal one fails), means
with a 95 % normal interval ``mean ± 1.96 s / sqrt(n)`` (NaN episodes left out; cut to
the metric's range: every mean metric is >= 0, shares and costs <= 1). Both are
closed-form, so the same episodes always give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: nuPlan comfort bounds (REFERENCE.md, "Peers"): longitudinal acceleration [m/s²] low
#: and high, lateral acceleration [m/s²], jerk [m/s³].
COMFORT_BOUNDS = {
    "longitudinal_acceleration": (-4.05, 2.40),
    "lateral_acceleration": 4.89,
    "jerk": 4.13,
}
#: z of the 95 % two-sided confidence intervals.
Z95 = 1.959963984540054

#: Per-episode columns of ``episodes.csv``, in order, with their units.
EPISODE_COLUMNS: dict[str, str] = {
    "episode": "1",
    "recording": "",
    "vehicle_id": "1",
    "start_frame": "1",
    "scored": "bool",
    "log_arrives": "bool",
    "outcome": "",
    "success": "bool",
    "success_ignoring_rear_end": "bool",
    "outcome_ignoring_rear_end": "",
    "collision": "bool",
    "collision_ahead": "bool",
    "collision_behind": "bool",
    "collision_side": "bool",
    "collided_with": "1",
    "off_road": "bool",
    "end_of_log": "bool",
    "control_steps": "1",
    "distance": "m",
    "time": "s",
    "mean_speed": "m/s",
    "beyond_longitudinal_acceleration": "1",
    "beyond_lateral_acceleration": "1",
    "beyond_jerk": "1",
    "beyond_comfort": "1",
    "proximity_cost": "1",
    "lane_cost": "1",
    "off_road_cost": "1",
    "ade": "m",
    "fde": "m",
    "handed_over": "1",
}

#: Aggregated metrics: name -> (column, kind, unit). Proportions are shown in percent.
AGGREGATES: dict[str, tuple[str, str, str]] = {
    "success": ("success", "proportion", "1"),
    "success_ignoring_rear_end": ("success_ignoring_rear_end", "proportion", "1"),
    "collision": ("collision", "proportion", "1"),
    "collision_ahead": ("collision_ahead", "proportion", "1"),
    "collision_behind": ("collision_behind", "proportion", "1"),
    "collision_side": ("collision_side", "proportion", "1"),
    "off_road": ("off_road", "proportion", "1"),
    "end_of_log": ("end_of_log", "proportion", "1"),
    "distance": ("distance", "mean", "m"),
    "time": ("time", "mean", "s"),
    "mean_speed": ("mean_speed", "mean", "m/s"),
    "beyond_longitudinal_acceleration": ("beyond_longitudinal_acceleration", "mean", "1"),
    "beyond_lateral_acceleration": ("beyond_lateral_acceleration", "mean", "1"),
    "beyond_jerk": ("beyond_jerk", "mean", "1"),
    "beyond_comfort": ("beyond_comfort", "mean", "1"),
    "proximity_cost": ("proximity_cost", "mean", "1"),
    "lane_cost": ("lane_cost", "mean", "1"),
    "off_road_cost": ("off_road_cost", "mean", "1"),
    "ade": ("ade", "mean", "m"),
    "fde": ("fde", "mean", "m"),
}


@dataclass(frozen=True)
class Estimate:
    """An aggregate: ``value`` with its 95 % interval ``[low, high]`` over ``n`` episodes."""

    value: float
    low: float
    high: float
    n: int
    kind: str
    unit: str

    def as_json(self) -> dict:
        return {"value": _finite(self.value), "ci_low": _finite(self.low),
                "ci_high": _finite(self.high), "n": self.n, "kind": self.kind,
                "unit": self.unit, "ci": "95% Wilson score" if self.kind == "proportion"
                else "95% normal (mean +- 1.96 s/sqrt(n))"}


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """Proportion ``successes / n`` and its Wilson score interval; NaNs for ``n = 0``."""
    if n == 0:
        return math.nan, math.nan, math.nan
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return p, max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: np.ndarray, z: float = Z95) -> tuple[float, float, float, int]:
    """Mean of the finite ``values``, its normal interval, and how many were finite."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(values.mean())
    if n == 1:
        return mean, mean, mean, 1
    half = z * float(values.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def aggregate(rows: list[dict]) -> dict[str, Estimate]:
    """Every metric of :data:`AGGREGATES` over the episode ``rows`` (already selected)."""
    result = {}
    for name, (column, kind, unit) in AGGREGATES.items():
        values = np.array([row[column] for row in rows], dtype=np.float64)
        if kind == "proportion":
            value, low, high = wilson_interval(int(values.sum()), len(values))
            result[name] = Estimate(value, low, high, len(values), kind, unit)
        else:
            value, low, high, n = mean_interval(values)
            # Every mean metric is non-negative, and shares and costs are at most 1.
            low = max(low, 0.0) if n else low
            high = min(high, 1.0) if n and unit == "1" else high
            result[name] = Estimate(value, low, high, n, kind, unit)
    return result


def outcome_counts(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    return dict(sorted(counts.items()))

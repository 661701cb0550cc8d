"""Road geometry: lanes, markings, road edges and the valid region of one site.

The road frame (used everywhere inside traffic_mpc) is right-handed with z up:

* origin at the upstream end of the section, on the left road edge;
* x [m] along the direction of travel;
* y [m] to the left of the direction of travel, so the road lies at y <= 0
  (NGSIM's Local_X, measured to the right from the left edge, is -y);
* heading [rad] counter-clockwise from +x, curvature [1/m] positive to the left.

A site is described by a TOML file in ``envs/`` (see ``envs/i80.toml`` for the
commented format). Every lane is given by its left and right boundaries as
piecewise-linear polylines ``y(x)`` over the lane's extent in x; on-ramps and
off-ramps are lanes with a shorter extent whose boundaries may taper. Lane
markings and road edges are derived from the lanes, so they can never disagree
with them: a lane boundary with road on both sides is a lane marking, one with
road on one side only is a road edge.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from traffic_mpc.errors import InputError

ROADS_DIR = Path(__file__).resolve().parent.parent / "envs"

#: Look-ahead kept between the valid region and both ends of the section:
#: 130 km/h for 1 s, as in the reference (REFERENCE.md, "Valid region").
DEFAULT_LOOK_AHEAD = 130.0 / 3.6

#: Boundaries closer than this [m] are the same line.
_BOUNDARY_TOLERANCE = 0.05


@dataclass(frozen=True)
class Lane:
    """One lane: id as in the site's logs (NGSIM Lane_ID), kind and its boundaries.

    ``left`` and ``right`` are ``(K, 2)`` arrays of (x, y) vertices [m] with
    increasing x; the lane exists for ``x_start <= x <= x_end``.
    """

    id: int
    kind: str
    left: np.ndarray
    right: np.ndarray

    @property
    def x_start(self) -> float:
        return float(max(self.left[0, 0], self.right[0, 0]))

    @property
    def x_end(self) -> float:
        return float(min(self.left[-1, 0], self.right[-1, 0]))

    def left_y(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.left[:, 0], self.left[:, 1])

    def right_y(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.right[:, 0], self.right[:, 1])

    def center_y(self, x: np.ndarray) -> np.ndarray:
        return 0.5 * (self.left_y(x) + self.right_y(x))

    def width(self, x: np.ndarray) -> np.ndarray:
        return self.left_y(x) - self.right_y(x)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether points lie on this lane (boundaries included). Shapes broadcast."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        inside_x = (x >= self.x_start) & (x <= self.x_end)
        return inside_x & (y <= self.left_y(x)) & (y >= self.right_y(x))


@dataclass(frozen=True)
class Marking:
    """A painted line: ``kind`` is ``"lane"`` (between two lanes) or ``"edge"`` (road edge).

    ``points`` is a ``(K, 2)`` array of (x, y) vertices [m].
    """

    kind: str
    points: np.ndarray


@dataclass(frozen=True)
class Road:
    """The geometry of one site, loaded from its TOML file. See the module docstring."""

    name: str
    title: str
    length: float
    lanes: tuple[Lane, ...]
    valid_x: tuple[float, float]
    dt: float = 0.1
    ngsim_location: str = ""
    excluded_vehicles: frozenset[int] = frozenset()
    smoothing_window: float = 1.5
    source: str = ""
    _markings: list = field(default_factory=list, repr=False, compare=False)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path) -> Road:
        """Read a road TOML file; errors name the file and the field."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise InputError(path, f"cannot read road file: {error.strerror}") from None
        try:
            spec = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise InputError(path, f"not valid TOML: {error}") from None
        return cls.from_dict(spec, source=str(path))

    @classmethod
    def named(cls, name: str) -> Road:
        """The road of a known site (``i80``, ``us101``, ``synth``) or a path to a TOML file."""
        candidate = Path(name)
        if candidate.suffix == ".toml" or candidate.exists():
            return cls.load(candidate)
        path = ROADS_DIR / f"{name}.toml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in ROADS_DIR.glob("*.toml")))
            raise InputError(name, f"unknown site; known sites: {known}")
        return cls.load(path)

    @classmethod
    def from_dict(cls, spec: dict, source: str = "<dict>") -> Road:
        def need(table: dict, key: str, kind, where: str):
            if key not in table:
                raise InputError(source, f"missing field '{where}{key}'")
            value = table[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind):
                raise InputError(
                    source, f"field '{where}{key}' should be {kind.__name__}, got {value!r}"
                )
            return value

        def polyline(value, where: str) -> np.ndarray:
            try:
                points = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise InputError(source, f"field '{where}' is not a list of [x, y] pairs") from None
            if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
                raise InputError(source, f"field '{where}' needs at least two [x, y] pairs")
            if not np.all(np.isfinite(points)):
                raise InputError(source, f"field '{where}' has a non-finite coordinate")
            if np.any(np.diff(points[:, 0]) <= 0):
                raise InputError(source, f"field '{where}' must have strictly increasing x")
            return points

        name = need(spec, "name", str, "")
        length = need(spec, "length", float, "")
        if length <= 0:
            raise InputError(source, f"field 'length' must be positive, got {length}")
        lanes = []
        for index, lane_spec in enumerate(need(spec, "lanes", list, "")):
            where = f"lanes[{index}]."
            lane = Lane(
                id=need(lane_spec, "id", int, where),
                kind=lane_spec.get("kind", "main"),
                left=polyline(need(lane_spec, "left", list, where), where + "left"),
                right=polyline(need(lane_spec, "right", list, where), where + "right"),
            )
            xs = np.linspace(lane.x_start, lane.x_end, 64)
            if lane.x_end <= lane.x_start or np.any(lane.width(xs) < -_BOUNDARY_TOLERANCE):
                raise InputError(
                    source, f"lane {lane.id}: right boundary lies left of the left one"
                )
            lanes.append(lane)
        if not lanes:
            raise InputError(source, "no lanes defined")
        if len({lane.id for lane in lanes}) != len(lanes):
            raise InputError(source, "lane ids must be unique")
        valid = spec.get("valid", {})
        look_ahead = float(valid.get("look_ahead", DEFAULT_LOOK_AHEAD))
        valid_x = (
            float(valid.get("x_min", look_ahead)),
            float(valid.get("x_max", length - look_ahead)),
        )
        if not 0 <= valid_x[0] < valid_x[1] <= length:
            raise InputError(source, f"valid region {valid_x} must lie inside [0, {length}]")
        ngsim = spec.get("ngsim", {})
        road = cls(
            name=name,
            title=spec.get("title", name),
            length=length,
            lanes=tuple(lanes),
            valid_x=valid_x,
            dt=float(spec.get("dt", 0.1)),
            ngsim_location=str(ngsim.get("location", "")),
            excluded_vehicles=frozenset(int(v) for v in ngsim.get("excluded_vehicles", [])),
            smoothing_window=float(ngsim.get("smoothing_window", 1.5)),
            source=source,
        )
        return road

    def to_toml(self) -> str:
        """The road as TOML text that :meth:`from_dict` reads back to an equal road."""

        def points(array: np.ndarray) -> str:
            return "[" + ", ".join(f"[{x:.3f}, {y:.3f}]" for x, y in array) + "]"

        lines = [
            f"name = {_toml_string(self.name)}",
            f"title = {_toml_string(self.title)}",
            f"length = {self.length:.3f}",
            f"dt = {self.dt}",
            "",
            "[valid]",
            f"x_min = {self.valid_x[0]:.3f}",
            f"x_max = {self.valid_x[1]:.3f}",
            "",
            "[ngsim]",
            f"location = {_toml_string(self.ngsim_location)}",
            f"smoothing_window = {self.smoothing_window}",
            f"excluded_vehicles = {sorted(self.excluded_vehicles)}",
        ]
        for lane in self.lanes:
            lines += [
                "",
                "[[lanes]]",
                f"id = {lane.id}",
                f"kind = {_toml_string(lane.kind)}",
                f"left = {points(lane.left)}",
                f"right = {points(lane.right)}",
            ]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ queries
    @property
    def lane_ids(self) -> np.ndarray:
        return np.array([lane.id for lane in self.lanes], dtype=np.int64)

    def lane(self, lane_id: int) -> Lane:
        for lane in self.lanes:
            if lane.id == lane_id:
                return lane
        raise KeyError(f"road {self.name} has no lane {lane_id}")

    def lane_at(self, x, y) -> np.ndarray:
        """Lane id at each point, 0 off the road. Where two lanes touch, the left one wins."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        result = np.zeros(np.broadcast(x, y).shape, dtype=np.int64)
        for lane in sorted(self.lanes, key=lambda lane: -lane.center_y(lane.x_start)):
            inside = lane.contains(x, y) & (result == 0)
            result[inside] = lane.id
        return result

    def is_off_road(self, x, y) -> np.ndarray:
        """True where a point lies on no lane (outside the road edges or the section)."""
        return self.lane_at(x, y) == 0

    def in_valid_region(self, x) -> np.ndarray:
        """True where an ego may be controlled (its view stays on the mapped section)."""
        x = np.asarray(x, dtype=np.float64)
        return (x >= self.valid_x[0]) & (x <= self.valid_x[1])

    # ------------------------------------------------------------------ lane topology
    def successor(self, lane_id: int) -> int | None:
        """The lane that continues lane ``lane_id`` where it ends, or None.

        A successor starts where the lane ends (within ``_BOUNDARY_TOLERANCE``) with its
        centre there strictly between the lane's boundaries (US-101: on-ramp 7 ->
        auxiliary lane 6 -> off-ramp 8). A lane that reaches the end of the section, or
        that ends (a tapered on-ramp, of zero width at its end), has none.
        """
        lane = self.lane(lane_id)
        x = lane.x_end
        left, right = float(lane.left_y(x)), float(lane.right_y(x))
        for other in self.lanes:
            if other.id == lane.id or abs(other.x_start - x) > _BOUNDARY_TOLERANCE:
                continue
            if right < float(other.center_y(other.x_start)) < left:
                return other.id
        return None

    def route(self, lane_id: int) -> list[int]:
        """Lane ``lane_id`` and the lanes that continue it, one after the other (ids)."""
        route = [lane_id]
        while (following := self.successor(route[-1])) is not None and following not in route:
            route.append(following)
        return route

    def route_end(self, lane_id: int) -> float:
        """Where lane ``lane_id`` and the lanes that continue it end [m]: the end of the
        section for a mainline lane, less for a lane whose route ends inside the section
        (:meth:`ends_inside`, an on-ramp), whose traffic must merge (:meth:`merges_into`)."""
        return self.lane(self.route(lane_id)[-1]).x_end

    def ends_inside(self, lane_id: int) -> bool:
        """Whether the route of lane ``lane_id`` (it and its successors) ends before the end
        of the section does (by more than ``_BOUNDARY_TOLERANCE``)."""
        return self.route_end(lane_id) < self.length - _BOUNDARY_TOLERANCE

    def merges_into(self, lane_id: int) -> int | None:
        """The lane traffic on lane ``lane_id`` merges into, because its route (the lane and
        its successors) ends inside the section; None where the route reaches the end of
        the section (within ``_BOUNDARY_TOLERANCE``).

        Of the lanes that share a boundary with the route's last lane just before its end
        (1 m, or half its length if shorter) and whose own route goes on further, the one
        that goes on furthest; on a tie the left one. The synth and I-80 on-ramps merge
        into lane 6.
        """
        if not self.ends_inside(lane_id):
            return None
        last = self.lane(self.route(lane_id)[-1])
        end = last.x_end
        x = end - min(1.0, (end - last.x_start) / 2)
        best, best_key = None, None
        for other in self.lanes:
            if other.id == last.id or not other.x_start <= x <= other.x_end:
                continue
            beside = (
                abs(float(other.right_y(x) - last.left_y(x))) <= _BOUNDARY_TOLERANCE
                or abs(float(other.left_y(x) - last.right_y(x))) <= _BOUNDARY_TOLERANCE
            )
            goes_on = self.route_end(other.id)
            if not beside or goes_on <= end + _BOUNDARY_TOLERANCE:
                continue
            key = (goes_on, float(other.center_y(x)))
            if best_key is None or key > best_key:
                best, best_key = other.id, key
        return best

    @property
    def y_range(self) -> tuple[float, float]:
        """Lowest right boundary and highest left boundary over all lanes [m]."""
        low = min(float(lane.right[:, 1].min()) for lane in self.lanes)
        high = max(float(lane.left[:, 1].max()) for lane in self.lanes)
        return low, high

    @property
    def markings(self) -> list[Marking]:
        """Lane markings and road edges, derived from the lane boundaries (cached)."""
        if not self._markings:
            self._markings.extend(self._derive_markings())
        return self._markings

    def _derive_markings(self, spacing: float = 0.5) -> list[Marking]:
        markings = []
        probe = 4 * _BOUNDARY_TOLERANCE
        for lane in self.lanes:
            for boundary, outward in ((lane.left, +1.0), (lane.right, -1.0)):
                x0, x1 = lane.x_start, lane.x_end
                xs = np.unique(
                    np.concatenate([np.arange(x0, x1, spacing), boundary[:, 0], [x1]])
                )
                xs = xs[(xs >= x0) & (xs <= x1)]
                ys = np.interp(xs, boundary[:, 0], boundary[:, 1])
                road_beyond = ~self.is_off_road(xs, ys + outward * probe)
                if outward < 0:
                    # A shared boundary is drawn once, from the lane on its left.
                    kinds = np.where(road_beyond, "", "edge")
                else:
                    kinds = np.where(road_beyond, "lane", "edge")
                markings.extend(_runs_to_markings(xs, ys, kinds))
        return markings


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _runs_to_markings(xs: np.ndarray, ys: np.ndarray, kinds: np.ndarray) -> list[Marking]:
    """Split a sampled boundary into polylines of constant kind (empty kind = not drawn)."""
    markings = []
    start = 0
    for index in range(1, len(xs) + 1):
        if index == len(xs) or kinds[index] != kinds[start]:
            if kinds[start] and index - start >= 2:
                points = np.stack([xs[start:index], ys[start:index]], axis=1)
                markings.append(Marking(kind=str(kinds[start]), points=points))
            start = index
    return markings

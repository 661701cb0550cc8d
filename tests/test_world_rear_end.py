"""The replay world's ``through_rear_end`` option: a logged car runs into a slow ego from
behind; which vehicle was collided with; the remembered hitters and their capacity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sim_samples import LogBuilder, lane_center, straight_road

from traffic_mpc.sim import world as world_module
from traffic_mpc.sim.world import ReplayWorld, TerminationReason

D = torch.float64
FRAMES = 300
#: The hitter (15 m/s) starts 30 m behind the ego (5 m/s): the 4.5 m cars touch when the
#: centre gap, closing at 1 m per step, is 4.5 m, at step 26, and it has passed through
#: the ego (gap -4.5 m) after step 34.
HIT_STEP, THROUGH_STEP = 26, 34
#: The ego's front reaches the car stopped at x = 120 m when its centre is at 115.5 m:
#: 55.5 m at 0.5 m per step, step 111.
AHEAD_STEP = 111


def rear_end_log(ego_x: float = 60.0, stopped: bool = True, second_hitter: bool = False):
    """Ego 1 at 5 m/s in lane 2 from ``ego_x``; car 2 at 15 m/s 30 m behind it; with
    ``stopped`` car 4 stands at x = 120 m in lane 2; with ``second_hitter`` car 3 follows
    car 2 20 m behind it at the same speed (it hits the ego at step 46)."""
    frames = np.arange(FRAMES)
    builder = (LogBuilder()
               .constant_speed(1, frames, ego_x, lane_center(2), 5.0)
               .constant_speed(2, frames, ego_x - 30.0, lane_center(2), 15.0))
    if stopped:
        builder.add(4, frames, 120.0, lane_center(2))
    if second_hitter:
        builder.constant_speed(3, frames, ego_x - 50.0, lane_center(2), 15.0)
    return builder.build()


def drive(world: ReplayWorld, steps: int) -> list:
    """Coast the single ego (it keeps its logged 5 m/s) for ``steps`` steps, or until done."""
    results = []
    for _ in range(steps):
        results.append(world.step(torch.zeros(1, 2, dtype=D)))
        if results[-1].done.item():
            break
    return results


def test_without_the_option_a_rear_end_hit_ends_the_episode_with_the_hitter():
    world = ReplayWorld(rear_end_log(), straight_road(), ncond=0, dtype=D)
    world.reset([1], [0])
    results = drive(world, 200)
    assert len(results) == HIT_STEP
    last = results[-1]
    assert last.reason.item() == TerminationReason.COLLISION_BEHIND
    assert last.collision[0].tolist() == [False, True, False]
    assert last.collided_with.item() == 2
    assert not last.rear_end_ignored.item() and last.rear_end_hitter.item() == -1
    assert [r.collided_with.item() for r in results[:-1]] == [-1] * (HIT_STEP - 1)


def test_through_rear_end_the_hit_is_reported_once_and_a_contact_ahead_ends_it():
    world = ReplayWorld(rear_end_log(), straight_road(), ncond=0, dtype=D,
                        through_rear_end=True)
    world.reset([1], [0])
    results = drive(world, 200)
    assert len(results) == AHEAD_STEP
    ignored = [step + 1 for step, r in enumerate(results) if r.rear_end_ignored.item()]
    assert ignored == [HIT_STEP]
    hit = results[HIT_STEP - 1]
    assert hit.rear_end_hitter.item() == 2 and hit.collided_with.item() == -1
    assert not hit.done.item() and hit.reason.item() == TerminationReason.NONE
    assert hit.collision[0].tolist() == [False, True, False]
    # While car 2 drives through the ego (behind, then alongside, then ahead) nothing counts.
    for result in results[HIT_STEP:THROUGH_STEP]:
        assert not result.collision.any() and not result.done.item()
        assert result.rear_end_hitter.item() == -1 and result.collided_with.item() == -1
    last = results[-1]
    assert last.reason.item() == TerminationReason.COLLISION_AHEAD
    assert last.collided_with.item() == 4 and last.collision[0].tolist() == [True, False, False]
    assert last.state[0, 0].item() == pytest.approx(60.0 + 0.5 * AHEAD_STEP, abs=1e-6)


def test_the_option_leaves_other_collisions_alone():
    plain = ReplayWorld(rear_end_log(), straight_road(), ncond=0, dtype=D)
    through = ReplayWorld(rear_end_log(), straight_road(), ncond=0, dtype=D,
                          through_rear_end=True)
    plain.reset([2], [0])  # car 2 as the ego: it runs into car 1
    through.reset([2], [0])
    for a, b in zip(drive(plain, 200), drive(through, 200)):
        for name in ("state", "costs", "collision", "reason", "done", "collided_with"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
    # Car 2 runs into car 1 from behind: ahead from its point of view.
    assert a.reason.item() == TerminationReason.COLLISION_AHEAD and a.collided_with.item() == 1


def test_arrival_in_the_step_of_an_ignored_hit_ends_the_episode():
    # The ego arrives (x >= 363.9 m) at step 26, the step car 2 hits it.
    road = straight_road()
    log = rear_end_log(ego_x=351.0, stopped=False)
    plain = ReplayWorld(log, road, ncond=0, dtype=D)
    plain.reset([1], [0])
    assert drive(plain, 100)[-1].reason.item() == TerminationReason.COLLISION_BEHIND
    world = ReplayWorld(log, road, ncond=0, dtype=D, through_rear_end=True)
    world.reset([1], [0])
    results = drive(world, 100)
    assert len(results) == HIT_STEP
    last = results[-1]
    assert last.reason.item() == TerminationReason.ARRIVED and last.done.item()
    assert last.rear_end_ignored.item() and last.rear_end_hitter.item() == 2
    assert last.collided_with.item() == -1


def test_a_hitter_beyond_the_memory_is_a_collision_and_reset_forgets(monkeypatch):
    monkeypatch.setattr(world_module, "REAR_END_MEMORY", 1)
    world = ReplayWorld(rear_end_log(stopped=False, second_hitter=True), straight_road(),
                        ncond=0, dtype=D, through_rear_end=True)
    world.reset([1], [0])
    results = drive(world, 200)
    assert len(results) == 46
    assert [step + 1 for step, r in enumerate(results) if r.rear_end_ignored.item()] == [HIT_STEP]
    last = results[-1]
    assert last.reason.item() == TerminationReason.COLLISION_BEHIND
    assert last.collided_with.item() == 3 and not last.rear_end_ignored.item()
    # A reset of the ego forgets car 2: its hit is ignored (and reported) again.
    world.reset([1], [0], egos=[0])
    results = drive(world, HIT_STEP)
    assert results[-1].rear_end_ignored.item() and results[-1].rear_end_hitter.item() == 2
    assert not results[-1].done.item()


def test_egos_keep_their_own_hitters():
    # Ego 0 is hit by car 2 at step 26; ego 1 (car 4, stopped ahead) is not hit by it yet
    # and then is, at its own first contact: both hits are reported, each once.
    world = ReplayWorld(rear_end_log(), straight_road(), ncond=0, dtype=D,
                        through_rear_end=True)
    world.reset([1, 4], [0, 0])
    hits = []
    for step in range(1, 80):
        result = world.step(torch.zeros(2, 2, dtype=D))
        for ego in (0, 1):
            if result.rear_end_ignored[ego].item():
                hits.append((step, ego, result.rear_end_hitter[ego].item()))
    # Car 2 (from x = 30 m at 15 m/s) touches stopped car 4 (x = 120 m) at 30 + 1.5 k >= 115.5.
    assert hits == [(HIT_STEP, 0, 2), (57, 1, 2)]

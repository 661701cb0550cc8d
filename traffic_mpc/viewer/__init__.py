"""The pygame viewer (``traffic-mpc view``): replay logs, inspect a vehicle's ego view and
costs, drive it by hand or hand it to an agent, and record what is shown as mp4.

Modules: :mod:`~traffic_mpc.viewer.app` (state, events, drawing, :func:`run_viewer`),
:mod:`~traffic_mpc.viewer.camera` (the wrapped road view), :mod:`~traffic_mpc.viewer.draw`
(road and vehicles), :mod:`~traffic_mpc.viewer.panels` (side panels),
:mod:`~traffic_mpc.viewer.keys` (bindings and help), :mod:`~traffic_mpc.viewer.record`
(what is shown as pixels, for mp4 recordings), :mod:`~traffic_mpc.viewer.playback` (a log
indexed by frame),
:mod:`~traffic_mpc.viewer.inspect` (ego view, costs, events of a vehicle),
:mod:`~traffic_mpc.viewer.driving` (episodes in the replay world, driven by hand or by
any agent of :mod:`traffic_mpc.evaluate.agents`).
"""

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no banner on the command line

from traffic_mpc.viewer.app import Viewer, run_viewer  # noqa: E402

__all__ = ["Viewer", "run_viewer"]

"""Evaluation: agents, the evaluator, its metrics, reports and the results table.

- :mod:`~traffic_mpc.evaluate.agents`: the agent interface (:class:`Observation`,
  :class:`Agent`), the baselines (``no-action``, ``expert``, ``idm``) and
  :func:`make_agent`;
- :mod:`~traffic_mpc.evaluate.evaluator`: :func:`evaluate` (``traffic-mpc evaluate``);
- :mod:`~traffic_mpc.evaluate.metrics`: the metric definitions and confidence intervals;
- :mod:`~traffic_mpc.evaluate.report`: CSV, JSON, markdown, TensorBoard;
- :mod:`~traffic_mpc.evaluate.results_table`: ``experiments/RESULTS.md`` from summaries;
- :mod:`~traffic_mpc.evaluate.videos`: top-down and ego-view videos of episodes;
- :mod:`~traffic_mpc.evaluate.commands`: the command-line functions (``evaluate``,
  ``evaluate table``), light to import.
"""

import importlib

#: Public names and the submodule that defines each; imported on first use, so that
#: importing a light submodule (``commands``, ``results_table``) does not import torch.
_EXPORTS = {
    "Agent": "agents",
    "ExpertAgent": "agents",
    "IDMAgent": "agents",
    "IDMAgentConfig": "agents",
    "NoActionAgent": "agents",
    "Observation": "agents",
    "make_agent": "agents",
    "EpisodeRunner": "evaluator",
    "EpisodeSpec": "evaluator",
    "evaluate": "evaluator",
    "split_episodes": "evaluator",
    "write_results_table": "results_table",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""State-action-cost episodes: extraction from logs, the on-disk format, training windows.

- :func:`extract_dataset` (``data extract``): replay logs, write a sharded dataset;
- :func:`open_dataset` / :class:`DatasetInfo`: read and validate a dataset;
- :class:`EpisodeWindows`: the torch ``Dataset`` of training windows, :func:`to_device`;
- :func:`dataset_summary` / :func:`format_summary` (``data info``).

The format (manifest fields, arrays, time alignment) is documented in
:mod:`traffic_mpc.data.manifest` and :mod:`traffic_mpc.data.shards`.
"""

from traffic_mpc.data.extract import extract_dataset
from traffic_mpc.data.info import dataset_summary, format_summary
from traffic_mpc.data.manifest import (
    FORMAT_VERSION,
    TIME_ALIGNMENT,
    DatasetInfo,
    open_dataset,
)
from traffic_mpc.data.windows import EpisodeWindows, to_device

__all__ = [
    "FORMAT_VERSION",
    "TIME_ALIGNMENT",
    "DatasetInfo",
    "EpisodeWindows",
    "dataset_summary",
    "extract_dataset",
    "format_summary",
    "open_dataset",
    "to_device",
]

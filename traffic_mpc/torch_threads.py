"""Temporarily set torch's intra-op thread count (restored afterwards, even on error)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads; small batched tensors (a viewer's batch-1
    ego view, a benchmark pinned to one core) run faster on one thread than on two."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

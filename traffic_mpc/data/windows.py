"""Training windows: a ``torch.utils.data.Dataset`` streaming from a memory-mapped dataset.

A window of an episode starts at row ``s`` and spans ``L = ncond + npred`` rows. With the
time alignment of the format (:data:`traffic_mpc.data.manifest.TIME_ALIGNMENT`), the
window is::

    context_views, context_states   rows s .. s+ncond-1          (the last one is "now")
    actions                         rows s+ncond-1 .. s+L-2      (the first one acts "now")
    future_views, future_states,
    future_costs                    rows s+ncond .. s+L-1

so ``actions[k]`` moves the ego from the state before ``future_states[k]`` to it: the first
action applied to the last context state gives the first future state.

Every window of every episode of the split (``length - L + 1`` per episode, starts every
``stride`` rows) is one index. An item is a pure function of its index (no randomness),
so several DataLoader workers give the same batches as one; shuffling is the sampler's
job: :meth:`EpisodeWindows.sampler` permutes with the seed and the epoch.

Reading a window is one contiguous slice per array (rows of an episode are contiguous),
copied from the page cache; nothing is loaded ahead. Memory maps are opened lazily in each
process and never pickled, so a DataLoader with any start method (fork or spawn) does not
copy the dataset into its workers. :meth:`EpisodeWindows.loader` builds a DataLoader whose
workers fill whole batches at once (:meth:`EpisodeWindows.batch`), converting views to
float directly into the batch tensors, in shared memory; the plain ``DataLoader`` with
default collation works too (one more copy per item).

Items (``dict`` of tensors; a batch adds a leading ``B``):
``context_views`` ``(ncond, C, H, W)`` float in [0, 1], ``context_states`` ``(ncond, S)``,
``actions`` ``(npred, 2)``, ``future_views`` ``(npred, C, H, W)``, ``future_states``
``(npred, S)``, ``future_costs`` ``(npred, 3)`` (unnormalised, in [0, 1]), ``ego_size``
``(2,)`` [m], ``episode`` and ``start`` (int64: episode id, first row of the window).
States and actions are normalised with the training split's statistics of the chosen
split kind when ``normalise`` is true (``(value - mean) / std``); ``view_dtype=torch.uint8``
returns views as stored (0..255), to convert on the accelerator instead with
:func:`to_device`: float32 windows are 2.2 MB each at the default view (20 + 30 frames), and
at 2,000 windows/s a 2-core CPU spends its time faulting in and writing 4.5 GB/s of fresh
shared memory; uint8 windows are a quarter of that (see ``traffic_mpc/benchmarks/data.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, get_worker_info

from traffic_mpc.data.manifest import DatasetInfo, open_dataset
from traffic_mpc.data.shards import LENGTH, ROW_OFFSET


class EpisodeWindows(Dataset):
    """Windows of ``ncond`` context and ``npred`` future steps over one split of a dataset.

    ``dataset``: a dataset folder (or an opened :class:`DatasetInfo`); ``split``: ``train``,
    ``val`` or ``test`` of ``split_kind`` (``random`` or ``recording``); ``seed``: fixes the
    sampler's window order (:meth:`sampler`); ``normalise``: states and actions scaled with
    the statistics of that split kind's training episodes (from the manifest); ``stride``:
    rows between consecutive window starts; ``view_dtype``: ``torch.float32`` (views in
    [0, 1]) or ``torch.uint8`` (as stored; see :func:`to_device`). Episodes shorter than
    ``ncond + npred`` steps give no window.
    """

    def __init__(
        self,
        dataset: str | Path | DatasetInfo,
        split: str = "train",
        split_kind: str = "random",
        ncond: int = 20,
        npred: int = 30,
        seed: int = 0,
        normalise: bool = True,
        stride: int = 1,
        view_dtype: torch.dtype = torch.float32,
    ) -> None:
        info = dataset if isinstance(dataset, DatasetInfo) else open_dataset(dataset)
        if ncond < 1 or npred < 1 or stride < 1:
            raise ValueError("ncond, npred and stride must be at least 1")
        self.path = info.path
        self.split, self.split_kind = split, split_kind
        self.ncond, self.npred, self.stride = ncond, npred, stride
        self.seed = seed
        self.view_dtype = view_dtype
        self.channels = info.channels
        self.normalisation = info.normalisation(split_kind) if normalise else None
        self._info: DatasetInfo | None = info

        chosen = np.asarray(info.split_episodes(split_kind, split), dtype=np.int64)
        shard_of, line_of = [], []
        for index, shard in enumerate(info.shards):
            shard_of.append(np.full(len(shard.episodes), index))
            line_of.append(np.arange(len(shard.episodes)))
        shard_of = np.concatenate(shard_of) if shard_of else np.zeros(0, np.int64)
        line_of = np.concatenate(line_of) if line_of else np.zeros(0, np.int64)
        table = info.episodes if info.shards else np.zeros((0, 6), np.int64)
        span = ncond + npred
        windows = np.maximum((table[chosen, LENGTH] - span) // stride + 1, 0)
        keep = windows > 0
        #: Per episode of the split with at least one window: id, shard, line in the shard,
        #: first row in the shard, number of windows.
        self.episode_ids = chosen[keep]
        self._shard = shard_of[chosen[keep]]
        self._line = line_of[chosen[keep]]
        self._row = table[chosen[keep], ROW_OFFSET]
        self._first_window = np.concatenate([[0], np.cumsum(windows[keep])])
        self.ego_sizes = self._read_ego_sizes(info)
        layout = info.layout
        image = info.manifest["image"]
        self._stored = [image["channels"].index(name) for name in image["stored_channels"]]
        self._ego_channel = (
            image["channels"].index(image["ego_channel"]) if layout.footprint_per_episode else None
        )
        self.view_shape = (len(image["channels"]), layout.height, layout.width)
        self.state_size = layout.state_size

    # --------------------------------------------------------------- structure
    def __len__(self) -> int:
        return int(self._first_window[-1])

    @property
    def n_episodes(self) -> int:
        return len(self.episode_ids)

    def _read_ego_sizes(self, info: DatasetInfo) -> np.ndarray:
        sizes = np.zeros((len(self._shard), 2), np.float32)
        for k, (shard, line) in enumerate(zip(self._shard, self._line)):
            sizes[k] = info.shards[shard]["ego_sizes"][line]
        return sizes

    def locate(self, index: int) -> tuple[int, int]:
        """``(episode id, first row of the window in its episode)`` of window ``index``."""
        k, start = self._where(index)
        return int(self.episode_ids[k]), start

    def _where(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"window {index} out of range (0..{len(self) - 1})")
        k = int(np.searchsorted(self._first_window, index, side="right")) - 1
        return k, int(index - self._first_window[k]) * self.stride

    def _shards(self):
        if self._info is None:  # reopened lazily after pickling (spawned workers)
            self._info = open_dataset(self.path)
        return self._info.shards

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_info"] = None  # memory maps stay out of pickles
        return state

    # ------------------------------------------------------------------- reading
    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[0] for key, value in self.batch([index], shared=False).items()}

    def batch(self, indices, shared: bool | None = None,
              out: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The windows ``indices`` as one batch (a leading ``B`` on every item), filled in
        place (into ``out``, tensors of :meth:`allocate`'s shapes, if given); inside a
        DataLoader worker the tensors are allocated in shared memory.

        Views are copied (uint8 to float, a vectorised cast) window by window and scaled to
        [0, 1] once for the whole batch: two streaming passes, the fastest way found.
        """
        shared = get_worker_info() is not None if shared is None else shared
        batch = self._allocate(len(indices), shared=shared) if out is None else out
        for slot, index in enumerate(indices):
            self._fill(batch, slot, int(index))
        if self.view_dtype.is_floating_point:
            batch["context_views"].mul_(1.0 / 255.0)
            batch["future_views"].mul_(1.0 / 255.0)
        return batch

    def allocate(self, size: int, pin_memory: bool = False) -> dict[str, torch.Tensor]:
        """Empty tensors for a batch of ``size`` windows (to fill with :meth:`batch`)."""
        batch = self._allocate(size, shared=False)
        return {k: v.pin_memory() for k, v in batch.items()} if pin_memory else batch

    def _allocate(self, size: int, shared: bool) -> dict[str, torch.Tensor]:
        c, h, w = self.view_shape
        shapes = {
            "context_views": ((size, self.ncond, c, h, w), self.view_dtype),
            "context_states": ((size, self.ncond, self.state_size), torch.float32),
            "actions": ((size, self.npred, 2), torch.float32),
            "future_views": ((size, self.npred, c, h, w), self.view_dtype),
            "future_states": ((size, self.npred, self.state_size), torch.float32),
            "future_costs": ((size, self.npred, 3), torch.float32),
            "ego_size": ((size, 2), torch.float32),
            "episode": ((size,), torch.int64),
            "start": ((size,), torch.int64),
        }
        return {key: _empty(shape, dtype, shared) for key, (shape, dtype) in shapes.items()}

    def _fill(self, batch: dict[str, torch.Tensor], slot: int, index: int) -> None:
        k, start = self._where(index)
        shard = self._shards()[self._shard[k]]
        first = int(self._row[k]) + start
        ncond, span = self.ncond, self.ncond + self.npred
        views = torch.from_numpy(np.asarray(shard["views"][first:first + span]))
        self._put_views(batch["context_views"][slot], views[:ncond], shard, k)
        self._put_views(batch["future_views"][slot], views[ncond:], shard, k)
        states = torch.from_numpy(np.array(shard["states"][first:first + span]))
        actions = torch.from_numpy(np.array(shard["actions"][first + ncond - 1:first + span - 1]))
        if self.normalisation is not None:
            norm = self.normalisation
            states = (states - torch.from_numpy(norm.state_mean)) / torch.from_numpy(
                norm.state_std)
            actions = (actions - torch.from_numpy(norm.action_mean)) / torch.from_numpy(
                norm.action_std)
        batch["context_states"][slot] = states[:ncond]
        batch["future_states"][slot] = states[ncond:]
        batch["actions"][slot] = actions
        batch["future_costs"][slot] = torch.from_numpy(
            np.asarray(shard["costs"][first + ncond:first + span]))
        batch["ego_size"][slot] = torch.from_numpy(self.ego_sizes[k])
        batch["episode"][slot] = int(self.episode_ids[k])
        batch["start"][slot] = start

    def _put_views(self, out: torch.Tensor, stored: torch.Tensor, shard, k: int) -> None:
        """Copy stored uint8 views ``(T, C_stored, H, W)`` into ``out`` ``(T, C, H, W)``
        (cast to ``out``'s dtype, not scaled), the ego channel from the episode's footprint."""
        low, high = self._stored[0], self._stored[-1] + 1
        if self._stored == list(range(low, high)):
            out[:, low:high].copy_(stored)
        else:
            for source, channel in enumerate(self._stored):
                out[:, channel].copy_(stored[:, source])
        if self._ego_channel is not None:
            footprint = torch.from_numpy(np.asarray(shard["footprints"][self._line[k], 0]))
            out[:, self._ego_channel].copy_(footprint.expand_as(out[:, self._ego_channel]))

    # ------------------------------------------------------------------ loading
    def sampler(self, epoch: int = 0, shuffle: bool = True) -> list[int]:
        """Window order of one epoch: a permutation fixed by ``(seed, epoch)``, or in order."""
        if not shuffle:
            return list(range(len(self)))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self), generator=generator).tolist()

    def loader(
        self,
        batch_size: int = 64,
        workers: int = 2,
        epoch: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        **kwargs,
    ) -> DataLoader:
        """A DataLoader over one epoch of this split whose workers fill whole batches
        (:meth:`batch`): no per-item collation copy."""
        batches = BatchSampler(self.sampler(epoch, shuffle), batch_size, drop_last)
        return DataLoader(_Batches(self), batch_size=None, sampler=batches,
                          num_workers=workers, **kwargs)


    def stream(
        self,
        batch_size: int = 64,
        threads: int = 2,
        epoch: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        pin_memory: bool = False,
    ) -> Iterator[dict[str, torch.Tensor]]:
        """The batches of :meth:`loader` (same order), filled by ``threads`` threads of this
        process into a ring of ``threads + 2`` reused batch buffers.

        **A yielded batch stays valid until the next one is requested** (its buffer is then
        refilled): move or copy it before asking for the next (a training step does). In
        exchange no memory is allocated, faulted in or shared between processes per batch,
        which is what bounds :meth:`loader` (float32 batches at the default size are 144 MB;
        see the module docstring). The copies release the GIL, so threads run in parallel.
        ``pin_memory`` pins the buffers for asynchronous copies to a GPU.
        """
        order = BatchSampler(self.sampler(epoch, shuffle), batch_size, drop_last)
        batches = [list(indices) for indices in order]
        if not batches:
            return
        ahead = threads + 1
        ring = [self.allocate(len(batches[0]), pin_memory) for _ in range(threads + 2)]
        with ThreadPoolExecutor(max_workers=threads) as pool:

            def submit(number: int):
                buffer = ring[number % len(ring)]
                if len(batches[number]) != len(batches[0]):  # a short last batch
                    buffer = self.allocate(len(batches[number]), pin_memory)
                return pool.submit(self.batch, batches[number], False, buffer)

            pending = {number: submit(number) for number in range(min(ahead, len(batches)))}
            for number in range(len(batches)):
                batch = pending.pop(number).result()
                if number + ahead < len(batches):
                    pending[number + ahead] = submit(number + ahead)
                yield batch


class _Batches(Dataset):
    """Indexed by a list of window indices: the batch of those windows."""

    def __init__(self, windows: EpisodeWindows) -> None:
        self.windows = windows

    def __getitem__(self, indices) -> dict[str, torch.Tensor]:
        return self.windows.batch(indices)


def to_device(batch: dict[str, torch.Tensor], device: torch.device | str,
              non_blocking: bool = True) -> dict[str, torch.Tensor]:
    """Move a batch (or item) to ``device``, views as float in [0, 1] there.

    With ``view_dtype=torch.uint8`` windows, the views travel as bytes (4x less to copy and
    to share between DataLoader processes) and are converted on ``device``: the way to feed
    an accelerator. Float views are moved as they are.
    """
    moved = {}
    for key, value in batch.items():
        value = value.to(device, non_blocking=non_blocking)
        if key.endswith("_views") and not value.dtype.is_floating_point:
            value = value.to(torch.float32).mul_(1.0 / 255.0)
        moved[key] = value
    return moved


def _empty(shape: tuple[int, ...], dtype: torch.dtype, shared: bool) -> torch.Tensor:
    """An uninitialised tensor; in shared memory inside a DataLoader worker, so that handing
    it to the main process costs no copy (as ``default_collate`` does)."""
    if not shared:
        return torch.empty(shape, dtype=dtype)
    numel = int(np.prod(shape))
    storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(numel)
    return torch.empty(0, dtype=dtype).new(storage).resize_(shape)

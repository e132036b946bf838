"""A resumable, shardable batch sampler.

Each epoch is a fresh permutation drawn from ``seed`` and the epoch number alone, so the
sampler's whole state is ``(epoch, offset)``: a resumed run draws exactly the batches the
uninterrupted run would have. Under multi-process training the permutation is cut into
global batches of ``batch_size * world_size`` items and rank ``r`` takes the ``r``-th slice of
each: the ranks together see exactly the batches one process with the global batch size would,
in the same order. The state counts global positions, so it is the same on every rank.
"""

from __future__ import annotations

import torch


class BatchSampler:
    """Yields index tensors of ``batch_size`` items, epoch after epoch.

    Args:
        num_items: size of the split.
        batch_size: items per batch on this rank (the last batch of an epoch may be smaller; under
            several processes an epoch's tail shorter than ``world_size`` joins the batch before
            it, so no rank gets an empty batch).
        seed: the run's seed.
        shuffle: draw a new permutation each epoch; otherwise visit items in order.
        rank, world_size: this process's shard.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int = 0, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1):
        if num_items < world_size:
            raise ValueError(f"cannot shard {num_items} items over {world_size} processes")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.offset = 0
        self._order: torch.Tensor | None = None

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    @property
    def batches_per_epoch(self) -> int:
        """Batches per epoch, the same on every rank."""
        full, tail = divmod(self.num_items, self.global_batch_size)
        return full + (tail >= self.world_size or full == 0)

    def _epoch_order(self) -> torch.Tensor:
        if self._order is None:
            if self.shuffle:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
                self._order = torch.randperm(self.num_items, generator=g)
            else:
                self._order = torch.arange(self.num_items)
        return self._order

    def next(self) -> torch.Tensor:
        """This rank's part of the next global batch; moves to a new epoch after the last one."""
        order = self._epoch_order()
        end = self.offset + self.global_batch_size
        if len(order) - end < self.world_size:  # the last batch (with a tail too short to shard)
            end = len(order)
        batch = order[self.offset:end].tensor_split(self.world_size)[self.rank]
        self.offset = end
        if self.offset >= len(order):
            self.epoch += 1
            self.offset = 0
            self._order = None
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self.offset = int(state["offset"])
        self._order = None

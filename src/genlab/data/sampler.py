"""A resumable, shardable batch sampler.

Each epoch is a fresh permutation drawn from ``seed`` and the epoch number alone, so the
sampler's whole state is ``(epoch, offset)``: a resumed run draws exactly the batches the
uninterrupted run would have. Under multi-process training each rank takes every
``world_size``-th index of the permutation.
"""

from __future__ import annotations

import torch


class BatchSampler:
    """Yields index tensors of ``batch_size`` items, epoch after epoch.

    Args:
        num_items: size of the split.
        batch_size: items per batch on this rank (the last batch of an epoch may be smaller).
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
    def batches_per_epoch(self) -> int:
        per_rank = len(range(self.rank, self.num_items, self.world_size))
        return -(-per_rank // self.batch_size)

    def _epoch_order(self) -> torch.Tensor:
        if self._order is None:
            if self.shuffle:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
                order = torch.randperm(self.num_items, generator=g)
            else:
                order = torch.arange(self.num_items)
            self._order = order[self.rank::self.world_size]
        return self._order

    def next(self) -> torch.Tensor:
        """The next batch of indices; moves to a new epoch after the last batch of one."""
        order = self._epoch_order()
        batch = order[self.offset:self.offset + self.batch_size]
        self.offset += self.batch_size
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

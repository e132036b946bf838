"""Process-group helpers for multi-process (data-parallel) training.

genlab reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``): :func:`init_from_env` sets up the process group (gloo on the CPU, NCCL on CUDA,
where each process uses ``cuda:LOCAL_RANK``) and :func:`shutdown` tears it down. Without that
environment every helper here is a no-op for a single process, so the trainer calls them
unconditionally. Only rank 0 writes files and logs.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from .errors import ConfigError


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def env_world_size() -> int:
    """The number of processes torchrun started (1 outside torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ConfigError(f"WORLD_SIZE must be a number, got {os.environ['WORLD_SIZE']!r}") from None


def local_rank() -> int:
    """This process's index on its node (``LOCAL_RANK``; 0 outside torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def init_from_env(device: torch.device | str = "cpu", timeout_s: float = 1800.0) -> bool:
    """Join the process group torchrun's environment describes; True if one is (now) set up.

    A no-op when the group already exists or when there is a single process. ``device`` picks
    the back-end: NCCL for a CUDA device (made this process's current device), gloo otherwise.
    """
    if not dist.is_available() or dist.is_initialized() or env_world_size() <= 1:
        return dist.is_available() and dist.is_initialized()
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ConfigError(f"WORLD_SIZE is set but {', '.join(missing)} not: start multi-process training "
                          "with torchrun (e.g. `torchrun --nproc_per_node 2 -m genlab.app.cli train ...`)")
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", timeout=timedelta(seconds=timeout_s), device_id=device)
    else:
        dist.init_process_group("gloo", timeout=timedelta(seconds=timeout_s))
    return True


def shutdown() -> None:
    """Tear the process group down (no-op without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every process gets here."""
    if world_size() > 1:
        dist.barrier()


def rank_seed(seed: int) -> int:
    """The seed of this process's random stream: ``seed`` itself on rank 0 (and for one process),
    another stream on each further rank, so the ranks draw independent noise."""
    return seed + 1_000_003 * rank()


def broadcast_tensors(tensors: list[torch.Tensor], src: int = 0) -> None:
    """Overwrite ``tensors`` in place with rank ``src``'s values (one flat bucket per dtype)."""
    if world_size() <= 1 or not tensors:
        return
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for group in by_dtype.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        dist.broadcast(flat, src)
        with torch.no_grad():
            for t, part in zip(group, flat.split([t.numel() for t in group])):
                t.copy_(part.view_as(t))


def broadcast_module(module: torch.nn.Module, src: int = 0, buffers_only: bool = False) -> None:
    """Give every rank rank ``src``'s parameters and buffers (or its buffers only)."""
    tensors = [] if buffers_only else [p.data for p in module.parameters()]
    broadcast_tensors(tensors + [b for b in module.buffers()], src)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` (any picklable object) on every rank."""
    if world_size() <= 1:
        return obj
    box = [obj if rank() == src else None]
    dist.broadcast_object_list(box, src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if world_size() <= 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_metrics(sums: dict[str, float], count: float) -> tuple[dict[str, float], float]:
    """Sum metric sums and their counts over the ranks; each rank gets the same totals.

    The keys may differ between ranks (a rank with no validation batch has none); the totals
    are added in rank order, so every rank computes bit-identical results.
    """
    if world_size() <= 1:
        return dict(sums), count
    totals: dict[str, float] = {}
    total_count = 0.0
    for part, n in all_gather_object((dict(sums), float(count))):
        for k, v in part.items():
            totals[k] = totals.get(k, 0.0) + v
        total_count += n
    return totals, total_count


def average_gradients(params: list[torch.Tensor], weight: float = 1.0, flag: float = 0.0) -> float:
    """Average the gradients of ``params`` over the ranks in one flat bucket, as DDP does.

    Each rank's gradients count in proportion to ``weight`` (the items it trained on), so
    uneven shards give the gradient of the combined batch. A parameter keeps no gradient only
    if it has none on every rank. ``flag`` is summed over the ranks and returned (the trainer
    sends 1 for a non-finite loss, so every rank learns of it at the same step).
    """
    if world_size() <= 1:
        return flag
    params = [p for p in params]
    device = params[0].device if params else torch.device("cpu")
    grads = [p.grad.detach().reshape(-1).float() * weight if p.grad is not None
             else torch.zeros(p.numel(), device=device) for p in params]
    has = torch.tensor([float(p.grad is not None) for p in params], device=device)
    flat = torch.cat(grads + [has, torch.tensor([float(weight), float(flag)], device=device)])
    dist.all_reduce(flat)
    total_weight, total_flag = flat[-2].item(), flat[-1].item()
    n = sum(p.numel() for p in params)
    counts = flat[n:n + len(params)]
    offset = 0
    for p, c in zip(params, counts.tolist()):
        part = flat[offset:offset + p.numel()]
        offset += p.numel()
        if c > 0:
            g = (part / total_weight).view_as(p).to(p.dtype)
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)
    return total_flag


class _AllReduceSum(torch.autograd.Function):
    """The sum over the ranks, differentiable: the gradient of the sum is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def global_moments(x: torch.Tensor, dims: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, (biased) variance and count of ``x`` over ``dims`` and over every rank's ``x``.

    Differentiable: the backward pass sends each rank the gradient of every rank's use of the
    statistics, as one process holding the combined batch would compute it. Two rounds (sum,
    then squared deviations from the global mean) keep the variance as accurate as torch's.
    """
    all_reduce = _AllReduceSum.apply
    x = x.float()
    count = x.new_tensor([float(x.numel() // math.prod(x.shape[d] for d in range(x.dim()) if d not in dims))])
    first = all_reduce(torch.cat([x.sum(dims).reshape(-1), count]))
    count = first[-1]
    mean = first[:-1] / count
    shape = [x.shape[d] if d not in dims else 1 for d in range(x.dim())]
    var = all_reduce(((x - mean.view(shape)) ** 2).sum(dims).reshape(-1)) / count
    return mean, var, count


class _SyncBatchNorm:
    """Mixed into a batch-norm module: in training under several processes, normalise with the
    statistics of the global batch (a CPU-capable ``torch.nn.SyncBatchNorm``); otherwise the
    module's own forward. Running statistics are updated from the global batch as well."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        mean, var, count = global_moments(x, dims)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), factor)
                unbiased = var.detach() * count / (count - 1).clamp_min(1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        shape = [1, -1] + [1] * (x.dim() - 2)
        y = (x.float() - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def sync_batch_norm(module: torch.nn.Module) -> int:
    """Make every batch-norm layer of ``module`` use global-batch statistics under several
    processes (in place; the weights and their names do not change); returns how many."""
    n = 0
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not isinstance(m, _SyncBatchNorm):
            m.__class__ = _sync_class(type(m))
            n += 1
    return n


_SYNC_CLASSES: dict[type, type] = {}


def _sync_class(cls: type) -> type:
    if cls not in _SYNC_CLASSES:
        _SYNC_CLASSES[cls] = type(cls.__name__, (_SyncBatchNorm, cls), {"__module__": cls.__module__})
    return _SYNC_CLASSES[cls]

"""Optimizers and the learning-rate schedule shared by every family, the trainer and the feature
network: :func:`make_optimizer` (AdamW, Adam, SGD with momentum, RMSprop, chosen by the training
setting ``optimizer``) and linear warm-up, then cosine decay (or constant)."""

from __future__ import annotations

import math
from typing import Any

import torch

from .errors import ConfigError


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str, min_ratio: float) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based)."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


# ---- optimizers -------------------------------------------------------------------------------------
OPTIMIZERS = ("adamw", "adam", "sgd", "rmsprop")


def param_groups(params, weight_decay: float) -> list[dict[str, Any]]:
    """Parameter groups with weight decay on matrices and kernels only (not biases or norms)."""
    params = [p for p in params if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def make_optimizer(params, config, lr: float | None = None) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` names, over ``params``, with the training config's settings.

    - ``adamw`` (the default): Adam with decoupled weight decay (Loshchilov & Hutter 2019), ``betas``, ``eps``;
    - ``adam``: Adam with ``weight_decay`` as an L2 term in the gradient (torch's ``Adam``);
    - ``sgd``: SGD with ``momentum`` (0 = plain SGD) and ``weight_decay`` as L2;
    - ``rmsprop``: RMSprop (smoothing 0.99) with ``momentum``, ``eps`` and ``weight_decay`` as L2.

    Weight decay applies to matrices and kernels only (:func:`param_groups`). ``lr`` overrides the
    config's (a GAN's discriminator runs at a ratio of it).
    """
    name = getattr(config, "optimizer", "adamw")
    groups = param_groups(params, config.weight_decay)
    lr = config.lr if lr is None else lr
    if name == "adamw":  # fused: one kernel for all tensors, ~6x faster than foreach on CPU
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(config.betas), eps=config.eps, fused=True)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=tuple(config.betas), eps=config.eps, fused=True)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=config.momentum)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=0.99, eps=config.eps, momentum=config.momentum)
    raise ConfigError(f"unknown optimizer '{name}'; use one of {', '.join(OPTIMIZERS)}")

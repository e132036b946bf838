"""Negative log-likelihood on a split, in nats per example and bits per dimension / token.

Every family reports the likelihood of the same discrete data; a bound is labelled as one.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..data.core import DataSet
from ..errors import GenlabError


@torch.no_grad()
def evaluate(model, data: DataSet, split: str = "test", batch_size: int = 256, seed: int = 0,
             max_examples: int | None = None, **log_prob_kwargs: Any) -> dict[str, Any]:
    """NLL of ``model`` on ``data``'s ``split``.

    Args:
        model: a model whose ``likelihood`` is ``"exact"`` or ``"bound"``.
        data: the data set; its split ``split`` ("val" or "test") is scored once, in order.
        batch_size: examples per forward pass.
        seed: seeds the RNG of stochastic bounds (VAE importance samples), so results repeat.
        max_examples: score only the first N examples (or token windows).
        log_prob_kwargs: passed to ``model.log_prob`` (e.g. ``num_samples=1000`` for the VAE's K).

    Returns:
        For images: ``nll_nats`` per image, ``bits_per_dim``; for text: ``nll_nats`` per token and
        ``bits_per_token``; plus ``likelihood`` ("exact"/"bound"), ``split``, ``num_examples``.
    """
    if model.likelihood == "none":
        raise GenlabError(f"model '{model.name}' has no likelihood; judge it by sample quality instead")
    part = data.split(split).windows(model.sequence_length)
    indices = part.eval_indices()
    if max_examples:
        indices = indices[:max_examples]
    model.eval()
    device = model.device
    total, count = 0.0, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for idx in indices.split(batch_size):
            batch = {k: v.to(device) for k, v in part.get(idx).items()}
            cond = batch.get("y") if getattr(model.config, "conditional", False) else None
            logp = model.log_prob(batch["x"], condition=cond, **log_prob_kwargs)
            total += float(-logp.double().sum())
            count += len(idx)
    info = data.info
    out: dict[str, Any] = {"model": model.name, "data": info.name, "split": split,
                           "likelihood": model.likelihood, "num_examples": count}
    if info.kind == "image":
        nll = total / count
        out.update(nll_nats=nll, bits_per_dim=nll / (info.dims * math.log(2)), unit="nats per image")
    else:
        tokens = count * (part.length - 1)
        out.update(nll_nats=total / tokens, bits_per_token=total / tokens / math.log(2), num_tokens=tokens,
                   unit="nats per token")
    return out

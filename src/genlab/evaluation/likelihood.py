"""Negative log-likelihood on a split, in nats per example and bits per dimension / token.

Every family reports the likelihood of the same discrete data; a bound is labelled as one.
"""

from __future__ import annotations

from typing import Any

import torch
from tqdm import tqdm

from ..data.core import DataSet
from ..errors import GenlabError
from ..progress import check_deadline, reporting


@torch.no_grad()
def evaluate(model, data: DataSet, split: str = "test", batch_size: int = 256, seed: int = 0,
             max_examples: int | None = None, progress: bool = False, **log_prob_kwargs: Any) -> dict[str, Any]:
    """NLL of ``model`` on ``data``'s ``split``.

    Args:
        model: a model whose ``likelihood`` is ``"exact"`` or ``"bound"``.
        data: the data set; its split ``split`` ("val" or "test") is scored once, in order.
        batch_size: examples per forward pass.
        seed: seeds the RNG of stochastic bounds (VAE importance samples), so results repeat.
        max_examples: score only the first N examples (or token windows).
        progress: show a progress bar over the examples, with the time left, on stderr, and one
            within a batch over a model's long inner loop (the VAE's K, the DDPM's timesteps).
        log_prob_kwargs: passed to ``model.log_prob`` (e.g. ``num_samples=1000`` for the VAE's K).

    Returns:
        The NLL in the data's modality's units (images: ``nll_nats`` per image and
        ``bits_per_dim``; text: ``nll_nats`` per token and ``bits_per_token``), ``unit``, plus
        ``likelihood`` ("exact"/"bound"), ``split``, ``num_examples`` and ``nll_se_nats``: the
        standard error of ``nll_nats`` over the examples (their spread / sqrt(N), in the same unit),
        which says how far the figure could move on other examples of the same data.
    """
    if model.likelihood == "none":
        raise GenlabError(f"model '{model.name}' has no likelihood; judge it by sample quality instead")
    part = data.split(split).windows(model.sequence_length)
    indices = part.eval_indices()
    if max_examples:
        indices = indices[:max_examples]
    model.eval()
    device = model.device
    total, count, per_example = 0.0, 0, []
    bar = tqdm(total=len(indices), desc=f"eval {split}", unit="ex", disable=not progress, leave=False)
    with bar, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for idx in indices.split(batch_size):
            check_deadline()
            batch = {k: v.to(device) for k, v in part.get(idx).items()}
            cond = model.condition_from_batch(batch)
            with reporting(f"eval {split} batch", progress):  # long per-example work (K, T) shows a bar too
                logp = model.log_prob(batch["x"], condition=cond, **log_prob_kwargs)
            total += float(-logp.double().sum())
            per_example.append(-logp.detach().double().cpu())
            count += len(idx)
            bar.update(len(idx))
    info = data.info
    out: dict[str, Any] = {"model": model.name, "data": info.name, "split": split,
                           "likelihood": model.likelihood, "num_examples": count}
    out.update(info.modality.likelihood_report(info, total, count, part))  # in the modality's units
    if count > 1 and total != 0:
        nll = torch.cat(per_example)
        se = float(nll.std(unbiased=True)) / count ** 0.5  # of the mean NLL per example
        out["nll_se_nats"] = se * out["nll_nats"] / (total / count)  # in the unit of nll_nats
    return out

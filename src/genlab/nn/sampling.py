"""Choosing the next token from logits: temperature, top-k and top-p (nucleus) sampling."""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError


def check_setting(name: str, value: float, low: float, high: float, meaning: str = "") -> float:
    """``value`` when it is a finite number in ``[low, high]``; else a one-line error naming the
    sampling setting, its range and (``meaning``) what it does."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(f"{name} must be a finite number in [{low:g}, {high:g}]"
                          + (f" ({meaning})" if meaning else "") + f", got {value!r}")
    return value


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row ``[B, 1]`` from logits ``[B, V]`` with temperature, top-k and top-p."""
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ConfigError(f"temperature must be a finite number >= 0 (0 picks the most likely token), got {temperature}")
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {top_p}")
        sorted_logits, order = logits.sort(-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) >= top_p  # tokens after the mass already reached p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)

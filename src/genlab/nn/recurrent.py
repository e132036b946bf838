"""``torch.nn.LSTM`` and ``GRU`` that train under bf16 autocast on every CPU.

Autocast runs an LSTM in bf16 through oneDNN, which has no bf16 LSTM on CPUs without AVX-512
(AVX2 only): ``could not create a primitive descriptor for the LSTM forward propagation
primitive``. These subclasses run the recurrence in fp32 there (autocast off, input and state
cast to float32) and leave everything else as torch does it. Their parameters and state-dict
keys are exactly torch's, so saved weights load either way.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import devices


def _needs_fp32(x: torch.Tensor) -> bool:
    """True inside a CPU bf16 autocast region on a CPU where oneDNN has no bf16 recurrence."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
        return False
    return torch.get_autocast_dtype("cpu") == torch.bfloat16 and not devices.onednn_bf16()


def _fp32(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.float() for s in state)
    return state.float()


class LSTM(nn.LSTM):
    """``torch.nn.LSTM``, in fp32 inside bf16 autocast on CPUs whose oneDNN has no bf16 LSTM."""

    def forward(self, input, hx=None):  # noqa: A002 (torch's names)
        if _needs_fp32(input):
            with torch.autocast("cpu", enabled=False):
                return super().forward(input.float(), _fp32(hx))
        return super().forward(input, hx)


class GRU(nn.GRU):
    """``torch.nn.GRU``, in fp32 inside bf16 autocast on CPUs whose oneDNN has no bf16 recurrence."""

    def forward(self, input, hx=None):  # noqa: A002
        if _needs_fp32(input):
            with torch.autocast("cpu", enabled=False):
                return super().forward(input.float(), _fp32(hx))
        return super().forward(input, hx)


__all__ = ["GRU", "LSTM"]

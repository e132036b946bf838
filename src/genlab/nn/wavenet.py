"""WaveNet's building blocks (van den Oord et al. 2016): a dilated causal 1-D convolution and the
gated residual layer, each with a one-step path for cached generation (Fast WaveNet, Paine et al. 2016).

A causal convolution with kernel ``k`` and dilation ``d`` reads its input at ``t, t - d, ...,
t - (k - 1) d`` (zeros before the start). For generation each layer keeps a queue (a circular
buffer) of its last ``(k - 1) d + 1`` inputs, so a new audio sample costs one step per layer
instead of a pass over the whole past.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv1d(nn.Conv1d):
    """``Conv1d`` whose output at ``t`` reads inputs ``t - j * dilation`` (j = 0 .. k-1) only: left padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 2, dilation: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, T] -> [B, C_out, T]``."""
        return super().forward(F.pad(x, (self.left, 0)))

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """The same convolution on channels-last input: ``[B, T, C_in] -> [B, T, C_out]``.

        The ``k`` taps (the input delayed by ``(k - 1 - j) * dilation`` steps, zeros before the
        start) are concatenated along the channels and multiplied by the kernel in one matrix
        product, which is several times faster on CPU than a dilated ``conv1d`` and uses the same
        weights."""
        k, d, t = self.kernel_size[0], self.dilation[0], x.shape[1]
        taps = [x if j == k - 1 else F.pad(x, (0, 0, (k - 1 - j) * d, 0))[:, :t] for j in range(k)]
        weight = self.weight.permute(0, 2, 1).reshape(self.out_channels, k * self.in_channels)
        return F.linear(torch.cat(taps, -1), weight, self.bias)

    def new_queue(self, batch: int, device, dtype) -> "StepQueue":
        return StepQueue(batch, self.in_channels, self.left + 1, device, dtype)

    def step(self, x: torch.Tensor, queue: "StepQueue") -> torch.Tensor:
        """One time step: input ``[B, C_in]`` -> output ``[B, C_out]``, pushing ``x`` onto ``queue``."""
        queue.push(x)
        taps = queue.taps(self.kernel_size[0], self.dilation[0])  # [B, C_in, k], oldest first
        return torch.einsum("bik,oik->bo", taps, self.weight) + self.bias


class StepQueue:
    """The last ``size`` inputs of a layer, ``[B, C, size]``, as a circular buffer (zeros before the start)."""

    def __init__(self, batch: int, channels: int, size: int, device, dtype):
        self.buffer = torch.zeros(batch, channels, size, device=device, dtype=dtype)
        self.size = size
        self.t = 0  # steps pushed so far

    def push(self, x: torch.Tensor) -> None:
        self.buffer[:, :, self.t % self.size] = x
        self.t += 1

    def taps(self, kernel: int, dilation: int) -> torch.Tensor:
        """Inputs at ``now - (k-1) d, ..., now - d, now`` ``[B, C, k]``: the window a causal kernel reads."""
        now = self.t - 1
        idx = torch.tensor([(now - j * dilation) % self.size for j in range(kernel - 1, -1, -1)],
                           device=self.buffer.device)
        return self.buffer.index_select(2, idx)


class GatedResidualLayer(nn.Module):
    """``z = tanh(W_f * x + V_f c) * sigmoid(W_g * x + V_g c)``; returns ``(x + W_r z, W_s z)``.

    ``*`` is a dilated causal convolution; ``c`` a global condition (a class label's embedding, added
    at every time step) when ``num_classes > 0``.
    """

    def __init__(self, channels: int, gate_channels: int, skip_channels: int, kernel_size: int, dilation: int,
                 num_classes: int = 0):
        super().__init__()
        self.conv = CausalConv1d(channels, 2 * gate_channels, kernel_size, dilation)
        self.label = nn.Embedding(num_classes, 2 * gate_channels) if num_classes else None
        self.residual = nn.Conv1d(gate_channels, channels, 1)
        self.skip = nn.Conv1d(gate_channels, skip_channels, 1)

    def _gate(self, h: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
        """Channels last: ``h`` ``[B, T, 2G]`` or ``[B, 2G]`` -> ``[B, T, G]`` or ``[B, G]``."""
        if self.label is not None:
            h = h + (self.label(label)[:, None, :] if h.dim() == 3 else self.label(label))
        f, g = h.chunk(2, dim=-1)
        return torch.tanh(f) * torch.sigmoid(g)

    def _out(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x + F.linear(z, self.residual.weight[:, :, 0], self.residual.bias), \
            F.linear(z, self.skip.weight[:, :, 0], self.skip.bias)

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Channels last: ``x`` ``[B, T, C]`` -> (residual output ``[B, T, C]``, skip ``[B, T, S]``)."""
        return self._out(x, self._gate(self.conv.forward_last(x), label))

    def step(self, x: torch.Tensor, queue: StepQueue, label: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step of :meth:`forward`: ``x`` ``[B, C]`` -> (``[B, C]``, ``[B, S]``)."""
        return self._out(x, self._gate(self.conv.step(x, queue), label))

"""Convolutional LSTM (Shi et al. 2015): an LSTM whose gates are convolutions over feature maps."""

from __future__ import annotations

import torch
from torch import nn


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer: ``i, f, o = sigmoid(.)``, ``g = tanh(.)`` of one ``kernel`` x ``kernel``
    convolution of ``[x, h]``; ``c' = f * c + i * g``, ``h' = o * tanh(c')``.

    Shi et al.'s peephole terms (``W_c * c`` in the gates) are left out, as in PredRNN's and OpenSTL's
    ConvLSTM baselines. The forget gate's bias starts at 1 (Jozefowicz et al. 2015).
    """

    def __init__(self, in_channels: int, hidden: int, kernel: int = 5):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"the ConvLSTM kernel must be odd (same padding), got {kernel}")
        self.hidden = hidden
        self.conv = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=kernel // 2)
        with torch.no_grad():
            self.conv.bias.zero_()
            self.conv.bias[hidden: 2 * hidden].fill_(1.0)

    def initial_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
        return zeros, zeros

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``[B, C_in, H, W]`` and the state ``(h, c)`` (zeros if None) -> the new ``(h, c)``."""
        h, c = self.initial_state(x) if state is None else state
        i, f, g, o = self.conv(torch.cat([x, h.to(x.dtype)], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTMStack(nn.Module):
    """Stacked :class:`ConvLSTMCell` layers; ``step(x, states)`` advances all layers one frame and returns
    every layer's hidden state (concatenated, as Shi et al.'s forecaster reads them) and the new states."""

    def __init__(self, in_channels: int, hidden: list[int], kernel: int = 5):
        super().__init__()
        sizes = [in_channels, *hidden]
        self.cells = nn.ModuleList(ConvLSTMCell(a, b, kernel) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out_channels = sum(hidden)

    def step(self, x: torch.Tensor, states: list | None = None) -> tuple[torch.Tensor, list]:
        states = states or [None] * len(self.cells)
        new, hs = [], []
        for cell, state in zip(self.cells, states):
            h, c = cell(x, state)
            new.append((h, c))
            hs.append(h)
            x = h
        return torch.cat(hs, 1), new

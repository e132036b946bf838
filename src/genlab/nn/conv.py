"""Convolutional encoder and decoder for small images of any size."""

from __future__ import annotations

import math

import torch
from torch import nn

from .activations import get_activation


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions, then a linear layer.

    ``[B, C, H, W] -> [B, out_features]``; each conv halves the resolution (rounding up).
    """

    def __init__(self, in_channels: int, height: int, width: int, channels: list[int] | tuple[int, ...],
                 out_features: int, activation: str = "relu"):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, 3, stride=2, padding=1), get_activation(activation)]
            c = c_out
            height, width = math.ceil(height / 2), math.ceil(width / 2)
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(c * height * width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x).flatten(1))


class ConvDecoder(nn.Module):
    """Linear layer to a low-resolution map, then (upsample x2, 3x3 conv) stages, cropped to size.

    ``[B, in_features] -> [B, out_channels, H, W]``; ``channels`` lists the widths from the
    lowest resolution up, one upsampling stage per entry.
    """

    def __init__(self, in_features: int, out_channels: int, height: int, width: int,
                 channels: list[int] | tuple[int, ...], activation: str = "relu"):
        super().__init__()
        stages = len(channels)
        self.height, self.width = height, width
        self.h0, self.w0 = math.ceil(height / 2**stages), math.ceil(width / 2**stages)
        self.c0 = channels[0]
        self.head = nn.Sequential(nn.Linear(in_features, self.c0 * self.h0 * self.w0), get_activation(activation))
        layers: list[nn.Module] = []
        c = self.c0
        for c_out in list(channels[1:]) + [channels[-1]]:
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c_out, 3, padding=1),
                       get_activation(activation)]
            c = c_out
        layers.append(nn.Conv2d(c, out_channels, 3, padding=1))
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(-1, self.c0, self.h0, self.w0)
        return self.convs(h)[:, :, : self.height, : self.width]

"""Blocks for image-to-image networks: a residual super-resolution CNN and a patch discriminator.

* :class:`SRResNet`: the EDSR line (Lim et al. 2017): a head convolution, residual blocks without
  batch norm (each ``x + res_scale * conv(relu(conv(x)))``), a long skip over the body, and
  sub-pixel upsampling (ESPCN, Shi et al. 2016: a convolution to ``r^2`` times the channels, then
  ``PixelShuffle(r)``); x2 and x4 are one or two x2 stages, x3 one x3 stage. With
  ``bicubic_skip`` the network predicts the difference to a bicubic enlargement of its input
  (VDSR's global residual), which it learns much faster.
* :class:`PatchDiscriminator`: the PatchGAN of pix2pix (Isola et al. 2017): stride-2 4x4
  convolutions and LeakyReLU, one logit per overlapping patch, so the loss judges local texture
  and works on images of any size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """``x + res_scale * conv(relu(conv(x)))``, 3x3 convolutions, no normalisation (EDSR)."""

    def __init__(self, channels: int, res_scale: float = 1.0):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x)))


def upsampler(channels: int, scale: int) -> nn.Sequential:
    """Sub-pixel upsampling by ``scale``: x2 stages for powers of two, else one stage of ``scale``."""
    stages = []
    if scale & (scale - 1) == 0:  # 1, 2, 4, 8, ...
        factors = [2] * (scale.bit_length() - 1)
    else:
        factors = [scale]
    for r in factors:
        stages += [nn.Conv2d(channels, channels * r * r, 3, padding=1), nn.PixelShuffle(r)]
    return nn.Sequential(*stages)


class SRResNet(nn.Module):
    """Low-resolution ``[B, C, h, w]`` in [0, 1] -> ``[B, C, h * scale, w * scale]`` (any h, w).

    Args:
        channels: image channels (1 or 3).
        width: feature channels.
        blocks: residual blocks.
        scale: the enlargement (an integer >= 1).
        res_scale: the residual blocks' scaling (EDSR uses 0.1 for wide, deep nets).
        bicubic_skip: add a bicubic enlargement of the input to the output (the net learns the rest).
    """

    def __init__(self, channels: int, width: int = 64, blocks: int = 8, scale: int = 4, res_scale: float = 1.0,
                 bicubic_skip: bool = True):
        super().__init__()
        self.scale, self.bicubic_skip = scale, bicubic_skip
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(width, res_scale) for _ in range(blocks)],
                                  nn.Conv2d(width, width, 3, padding=1))
        self.up = upsampler(width, scale)
        self.tail = nn.Conv2d(width, channels, 3, padding=1)
        if bicubic_skip:  # start from the bicubic image: the residual begins at zero
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        out = self.tail(self.up(h + self.body(h)))
        if self.bicubic_skip:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``[B, C, H, W]`` -> logits ``[B, 1, H', W']``, one per overlapping patch.

    ``layers`` stride-2 4x4 convolutions (widths ``width, 2 width, ...``, capped at 8 width), then a
    stride-1 4x4 convolution and a 1-channel one; with ``layers = 3`` each logit sees a 70x70 patch
    as in pix2pix. ``norm``: ``"instance"``, ``"batch"`` or ``"none"`` (never on the first layer);
    ``spectral_norm`` wraps every convolution.
    """

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, norm: str = "instance",
                 spectral_norm: bool = False):
        super().__init__()
        if norm not in ("instance", "batch", "none"):
            raise ValueError(f"norm must be instance, batch or none, got {norm!r}")
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)

        def norm_layer(c: int) -> nn.Module:
            if norm == "instance":
                return nn.InstanceNorm2d(c, affine=True)
            return nn.BatchNorm2d(c) if norm == "batch" else nn.Identity()

        mods: list[nn.Module] = [sn(nn.Conv2d(in_channels, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, layers + 1):
            out = width * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            mods += [sn(nn.Conv2d(c, out, 4, stride=stride, padding=1)), norm_layer(out), nn.LeakyReLU(0.2)]
            c = out
        mods.append(sn(nn.Conv2d(c, 1, 4, padding=1)))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

"""Blocks for image-to-image networks: a residual super-resolution CNN, a U-Net generator and a patch
discriminator.

* :class:`SRResNet`: the EDSR line (Lim et al. 2017): a head convolution, residual blocks without
  batch norm (each ``x + res_scale * conv(relu(conv(x)))``), a long skip over the body, and
  sub-pixel upsampling (ESPCN, Shi et al. 2016: a convolution to ``r^2`` times the channels, then
  ``PixelShuffle(r)``); x2 and x4 are one or two x2 stages, x3 one x3 stage. With
  ``bicubic_skip`` the network predicts the difference to a bicubic enlargement of its input
  (VDSR's global residual), which it learns much faster.
* :class:`UNetGenerator`: the encoder-decoder with skip connections of pix2pix (Isola et al. 2017):
  stride-2 4x4 convolutions down to a bottleneck, transposed convolutions back up, each decoder
  layer concatenated with the encoder layer of its size, dropout in the innermost decoder layers
  as the generator's only noise. (Not the diffusion :class:`~genlab.nn.UNet`, which has time
  embeddings and residual blocks.)
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

    @staticmethod
    def layers_for(height: int, width: int, layers: int, norm: str = "instance") -> int:
        """``layers``, or with 0 the most (up to 3) that ``height`` x ``width`` images allow; a ValueError
        naming the most allowed when ``layers`` is too deep for them."""
        most = PatchDiscriminator.max_layers(height, width, norm)
        if most == 0:
            raise ValueError(f"{height}x{width} images are too small for a PatchGAN discriminator (at least 4x4)")
        if layers == 0:
            return most
        if layers > most and PatchDiscriminator.max_layers(height, width, norm, most=layers) < layers:
            raise ValueError(f"disc_layers={layers} is too deep for {height}x{width} images: at most "
                             f"{PatchDiscriminator.max_layers(height, width, norm, most=layers)} (or 0 for automatic)")
        return layers

    @staticmethod
    def sizes(side: int, layers: int) -> list[int]:
        """The side of each convolution's output for an input side ``side``: ``layers`` halvings
        (the last ``layers - 1`` normalised), the normalised stride-1 layer, the logits."""
        out = []
        for i in range(layers + 2):
            side = (side + 2 - 4) // (2 if i < layers else 1) + 1
            out.append(side)
        return out

    @staticmethod
    def max_layers(height: int, width: int, norm: str = "instance", most: int = 3) -> int:
        """The most stride-2 layers (up to ``most``; 0 if none) an image of ``height`` x ``width`` allows:
        a map of at least one logit, and with a norm at least 2x2 pixels under each normalised layer
        (per-image statistics of a single pixel are undefined)."""
        side = min(height, width)
        for layers in range(most, 0, -1):
            sides = PatchDiscriminator.sizes(side, layers)
            normed = sides[1:-1]  # the stride-2 layers after the first, and the stride-1 layer
            if sides[-1] >= 1 and (norm == "none" or min(normed) >= 2):
                return layers
        return 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UNetGenerator(nn.Module):
    """pix2pix's U-Net: ``[B, in_channels, H, W]`` in [-1, 1] -> ``[B, out_channels, H, W]`` in (-1, 1).

    ``depth`` stride-2 4x4 convolutions halve the image down to a bottleneck of ``H / 2^depth``
    (encoder ``C{w}-C{2w}-C{4w}-C{8w}-...``, widths capped at ``max_width``; LeakyReLU 0.2; no
    norm on the first and the innermost layer), then ``depth`` stride-2 4x4 transposed
    convolutions (ReLU) double it back, each but the last followed by the norm, dropout on the
    ``dropout_layers`` innermost decoder layers, and concatenated with the encoder activation of
    the same size (the skip connections); a tanh gives the output. With ``depth = 8`` and 256x256
    images this is the paper's ``unet_256``.

    Any size is taken: an image whose sides are not multiples of ``2^depth`` is padded (edge
    pixels repeated) to the next multiple and the output cropped back, so the output always has
    the input's height and width.

    The dropout is the generator's noise (pix2pix found a noise input ignored): it is applied when
    sampling too, not only in training, and its masks come from ``generator`` when one is given, so
    a seeded call is reproducible; ``dropout = 0`` makes the net deterministic.

    Args:
        in_channels, out_channels: image channels in and out.
        depth: the halvings (>= 1).
        width: channels of the first layer.
        max_width: the cap on the channels (default ``8 * width``, as pix2pix's 512 for 64).
        norm: ``"instance"`` (the default: per-image statistics, the same in training and sampling;
            pix2pix's batch norm with batch size 1 is this), ``"batch"`` or ``"none"``.
        dropout: the drop probability (0.5 in pix2pix).
        dropout_layers: how many decoder layers, from the innermost, have dropout (3 in pix2pix;
            never the output layer).
    """

    def __init__(self, in_channels: int, out_channels: int, depth: int, width: int = 64, max_width: int | None = None,
                 norm: str = "instance", dropout: float = 0.5, dropout_layers: int = 3):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
        if norm not in ("instance", "batch", "none"):
            raise ValueError(f"norm must be instance, batch or none, got {norm!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        max_width = 8 * width if max_width is None else max_width
        self.depth, self.dropout = depth, dropout
        widths = [min(width * 2 ** i, max_width) for i in range(depth)]

        def norm_layer(c: int) -> nn.Module:
            if norm == "instance":
                return nn.InstanceNorm2d(c, affine=True)
            return nn.BatchNorm2d(c) if norm == "batch" else nn.Identity()

        self.down = nn.ModuleList()
        for i, c in enumerate(widths):
            if i == 0:
                self.down.append(nn.Conv2d(in_channels, c, 4, stride=2, padding=1))
                continue
            layers = [nn.LeakyReLU(0.2), nn.Conv2d(widths[i - 1], c, 4, stride=2, padding=1)]
            if i < depth - 1:  # the innermost layer (the bottleneck) has no norm: it may be 1x1
                layers.append(norm_layer(c))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()  # up[i] undoes down[i]; run from the innermost (depth - 1) out
        self.dropped = [False] * depth  # which decoder layers have dropout
        for i in reversed(range(depth)):
            c_in = widths[i] if i == depth - 1 else 2 * widths[i]
            if i == 0:
                self.up.insert(0, nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, 4, stride=2, padding=1),
                                                nn.Tanh()))
                continue
            self.up.insert(0, nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c_in, widths[i - 1], 4, stride=2, padding=1),
                                            norm_layer(widths[i - 1])))
            self.dropped[i] = dropout > 0 and depth - 1 - i < dropout_layers

    @staticmethod
    def auto_depth(height: int, width: int) -> int:
        """The most halvings that leave a bottleneck of at least one pixel: ``floor(log2(min(H, W)))``."""
        return max(1, min(height, width).bit_length() - 1)

    def _drop(self, h: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        keep = torch.rand(h.shape, device=h.device, generator=generator) >= self.dropout
        return h * keep.to(h.dtype) / (1.0 - self.dropout)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        step = 2 ** self.depth
        ph, pw = -h % step, -w % step
        if ph or pw:  # pad to a multiple of 2^depth, the extra split between both sides
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        out = skips.pop()
        for i in reversed(range(self.depth)):
            out = self.up[i](out)
            if self.dropped[i]:
                out = self._drop(out, generator)
            if i > 0:
                out = torch.cat([out, skips[i - 1]], dim=1)
        if ph or pw:
            out = out[..., ph // 2: ph // 2 + h, pw // 2: pw // 2 + w]
        return out

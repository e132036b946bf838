"""Building blocks of the gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation
with PixelCNN Decoders").

Two stacks of feature maps run side by side, so that the receptive field has no blind spot:

* the **vertical stack** ``v``: ``v[r, c]`` depends only on image rows strictly above ``r`` (all
  columns within the kernel's reach, so also pixels up and to the *right*);
* the **horizontal stack** ``h``: ``h[r, c]`` depends only on pixels strictly before ``(r, c)`` in
  raster order: the current row left of ``c`` (directly) and, through the vertical-to-horizontal
  link, every row above.

Both are built from shifted (padded-then-cropped) convolutions rather than masked kernels, so no
weight is wasted on masked-out taps. Channels of an image are not ordered here: every channel of
pixel ``(r, c)`` is hidden from the features that predict pixel ``(r, c)``, which makes the
channels of one pixel conditionally independent given the pixels before it (the simple variant,
not the RGB channel masking of the original paper).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VerticalConv(nn.Module):
    """Convolution whose output row ``r`` sees input rows above ``r`` only.

    With ``strict=True`` (the first layer, which reads the image) the output at row ``r`` sees
    input rows ``r - k//2 - 1 .. r - 1``; with ``strict=False`` (later layers, whose inputs
    already only see rows above their own row) rows ``r - k//2 .. r``. Columns
    ``c - k//2 .. c + k//2`` are seen in both cases.

    Args:
        in_channels, out_channels: feature widths.
        kernel_size: odd width ``k`` of the kernel; its height is ``k//2 + 1``.
        strict: exclude the current row (see above).
    Shapes: ``[B, in_channels, H, W] -> [B, out_channels, H, W]``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, strict: bool):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.pad = kernel_size // 2
        self.strict = strict
        self.conv = nn.Conv2d(in_channels, out_channels, (self.pad + 1, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pad
        if self.strict:
            # one extra zero row on top, the last row dropped: output row r reads rows r-p-1 .. r-1
            x = F.pad(x, (p, p, p + 1, 0))[:, :, :-1]
        else:
            x = F.pad(x, (p, p, p, 0))  # output row r reads rows r-p .. r
        return self.conv(x)


class HorizontalConv(nn.Module):
    """Convolution along the row whose output at column ``c`` sees columns left of ``c`` only.

    Mask type ``"A"`` (the first layer, which reads the image) sees columns ``c - k//2 - 1 ..
    c - 1`` and so excludes the current pixel; type ``"B"`` (later layers) sees
    ``c - k//2 .. c``, which is safe because their inputs already exclude the current pixel.

    Args:
        in_channels, out_channels: feature widths.
        kernel_size: odd ``k``; the kernel is ``1 x (k//2 + 1)``.
        mask_type: ``"A"`` or ``"B"``.
    Shapes: ``[B, in_channels, H, W] -> [B, out_channels, H, W]``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        self.pad = kernel_size // 2
        self.mask_type = mask_type
        self.conv = nn.Conv2d(in_channels, out_channels, (1, self.pad + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pad
        if self.mask_type == "A":
            x = F.pad(x, (p + 1, 0, 0, 0))[..., :-1]  # column c reads c-p-1 .. c-1
        else:
            x = F.pad(x, (p, 0, 0, 0))  # column c reads c-p .. c
        return self.conv(x)


def gate(x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Gated activation ``tanh(a) * sigmoid(b)`` of ``x = [a, b]`` split on channels.

    Args:
        x: ``[B, 2F, H, W]`` pre-activations.
        bias: optional ``[B, 2F]`` per-example bias (the class embedding), added to both halves
            before the non-linearities.
    Returns: ``[B, F, H, W]``.
    """
    if bias is not None:
        x = x + bias[:, :, None, None]
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedPixelCNNLayer(nn.Module):
    """One gated layer with a vertical and a horizontal stack (Fig. 2 of van den Oord et al. 2016).

    ``v' = gate(Vconv(v) + e_v)``; ``h' = h + W_out * gate(Hconv(h) + W_link * Vconv(v) + e_h)``
    where ``e_v, e_h`` are optional class embeddings. The link needs no shift because
    ``Vconv(v)`` at row ``r`` already sees rows above ``r`` only. The first layer (``first=True``)
    reads the image in both stacks: its vertical conv is strict, its horizontal conv is type A
    and it has no residual connection (the widths differ).

    Args:
        in_channels: input width (image channels for the first layer, else ``channels``).
        channels: hidden width ``F`` of both stacks.
        kernel_size: odd kernel size ``k``.
        first: whether this layer reads the image.
        num_classes: > 0 adds a learned class-conditional bias inside both gates.
        dropout: dropout on the horizontal residual branch.
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, first: bool,
                 num_classes: int = 0, dropout: float = 0.0):
        super().__init__()
        self.first = first
        self.v_conv = VerticalConv(in_channels, 2 * channels, kernel_size, strict=first)
        self.h_conv = HorizontalConv(in_channels, 2 * channels, kernel_size, "A" if first else "B")
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)
        self.class_bias = nn.Embedding(num_classes, 4 * channels) if num_classes > 0 else None

    def forward(self, v: torch.Tensor, h: torch.Tensor,
                label: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(v, h)`` ``[B, in, H, W]`` each -> ``(v', h')`` ``[B, F, H, W]`` each; ``label`` ``[B]`` long."""
        bias_v = bias_h = None
        if self.class_bias is not None:
            if label is None:
                raise ValueError("this layer is class-conditional: pass label")
            bias_v, bias_h = self.class_bias(label).chunk(2, dim=1)  # [B, 2F] each
        v_pre = self.v_conv(v)  # [B, 2F, H, W], row r sees rows < r
        h_pre = self.h_conv(h) + self.link(v_pre)  # [B, 2F, H, W], (r, c) sees pixels before (r, c)
        v_new = gate(v_pre, bias_v)
        h_new = self.h_out(self.dropout(gate(h_pre, bias_h)))
        if not self.first:
            h_new = h + h_new
        return v_new, h_new

"""Integer levels <-> the floats networks see: the two conventions, written once.

- **Grid** (diffusion, pix2pix, super-resolution, ConvLSTM): level ``k`` of ``L`` is the point
  ``k / (L - 1)`` of [0, 1] (or ``2 k / (L - 1) - 1`` of [-1, 1] with ``signed``); back by rounding
  to the nearest level. Black and white are exactly 0 and 1 (or -1 and 1).
- **Bins** (the GANs): level ``k`` is the bin ``[k / L, (k + 1) / L)`` of [0, 1] (or of [-1, 1]); a
  real image is dequantised (a uniform draw within its bin) so that the discriminator cannot tell
  it from a generated one by its grid; back by the bin that holds the value (floor).
"""

from __future__ import annotations

import torch


def grid_to_float(x: torch.Tensor, levels: int, signed: bool = False) -> torch.Tensor:
    """Levels -> floats on the grid ``k / (levels - 1)``: [0, 1], or [-1, 1] with ``signed``."""
    unit = x.float() / (levels - 1)
    return unit * 2 - 1 if signed else unit


def float_to_grid(y: torch.Tensor, levels: int, signed: bool = False) -> torch.Tensor:
    """Floats (as :func:`grid_to_float` gives) -> the nearest level, clamped to ``0 .. levels - 1``."""
    unit = (y.float() + 1) / 2 if signed else y.float()
    top = levels - 1
    return torch.round(unit * top).clamp(0, top).long()


def bins_to_float(x: torch.Tensor, levels: int, dequantize: bool = True) -> torch.Tensor:
    """Levels -> floats in [-1, 1], each level's bin ``[k / levels, (k + 1) / levels)`` mapped there:
    with ``dequantize`` a uniform draw within the bin, else its centre."""
    u = torch.rand_like(x, dtype=torch.float32) if dequantize else 0.5
    return 2.0 * (x.float() + u) / levels - 1.0


def float_to_bins(y: torch.Tensor, levels: int) -> torch.Tensor:
    """Floats in [-1, 1] -> the level whose bin holds the value (clamped)."""
    return torch.floor((y.float() + 1) / 2 * levels).clamp(0, levels - 1).long()

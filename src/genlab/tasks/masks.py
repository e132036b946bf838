"""Inpainting masks: bool tensors ``[H, W]`` (or ``[B, 1, H, W]``) where True marks a pixel to fill.

Rectangles, the bottom or right half, random strokes (seeded), and a user's mask picture in
which **white pixels are unknown** (to fill) and black ones are known (kept).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError

MASK_KINDS = ("bottom", "right", "box", "strokes")


def box(height: int, width: int, x: int, y: int, w: int, h: int) -> torch.Tensor:
    """``[H, W]`` mask of the rectangle with top-left corner (x, y) (column, row), ``w`` wide and ``h`` high."""
    if w < 1 or h < 1:
        raise ConfigError(f"a box needs a width and height >= 1, got {w}x{h}")
    if not (0 <= x and 0 <= y and x + w <= width and y + h <= height):
        raise ConfigError(f"box x={x}, y={y}, w={w}, h={h} does not fit in the {width}x{height} image; "
                          f"keep 0 <= x, x + w <= {width}, 0 <= y, y + h <= {height}")
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[y:y + h, x:x + w] = True
    return mask


def center_box(height: int, width: int) -> torch.Tensor:
    """``[H, W]`` mask of the central rectangle, half the image's width and height."""
    w, h = max(1, width // 2), max(1, height // 2)
    return box(height, width, (width - w) // 2, (height - h) // 2, w, h)


def bottom_half(height: int, width: int) -> torch.Tensor:
    """``[H, W]`` mask of the bottom half (rows ``H // 2`` onwards)."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[height // 2:] = True
    return mask


def right_half(height: int, width: int) -> torch.Tensor:
    """``[H, W]`` mask of the right half (columns ``W // 2`` onwards)."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[:, width // 2:] = True
    return mask


def strokes(height: int, width: int, seed: int = 0, num_strokes: int = 3, thickness: int | None = None) -> torch.Tensor:
    """``[H, W]`` mask of ``num_strokes`` random straight brush strokes, the same for the same ``seed``.

    Each stroke joins two random points with a brush ``thickness`` pixels wide (default: an
    eighth of the smaller side, at least 1). Never empty; it may cover much of a small image.
    """
    gen = torch.Generator().manual_seed(seed)
    thickness = thickness or max(1, min(height, width) // 8)
    rows = torch.arange(height, dtype=torch.float32)[:, None]
    cols = torch.arange(width, dtype=torch.float32)[None, :]
    mask = torch.zeros(height, width, dtype=torch.bool)
    for _ in range(num_strokes):
        (r0, r1), (c0, c1) = (torch.rand(2, generator=gen) * (height - 1)), (torch.rand(2, generator=gen) * (width - 1))
        dr, dc = float(r1 - r0), float(c1 - c0)
        length2 = max(dr * dr + dc * dc, 1e-9)
        # distance of every pixel to the segment (r0, c0) - (r1, c1)
        t = (((rows - r0) * dr + (cols - c0) * dc) / length2).clamp(0, 1)
        dist = torch.sqrt((rows - (r0 + t * dr)) ** 2 + (cols - (c0 + t * dc)) ** 2)
        mask |= dist <= thickness / 2 + 0.5 * math.sqrt(0.5)
    return mask


def make_mask(kind: str, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """``[H, W]`` mask of a named kind: ``bottom``, ``right``, ``box`` (the central box) or ``strokes``."""
    makers = {"bottom": bottom_half, "right": right_half, "box": center_box,
              "strokes": lambda h, w: strokes(h, w, seed=seed)}
    if kind not in makers:
        raise ConfigError(f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}")
    return makers[kind](height, width)


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``"x,y,w,h"`` -> four integers (pixels of the model's image size)."""
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ConfigError(f"--box takes x,y,w,h as four whole numbers (e.g. 2,2,4,4), got '{text}'")
    return values  # type: ignore[return-value]


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of a picture file; a one-line error if it is not one."""
    from ..files import open_picture

    with open_picture(path, what="image") as im:
        return im.size


def read_mask(path: str | Path, height: int, width: int, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``[height, width]`` mask from a picture: white (grey value >= 128) = unknown, black = known.

    ``size`` (width, height): the size the picture must have (that of the image it masks); it
    is then resized to ``height`` x ``width`` by nearest neighbour, so a mask stays a mask.
    """
    from PIL import Image

    from ..files import open_picture

    path = Path(path)
    with open_picture(path, what="mask") as im:
        got = im.size
        if size is not None and tuple(got) != tuple(size):
            raise DataError(f"mask '{path}' is {got[0]}x{got[1]} but the image is {size[0]}x{size[1]}; "
                            "give a mask of the image's size (white = to fill)")
        grey = im.convert("L").resize((width, height), Image.Resampling.NEAREST)
        pixels = np.asarray(grey, dtype=np.uint8)
    return torch.from_numpy(pixels >= 128)


def as_batch_mask(mask: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """``mask`` (``[H, W]``, ``[1, H, W]`` or ``[B, 1, H, W]``) as bool ``[batch, 1, H, W]``, checked.

    Refuses a mask of another size than the images, and one that leaves any image with nothing to
    fill (empty) or nothing known (full).
    """
    if not isinstance(mask, torch.Tensor):
        raise ConfigError(f"mask must be a bool tensor [H, W] or [B, 1, H, W], got {type(mask).__name__}")
    m = mask.bool()
    if m.dim() == 2:
        m = m[None, None]
    elif m.dim() == 3 and m.shape[0] == 1:
        m = m[None]
    if m.dim() != 4 or m.shape[1] != 1 or m.shape[0] not in (1, batch):
        raise ConfigError(f"mask must be [H, W] or [B, 1, H, W] with B = {batch}, got shape {tuple(mask.shape)}")
    if tuple(m.shape[2:]) != (height, width):
        raise DataError(f"the mask is {m.shape[3]}x{m.shape[2]} but the images are {width}x{height}; "
                        "give a mask of the image's size")
    m = m.expand(batch, 1, height, width)
    filled = m.flatten(1).sum(1)
    if bool((filled == 0).any()):
        raise ConfigError("the mask is empty: nothing to fill; mark the pixels to fill with True (white in a mask file)")
    if bool((filled == height * width).any()):
        raise ConfigError("the mask covers the whole image: no known pixels to keep; use `genlab sample` "
                          "to draw whole images")
    return m

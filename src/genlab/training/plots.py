"""Pictures a person would rather look at: image grids and training curves, as PNG files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def image_grid(images: torch.Tensor, levels: int, nrow: int | None = None, pad: int = 1,
               min_size: int = 32) -> np.ndarray:
    """Tile integer images ``[N, C, H, W]`` with values in [0, levels) into one uint8 array.

    Small images are enlarged (nearest neighbour) to at least ``min_size`` pixels so that 8x8
    digits stay visible. Returns ``[rows, cols]`` (grey) or ``[rows, cols, 3]`` (RGB).
    """
    x = images.detach().cpu().long().clamp(0, levels - 1)
    x = (x * 255 // (levels - 1)).to(torch.uint8)
    n, c, h, w = x.shape
    scale = max(1, math.ceil(min_size / max(h, w)))
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        h, w = h * scale, w * scale
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    grid = torch.full((c, ncol * (h + pad) + pad, nrow * (w + pad) + pad), 128, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = x[i]
    arr = grid.permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


def save_image_grid(images: torch.Tensor, levels: int, path: str | Path, nrow: int | None = None) -> Path:
    """Write :func:`image_grid` of ``images`` to a PNG file."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(images, levels, nrow)).save(path)
    return path


def save_curve(series: dict[str, list[tuple[float, float]]], path: str | Path, title: str = "",
               xlabel: str = "step", ylabel: str = "loss", size: tuple[int, int] = (640, 400)) -> Path:
    """Plot named ``[(x, y), ...]`` series as lines on shared axes and save a PNG."""
    from PIL import Image, ImageDraw

    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
    W, H = size
    left, right, top, bottom = 70, 20, 30, 50
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    points = [p for s in series.values() for p in s if math.isfinite(p[1])]
    if not points:
        draw.text((W // 2 - 40, H // 2), "no data", fill="black")
        img.save(path)
        return Path(path)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    margin = 0.05 * (y1 - y0)
    y0, y1 = y0 - margin, y1 + margin

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (W - left - right), top + (y1 - y) / (y1 - y0) * (H - top - bottom))

    draw.rectangle([left, top, W - right, H - bottom], outline="black")
    for i in range(5):  # ticks and grid lines
        fy = y0 + (y1 - y0) * i / 4
        _, py = to_px(x0, fy)
        draw.line([left, py, W - right, py], fill=(225, 225, 225))
        draw.text((5, py - 6), f"{fy:.4g}", fill="black")
        fx = x0 + (x1 - x0) * i / 4
        px, _ = to_px(fx, y0)
        draw.text((px - 12, H - bottom + 5), f"{fx:.4g}", fill="black")
    for k, (name, pts) in enumerate(series.items()):
        colour = colours[k % len(colours)]
        pts = [to_px(x, y) for x, y in pts if math.isfinite(y)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        elif pts:
            draw.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=colour)
        draw.line([W - right - 150, top + 10 + 15 * k, W - right - 130, top + 10 + 15 * k], fill=colour, width=2)
        draw.text((W - right - 125, top + 4 + 15 * k), name, fill="black")
    draw.text((left, 8), title, fill="black")
    draw.text((W // 2 - 20, H - 18), xlabel, fill="black")
    draw.text((5, 8), ylabel, fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path

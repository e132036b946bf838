"""Pictures shared by training, evaluation and reports: line curves as PNG files, and the image grids
(which live with the image modality and are re-exported here)."""

from __future__ import annotations

import math
from pathlib import Path

from .data.modalities.image import image_grid, save_image_grid  # noqa: F401  (re-exported)


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

"""Restoration metrics as the super-resolution literature reports them: PSNR and SSIM on Y.

Both are computed on the luminance channel Y of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` computes
it, ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with RGB in [0, 1] (so Y is in [16, 235]), kept in
floating point, after cropping a border of ``border`` pixels (the scale factor) from every side.

* PSNR: ``10 log10(255^2 / MSE)`` over the cropped Y.
* SSIM: Wang et al. (2004): an 11 x 11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
  data range L = 255, the SSIM map over the positions where the window lies inside the cropped
  image ("valid"), averaged.

:func:`bicubic_baseline` scores the MATLAB-style bicubic upscaling of a test set's LR files.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from ..errors import DataError

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2, DATA_RANGE = 11, 1.5, 0.01, 0.03, 255.0


def _as_image(x: Any, what: str) -> torch.Tensor:
    """An image ``[C, H, W]`` (C 1 or 3, values 0..255) as float64; numpy or tensor."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise DataError(f"{what} must be an image [C, H, W] with 1 or 3 channels (0..255), got {tuple(t.shape)}")
    return t.detach().cpu().to(torch.float64)


def rgb_to_y(image: Any) -> torch.Tensor:
    """The BT.601 luminance ``[H, W]`` (float64, 16..235) of an RGB image ``[3, H, W]`` in 0..255.

    A grey image ``[1, H, W]`` is taken as R = G = B.
    """
    x = _as_image(image, "image") / 255.0
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return 16.0 + 65.481 * x[0] + 128.553 * x[1] + 24.966 * x[2]


def _cropped_y(output: Any, target: Any, border: int) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _as_image(output, "output"), _as_image(target, "target")
    if a.shape[1:] != b.shape[1:]:
        raise DataError(f"output is {a.shape[2]}x{a.shape[1]} but the target is {b.shape[2]}x{b.shape[1]}; "
                        "score an output of the target's size")
    if border < 0 or 2 * border >= min(a.shape[1:]):
        raise DataError(f"border {border} leaves nothing of a {a.shape[2]}x{a.shape[1]} image")
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    if border:
        ya, yb = ya[border:-border, border:-border], yb[border:-border, border:-border]
    return ya, yb


def psnr(output: Any, target: Any, border: int = 0) -> float:
    """PSNR in dB of ``output`` against ``target`` (RGB ``[3, H, W]``, 0..255) on Y, ``border`` cropped."""
    ya, yb = _cropped_y(output, target, border)
    mse = float(torch.mean((ya - yb) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(DATA_RANGE ** 2 / mse))


def _gaussian_window() -> torch.Tensor:
    r = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * SSIM_SIGMA ** 2))
    w = torch.outer(g, g)
    return (w / w.sum())[None, None]


def structural_similarity(a: torch.Tensor, b: torch.Tensor, data_range: float) -> torch.Tensor:
    """SSIM (Wang et al. 2004) of images ``a`` and ``b`` ``[..., H, W]`` (one channel each), one value per image.

    An 11 x 11 Gaussian window (sigma 1.5, normalised), K1 = 0.01, K2 = 0.03, dynamic range
    ``data_range``, population (not sample) variances, the SSIM map over the positions where the
    window lies inside the image, averaged: scikit-image's ``structural_similarity(a, b,
    data_range=..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``. Computed in
    float64; returns float64 ``[...]``.
    """
    a, b = torch.as_tensor(a).to(torch.float64), torch.as_tensor(b).to(torch.float64)
    if a.shape != b.shape or a.dim() < 2:
        raise DataError(f"SSIM compares images of one shape [..., H, W], got {tuple(a.shape)} and {tuple(b.shape)}")
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise DataError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {a.shape[-1]}x{a.shape[-2]}")
    lead = a.shape[:-2]
    a, b = a.reshape(-1, 1, *a.shape[-2:]), b.reshape(-1, 1, *b.shape[-2:])
    win = _gaussian_window()

    def blur(z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(z, win)

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    score = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return score.flatten(1).mean(1).reshape(lead)


def ssim(output: Any, target: Any, border: int = 0) -> float:
    """SSIM (Wang et al. 2004) of ``output`` against ``target`` on Y, ``border`` cropped (see the module)."""
    ya, yb = _cropped_y(output, target, border)
    if min(ya.shape) < SSIM_WINDOW:
        raise DataError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after the border, "
                        f"got {ya.shape[1]}x{ya.shape[0]}")
    return float(structural_similarity(ya, yb, DATA_RANGE))


def score_pairs(outputs: Iterable[Any], pairs: Iterable[Any]) -> dict[str, Any]:
    """Mean PSNR and SSIM of ``outputs`` against the high-res images of ``pairs`` (``SRPair``), border = scale.

    Returns ``{"psnr": dB, "ssim": ..., "images": [{"name", "psnr", "ssim"}, ...]}``.
    """
    rows = [{"name": p.name, "psnr": psnr(o, p.highres, p.scale), "ssim": ssim(o, p.highres, p.scale)}
            for o, p in zip(outputs, pairs)]
    if not rows:
        raise DataError("no images to score")
    return {"psnr": float(np.mean([r["psnr"] for r in rows])), "ssim": float(np.mean([r["ssim"] for r in rows])),
            "images": rows}


def bicubic_baseline(pairs: Iterable[Any]) -> dict[str, Any]:
    """:func:`score_pairs` of each LR image upscaled by its scale with MATLAB-style bicubic
    (:func:`genlab.data.superres.bicubic_resize`: a = -0.5)."""
    from ..data.superres import bicubic_resize

    pairs = list(pairs)
    outputs = [bicubic_resize(p.lowres, tuple(p.highres.shape[1:])) for p in pairs]
    return score_pairs(outputs, pairs)

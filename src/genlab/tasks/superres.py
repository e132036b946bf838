"""Super-resolution with a trained model: enlarge a whole picture, in tiles when it is large.

``upscale(model, image)`` enlarges one image (levels ``[C, h, w]``) by the model's scale with any
super-resolution model that has ``upscale(lowres [B, C, h, w]) -> [0, 1] floats`` (``sr-cnn``,
``sr-gan``, ``sr3``). The CNNs are fully convolutional, so a photo of any size works; a large one
is cut into ``tile`` x ``tile`` low-resolution tiles, each enlarged with ``overlap`` pixels of
context on every side that are then cut away. A CNN's output pixel depends only on input pixels
within its receptive field, so with ``overlap`` at least that radius the tiled result equals the
whole-image one up to float rounding (a test checks it). A diffusion model (``sr3``) draws each
tile's noise separately, so its tiles are independent samples that agree only through the input.

``evaluate_pairs(model, pairs)`` scores a model on super-resolution test pairs with PSNR and SSIM
on the luminance as the field reports them (:mod:`genlab.evaluation.restoration`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from ..data.modalities.image import levels_to_uint8, uint8_to_levels
from ..errors import ConfigError, DataError
from ..progress import check_deadline
from .base import Task, modality_task, register_task

MAX_OUTPUT_PIXELS = 4_000_000  # a whole image enlarged at once; larger ones need tile=


def check_superres_model(model) -> None:
    """Refuse a model that does not enlarge images, in one line."""
    if model.data_info.modality.input_task != "superres" or not hasattr(model, "upscale"):
        raise ConfigError(f"model '{model.name}' is not a super-resolution model (train sr-cnn, sr-gan or sr3 "
                          "on superres data such as sr-patches or mnist-sr)")


def tiles(size: int, tile: int) -> list[tuple[int, int]]:
    """``(start, stop)`` spans of at most ``tile`` covering ``0 .. size``."""
    return [(s, min(s + tile, size)) for s in range(0, size, tile)]


@torch.no_grad()
def upscale(model, image: torch.Tensor, *, tile: int | None = None, overlap: int = 16,
            max_output_pixels: int = MAX_OUTPUT_PIXELS, generator: torch.Generator | None = None,
            **sample_args: Any) -> torch.Tensor:
    """The enlargement of ``image`` (levels ``[C, h, w]``) as levels ``long [C, h * scale, w * scale]``.

    ``tile``: enlarge ``tile`` x ``tile`` low-resolution pieces one at a time, each with ``overlap``
    pixels of context (None: the whole image at once, refused above ``max_output_pixels`` output
    pixels with a hint to tile). ``sample_args`` go to a diffusion model's sampler (e.g.
    ``sampler="ddim", steps=50``).
    """
    check_superres_model(model)
    if image.dim() != 3:
        raise DataError(f"upscale takes one image [C, h, w], got shape {list(image.shape)}")
    c, h, w = image.shape
    want = model.config.image_shape[0]
    if c != want:
        raise DataError(f"the image has {c} channel(s) but the model enlarges {'grey' if want == 1 else 'RGB'} "
                        f"images ({want}); convert it")
    if tile is not None and tile < 1 or overlap < 0:
        raise ConfigError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    s, top = model.config.scale, model.config.levels - 1
    if tile is None:
        if h * w * s * s > max_output_pixels:
            raise ConfigError(f"the {w}x{h} image would be enlarged to {w * s}x{h * s} "
                              f"({h * w * s * s / 1e6:.1f} megapixels) in one piece, more than the "
                              f"{max_output_pixels / 1e6:.0f} allowed; enlarge it in tiles (--tile 128)")
        tile = max(h, w)
    x = image.to(model.device)[None]
    out = torch.empty(c, h * s, w * s)
    for y0, y1 in tiles(h, tile):
        for x0, x1 in tiles(w, tile):
            check_deadline()  # a server's time limit stops the work between two tiles
            # the tile plus its context, clipped to the image
            cy0, cy1, cx0, cx1 = max(0, y0 - overlap), min(h, y1 + overlap), max(0, x0 - overlap), min(w, x1 + overlap)
            big = model.upscale(x[:, :, cy0:cy1, cx0:cx1], generator=generator, **sample_args)[0].float().cpu()
            out[:, y0 * s:y1 * s, x0 * s:x1 * s] = big[:, (y0 - cy0) * s:(y1 - cy0) * s, (x0 - cx0) * s:(x1 - cx0) * s]
    return torch.round(out.clamp(0, 1) * top).long()


@torch.no_grad()
def evaluate_pairs(model, pairs, *, tile: int | None = None, progress: bool = False,
                   **sample_args: Any) -> dict[str, Any]:
    """Mean PSNR and SSIM (dB; Y channel, ``scale`` border cropped) of ``model`` over ``pairs``.

    ``pairs``: :class:`~genlab.data.superres.SRPair` objects (a Set5 / Set14 / BSD100 split), each
    enlarged from its distributed low-resolution file. Also gives per-image figures and the
    milliseconds per output megapixel.
    """
    from ..evaluation.restoration import psnr, ssim

    check_superres_model(model)
    rows, seconds, megapixels = [], 0.0, 0.0
    items = list(pairs)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="super-resolution", unit="image")
    for pair in items:
        if pair.scale != model.config.scale:
            raise DataError(f"'{pair.name}' is a x{pair.scale} pair but the model enlarges x{model.config.scale}; "
                            f"evaluate on --data-arg scale={model.config.scale}")
        lowres = pair.lowres if model.config.image_shape[0] == 3 else _luma_levels(pair.lowres)
        start = time.perf_counter()
        sr = upscale(model, uint8_to_levels(lowres, model.config.levels), tile=tile, **sample_args)
        seconds += time.perf_counter() - start
        megapixels += sr.shape[1] * sr.shape[2] / 1e6
        sr255 = levels_to_uint8(sr, model.config.levels)
        truth = pair.highres if model.config.image_shape[0] == 3 else _luma_levels(pair.highres)
        rows.append({"name": pair.name, "psnr": psnr(sr255, truth, pair.scale), "ssim": ssim(sr255, truth, pair.scale)})
    if not rows:
        raise DataError("no test pairs to evaluate")
    return {"psnr": sum(r["psnr"] for r in rows) / len(rows), "ssim": sum(r["ssim"] for r in rows) / len(rows),
            "ms_per_megapixel": 1000 * seconds / max(megapixels, 1e-12), "num_examples": len(rows), "images": rows}


def _luma_levels(image: torch.Tensor) -> torch.Tensor:
    """A grey version of an RGB uint8 image for a grey model (the first channel of a grey file)."""
    if image.shape[0] == 1 or (torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])):
        return image[:1]
    weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    return torch.round((image.float() * weights).sum(0, keepdim=True)).clamp(0, 255).to(torch.uint8)


def receptive_radius(model) -> int:
    """Low-resolution pixels of context an sr-cnn / sr-gan output pixel depends on (a bound)."""
    net = model.net
    convs = 3 + 2 * len([m for m in net.body if hasattr(m, "conv1")]) + len(net.up) // 2
    return convs + (2 if net.bicubic_skip else 0) + math.ceil(1 / model.config.scale)


@torch.no_grad()
def evaluate_restoration(model, split, *, max_examples: int | None = None, batch_size: int = 64,
                         progress: bool = False, **sample_args: Any) -> dict[str, Any]:
    """PSNR and SSIM on Y (and the mean absolute error on [0, 1] pixels) of a model of an input image
    against the truth, over a split of its kind of data.

    A test split of photos of many sizes (:class:`~genlab.data.superres.PairSplit`) goes through
    :func:`evaluate_pairs`; a batched split (``{"x", "lowres" | "source"}``) is enlarged or
    translated a batch at a time. The border cropped is the model's scale (0 for translation).
    """
    from ..data.superres import PairSplit
    from ..evaluation.restoration import psnr, ssim

    if isinstance(split, PairSplit):
        pairs = list(split)[:max_examples] if max_examples else split
        return {k: v for k, v in evaluate_pairs(model, pairs, progress=progress, **sample_args).items() if k != "images"}
    field = model.data_info.modality.condition_field
    border = getattr(model.config, "scale", 0) if model.data_info.kind == "superres" else 0
    n = len(split) if not max_examples else min(max_examples, len(split))
    top = model.config.levels - 1
    sums = {"psnr": 0.0, "ssim": 0.0, "l1": 0.0}
    side = min(split.get(torch.arange(1))["x"].shape[-2:]) - 2 * border
    with_ssim = side >= 11  # SSIM's 11x11 Gaussian window must fit inside the cropped image
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="restoration", unit="batch")
    seconds = 0.0
    for start in starts:
        batch = split.get(torch.arange(start, min(start + batch_size, n)))
        t0 = time.perf_counter()
        out = model.sample(len(batch["x"]), condition=batch[field].to(model.device), **sample_args).cpu()
        seconds += time.perf_counter() - t0
        for o, t in zip(levels_to_uint8(out, model.config.levels), levels_to_uint8(batch["x"], model.config.levels)):
            sums["psnr"] += psnr(o, t, border)
            sums["ssim"] += ssim(o, t, border) if with_ssim else 0.0
        sums["l1"] += float((out.float() - batch["x"].float()).abs().mean((1, 2, 3)).sum()) / top
    return {"psnr": sums["psnr"] / n, "ssim": sums["ssim"] / n if with_ssim else None, "l1": sums["l1"] / n,
            "num_examples": n,
            "border": border, "ms_per_image": 1000 * seconds / n}


register_task(Task(
    name="superres", summary="enlarge pictures of any size (sr-cnn, sr-gan, sr3), in tiles when large",
    command="genlab superres RUN IMAGE... --out DIR", supports=modality_task("superres"), run=upscale,
    options={"tile": "enlarge in N x N input tiles", "overlap": "context pixels around each tile",
             "seed": "a diffusion model's noise", "sample-arg": "sr3's sampler settings"}))

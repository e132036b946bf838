"""Inpainting with a trained model: fill the unknown pixels of images, keep the known ones exactly.

The method depends on the model's family; a family that inpaints has a model method
``inpaint(x, mask, *, condition=None, generator=None, **settings)``:

* DDPM: RePaint (Lugmayr et al. 2022), with optional ``resample`` / ``jump`` settings.
* PixelCNN: raster-order sampling of the unknown pixels (exact when they all come after the known ones).
* VAE: a latent optimised to fit the known pixels (Adam, several restarts), then decoded.

    from genlab.tasks import masks
    from genlab.tasks.inpaint import inpaint
    filled = inpaint(model, images, masks.bottom_half(8, 8), generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ..errors import ConfigError, DataError
from ..models.registry import list_models, get_model_class
from .base import Task, register_task
from .masks import as_batch_mask


def inpainting_models() -> list[str]:
    """Names of the registered models that can inpaint (their class has an ``inpaint`` method)."""
    return [name for name in list_models() if callable(getattr(get_model_class(name), "inpaint", None))]


def inpaint_method(model):
    """``model.inpaint``, or a one-line error naming the models that inpaint."""
    method = getattr(model, "inpaint", None)
    if not callable(method):
        raise ConfigError(f"model '{model.name}' ({model.family or 'no'} family) cannot inpaint; "
                          f"the models that inpaint are: {', '.join(inpainting_models())}")
    return method


def check_settings(model, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` if ``model.inpaint`` takes every one of them; else a one-line error listing those it takes."""
    params = inspect.signature(inpaint_method(model)).parameters
    accepted = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
                and k not in ("condition", "generator")]
    unknown = [k for k in settings if k not in accepted]
    if unknown:
        raise ConfigError(f"model '{model.name}' does not take the inpainting setting(s) {', '.join(unknown)}; "
                          f"it takes: {', '.join(accepted) or 'none'}")
    return dict(settings)


def check_images(model, images: torch.Tensor) -> torch.Tensor:
    """``images`` (``[C, H, W]`` or ``[B, C, H, W]`` integer levels) as long ``[B, C, H, W]``, checked
    against the model's image shape and levels."""
    shape = getattr(model.config, "image_shape", None)
    if shape is None:
        raise ConfigError(f"model '{model.name}' is not an image model; inpainting needs one "
                          f"({', '.join(inpainting_models())})")
    if not isinstance(images, torch.Tensor):
        raise ConfigError(f"images must be an integer tensor [B, C, H, W], got {type(images).__name__}")
    x = images[None] if images.dim() == 3 else images
    c, h, w = shape
    if x.dim() != 4:
        raise DataError(f"images must be [C, H, W] or [B, C, H, W], got shape {tuple(images.shape)}")
    if x.shape[1] != c:
        names = {1: "grey", 3: "RGB"}
        raise DataError(f"the images have {x.shape[1]} channel(s) ({names.get(x.shape[1], 'other')}) but the model "
                        f"takes {c} ({names.get(c, 'other')}); convert the images to {names.get(c, f'{c} channels')}")
    if tuple(x.shape[2:]) != (h, w):
        raise DataError(f"the images are {x.shape[3]}x{x.shape[2]} but the model takes {w}x{h}; resize them")
    if x.is_floating_point() and not torch.equal(x, x.round()):
        raise DataError("images must hold integer levels, not floats in [0, 1]")
    levels = model.config.levels
    if len(x) and (int(x.min()) < 0 or int(x.max()) >= levels):
        raise DataError(f"image values must be levels 0 .. {levels - 1}, got {int(x.min())} .. {int(x.max())}")
    return x.long()


def inpaint(model, images: torch.Tensor, mask: torch.Tensor, *, condition=None,
            generator: torch.Generator | None = None, **settings: Any) -> torch.Tensor:
    """Fill the pixels of ``images`` where ``mask`` is True with ``model``; long ``[B, C, H, W]`` levels.

    Args:
        model: a trained DDPM, PixelCNN or VAE (no retraining: the weights are not changed).
        images: ``[C, H, W]`` or ``[B, C, H, W]`` integer levels of the model's shape.
        mask: bool ``[H, W]`` (the same for every image) or ``[B, 1, H, W]``; True = to fill.
        condition: class labels for a conditional model (None: the classes in turn).
        generator: torch RNG, for reproducible completions.
        settings: the family's own settings (DDPM ``resample``, ``jump``; PixelCNN ``temperature``;
            VAE ``steps``, ``restarts``, ``lr``, ``mode``).
    The known pixels of the result equal those of ``images`` exactly.
    """
    method = inpaint_method(model)
    settings = check_settings(model, settings)
    x = check_images(model, images)
    _, _, h, w = x.shape
    m = as_batch_mask(mask, len(x), h, w).to(model.device)
    was_training = model.training
    model.eval()
    try:
        filled = method(x.to(model.device), m, condition=condition, generator=generator, **settings)
    finally:
        model.train(was_training)
    return torch.where(m, filled.long(), x.to(filled.device))  # the known pixels, exactly as given


register_task(Task(
    name="inpaint", summary="fill the masked part of a picture (DDPM: RePaint; PixelCNN; VAE: a fitted latent)",
    command="genlab inpaint RUN IMAGE (--mask FILE | --box X,Y,W,H | --mask-kind KIND) --out DIR",
    supports=lambda model: callable(getattr(model, "inpaint", None)), run=inpaint,
    options={"mask": "white = to fill", "box": "x,y,w,h in the model's pixels", "mask_kind": "bottom, right, box, "
             "strokes", "num": "completions per picture", "resample, jump": "DDPM (RePaint)", "temperature": "PixelCNN",
             "steps, restarts, lr, mode": "VAE"}))

"""Latent interpolation: the pictures on the straight line between two pictures' latent codes.

``interpolate(model, a, b, steps)`` encodes two images (levels ``[C, H, W]`` of the model's shape)
with a model that has an encoder (the VAE: its posterior means), walks ``steps`` evenly spaced
points from one code to the other, and decodes each (the decoder's mean): ``[steps, C, H, W]``
levels, the first and last the reconstructions of ``a`` and ``b``.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError, DataError
from ..models.registry import get_model_class, list_models
from .base import Task, register_task

MAX_STEPS = 64


def interpolating_models() -> list[str]:
    """Names of the registered models with an encoder to interpolate in (an ``interpolate`` method)."""
    return [name for name in list_models() if callable(getattr(get_model_class(name), "interpolate", None))]


def check_interpolator(model) -> None:
    if not callable(getattr(model, "interpolate", None)):
        raise ConfigError(f"model '{model.name}' ({model.family or 'no'} family) has no encoder to interpolate in; "
                          f"the models that interpolate are: {', '.join(interpolating_models())}")


@torch.no_grad()
def interpolate(model, a: torch.Tensor, b: torch.Tensor, steps: int = 8, *, condition=None) -> torch.Tensor:
    """``[steps, C, H, W]`` long levels from ``a`` to ``b`` through the model's latent space."""
    check_interpolator(model)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= MAX_STEPS:
        raise ConfigError(f"steps must be a whole number between 2 and {MAX_STEPS} (both ends included), got {steps!r}")
    want = tuple(model.data_info.shape)
    for name, x in (("the first picture", a), ("the second picture", b)):
        if tuple(x.shape[-3:]) != want:
            raise DataError(f"{name} is {list(x.shape[-3:])}, the model's pictures are {list(want)}")
    model.eval()
    return model.interpolate(a.to(model.device), b.to(model.device), steps=steps, condition=condition).long()


register_task(Task(
    name="interpolate", summary="the pictures between two pictures, through the latent space (VAE)",
    command="genlab interpolate RUN A.png B.png --steps 8 --out DIR",
    supports=lambda model: callable(getattr(model, "interpolate", None)), run=interpolate,
    options={"steps": f"pictures on the line, both ends included (2 to {MAX_STEPS})",
             "condition": "the class, for a conditional model"}))

"""Image-to-image translation with a trained model: a source picture (an edge map, a label map) in,
the target picture out.

The models that translate are those trained on ``image-pair`` data (pix2pix); they take the
source as their condition (:class:`~genlab.data.SourceImage`), so translating is sampling with the
source given:

    from genlab.tasks.translate import translate_images
    digits = translate_images(model, edge_maps, generator=torch.Generator().manual_seed(0))

``genlab translate-image RUN IMAGE... --out DIR`` does the same for picture files.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError, DataError
from ..models.registry import get_model_class, list_models
from .base import Task, modality_task, register_task

KIND = "image-pair"  # the data a translation model is trained on


def translation_models() -> list[str]:
    """Names of the registered models that translate images (trained on image-pair data)."""
    return [name for name in list_models() if KIND in get_model_class(name).data_kinds]


def check_translator(model) -> None:
    """A one-line error unless ``model`` translates images."""
    if model.data_info.modality.input_task != "translate":
        raise ConfigError(f"model '{model.name}' ({model.family or 'no'} family, trained on {model.data_info.kind} "
                          f"data) does not translate images; the models that do are: "
                          f"{', '.join(translation_models())} (trained on {KIND} data such as mnist-edges or pairs:DIR)")


def model_size(model) -> tuple[int, int] | None:
    """The one (height, width) the model takes, or None when it takes any size."""
    return model.condition_spec.size


def training_size(model) -> tuple[int, int]:
    """The (height, width) of the images the model was trained on."""
    _, h, w = model.data_info.shape
    return h, w


def check_sources(model, images: torch.Tensor) -> torch.Tensor:
    """``images`` (``[C, H, W]`` or ``[B, C, H, W]`` integer levels) as long ``[B, C, H, W]``, checked
    against the model's channels, levels and (where it takes only one) size."""
    check_translator(model)
    if not isinstance(images, torch.Tensor):
        raise ConfigError(f"images must be an integer tensor [B, C, H, W], got {type(images).__name__}")
    x = images[None] if images.dim() == 3 else images
    if x.dim() != 4:
        raise DataError(f"images must be [C, H, W] or [B, C, H, W], got shape {tuple(images.shape)}")
    c = model.data_info.shape[0]
    names = {1: "grey", 3: "RGB"}
    if x.shape[1] != c:
        raise DataError(f"the images have {x.shape[1]} channel(s) ({names.get(x.shape[1], 'other')}) but the model "
                        f"takes {c} ({names.get(c, 'other')}); convert them")
    size = model_size(model)
    if size is not None and tuple(x.shape[2:]) != size:
        raise DataError(f"the images are {x.shape[3]}x{x.shape[2]} but the model takes {size[1]}x{size[0]}; "
                        "resize them")
    if x.is_floating_point() and not torch.equal(x, x.round()):
        raise DataError("images must hold integer levels, not floats in [0, 1]")
    levels = model.data_info.levels
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= levels):
        raise DataError(f"image values must be levels 0 .. {levels - 1}, got {int(x.min())} .. {int(x.max())}")
    return x.long()


@torch.no_grad()
def translate_images(model, images: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """The model's translations (target levels, long ``[B, C, H, W]``) of source ``images``
    (integer levels ``[C, H, W]`` or ``[B, C, H, W]``, the model's channels; pix2pix takes any size
    and returns the same size).

    ``generator`` draws the model's noise (pix2pix's dropout): the same seed, the same output.
    """
    x = check_sources(model, images)
    if len(x) == 0:
        return x.clone()
    dtype = torch.uint8 if model.data_info.levels <= 256 else torch.float32
    return model.sample(len(x), condition=x.to(model.device, dtype), generator=generator)


register_task(Task(
    name="translate", summary="translate pictures into the target domain (pix2pix)",
    command="genlab translate-image RUN IMAGE... --out DIR", supports=modality_task("translate"),
    run=translate_images, options={"keep-size": "translate at the picture's own size", "seed": "the dropout noise"}))

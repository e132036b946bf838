"""Image pairs: a target image and the image it is made from.

Two kinds of data share this module, since they differ only in what the input image is:

* ``superres``: the target is a high-resolution image and the input (field ``"lowres"``) the
  same image ``DataInfo.scale`` times smaller; the models enlarge (super-resolution);
* ``image-pair``: the target and the input (field ``"source"``) have the same size and are two
  renderings of one scene (an edge map and its digit, a label map and its photo); the models
  translate one into the other (pix2pix).

A model of either kind is conditioned on the input image (:class:`~genlab.data.LowResImage`,
:class:`~genlab.data.SourceImage`), so the trainer's previews take their inputs from the data:
:meth:`PairedImageModality.preview` reads the first examples of the split it is given. Pixels are
uint8 levels as for images; a likelihood (where a model has one, e.g. SR3's bound) is per target
image, ``log p(target | input)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...errors import DataError
from .base import register_modality
from .image import ImageModality, uint8_to_levels


class ImagePairSplit:
    """Targets ``x`` uint8 ``[N, C, H, W]`` and their inputs (``[N, C', h, w]`` under ``field``), with
    optional labels ``[N]``; ``get(indices)`` gives ``{"x", field, "y"}``."""

    def __init__(self, targets: torch.Tensor, inputs: torch.Tensor, field: str, labels: torch.Tensor | None = None):
        if targets.dim() != 4 or inputs.dim() != 4:
            raise DataError(f"image pairs must be [N, C, H, W] tensors, got {tuple(targets.shape)} and "
                            f"{tuple(inputs.shape)}")
        if len(targets) != len(inputs) or (labels is not None and len(labels) != len(targets)):
            raise DataError(f"{len(targets)} targets, {len(inputs)} inputs"
                            + ("" if labels is None else f" and {len(labels)} labels") + ": give one of each per pair")
        self.images, self.inputs, self.field, self.labels = targets, inputs, field, labels

    def __len__(self) -> int:
        return len(self.images)

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = {"x": self.images[indices], self.field: self.inputs[indices]}
        if self.labels is not None:
            batch["y"] = self.labels[indices]
        return batch

    def windows(self, length: int | None) -> "ImagePairSplit":
        return self

    def eval_indices(self) -> torch.Tensor:
        return torch.arange(len(self))


class PairedImageModality(ImageModality):
    """Shared by the two pair kinds: image facts, and previews made from the data's inputs."""

    sample_quality = False  # judged against the truth (PSNR, SSIM, L1) rather than by Fréchet distance alone
    truth_scorer = "restoration"
    default_num_samples = 16

    def check_info(self, info) -> None:
        # a test set of photos of many sizes has no one shape (a fully convolutional model takes them all)
        if info.shape is not None:
            super().check_info(info)
        elif info.levels is None or info.levels < 2:
            raise DataError(f"image data '{info.name}' needs levels >= 2, got {info.levels}")

    def model_fields(self, info) -> dict[str, Any]:
        fields = {"levels": info.levels, "num_classes": info.num_classes}
        if info.shape is not None:
            fields["image_shape"] = list(info.shape)
        return fields

    def preview(self, num_samples: int, split=None) -> tuple[int, dict[str, Any]]:
        """The first ``min(num_samples, 16)`` inputs of ``split`` as the condition."""
        if split is None:
            raise DataError(f"{self.name} models generate from an input image; previews need the data's split")
        n = min(num_samples, 16, len(split))
        return n, {"condition": split.get(torch.arange(n))[self.condition_field]}

    def parse(self, info, value: Any) -> torch.Tensor:
        """An image file (path) as uint8 levels ``[C, H, W]`` at its own size, in the data's channels."""
        return read_image_levels(value, info.shape[0] if info.shape is not None else 3, info.levels)


@register_modality
class SuperResModality(PairedImageModality):
    """Super-resolution pairs: a high-resolution image and its `scale` times smaller version."""

    name = "superres"
    condition_field = "lowres"
    input_task = "superres"
    fields = {"x": "uint8 high-resolution pixels [B, C, H, W] in 0 .. levels-1",
              "lowres": "uint8 low-resolution pixels [B, C, H / scale, W / scale]",
              "y": "long class labels [B] (labelled data only)"}

    def check_info(self, info) -> None:
        super().check_info(info)
        if info.scale is None or info.scale < 1:
            raise DataError(f"super-resolution data '{info.name}' needs a scale >= 1, got {info.scale}")

    def model_fields(self, info) -> dict[str, Any]:
        return {**super().model_fields(info), "scale": info.scale}


@register_modality
class ImagePairModality(PairedImageModality):
    """Paired images of the same size: a source image and the target it is translated into."""

    name = "image-pair"
    condition_field = "source"
    input_task = "translate"
    fields = {"x": "uint8 target pixels [B, C, H, W] in 0 .. levels-1",
              "source": "uint8 source pixels [B, C', H, W] in 0 .. levels-1",
              "y": "long class labels [B] (labelled data only)"}


def read_image_levels(value: Any, channels: int, levels: int) -> torch.Tensor:
    """The picture file ``value`` (PNG, JPEG...) as uint8 ``[channels, H, W]`` in ``levels`` levels, its
    size kept; one-line errors for a missing file, a folder, or a file that is not an image."""

    from ...files import open_picture

    if channels not in (1, 3):
        raise DataError(f"image data with {channels} channels cannot be read from a picture file")
    with open_picture(value, what="image") as im:
        pixels = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    x = torch.from_numpy(pixels.copy())
    x = x.unsqueeze(0) if channels == 1 else x.permute(2, 0, 1).contiguous()
    return uint8_to_levels(x, levels)

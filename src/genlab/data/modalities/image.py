"""Images: uint8 pixels ``[N, C, H, W]`` with a number of grey levels, optional class labels.

Likelihoods are per image in nats and per dimension in bits; samples are shown as a PNG grid.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import DataError
from .base import Modality, register_modality


class ImageSplit:
    """Images as a uint8 tensor ``[N, C, H, W]`` with optional integer labels ``[N]``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        if images.dim() != 4:
            raise DataError(f"images must have shape [N, C, H, W], got {tuple(images.shape)}")
        if labels is not None and len(labels) != len(images):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """A batch ``{"x": uint8 [B, C, H, W], "y": long [B]}`` (``"y"`` only with labels)."""
        batch = {"x": self.images[indices]}
        if self.labels is not None:
            batch["y"] = self.labels[indices]
        return batch

    def windows(self, length: int | None) -> "ImageSplit":
        return self

    def eval_indices(self) -> torch.Tensor:
        """Items that cover the split once, for evaluation: every image, in order."""
        return torch.arange(len(self))


def levels_to_uint8(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer levels ``0 .. levels-1`` -> uint8 ``0 .. 255``, to the nearest grey value."""
    if levels == 256:
        return x.to(torch.uint8)
    top = levels - 1
    return ((x.long().clamp(0, top) * 255 + top // 2) // top).to(torch.uint8)


def uint8_to_levels(x: torch.Tensor, levels: int) -> torch.Tensor:
    """uint8 ``0 .. 255`` -> the nearest of ``levels`` evenly spaced levels (uint8)."""
    if levels == 256:
        return x.to(torch.uint8)
    return ((x.long() * (levels - 1) + 127) // 255).to(torch.uint8)


def picture_png(levels: int, image: torch.Tensor) -> bytes:
    """One image of levels ``[C, H, W]`` as the bytes of a PNG of its own size (grey or RGB)."""
    import io

    from PIL import Image

    x = levels_to_uint8(image.detach().cpu(), levels)
    arr = x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return buffer.getvalue()


def image_grid(images: torch.Tensor, levels: int, nrow: int | None = None, pad: int = 1,
               min_size: int = 64) -> np.ndarray:
    """Tile integer images ``[N, C, H, W]`` with values in [0, levels) into one uint8 array.

    Small images are enlarged (nearest neighbour, a whole factor) to at least ``min_size`` pixels so
    that 8x8 digits are legible (16 of them make a grid of 261 x 261 pixels).
    Returns ``[rows, cols]`` (grey) or ``[rows, cols, 3]`` (RGB).
    """
    x = levels_to_uint8(images.detach().cpu(), levels)  # the nearest grey, as every picture genlab writes
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


def save_image_grid(images: torch.Tensor, levels: int, path: str | Path, nrow: int | None = None,
                    min_size: int = 64) -> Path:
    """Write :func:`image_grid` of ``images`` to a PNG file (or the format of the suffix), atomically:
    a full disk leaves the old file as it was and raises :class:`~genlab.errors.StorageError`."""
    import io

    from PIL import Image

    from ...files import atomic_write_bytes, storage_errors

    path = Path(path)
    with storage_errors(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(image_grid(images, levels, nrow, min_size=min_size)).save(buffer, format=Image.registered_extensions().get(
        path.suffix.lower(), "PNG"))
    atomic_write_bytes(path, buffer.getvalue())
    return path


@register_modality
class ImageModality(Modality):
    """Images: uint8 pixels [C, H, W] with a number of levels; NLL per image and bits per dimension."""

    name = "image"
    unit = "image"
    sample_suffix = ".png"
    writes_folder = True  # --out DIR: each sample at its own size, and the grid
    default_num_samples = 64
    sample_quality = True
    fields = {"x": "uint8 pixels [B, C, H, W] in 0 .. levels-1", "y": "long class labels [B] (labelled data only)"}

    def check_info(self, info) -> None:
        if info.shape is None or len(info.shape) != 3 or min(info.shape) < 1:
            raise DataError(f"image data '{info.name}' needs a shape [C, H, W], got {info.shape}")
        if info.levels is None or info.levels < 2:
            raise DataError(f"image data '{info.name}' needs levels >= 2, got {info.levels}")

    def model_fields(self, info) -> dict[str, Any]:
        return {"image_shape": list(info.shape), "levels": info.levels, "num_classes": info.num_classes}

    def likelihood_report(self, info, total_nats: float, num_examples: int, split) -> dict[str, Any]:
        nll = total_nats / num_examples
        dims = math.prod(info.shape)
        return {"nll_nats": nll, "bits_per_dim": nll / (dims * math.log(2)), "unit": "nats per image"}

    def describe_likelihood(self, result: dict[str, Any]) -> list[str]:
        return [f"NLL          {result['nll_nats']:.3f} nats per image",
                f"bits/dim     {result['bits_per_dim']:.4f}"]

    def preview(self, num_samples: int, split=None) -> tuple[int, dict[str, Any]]:
        return num_samples, {}

    def write_files(self, info, samples: torch.Tensor, path: str | Path) -> list[Path]:
        """A grid of the samples as an image file (PNG, or another format PIL knows by the suffix); for a
        folder (a path without a suffix, or an existing folder), each sample as its own PNG at the data's
        size (``sample-000.png``, ...), to feed to another command, and ``grid.png``."""
        from PIL import Image

        from ...files import atomic_write_bytes, storage_errors

        path = Path(path)
        if path.is_dir() or not path.suffix:
            width = max(3, len(str(len(samples) - 1)))
            names = [f"sample-{i:0{width}d}.png" for i in range(len(samples))] + ["grid.png"]
            taken = [name for name in names if (path / name).exists()]
            if taken:  # a folder of the user's: add to it, never replace what is there
                raise DataError(f"'{path / taken[0]}' already exists; give a new folder (or one without sample-NNN.png "
                                "and grid.png files) for the samples")
            with storage_errors(path):
                path.mkdir(parents=True, exist_ok=True)
            for name, image in zip(names, samples):
                atomic_write_bytes(path / name, picture_png(info.levels, image))
            save_image_grid(samples, info.levels, path / "grid.png")
            return [path / name for name in names]
        if path.suffix.lower() not in Image.registered_extensions():
            raise DataError(f"'{path}' has no image suffix PIL can write; use a .png file name, or a folder name")
        return [save_image_grid(samples, info.levels, path)]

    def example_file(self, info, split, index: int) -> tuple[bytes, str]:
        return picture_png(info.levels, split.images[index]), "image/png"

    def parse(self, info, value: Any) -> torch.Tensor:
        """An image file (path) as uint8 levels ``[C, H, W]`` of this data's shape and levels.

        The picture is converted to the data's channels (grey or RGB), resized to its height
        and width, and its 0..255 values are mapped to ``levels`` evenly spaced levels.
        """
        from PIL import Image

        from ...files import open_picture

        c, h, w = info.shape
        if c not in (1, 3):
            raise DataError(f"image data with {c} channels cannot be read from a picture file")
        with open_picture(value, what="image") as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BICUBIC)
            pixels = np.asarray(im, dtype=np.uint8)
        x = torch.from_numpy(pixels.copy())
        x = x.unsqueeze(0) if c == 1 else x.permute(2, 0, 1)
        return uint8_to_levels(x, info.levels)  # 0..255 -> 0..levels-1, rounded

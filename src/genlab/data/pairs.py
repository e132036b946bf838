"""Paired images for image-to-image translation (``image-pair`` data, :mod:`genlab.data.modalities.pairs`).

* ``pairs:DIR``: a folder with ``A/`` (the sources) and ``B/`` (the targets) holding pictures of
  the same names (``A/0001.png`` with ``B/0001.png``; the suffixes may differ, ``A/0001.png`` with
  ``B/0001.jpg``), as in pix2pix's aligned data sets.
* ``mnist-edges`` and ``digits-edges``: every digit paired with its edge map (:func:`sobel_edges`);
  the model learns to draw a digit from its outline.

The source and the target of a pair have the same size and the same channels (the data's one
shape; a grey source of an RGB data set is repeated on the three channels). Pixels are uint8 levels;
the class labels of the digit data sets are kept as ``y``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError
from ..files import UnreadablePicture
from ..provenance import check_synthetic
from .core import DataInfo, DataSet
from .modalities import ImagePairSplit
from .registry import register_dataset

# A pixel is an edge where the Sobel gradient magnitude of the image (pixels in [0, 1]) is at least
# this: half the magnitude a full black-to-white step gives (4).
EDGE_THRESHOLD = 2.0
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # PIL modes of one-channel pictures
SOBEL_X = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def sobel_edges(images: torch.Tensor, levels: int, threshold: float = EDGE_THRESHOLD) -> torch.Tensor:
    """The edge maps of uint8 images ``[N, C, H, W]`` of ``levels`` levels: uint8 ``[N, C, H, W]`` with
    ``levels - 1`` on the edges and 0 elsewhere.

    The detector: each image's grey value (the channels' mean) in [0, 1], the 3x3 Sobel derivatives
    ``gx`` and ``gy`` (zero padding outside the image), and an edge wherever
    ``sqrt(gx^2 + gy^2) >= threshold``. With the default threshold a white stroke on black gives
    an outline on both sides of the stroke, one to two pixels thick.
    """
    if images.dim() != 4:
        raise DataError(f"edge maps are made of images [N, C, H, W], got shape {tuple(images.shape)}")
    grey = images.float().mean(1, keepdim=True) / (levels - 1)
    kernels = torch.stack([SOBEL_X, SOBEL_X.T])[:, None]
    grad = F.conv2d(grey, kernels, padding=1)
    edges = grad.pow(2).sum(1, keepdim=True).sqrt() >= threshold
    return (edges.to(torch.uint8) * (levels - 1)).expand(-1, images.shape[1], -1, -1).contiguous()


def edge_pairs(data: DataSet, name: str) -> DataSet:
    """``data`` (labelled image data) as translation pairs: each image the target of its :func:`sobel_edges`."""
    info = data.info

    def pairs(split):
        if split is None:
            return None
        return ImagePairSplit(split.images, sobel_edges(split.images, info.levels), "source", split.labels)

    new = DataInfo(name=name, kind="image-pair", shape=info.shape, levels=info.levels, num_classes=info.num_classes)
    return DataSet(new, pairs(data.train), pairs(data.val), pairs(data.test))


@register_dataset("digits-edges", "built-in digits (8x8) as targets of their Sobel edge maps; digits' split")
def load_digits_edges() -> DataSet:
    """scikit-learn's digits, each the target of its Sobel edge map (``"source"``); the digits' split."""
    from .images import load_digits

    return edge_pairs(load_digits(), "digits-edges")


@register_dataset("mnist-edges", "MNIST (28x28) as targets of their Sobel edge maps; option val_size")
def load_mnist_edges(root: Path, val_size: int = 5000) -> DataSet:
    """MNIST, each digit the target of its Sobel edge map (``"source"``); MNIST's train/val/test split."""
    from .images import load_mnist

    return edge_pairs(load_mnist(root, val_size=val_size), "mnist-edges")


# ---- pairs:DIR ----------------------------------------------------------------------------------
def _pictures(folder: Path) -> dict[str, Path]:
    """``{stem: file}`` of the pictures directly in ``folder``; two files of one stem are refused."""
    from .images import IMAGE_SUFFIXES

    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in found:
                raise DataError(f"'{found[path.stem].name}' and '{path.name}' in {folder} share the name "
                                f"'{path.stem}'; keep one picture per name")
            found[path.stem] = path
    return found


def _listed(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


@register_dataset("pairs:", "a folder with A/ (sources) and B/ (targets), pictures of the same names; "
                  "options size, channels, val_fraction, test_fraction, seed, max_pixels, allow_synthetic")
def load_pair_folder(path: str | Path, size: int = 256, channels: int | None = None, val_fraction: float = 0.1,
                     test_fraction: float = 0.0, seed: int = 0, max_pixels: int = 1 << 26,
                     allow_synthetic: bool = False) -> DataSet:
    """Aligned picture pairs: ``DIR/A/NAME.png`` (the source) with ``DIR/B/NAME.png`` (the target).

    Both pictures of a pair are resized (shorter side) and centre-cropped to ``size`` x ``size``
    as ``images:PATH`` does, so they must have the same aspect ratio. ``channels``: 1 (grey) or 3
    (RGB) for both; by default 1 if every picture is grey, else 3. The pairs are split by a
    shuffle seeded by ``seed``: ``val_fraction`` of them (at least one when above 0) for validation,
    ``test_fraction`` for a test split, the rest (at least one) for training. One-line errors for a
    missing ``A/`` or ``B/``, names in one folder but not the other, unreadable pictures, pairs of
    different aspect ratios, and too few pairs. A pair with a picture genlab generated (marked
    synthetic, :mod:`genlab.provenance`) is refused unless ``allow_synthetic``.
    """
    from .images import MAX_UPSCALE, _read_image, _resize_crop

    folder = Path(path)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DataError(f"size must be a whole number of pixels, at least 1, got {size!r}; e.g. --data-arg size=256")
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), got {channels}; e.g. --data-arg channels=3")
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"{key} must be in [0, 1), got {value}")
    if max_pixels < 1:
        raise DataError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
    if not folder.is_dir():
        what = f"'{folder}' is a file, not a folder" if folder.exists() else f"folder '{folder}' does not exist"
        raise DataError(f"{what}; pairs:DIR takes a folder with A/ (sources) and B/ (targets)")
    missing = [sub for sub in ("A", "B") if not (folder / sub).is_dir()]
    if missing:
        raise DataError(f"'{folder}' has no {' and no '.join(m + '/' for m in missing)} folder; pairs:DIR needs "
                        "A/ (the sources) and B/ (the targets), pictures of the same names")
    sources, targets = _pictures(folder / "A"), _pictures(folder / "B")
    only_a, only_b = sorted(set(sources) - set(targets)), sorted(set(targets) - set(sources))
    if only_a or only_b:
        parts = [f"{len(names)} only in {sub}/ ({_listed([files[n].name for n in names])})"
                 for sub, names, files in (("A", only_a, sources), ("B", only_b, targets)) if names]
        raise DataError(f"the pictures of '{folder}' do not pair up: {'; '.join(parts)}; every A/ picture needs a "
                        "B/ picture of the same name")
    names = sorted(sources)
    n_val = max(1, round(len(names) * val_fraction)) if val_fraction > 0 else 0
    n_test = max(1, round(len(names) * test_fraction)) if test_fraction > 0 else 0
    if len(names) - n_val - n_test < 1:
        raise DataError(f"'{folder}' holds {len(names)} pair(s): too few for {n_val} validation and {n_test} test "
                        f"pair(s) and at least one to train on; add pairs or lower val_fraction / test_fraction")
    synthetic = check_synthetic([(sources[n], targets[n]) for n in names], folder, allow_synthetic, "pairs")
    pictures, bad = {}, []
    for name in names:
        for side, files in (("A", sources), ("B", targets)):
            try:
                pictures[side, name] = _read_image(files[name], max_pixels)
            except UnreadablePicture:
                bad.append(str(files[name]))
    if bad:
        raise DataError(f"{len(bad)} picture(s) could not be read; fix or remove them: {'; '.join(bad[:5])}")
    skewed, tiny = [], []
    for name in names:
        (wa, ha), (wb, hb) = pictures["A", name].size, pictures["B", name].size
        if abs(wa * hb - wb * ha) > 0.01 * max(wa * hb, wb * ha):
            skewed.append(f"{name} (A {wa}x{ha}, B {wb}x{hb})")
        if min(wa, ha, wb, hb) * MAX_UPSCALE < size:
            tiny.append(f"{name} ({min(wa, wb)}x{min(ha, hb)})")
    if skewed:
        raise DataError(f"{len(skewed)} pair(s) whose two pictures differ in aspect ratio, so they cannot be cropped "
                        f"alike: {_listed(skewed)}; make both pictures of a pair the same shape")
    if tiny:
        raise DataError(f"{len(tiny)} pair(s) too small for size {size} (they would be enlarged more than "
                        f"{MAX_UPSCALE}x): {_listed(tiny)}; remove them or pass a smaller --data-arg size=N")
    if channels is None:
        channels = 1 if all(im.mode in GREY_MODES for im in pictures.values()) else 3
    mode = "L" if channels == 1 else "RGB"

    def stack(side: str) -> torch.Tensor:
        arrays = np.stack([_resize_crop(pictures[side, n].convert(mode), size) for n in names])
        x = torch.from_numpy(arrays)
        return x.unsqueeze(1) if channels == 1 else x.permute(0, 3, 1, 2).contiguous()

    a, b = stack("A"), stack("B")
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed))
    n_train = len(names) - n_val - n_test
    parts = order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
    splits = [ImagePairSplit(b[i], a[i], "source") if len(i) else None for i in parts]
    info = DataInfo(name=f"pairs:{folder}", kind="image-pair", shape=(channels, size, size), levels=256)
    return DataSet(info, *splits, synthetic_examples=synthetic)

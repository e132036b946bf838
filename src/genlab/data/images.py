"""Image data sets: scikit-learn's digits, MNIST-style IDX files, and folders of images."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..provenance import check_synthetic
from .core import DataInfo, DataSet, folder_splits
from .download import REMOTE, is_gzip, verified_path
from .modalities.image import ImageSplit
from .registry import register_dataset

# DESIGN.md's digits protocol: no shuffling; train = first 1,000, val = next 350, test = last 447.
DIGITS_TRAIN, DIGITS_VAL = 1000, 350


@register_dataset("digits", "scikit-learn 8x8 digits, 17 levels, 1000/350/447 split (built in, the default)")
def load_digits() -> DataSet:
    """scikit-learn's 8x8 digits: 1,797 images with 17 grey levels (0..16) and 10 classes."""
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    images = torch.from_numpy(d.images.astype(np.uint8)).unsqueeze(1)  # [1797, 1, 8, 8]
    labels = torch.from_numpy(d.target.astype(np.int64))
    a, b = DIGITS_TRAIN, DIGITS_TRAIN + DIGITS_VAL
    info = DataInfo(name="digits", kind="image", shape=(1, 8, 8), levels=17, num_classes=10)
    return DataSet(
        info,
        ImageSplit(images[:a], labels[:a]),
        ImageSplit(images[a:b], labels[a:b]),
        ImageSplit(images[b:], labels[b:]),
    )


def _idx_fix(path: Path) -> str:
    return f"delete it and download it again with `genlab data download {path.parent.name}`"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not, told by its first bytes) into a numpy array."""
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read IDX file {path} ({e}); {_idx_fix(path)}") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number); {_idx_fix(path)}")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - start != expected:
        raise DataError(f"{path} is truncated: {len(data) - start} bytes of data for shape {dims}; {_idx_fix(path)}")
    return np.frombuffer(data, dtype=np.uint8, offset=start).reshape(dims)


def load_idx_dataset(name: str, root: Path, val_size: int = 5000, binarize: bool = False) -> DataSet:
    """MNIST or Fashion-MNIST from the IDX files (``.gz`` or decompressed) under ``root/<name>/``.

    The official 60k/10k split; the last ``val_size`` training images are held out for
    validation (``val_size=0`` trains on all 60k and has no validation split).
    With ``binarize`` pixels become 0/1 (threshold at 128) and ``levels`` is 2.
    """
    files = {f.name: verified_path(root, name, f) for f in REMOTE[name].files}
    arrays = {k: read_idx(p) for k, p in files.items()}
    train_x = torch.from_numpy(arrays["train-images-idx3-ubyte.gz"].copy()).unsqueeze(1)
    train_y = torch.from_numpy(arrays["train-labels-idx1-ubyte.gz"].astype(np.int64))
    test_x = torch.from_numpy(arrays["t10k-images-idx3-ubyte.gz"].copy()).unsqueeze(1)
    test_y = torch.from_numpy(arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64))
    levels = 256
    if binarize:
        train_x, test_x, levels = (train_x >= 128).to(torch.uint8), (test_x >= 128).to(torch.uint8), 2
    if not 0 <= val_size < len(train_x):
        raise DataError(f"val_size must be between 0 and {len(train_x) - 1}, got {val_size}")
    n = len(train_x) - val_size
    val = ImageSplit(train_x[n:], train_y[n:]) if val_size else None
    info = DataInfo(name=name + ("-binary" if binarize else ""), kind="image", shape=(1, 28, 28),
                    levels=levels, num_classes=10)
    return DataSet(info, ImageSplit(train_x[:n], train_y[:n]), val, ImageSplit(test_x, test_y))


@register_dataset("mnist", "MNIST 28x28, 256 levels, IDX files under <data root>/mnist")
def load_mnist(root: Path, val_size: int = 5000) -> DataSet:
    """MNIST: 60k training images (the last ``val_size`` held out for validation), 10k test."""
    return load_idx_dataset("mnist", root, val_size=val_size)


@register_dataset("mnist-binary", "MNIST thresholded at 128 to 0/1 pixels")
def load_mnist_binary(root: Path, val_size: int = 5000) -> DataSet:
    """MNIST with pixels >= 128 as 1, else 0 (``levels`` = 2)."""
    return load_idx_dataset("mnist", root, val_size=val_size, binarize=True)


@register_dataset("fashion-mnist", "Fashion-MNIST 28x28, 256 levels, IDX files under <data root>/fashion-mnist")
def load_fashion_mnist(root: Path, val_size: int = 5000) -> DataSet:
    """Fashion-MNIST: the same layout and split as MNIST."""
    return load_idx_dataset("fashion-mnist", root, val_size=val_size)


MAX_UPSCALE = 4  # an image whose shorter side is enlarged more than this to reach `size` is refused
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
# The largest image (width x height) an image folder reads, 64 megapixels: a larger file is refused
# before it is decoded (a "decompression bomb" would take gigabytes). Option max_pixels raises it.
MAX_PIXELS = 1 << 26


@register_dataset("images:", "a folder of PNG/JPEG images (sub-folders are classes); "
                  "options size, channels, seed, max_pixels, allow_synthetic")
def load_image_folder(path: str | Path, size: int = 32, channels: int | None = None, seed: int = 0,
                      max_pixels: int = MAX_PIXELS, allow_synthetic: bool = False) -> DataSet:
    """A folder of PNG/JPEG images, each resized (shorter side) and centre-cropped to ``size``.

    Images in sub-folders get the sub-folder as their class label. ``channels`` is 1 (grey)
    or 3 (RGB); by default 1 if every image is grey, else 3. An image whose shorter side would be
    enlarged more than ``MAX_UPSCALE`` times (a 1-pixel image, a thin strip) is refused, and so is an
    image of more than ``max_pixels`` pixels, before it is decoded (DataError naming the file and the
    limit). The files are split 80/10/10 into train/val/test by a fixed-seed shuffle.
    A file genlab generated (marked synthetic, :mod:`genlab.provenance`) is refused unless ``allow_synthetic``.
    """
    from ..files import UnreadablePicture

    folder = Path(path)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DataError(f"size must be a whole number of pixels, at least 1, got {size!r}; e.g. --data-arg size=32")
    if folder.is_file():
        raise DataError(f"'{folder}' is a file, not a folder; images:PATH takes a folder of PNG/JPEG images")
    if not folder.is_dir():
        raise DataError(f"image folder '{folder}' does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(files) < 3:
        raise DataError(f"image folder '{folder}' holds {len(files)} images (PNG/JPEG); at least 3 are needed")
    synthetic = check_synthetic(files, folder, allow_synthetic, "images")
    classes = sorted({p.parent.relative_to(folder).as_posix() for p in files})
    has_labels = len(classes) > 1
    if max_pixels < 1:
        raise DataError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
    pictures, bad = [], []
    for p in files:
        try:
            pictures.append(_read_image(p, max_pixels))
        except UnreadablePicture:
            bad.append(str(p))
    if bad:
        raise DataError(f"{len(bad)} image file(s) could not be read; fix or remove them: " + "; ".join(bad[:5]))
    tiny = [f"{p} ({im.size[0]}x{im.size[1]})" for p, im in zip(files, pictures) if min(im.size) * MAX_UPSCALE < size]
    if tiny:
        raise DataError(f"{len(tiny)} image(s) too small for size {size} (they would be enlarged more than "
                        f"{MAX_UPSCALE}x): " + "; ".join(tiny[:5]) + "; remove them or pass a smaller --data-arg size=N")
    if channels is None:
        channels = 1 if all(im.mode in ("L", "1", "I;16", "I") for im in pictures) else 3
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), got {channels}; e.g. --data-arg channels=3")
    arrays = [_resize_crop(im.convert("L" if channels == 1 else "RGB"), size) for im in pictures]
    images = torch.from_numpy(np.stack(arrays))
    images = images.unsqueeze(1) if channels == 1 else images.permute(0, 3, 1, 2).contiguous()
    labels = None
    if has_labels:
        index = {c: i for i, c in enumerate(classes)}
        labels = torch.tensor([index[p.parent.relative_to(folder).as_posix()] for p in files])
    parts = folder_splits(len(files), seed)
    splits = [ImageSplit(images[i], None if labels is None else labels[i]) for i in parts]
    info = DataInfo(name=f"images:{folder}", kind="image", shape=(channels, size, size), levels=256,
                    num_classes=len(classes) if has_labels else 0)
    return DataSet(info, *splits, synthetic_examples=synthetic)


def _read_image(path: Path, max_pixels: int, raise_hint: str | None = "raise the limit with --data-arg max_pixels=N"):
    """The decoded image at ``path``; DataError if it has more than ``max_pixels`` pixels.

    The size is read from the header before any pixel is decoded. This limit replaces PIL's
    own bomb check (a warning, or an error at twice its limit) while the file is read.
    """
    from ..files import open_picture

    hint = "shrink or remove it" + (f", or {raise_hint}" if raise_hint else "")
    with open_picture(path, max_pixels, what="image", hint=hint) as im:
        im.load()
        return im.copy()


def _resize_crop(im, size: int) -> np.ndarray:
    from PIL import Image

    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)

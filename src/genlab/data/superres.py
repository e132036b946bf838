"""Super-resolution data: the Set5, Set14 and BSD100 test pairs, and random training patches.

The files are those distributed with the SelfExSR code (Huang et al., CVPR 2015), under
``<data root>/sr/``: ``Set5/x{2,3,4}/``, ``Set14/x{2,3,4}/`` and ``BSD100/x4/``, each image as
``img_NNN_SRF_S_HR.png`` (the high-resolution image, cropped to a multiple of the scale ``S``)
and ``img_NNN_SRF_S_LR.png`` (its MATLAB-bicubic downscaled version). The data root is
``--data-root`` / ``load_dataset(..., root=...)``, else ``$GENLAB_DATA``.

Test images differ in size, so a test split is not batched: it is a :class:`PairSplit`, read one
image at a time (``split[i]`` or ``for pair in split`` gives an :class:`SRPair`).

Training patches (``sr-patches``, ``sr-patches:PATH``) are square crops of the high-resolution
images, degraded by :func:`bicubic_resize`, which is the same bicubic as the LR files' (see there).
``digits-sr`` and ``mnist-sr`` pair every image of those data sets with its bicubic downscale:
small problems on which a diffusion model (SR3) trains in minutes on a CPU.

All of them are ``superres`` data (:mod:`genlab.data.modalities.pairs`): ``DataInfo.scale`` is the
scale and ``DataInfo.shape`` the high-resolution shape (None for the test sets of many sizes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..errors import DataError
from .core import DataInfo, DataSet
from .registry import register_dataset

# which scales each test set is distributed at
TEST_SETS = {"set5": ("Set5", (2, 3, 4)), "set14": ("Set14", (2, 3, 4)), "bsd100": ("BSD100", (4,))}
SR_FOLDER = "sr"


def bicubic_resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 ``[C, H, W]`` resized to ``size`` = (height, width) with MATLAB ``imresize``'s bicubic.

    The kernel is Keys' cubic with a = -0.5 (MATLAB's, and PIL's ``Image.BICUBIC``; not torch's
    ``interpolate(mode="bicubic")``, which uses a = -0.75). Downscaling is antialiased as MATLAB's
    default is: the kernel is widened by the scale factor (4 x scale taps). The result is rounded to
    uint8. It is computed by PIL; on Set5 it reproduces the distributed LR files to within 0.2 grey
    levels on average (they differ at the image borders, where MATLAB pads symmetrically and PIL
    renormalises the kernel), and the bicubic baseline's PSNR to within 0.02 dB.
    """
    from PIL import Image

    if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] not in (1, 3):
        raise DataError(f"bicubic_resize takes a uint8 image [C, H, W] with 1 or 3 channels, got "
                        f"{image.dtype} {tuple(image.shape)}")
    h, w = size
    arr = image.permute(1, 2, 0).numpy()
    pil = Image.fromarray(arr[..., 0] if image.shape[0] == 1 else arr)
    out = np.asarray(pil.resize((w, h), Image.Resampling.BICUBIC), dtype=np.uint8)
    out = out[..., None] if out.ndim == 2 else out
    return torch.from_numpy(out.copy()).permute(2, 0, 1).contiguous()


@dataclasses.dataclass
class SRPair:
    """One test image: its name, scale, low-resolution uint8 ``[3, h, w]`` and high-resolution uint8
    ``[3, h * scale, w * scale]`` (RGB; a grey file is repeated on the three channels)."""

    name: str
    scale: int
    lowres: torch.Tensor
    highres: torch.Tensor


class PairSplit:
    """(low-res, high-res) pairs of varying size, read one at a time.

    ``split[i]`` and iteration give :class:`SRPair` objects; ``len(split)`` is the number of images.
    ``get(indices)`` returns a batch ``{"x": highres, "lowres": lowres}`` only when the chosen
    images have the same size; otherwise it says to read the pairs one by one.
    """

    def __init__(self, pairs: list[SRPair]):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> SRPair:
        return self.pairs[i]

    def __iter__(self) -> Iterator[SRPair]:
        return iter(self.pairs)

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        chosen = [self.pairs[int(i)] for i in torch.as_tensor(indices).reshape(-1)]
        if len({tuple(p.highres.shape) for p in chosen}) > 1:
            raise DataError("these super-resolution test images differ in size and cannot be batched; "
                            "read them one at a time (split[i] or `for pair in split`)")
        return {"x": torch.stack([p.highres for p in chosen]), "lowres": torch.stack([p.lowres for p in chosen])}

    def windows(self, length: int | None) -> "PairSplit":
        return self

    def eval_indices(self) -> torch.Tensor:
        return torch.arange(len(self))


class PatchSplit:
    """Random square high-resolution patches and their bicubic-downscaled versions.

    Item ``i`` is a crop of image ``i // patches_per_image`` at a position drawn from ``seed`` and
    ``i``, so an item is the same patch every time it is read (an exact resume sees the same data)
    while the items of one image cover it at random. ``get(indices)`` gives ``{"x": uint8 [B, C,
    patch, patch], "lowres": uint8 [B, C, patch / scale, patch / scale]}``. With ``augment`` each
    patch is also flipped and rotated by a multiple of 90 degrees, drawn from the same seed.
    """

    def __init__(self, images: list[torch.Tensor], patch_size: int, scale: int, patches_per_image: int, seed: int,
                 augment: bool = False):
        self.images = images
        self.patch_size, self.scale = patch_size, scale
        self.patches_per_image, self.seed, self.augment = patches_per_image, seed, augment

    def __len__(self) -> int:
        return len(self.images) * self.patches_per_image

    def patch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item ``i``: (high-res patch, low-res patch)."""
        image = self.images[i // self.patches_per_image]
        _, h, w = image.shape
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        top = int(torch.randint(h - self.patch_size + 1, (1,), generator=gen))
        left = int(torch.randint(w - self.patch_size + 1, (1,), generator=gen))
        hr = image[:, top:top + self.patch_size, left:left + self.patch_size]
        if self.augment:  # one of the square's 8 symmetries (EDSR's flips and 90-degree rotations)
            k = int(torch.randint(8, (1,), generator=gen))
            hr = torch.rot90(hr, k % 4, dims=(1, 2))
            hr = hr.flip(2) if k >= 4 else hr
        hr = hr.contiguous()
        small = self.patch_size // self.scale
        return hr, bicubic_resize(hr, (small, small))

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        hr, lr = zip(*(self.patch(int(i)) for i in torch.as_tensor(indices).reshape(-1)))
        return {"x": torch.stack(hr), "lowres": torch.stack(lr)}

    def windows(self, length: int | None) -> "PatchSplit":
        return self

    def eval_indices(self) -> torch.Tensor:
        return torch.arange(len(self))


def _read_rgb(path: Path) -> torch.Tensor:
    from ..files import open_picture

    with open_picture(path, what="image", hint="replace the file or remove it") as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def _sr_folder(root: Path, folder: str, scale: int) -> Path:
    path = Path(root) / SR_FOLDER / folder / f"x{scale}"
    if not path.is_dir():
        raise DataError(f"super-resolution data not found: expected {path} (the data root is --data-root or "
                        f"$GENLAB_DATA); put the {folder} x{scale} *_HR.png / *_LR.png files there")
    return path


def load_pairs(root: Path, name: str, scale: int) -> PairSplit:
    """The test pairs of ``name`` (``set5``, ``set14``, ``bsd100``) at ``scale``, in file order."""
    folder, scales = TEST_SETS[name]
    if scale not in scales:
        raise DataError(f"{name} is distributed at scale {', '.join(map(str, scales))}, not {scale}; "
                        f"e.g. --data-arg scale={scales[-1]}")
    path = _sr_folder(root, folder, scale)
    pairs = []
    for hr_file in sorted(path.glob("*_HR.png")):
        lr_file = hr_file.with_name(hr_file.name[: -len("_HR.png")] + "_LR.png")
        if not lr_file.is_file():
            raise DataError(f"{hr_file} has no low-resolution partner {lr_file.name}; restore it")
        hr, lr = _read_rgb(hr_file), _read_rgb(lr_file)
        if hr.shape[1] != lr.shape[1] * scale or hr.shape[2] != lr.shape[2] * scale:
            raise DataError(f"{lr_file} is {lr.shape[2]}x{lr.shape[1]}, not 1/{scale} of {hr_file.name} "
                            f"({hr.shape[2]}x{hr.shape[1]}); the pair does not belong to scale x{scale}")
        pairs.append(SRPair(hr_file.name[: -len("_HR.png")], scale, lr, hr))
    if not pairs:
        raise DataError(f"no *_HR.png files in {path}; put the {folder} x{scale} images there")
    return PairSplit(pairs)


def _test_set(name: str, root: Path, scale: int) -> DataSet:
    # shape None: the images differ in size (read them with split[i]); levels 256, RGB
    info = DataInfo(name=f"{name}-x{scale}", kind="superres", shape=None, levels=256, scale=scale)
    return DataSet(info, None, None, load_pairs(root, name, scale))


@register_dataset("set5", "Set5 super-resolution test pairs (5 images), option scale 2/3/4; per-image test split")
def load_set5(root: Path, scale: int = 4) -> DataSet:
    """Set5 (Bevilacqua et al. 2012): 5 (low-res, high-res) test pairs at ``scale``, in ``test`` only."""
    return _test_set("set5", root, scale)


@register_dataset("set14", "Set14 super-resolution test pairs (14 images), option scale 2/3/4; per-image test split")
def load_set14(root: Path, scale: int = 4) -> DataSet:
    """Set14 (Zeyde et al. 2010): 14 (low-res, high-res) test pairs at ``scale``, in ``test`` only."""
    return _test_set("set14", root, scale)


@register_dataset("bsd100", "BSD100 super-resolution test pairs (100 images), scale 4; per-image test split")
def load_bsd100(root: Path, scale: int = 4) -> DataSet:
    """BSD100 (Martin et al. 2001): 100 (low-res, high-res) test pairs at ``scale`` 4, in ``test`` only."""
    return _test_set("bsd100", root, scale)


def _patch_data(name: str, images: list[torch.Tensor], sources: list[str], patch_size: int, scale: int,
                patches_per_image: int, val_images: int, seed: int, augment: bool = False) -> DataSet:
    if scale < 1:
        raise DataError(f"scale must be a whole number >= 1, got {scale}; e.g. --data-arg scale=4")
    if patch_size < scale or patch_size % scale:
        raise DataError(f"patch_size must be a multiple of scale {scale}, got {patch_size}; "
                        f"e.g. --data-arg patch_size={scale * 24}")
    if patches_per_image < 1:
        raise DataError(f"patches_per_image must be at least 1, got {patches_per_image}")
    small = [f"{s} ({im.shape[2]}x{im.shape[1]})" for s, im in zip(sources, images) if min(im.shape[1:]) < patch_size]
    if small:
        raise DataError(f"{len(small)} image(s) smaller than patch_size {patch_size}: " + "; ".join(small[:5]) +
                        "; remove them or pass a smaller --data-arg patch_size=N")
    if not 0 <= val_images < len(images):
        raise DataError(f"val_images must be between 0 and {len(images) - 1} (there are {len(images)} images), "
                        f"got {val_images}")
    n = len(images) - val_images
    train = PatchSplit(images[:n], patch_size, scale, patches_per_image, seed, augment)
    val = PatchSplit(images[n:], patch_size, scale, patches_per_image, seed + 1) if val_images else None
    info = DataInfo(name=name, kind="superres", shape=(3, patch_size, patch_size), levels=256, scale=scale)
    return DataSet(info, train, val, None)


@register_dataset("sr-patches", "random HR patches of BSD100 with bicubic LR versions; options scale, "
                  "patch_size, patches_per_image, val_images, seed, augment")
def load_sr_patches(root: Path, scale: int = 4, patch_size: int = 96, patches_per_image: int = 16,
                    val_images: int = 10, seed: int = 0, augment: bool = True) -> DataSet:
    """Training patches from BSD100's 100 high-resolution images (the last ``val_images`` for validation).

    Each of the ``patches_per_image`` items of an image is a random ``patch_size`` square of it, with
    its :func:`bicubic_resize` to ``patch_size / scale`` as the ``"lowres"`` field; ``augment`` flips
    and rotates the training patches (not the validation ones).
    """
    path = _sr_folder(root, "BSD100", 4)
    files = sorted(path.glob("*_HR.png"))
    if not files:
        raise DataError(f"no *_HR.png files in {path}; put the BSD100 x4 images there")
    return _patch_data("sr-patches", [_read_rgb(f) for f in files], [str(f) for f in files], patch_size, scale,
                       patches_per_image, val_images, seed, augment)


@register_dataset("sr-patches:", "random HR patches of a folder of images with bicubic LR versions; "
                  "options as sr-patches")
def load_sr_patch_folder(path: Path, scale: int = 4, patch_size: int = 96, patches_per_image: int = 16,
                         val_images: int = 1, seed: int = 0, augment: bool = True) -> DataSet:
    """Training patches as ``sr-patches``, from every PNG/JPEG image under the folder ``path``."""
    from .images import IMAGE_SUFFIXES

    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"image folder '{folder}' does not exist; sr-patches:PATH takes a folder of PNG/JPEG images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(files) < 2:
        raise DataError(f"image folder '{folder}' holds {len(files)} images (PNG/JPEG); at least 2 are needed")
    return _patch_data(f"sr-patches:{folder}", [_read_rgb(f) for f in files], [str(f) for f in files], patch_size,
                       scale, patches_per_image, val_images, seed, augment)


def downscale_levels(images: torch.Tensor, levels: int, scale: int) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` images of ``levels`` levels, each :func:`bicubic_resize`-d to ``H / scale``
    x ``W / scale`` (via 0..255 and back to the nearest level, so a 17-level image stays 17-level)."""
    n, c, h, w = images.shape
    if h % scale or w % scale:
        raise DataError(f"{h}x{w} images cannot be shrunk exactly by {scale}; choose a scale that divides both")
    from .modalities.image import levels_to_uint8, uint8_to_levels

    small = torch.stack([bicubic_resize(im, (h // scale, w // scale)) for im in levels_to_uint8(images, levels)])
    return uint8_to_levels(small, levels)


def paired_downscale(data: DataSet, scale: int) -> DataSet:
    """``data`` (image data) as super-resolution pairs: every image with its :func:`downscale_levels`."""
    from .modalities import ImagePairSplit

    if scale < 2:
        raise DataError(f"scale must be a whole number >= 2, got {scale}; e.g. --data-arg scale=2")
    info = data.info

    def pairs(split):
        if split is None:
            return None
        return ImagePairSplit(split.images, downscale_levels(split.images, info.levels, scale), "lowres", split.labels)

    new = DataInfo(name=f"{info.name}-sr", kind="superres", shape=info.shape, levels=info.levels,
                   num_classes=info.num_classes, scale=scale)
    return DataSet(new, pairs(data.train), pairs(data.val), pairs(data.test))


@register_dataset("digits-sr", "built-in digits (8x8) paired with bicubic downscales; option scale (2 or 4)")
def load_digits_sr(scale: int = 2) -> DataSet:
    """scikit-learn's digits, each 8x8 image with its ``8 / scale`` bicubic version as ``"lowres"``."""
    from .images import load_digits

    return paired_downscale(load_digits(), scale)


@register_dataset("mnist-sr", "MNIST (28x28) paired with bicubic downscales; options scale (2 or 4), val_size")
def load_mnist_sr(root: Path, scale: int = 4, val_size: int = 5000) -> DataSet:
    """MNIST, each 28x28 image with its ``28 / scale`` (14x14 or 7x7) bicubic version as ``"lowres"``."""
    from .images import load_mnist

    return paired_downscale(load_mnist(root, val_size=val_size), scale)

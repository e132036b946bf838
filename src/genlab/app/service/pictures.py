"""Tasks on a person's pictures: inpainting, super-resolution and image-to-image translation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError
from .models import check_sample_args, load_model, provenance_record


# ---- inpainting ---------------------------------------------------------------------------------
INPAINT_FILES = ("masked.png", "mask.png", "inpainted.png")  # what `genlab inpaint --out DIR` writes
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # PIL modes of one-channel pictures


def read_image(model, path: str | Path) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(levels [1, C, H, W], (width, height) of the file)``: a picture read for ``model``.

    The picture is resized to the model's size and mapped to its levels; a grey picture for an
    RGB model and a file that is not a picture are refused with one line.
    """

    from ...tasks.masks import image_size

    size = image_size(path)  # refuses a missing file or one that is not an image
    refuse_grey_for_rgb(model, path, model.data_info.shape[0])
    return model.data_info.modality.parse(model.data_info, path)[None], size


def refuse_grey_for_rgb(model, path: str | Path, channels: int) -> None:
    """A one-line error when ``path`` is a grey picture and the model takes RGB (``channels`` 3)."""
    from ...files import open_picture

    with open_picture(path) as im:
        mode = im.mode
    if channels == 3 and mode in GREY_MODES:
        raise ConfigError(f"'{path}' is a grey picture but model '{model.name}' takes RGB images; "
                          "give a colour picture")


def inpaint_mask(model, mask_file: str | None, box: str | None, kind: str | None, image_size: tuple[int, int],
                 seed: int = 0) -> torch.Tensor:
    """``[H, W]`` bool mask (True = to fill) at the model's size from exactly one of a mask picture
    (white = to fill, of the image's size), a ``x,y,w,h`` box (model pixels) or a mask kind."""
    from ...tasks import masks

    _, h, w = model.data_info.shape
    if sum(v is not None for v in (mask_file, box, kind)) != 1:
        raise ConfigError("give one of --mask FILE, --box x,y,w,h or --mask-kind "
                          f"{'|'.join(masks.MASK_KINDS)}")
    if mask_file is not None:
        return masks.read_mask(mask_file, h, w, size=image_size)
    if box is not None:
        return masks.box(h, w, *masks.parse_box(box))
    return masks.make_mask(kind, h, w, seed=seed)


def inpaint_outputs(out: str | Path) -> list[Path]:
    """The files ``genlab inpaint`` writes into ``out``; refused if any is there already or ``out`` is a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is a file; give a folder for the pictures")
    paths = [out / name for name in INPAINT_FILES]
    taken = [p for p in paths if p.exists()]
    if taken:
        raise ConfigError(f"'{taken[0]}' already exists; give another --out folder or remove it")
    return paths


def inpaint_picture(model, image: str | Path, out: str | Path, *, mask: str | Path | None = None,
                    box: str | None = None, mask_kind: str | None = None, num: int = 4, condition: Any = None,
                    seed: int = 0, settings: dict[str, Any] | None = None) -> tuple[list[Path], torch.Tensor]:
    """Fill the masked part of the picture ``image`` ``num`` times with ``model``, into the folder ``out``
    (:data:`INPAINT_FILES`: the masked input, the mask, the completions). Exactly one of ``mask`` (a
    picture, white = to fill), ``box`` (``x,y,w,h``) and ``mask_kind``. Returns the files and the mask."""
    from ...tasks.inpaint import check_settings, inpaint, inpaint_method

    masked_png, mask_png, inpainted_png = paths = inpaint_outputs(out)
    inpaint_method(model)  # a family that cannot inpaint is refused before reading files
    settings = check_settings(model, settings or {})
    x, size = read_image(model, image)
    hole = inpaint_mask(model, None if mask is None else str(mask), box, mask_kind, size, seed=seed)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    torch.manual_seed(seed)
    filled = inpaint(model, x.repeat(num, 1, 1, 1), hole, condition=condition, generator=gen, **settings)
    levels = model.data_info.levels
    shown = torch.where(hole, torch.full_like(x.long(), levels // 2), x.long())  # the unknown part in mid-grey
    write = model.data_info.modality.render
    write(model.data_info, shown, masked_png)
    write(model.data_info, (hole.long() * (levels - 1))[None, None].expand(1, x.shape[1], -1, -1), mask_png)
    write(model.data_info, filled, inpainted_png)
    return paths, hole


def stamp_files(paths: list[Path], rec: dict[str, Any]) -> list[Path]:
    """Stamp generated ``paths`` with the provenance ``rec``."""
    from ...provenance import stamp

    return stamp(paths, rec)


# ---- super-resolution ---------------------------------------------------------------------------
def read_picture(model, path: str | Path) -> torch.Tensor:
    """A picture of any size as levels ``[C, h, w]`` in the model's channels: a grey picture for an
    RGB model, a missing file and a file that is not a picture are refused with one line."""

    from ...data.modalities import read_image_levels
    from ...tasks.masks import image_size

    image_size(path)  # refuses a missing file or one that is not an image
    c = model.config.image_shape[0]
    refuse_grey_for_rgb(model, path, c)
    return read_image_levels(path, c, model.config.levels)


def superres(run: str | Path, images: list[str | Path], out: str | Path, *, weights: str = "best",
             device: str | None = None, tile: int | None = None, overlap: int = 16, seed: int = 0,
             sample_args: dict[str, Any] | None = None) -> list[tuple[str, Path, tuple[int, int], tuple[int, int]]]:
    """Enlarge each picture with the super-resolution model of ``run`` into ``out/STEM_xS.png``.

    Every picture is read and checked before the first is written. Returns ``(picture, written
    file, (w, h), (W, H))`` per picture.
    """
    from ...provenance import embed
    from ...tasks.superres import check_superres_model

    model, folder = load_model(run, weights, device)
    check_superres_model(model)
    sample_args = check_sample_args(model, sample_args or {})
    rec = provenance_record(model, folder, run, "superres", seed, {**sample_args, "tile": tile, "overlap": overlap})
    if tile is not None and tile < 1 or overlap < 0:
        raise ConfigError(f"--tile must be >= 1 and --overlap >= 0, got {tile} and {overlap}")
    paths = picture_outputs(out, images, suffix=f"_x{model.config.scale}")
    pictures = [read_picture(model, p) for p in images]
    written = []
    for source, path, x in zip(images, paths, pictures):
        big = upscale_levels(model, x, path, tile=tile, overlap=overlap, seed=seed, sample_args=sample_args)
        embed(path, {**rec, "source": str(Path(source).resolve())})
        written.append((str(source), path, (x.shape[2], x.shape[1]), (big.shape[2], big.shape[1])))
    return written


def upscale_levels(model, x: torch.Tensor, path: str | Path, *, tile: int | None = None, overlap: int = 16,
                   seed: int = 0, sample_args: dict[str, Any] | None = None) -> torch.Tensor:
    """Enlarge one picture of levels ``x`` ``[C, h, w]`` with ``model`` into the PNG ``path``; the enlargement."""
    from ...files import storage_errors
    from ...tasks.superres import upscale

    gen = torch.Generator(device=model.device).manual_seed(seed)  # an output does not depend on the others
    big = upscale(model, x, tile=tile, overlap=overlap, generator=gen, **(sample_args or {}))
    with storage_errors(Path(path).parent):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_picture(model.config.levels, big, path)
    return big


def upscale_picture(model, image: str | Path, path: str | Path, *, tile: int | None = None, seed: int = 0
                    ) -> torch.Tensor:
    """Enlarge the picture file ``image`` with the super-resolution ``model`` into the PNG ``path``."""
    from ...tasks.superres import check_superres_model

    check_superres_model(model)
    return upscale_levels(model, read_picture(model, image), path, tile=tile, seed=seed)


# ---- image-to-image translation ----------------------------------------------------------------
def picture_outputs(out: str | Path, images: list[str | Path], suffix: str = "", overwrite: bool = False) -> list[Path]:
    """``out/<name><suffix>.png`` for each input picture (translate-image, superres), the same rule as
    :func:`inpaint_outputs`: refused if ``out`` is a file or an output is there already (unless
    ``overwrite``); two inputs of one name, and an output that would replace one of the inputs, are
    refused even with ``overwrite``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is a file; give a folder for the pictures")
    paths = [out / f"{Path(image).stem}{suffix}.png" for image in images]
    seen: dict[Path, str | Path] = {}
    for image, path in zip(images, paths):
        if path in seen:
            raise ConfigError(f"'{seen[path]}' and '{image}' would both be written to '{path}'; rename one of them "
                              "or write them into different --out folders")
        seen[path] = image
    inputs = {Path(image).resolve() for image in images}
    for path in paths:
        if path.resolve() in inputs:
            raise ConfigError(f"'{path}' is one of the input pictures; give another --out folder")
    taken = [p for p in paths if p.exists()]
    if taken and not overwrite:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise ConfigError(f"'{taken[0]}' already exists{more}; give another --out folder, remove it, or pass "
                          "--overwrite")
    if any(p.exists() and not p.is_file() for p in paths):
        folder = next(p for p in paths if p.exists() and not p.is_file())
        raise ConfigError(f"'{folder}' is a folder, so the picture cannot be written there; give another --out folder")
    return paths


def read_source_image(model, path: str | Path, size: tuple[int, int] | None) -> torch.Tensor:
    """A picture file as the model's source levels ``[1, C, H, W]``.

    It is converted to the model's channels by PIL (a grey picture for an RGB model has its grey
    value on all three channels; a colour picture for a grey model becomes its luma), resized
    (shorter side) and centre-cropped to ``size`` = (height, width) when given, as the data sets
    prepare their pictures, else kept at its own size, and mapped to the model's levels. A
    missing file, a folder, a file that is not a picture and a picture over 64 megapixels are
    refused with one line.
    """
    import numpy as np
    from PIL import Image

    from ...data.images import MAX_PIXELS, _read_image
    from ...tasks.masks import image_size

    image_size(path)  # refuses a missing file, a folder or a file that is not a picture
    c = model.data_info.shape[0]
    try:
        picture = _read_image(Path(path), MAX_PIXELS, raise_hint=None).convert("L" if c == 1 else "RGB")
    except (OSError, SyntaxError, ValueError) as e:
        raise ConfigError(f"'{path}' is not a readable picture ({e}); give a PNG or JPEG file") from e
    if size is not None:
        h, w = size
        scale = max(h / picture.height, w / picture.width)  # cover the size, then crop the centre
        nw, nh = max(w, round(picture.width * scale)), max(h, round(picture.height * scale))
        picture = picture.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - w) // 2, (nh - h) // 2
        picture = picture.crop((left, top, left + w, top + h))
    x = torch.from_numpy(np.asarray(picture, dtype=np.uint8).copy())
    x = x[None] if c == 1 else x.permute(2, 0, 1).contiguous()
    levels = model.data_info.levels
    x = ((x.long() * (levels - 1) + 127) // 255) if levels != 256 else x.long()
    return x[None]


def translation_size(model, keep_size: bool = False) -> tuple[int, int] | None:
    """The (height, width) pictures are brought to before ``model`` translates them: the model's fixed
    size, else the training pictures' (None with ``keep_size``: each at its own size)."""
    from ...tasks.translate import check_translator, model_size, training_size

    check_translator(model)
    fixed = model_size(model)
    if keep_size and fixed is not None:
        raise ConfigError(f"model '{model.name}' takes {fixed[1]}x{fixed[0]} pictures only; leave out --keep-size")
    return None if keep_size else (fixed or training_size(model))


def translate_levels(model, source: torch.Tensor, path: str | Path, seed: int = 0) -> Path:
    """Translate one source picture (levels ``[1, C, H, W]``) with ``model`` into the PNG ``path``."""
    from ...tasks.translate import translate_images

    gen = torch.Generator(device=model.device).manual_seed(seed)  # an output does not depend on the others
    out = translate_images(model, source, generator=gen)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_picture(model.data_info.levels, out[0], path)


def translate_picture(model, image: str | Path, path: str | Path, seed: int = 0, keep_size: bool = False) -> Path:
    """Translate the picture file ``image`` with the pix2pix ``model`` into the PNG ``path``."""
    size = translation_size(model, keep_size)
    return translate_levels(model, read_source_image(model, image, size), path, seed)


# ---- latent interpolation ------------------------------------------------------------------------
def interpolate_pictures(model, a: str | Path, b: str | Path, out: str | Path, *, steps: int = 8,
                         condition: Any = None, rec: dict[str, Any] | None = None) -> list[Path]:
    """The pictures between the picture files ``a`` and ``b`` through ``model``'s latent space, into the
    folder ``out``: ``step-00.png``... at the model's size (``a``'s reconstruction first) and ``grid.png``,
    one row from ``a`` to ``b``; each file stamped with ``rec``. Refused, before any work, when ``out``
    holds files already. Returns the files written."""
    from ...data.modalities.image import picture_png as png, save_image_grid
    from ...files import atomic_write_bytes, storage_errors
    from ...provenance import stamp
    from ...tasks.interpolate import check_interpolator, interpolate

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out '{out}' already exists; give a new folder for the pictures")
    check_interpolator(model)  # a model without an encoder is refused before the pictures are read
    x_a, _ = read_image(model, a)
    x_b, _ = read_image(model, b)
    frames = interpolate(model, x_a[0], x_b[0], steps, condition=condition)
    levels = model.data_info.levels
    with storage_errors(out):
        out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, frame in enumerate(frames):
        atomic_write_bytes(out / f"step-{i:02d}.png", png(levels, frame))
        written.append(out / f"step-{i:02d}.png")
    written.append(save_image_grid(frames, levels, out / "grid.png", nrow=len(frames)))
    if rec is not None:
        stamp(written, rec)
    return written


def picture_png(levels: int, image: torch.Tensor) -> bytes:
    """One image of levels ``[C, H, W]`` as the bytes of a PNG of its own size (grey or RGB)."""
    from ...data.modalities.image import picture_png as png

    return png(levels, image)


def write_picture(levels: int, image: torch.Tensor, path: str | Path) -> Path:
    """One image of levels ``[C, H, W]`` as a PNG of its own size (grey or RGB), written atomically."""
    from ...files import atomic_write_bytes

    atomic_write_bytes(Path(path), picture_png(levels, image))
    return Path(path)

"""Files genlab writes and reads: atomic writes, folder replacement and safetensors state files.

The lowest layer of the package: it imports nothing of genlab but its errors, so every module
(data, models, runs, evaluation) may write files through it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import torch

from .errors import CheckpointError, DataError, GenlabError, StorageError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WRAPPER_PREFIXES = ("_orig_mod.", "module.")


# ---- reading a picture -------------------------------------------------------------------------
# A picture's pixels are counted from its header before any is decoded: a small file that claims
# 20000x20000 pixels (a decompression bomb) is refused with one line, not decoded into gigabytes.
MAX_PICTURE_PIXELS = 64 * 2**20  # 64 megapixels, e.g. 8192 x 8192


class UnreadablePicture(DataError):
    """A file that is not a picture PIL can read (a folder reader lists every such file at once)."""


@contextlib.contextmanager
def open_picture(path: str | os.PathLike, max_pixels: int = MAX_PICTURE_PIXELS, what: str = "picture",
                 hint: str = "give a smaller picture") -> Iterator:
    """The PIL image of the picture file ``path``, opened lazily, its pixel count checked first.

    One-line :class:`DataError` for a missing file, a folder, a file that is not a picture (or is
    cut short), and a picture of more than ``max_pixels`` pixels (``hint`` says what to do)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file '{path}' does not exist" if not path.exists()
                        else f"'{path}' is a folder; give a {what} file (PNG or JPEG)")
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # our own check below, with the size
    try:
        im = Image.open(path)  # the header only: nothing is decoded yet
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UnreadablePicture(f"'{path}' is not a readable {what} ({type(e).__name__}); give a PNG or JPEG "
                                "file") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise DataError(f"'{path}' is {width}x{height} = {width * height:,} pixels, over the limit of "
                            f"{max_pixels:,} (a decompression bomb?); {hint}")
        try:
            yield im
        except GenlabError:
            raise
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:  # decoding: cut short, corrupt
            raise UnreadablePicture(f"'{path}' is not a readable {what} ({type(e).__name__}: {e}); give a PNG or "
                                    "JPEG file") from None


# ---- atomic writes ---------------------------------------------------------------------------
@contextlib.contextmanager
def storage_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn a full disk or a folder that is not writable into a one-line :class:`StorageError`.

    Other ``OSError`` s pass through unchanged: they are not something the message could explain.
    """
    try:
        yield
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageError(f"the disk is full: writing {path} failed; free some space and run again") from e
        if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise StorageError(f"cannot write {path}: permission denied or read-only file system; make the folder "
                               "writable or choose another one") from e
        raise


def _current_umask() -> int:
    mask = os.umask(0)  # the only way to read the umask is to set it; put it back at once
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written.

    The file gets the permissions an ordinary ``open`` would give (0666 less the umask), not
    the 0600 of a temporary file. A full disk or a read-only folder raises :class:`StorageError`.
    """
    path = Path(path)
    with storage_errors(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o666 & ~_current_umask())
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def replace_dir(tmp_dir: Path, target: Path) -> None:
    """Move the finished folder ``tmp_dir`` to ``target``, keeping a readable copy at all times.

    The old ``target`` is first renamed to ``target.old``; a kill between the two renames
    leaves ``target.old`` complete, and :mod:`genlab.runs` falls back to it.
    """
    old = target.with_name(target.name + ".old")
    if target.exists():  # else ``old`` may be the only readable copy (a kill between the renames)
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(tmp_dir, target)
    if old.exists():
        shutil.rmtree(old)


# ---- saved models ----------------------------------------------------------------------------
def _dedup_shared(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Drop tensors that share storage with an earlier one (tied weights); return the aliases."""
    seen: dict[tuple, str] = {}
    unique, aliases = {}, {}
    for key, t in state.items():
        ident = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
        if t.numel() and ident in seen:
            aliases[key] = seen[ident]
        else:
            seen[ident] = key
            unique[key] = t.detach().contiguous().cpu()
    return unique, aliases


def save_state_file(state: dict[str, torch.Tensor], path: Path) -> str:
    """Save a state dict as safetensors (tied weights stored once), atomically.

    Returns the SHA-256 (hex) of the written file, which :func:`save_pretrained` records.
    """
    from safetensors.torch import save

    unique, aliases = _dedup_shared(state)
    data = save(unique, metadata={"aliases": json.dumps(aliases)})
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _parse_aliases(metadata: dict[str, str] | None, keys: set[str], path: Path) -> dict[str, str]:
    """The ``aliases`` entry of a weights file's metadata (tied key -> stored key), checked."""
    try:
        aliases = json.loads((metadata or {}).get("aliases", "{}"))
    except json.JSONDecodeError:
        aliases = None
    if not isinstance(aliases, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
        raise CheckpointError(f"weights file {path} has a malformed 'aliases' entry (not a JSON mapping of names); "
                              "the file was altered: save the model again")
    missing = sorted(v for v in aliases.values() if v not in keys)
    if missing:
        raise CheckpointError(f"weights file {path} has aliases to tensors it does not hold ({missing[0]!r}); "
                              "the file was altered: save the model again")
    return aliases


def read_weights_header(path: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a weights file (tied names included), from its header only."""
    from safetensors import safe_open

    _check_weights_exist(path)
    try:
        with safe_open(str(path), "pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            metadata = f.metadata()
    except Exception as e:  # safetensors raises several error types for damaged files
        raise CheckpointError(f"weights file {path} is damaged or not a safetensors file ({e}); restore it from a copy "
                              "or use another checkpoint") from e
    for key, source in _parse_aliases(metadata, set(shapes), path).items():
        shapes[key] = shapes[source]
    return {_strip_prefixes(k): v for k, v in shapes.items()}


def _check_weights_exist(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"weights file {path} is missing; save the model again or use another checkpoint")


def load_state_file(path: Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Load a safetensors state dict, restoring tied weights and stripping wrapper prefixes.

    Args:
        path: the ``.safetensors`` file.
        sha256: the hash recorded when it was saved; if given, a file that differs is refused
            before it is parsed.
    """
    from safetensors.torch import load as load_bytes

    _check_weights_exist(path)
    data = Path(path).read_bytes()  # read once: hashed, then parsed from memory
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"weights file {path} changed since it was saved (its SHA-256 differs from the one in "
                              f"{CONFIG_FILE}); restore it from a copy, or use another checkpoint of the run")
    try:
        state = load_bytes(data)
        # the header: an 8-byte little-endian length, then that many bytes of JSON
        metadata = json.loads(data[8: 8 + int.from_bytes(data[:8], "little")]).get("__metadata__")
    except Exception as e:  # safetensors raises several error types for damaged files
        raise CheckpointError(f"weights file {path} is damaged or not a safetensors file ({e}); restore it from a copy "
                              "or use another checkpoint") from e
    for key, source in _parse_aliases(metadata, set(state), path).items():
        state[key] = state[source]
    return {_strip_prefixes(k): v for k, v in state.items()}


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key

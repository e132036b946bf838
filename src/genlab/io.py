"""Saved models and atomic file writes.

A saved model is a folder with ``config.json`` (registry name, genlab version, format version,
every config field, and the data facts such as image shape, levels or vocabulary) and
``model.safetensors``. No pickled code is ever loaded.
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
from typing import Any, Iterator

import torch

from .errors import CheckpointError, StorageError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WRAPPER_PREFIXES = ("_orig_mod.", "module.")


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


def save_pretrained(model, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to the folder ``path`` (created if needed): config.json + model.safetensors."""
    from . import __version__

    path = Path(path)
    with storage_errors(path):
        path.mkdir(parents=True, exist_ok=True)
    digest = save_state_file(model.state_dict(), path / WEIGHTS_FILE)
    meta = {
        "model": model.name,
        "genlab_version": __version__,
        "format_version": FORMAT_VERSION,
        "weights_sha256": digest,  # checked on load: a changed weights file is refused, not evaluated
        "config": model.config.to_dict(),
        "data": model.data_info.to_dict(),
        **(extra or {}),
    }
    atomic_write_text(path / CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=True))
    return path


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """The saved-model folder behind ``path`` (kept here for old imports; see :mod:`genlab.runs`)."""
    from .runs.run import resolve_checkpoint_dir as resolve

    return resolve(path)


def read_config(path: Path) -> dict[str, Any]:
    """The checked ``config.json`` of the saved-model folder ``path``."""
    try:
        meta = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path / CONFIG_FILE} cannot be read as JSON ({e}); restore it from a copy or save the "
                              "model again") from e
    if not isinstance(meta, dict) or not all(key in meta for key in ("model", "config", "data")):
        raise CheckpointError(f"{path / CONFIG_FILE} is not a genlab model config (no 'model', 'config' and 'data'): "
                              "the folder holds another tool's model; give a folder saved by genlab")
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was saved by a newer genlab ({meta.get('genlab_version')}, format "
                              f"{version}); this genlab reads format {FORMAT_VERSION}: upgrade genlab")
    for section in ("config", "data"):
        if not isinstance(meta[section], dict):
            raise CheckpointError(f"{path / CONFIG_FILE}: '{section}' must be a mapping of settings, not "
                                  f"{type(meta[section]).__name__}; the file was edited: save the model again")
    _check_data_keys(meta["data"], path / CONFIG_FILE)
    return meta


def _check_data_keys(data: dict[str, Any], path: Path) -> None:
    import dataclasses

    from .data.core import DataInfo

    known = [f.name for f in dataclasses.fields(DataInfo)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise CheckpointError(f"{path}: unknown key '{unknown[0]}' in its 'data' section (known: {', '.join(known)}); "
                              "the file was edited or written by another tool")


def load(path: str | os.PathLike, expected: str | None = None, map_location: str | torch.device = "cpu"):
    """Load a saved model (or the latest checkpoint of a training run) from ``path``.

    Args:
        path: a folder written by :func:`save_pretrained` or a run folder of ``genlab train``.
        expected: if given, the registry name the folder must hold (e.g. ``"vae"``).
        map_location: device to load the weights onto.
    """
    from .data.core import DataInfo
    from .registry import get_model_class

    folder = resolve_checkpoint_dir(path)
    meta = read_config(folder)
    if expected is not None and meta["model"] != expected:
        raise CheckpointError(f"{folder} holds a '{meta['model']}' model, not a '{expected}' model")
    cls = get_model_class(meta["model"])
    config = cls.config_class.from_dict(meta["config"])
    info = DataInfo.from_dict(meta["data"])
    _check_config_matches_data(config, info, folder)
    check_config_fits_weights(cls, config, info, folder)  # before the real build: sizes in config.json are not trusted
    model = cls(config, info)
    state = load_state_file(folder / WEIGHTS_FILE, sha256=meta.get("weights_sha256"))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"weights in {folder} do not fit a '{meta['model']}' model with its config: "
                              f"{str(e).splitlines()[0]}") from e
    return model.to(map_location).eval()


def _check_config_matches_data(config, info, folder: Path) -> None:
    """Refuse a config.json whose data facts (levels, image shape, ...) differ between 'config' and 'data'.

    Both are written from the same data at save time, so a difference means one was edited.
    """
    ours, implied = config.to_dict(), config.adapt_to_data(info).to_dict()
    for key in ours:
        if ours[key] != implied[key]:
            raise CheckpointError(f"{folder / CONFIG_FILE}: '{key}' is {ours[key]} in 'config' but the 'data' section "
                                  f"implies {implied[key]}; the file was edited: restore it or save the model again")


def check_config_fits_weights(cls, config, info, folder: Path) -> None:
    """Refuse a ``config.json`` whose model would not have the weights file's tensor shapes.

    The model is built on the ``meta`` device (shapes only, no memory), so an edited size in
    the config is caught before anything large is allocated; only the weights' header is read.
    """
    header = read_weights_header(folder / WEIGHTS_FILE)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in cls(config, info).state_dict().items()}
    problem = None
    for key, shape in expected.items():
        if key not in header:
            problem = f"the config needs tensor '{key}', which {WEIGHTS_FILE} lacks"
        elif header[key] != shape:
            problem = f"'{key}' is {list(header[key])} in {WEIGHTS_FILE} but the config implies {list(shape)}"
        if problem:
            break
    extra = sorted(set(header) - set(expected))
    if problem is None and extra:
        problem = f"{WEIGHTS_FILE} holds '{extra[0]}', which the config's model has no place for"
    if problem:
        raise CheckpointError(f"weights in {folder} do not fit a '{cls.name}' model with its config: {problem}; "
                              f"{CONFIG_FILE} was edited or belongs to other weights")


def load_for_finetuning(source: str | os.PathLike, data, weights: str = "best", **overrides: Any):
    """``(model, init_from)``: a trained model ready to train on new ``data`` (fine-tuning).

    The model has ``source``'s weights and config, with ``overrides`` applied; ``data`` must have
    the form it was built for (image shape and levels, or, for text, its vocabulary: load the
    text with ``load_dataset(spec, tokenizer=genlab.load(source))``). Overrides that would change
    a tensor's shape are refused. ``init_from`` (the folder, its weights' SHA-256, model and
    step) is what :class:`~genlab.Trainer` records in ``run.json``.

    Args:
        source: a run folder (its ``best`` or ``last`` weights) or a saved-model folder.
        data: the :class:`~genlab.data.DataSet` to train on next.
        weights: ``best`` (by validation, falling back to the last checkpoint) or ``last``.
        overrides: model settings that keep every shape (dropout, beta, ...).
    """
    from .data.core import check_data_fits
    from .errors import ConfigError
    from .runs.run import resolve_weights

    folder = resolve_weights(source, weights)
    trained = load(folder)
    check_data_fits(trained.data_info, data.info)
    cls = type(trained)
    config = trained.config.replace(**overrides)
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in cls(config, data.info).state_dict().items()}
    old = {k: tuple(v.shape) for k, v in trained.state_dict().items()}
    for key in sorted(set(old) | set(shapes), key=lambda k: (k not in old, k)):
        if shapes.get(key) != old.get(key):
            changed = [k for k in overrides if getattr(config, k) != getattr(trained.config, k)]
            was, now = (list(d[key]) if key in d else "absent" for d in (old, shapes))
            raise ConfigError(f"the setting(s) {', '.join(changed)} would change the shape of '{key}' "
                              f"({was} -> {now}); fine-tuning keeps the trained model's shapes: drop "
                              "them (training settings such as lr, steps, batch_size may change)")
    model = cls(config, data.info)
    model.load_state_dict(trained.state_dict(), strict=True)
    meta = read_config(folder)
    init_from = {"path": str(folder.resolve()), "model": cls.name, "step": meta.get("step"),
                 "weights_sha256": hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()}
    return model.train(), init_from

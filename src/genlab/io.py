"""Saved models and atomic file writes.

A saved model is a folder with ``config.json`` (registry name, genlab version, format version,
every config field, and the data facts such as image shape, levels or vocabulary) and
``model.safetensors``. No pickled code is ever loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WRAPPER_PREFIXES = ("_orig_mod.", "module.")


# ---- atomic writes ---------------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
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
    leaves ``target.old`` complete, and :func:`resolve_checkpoint_dir` falls back to it.
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


def save_state_file(state: dict[str, torch.Tensor], path: Path) -> None:
    """Save a state dict as safetensors (tied weights stored once), atomically."""
    from safetensors.torch import save

    unique, aliases = _dedup_shared(state)
    atomic_write_bytes(path, save(unique, metadata={"aliases": json.dumps(aliases)}))


def load_state_file(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors state dict, restoring tied weights and stripping wrapper prefixes."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
    except Exception as e:  # safetensors raises several error types for damaged files
        raise CheckpointError(f"weights file {path} is damaged or not a safetensors file: {e}") from e
    for key, source in aliases.items():
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
    path.mkdir(parents=True, exist_ok=True)
    save_state_file(model.state_dict(), path / WEIGHTS_FILE)
    meta = {
        "model": model.name,
        "genlab_version": __version__,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "data": model.data_info.to_dict(),
        **(extra or {}),
    }
    atomic_write_text(path / CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=True))
    return path


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """The saved-model folder behind ``path``: the folder itself or a training run's checkpoint."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"'{path}' does not exist; give a saved-model folder or a training run folder")
    if (path / CONFIG_FILE).is_file():
        return path
    for name in ("checkpoint", "checkpoint.old"):
        if (path / name / CONFIG_FILE).is_file():
            return path / name
    raise CheckpointError(f"'{path}' is neither a saved model (no {CONFIG_FILE}) nor a training run "
                          "with a checkpoint; train one with `genlab train` first")


def read_config(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path / CONFIG_FILE} cannot be read as JSON: {e}") from e
    if not isinstance(meta, dict) or not all(key in meta for key in ("model", "config", "data")):
        raise CheckpointError(f"{path / CONFIG_FILE} is not a genlab model config (no 'model', 'config' and 'data')")
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was saved by a newer genlab ({meta.get('genlab_version')}, format "
                              f"{version}); this genlab reads format {FORMAT_VERSION}: upgrade genlab")
    return meta


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
    model = cls(config, DataInfo.from_dict(meta["data"]))
    state = load_state_file(folder / WEIGHTS_FILE)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"weights in {folder} do not fit a '{meta['model']}' model with its config: "
                              f"{str(e).splitlines()[0]}") from e
    return model.to(map_location).eval()

"""The saved-model format: a folder with ``config.json`` and ``model.safetensors``.

``config.json`` holds the registry name, genlab version, format version, every config field and
the data facts (image shape, levels, vocabulary). No pickled code is ever loaded. A model is
built from the class it is given (:func:`load_pretrained`); finding the class behind a name is
the registry's business (:func:`genlab.models.io.load`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch

from ..data.core import DataInfo
from ..errors import CheckpointError
from ..files import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, atomic_write_text, load_state_file, read_weights_header, \
    save_state_file, storage_errors
from ..version import __version__


def save_pretrained(model, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to the folder ``path`` (created if needed): config.json + model.safetensors."""
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
    meta["config_sha256"] = config_sha256(meta)  # `genlab verify` tells an edited config.json
    atomic_write_text(path / CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=True))
    return path


def config_sha256(meta: dict[str, Any]) -> str:
    """The SHA-256 of a saved model's config (every entry but this hash, as canonical JSON)."""
    import hashlib

    body = {k: v for k, v in meta.items() if k != "config_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


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
    known = [f.name for f in dataclasses.fields(DataInfo)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise CheckpointError(f"{path}: unknown key '{unknown[0]}' in its 'data' section (known: {', '.join(known)}); "
                              "the file was edited or written by another tool")


def load_pretrained(cls, folder: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """Build a ``cls`` model from the saved-model folder ``folder`` and load its checked weights.

    A folder holding another model type, a config that was edited or weights that do not fit
    the config fail with a :class:`CheckpointError` before anything large is allocated.
    """
    folder = Path(folder)
    meta = read_config(folder)
    if meta["model"] != cls.name:
        raise CheckpointError(f"{folder} holds a '{meta['model']}' model, not a '{cls.name}' model")
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

"""Loading saved models by name, and the old import path of genlab's file and saved-model helpers.

:func:`load` sits above the registry and the saved-model format: it finds the folder (a saved
model or a training run's checkpoint), reads the registry name in its ``config.json``, and has
:func:`genlab.runs.pretrained.load_pretrained` build that class. The helpers themselves live in
:mod:`genlab.files` and :mod:`genlab.runs.pretrained`.
"""

from __future__ import annotations

import hashlib
import os
import shutil  # noqa: F401  (tests patch os and tempfile through this module)
import tempfile  # noqa: F401
from typing import Any

import torch

from ..data.core import check_data_fits
from ..errors import CheckpointError, ConfigError
from ..files import (CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, WRAPPER_PREFIXES, atomic_write_bytes,  # noqa: F401
                    atomic_write_text, load_state_file, read_weights_header, replace_dir, save_state_file,
                    storage_errors)
from ..runs.pretrained import check_config_fits_weights, load_pretrained, read_config, save_pretrained  # noqa: F401
from .registry import get_model_class
from ..runs.run import resolve_checkpoint_dir, resolve_weights


def load(path: str | os.PathLike, expected: str | None = None, map_location: str | torch.device = "cpu"):
    """Load a saved model (or the latest checkpoint of a training run) from ``path``.

    Args:
        path: a folder written by :func:`save_pretrained` or a run folder of ``genlab train``.
        expected: if given, the registry name the folder must hold (e.g. ``"vae"``).
        map_location: device to load the weights onto.
    """
    folder = resolve_checkpoint_dir(path)
    name = read_config(folder)["model"]
    if expected is not None and name != expected:
        raise CheckpointError(f"{folder} holds a '{name}' model, not a '{expected}' model")
    return load_pretrained(get_model_class(name), folder, map_location=map_location)


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
    # load() has checked the weights against the hash config.json records; only older saves lack one
    digest = meta.get("weights_sha256") or hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()
    init_from = {"path": str(folder.resolve()), "model": cls.name, "step": meta.get("step"), "weights_sha256": digest}
    return model.train(), init_from

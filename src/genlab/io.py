"""Loading saved models by name, and the old import path of genlab's file and saved-model helpers.

:func:`load` sits above the registry and the saved-model format: it finds the folder (a saved
model or a training run's checkpoint), reads the registry name in its ``config.json``, and has
:func:`genlab.pretrained.load_pretrained` build that class. The helpers themselves live in
:mod:`genlab.files` and :mod:`genlab.pretrained`.
"""

from __future__ import annotations

import os
import shutil  # noqa: F401  (tests patch os and tempfile through this module)
import tempfile  # noqa: F401

import torch

from .errors import CheckpointError
from .files import (CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, WRAPPER_PREFIXES, atomic_write_bytes,  # noqa: F401
                    atomic_write_text, load_state_file, read_weights_header, replace_dir, save_state_file,
                    storage_errors)
from .pretrained import check_config_fits_weights, load_pretrained, read_config, save_pretrained  # noqa: F401
from .registry import get_model_class
from .runs.run import resolve_checkpoint_dir


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

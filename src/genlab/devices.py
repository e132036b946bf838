"""Device selection shared by training, evaluation and comparison."""

from __future__ import annotations

import torch

from .errors import ConfigError


def pick_device(name: str) -> torch.device:
    """The torch device for ``name``: ``auto`` (CUDA where there is one, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Asking for CUDA where it is not available is a :class:`ConfigError` that names the fix.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' was asked for but CUDA is not available; use --device cpu")
    return device

"""Named data sets and the ``name`` / ``images:PATH`` / ``text:PATH`` specs."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .core import DataSet, default_data_root
from .download import REMOTE, verified_path
from .images import load_digits, load_idx_dataset, load_image_folder
from .text import load_text

DATASETS = {
    "digits": "scikit-learn 8x8 digits, 17 levels, 1000/350/447 split (built in, the default)",
    "mnist": "MNIST 28x28, 256 levels, IDX files under <data root>/mnist",
    "mnist-binary": "MNIST thresholded at 128 to 0/1 pixels",
    "fashion-mnist": "Fashion-MNIST 28x28, 256 levels, IDX files under <data root>/fashion-mnist",
    "tinyshakespeare": "Tiny Shakespeare, character level, <data root>/tinyshakespeare/input.txt",
    "images:PATH": "a folder of PNG/JPEG images (sub-folders are classes)",
    "text:PATH": "a UTF-8 text file, character level, 90/10 split",
}


def list_datasets() -> dict[str, str]:
    """Data set names (and path specs) with a one-line description each."""
    return dict(DATASETS)


def load_dataset(spec: str, root: str | os.PathLike | None = None, **options) -> DataSet:
    """Load a data set by name or path spec.

    Args:
        spec: a name from :func:`list_datasets`, ``images:PATH`` or ``text:PATH``.
        root: the data root (default: ``$GENLAB_DATA``, else ``./data``); nothing is downloaded.
        options: per data set, e.g. ``val_size`` for MNIST, ``size`` and ``channels`` for images.
    """
    data_root = default_data_root(root)
    try:
        if spec == "digits":
            return load_digits(**options)
        if spec in ("mnist", "fashion-mnist"):
            return load_idx_dataset(spec, data_root, **options)
        if spec == "mnist-binary":
            return load_idx_dataset("mnist", data_root, binarize=True, **options)
        if spec == "tinyshakespeare":
            path = verified_path(data_root, spec, REMOTE[spec].files[0])
            return load_text(path, name=spec, **options)
        if spec.startswith("images:"):
            return load_image_folder(Path(spec[len("images:"):]), **options)
        if spec.startswith("text:"):
            return load_text(Path(spec[len("text:"):]), **options)
    except TypeError as e:  # an option the loader does not take
        raise DataError(f"bad option for data set '{spec}': {e}") from e
    raise DataError(f"unknown data set '{spec}'; known: {', '.join(DATASETS)}")

"""Containers for data sets: :class:`DataInfo` and :class:`DataSet`.

The splits a data set holds belong to its modality (``data/modalities/``): an
:class:`~genlab.data.modalities.ImageSplit`, a :class:`~genlab.data.modalities.TokenSplit`, ...
Every split has ``len()``, ``get(indices) -> batch dict``, ``windows(length)`` and ``eval_indices()``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any, Protocol

import torch

from ..errors import DataError
from .modalities import ImageSplit, TokenSplit, get_modality  # noqa: F401  (ImageSplit, TokenSplit: old import path)

DATA_ENV = "GENLAB_DATA"


def default_data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GENLAB_DATA``, else ``./data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path("data")


# DataInfo fields only some kinds have; saved only when set
OPTIONAL_FACTS = ("scale", "rate", "steps_per_quarter", "context_frames")


@dataclasses.dataclass
class DataInfo:
    """What a model needs to know about its data, saved in every model's ``config.json``.

    Attributes:
        name: the data set's name as given to :func:`load_dataset`.
        kind: the modality's name: ``"image"`` (uint8 pixels) or ``"text"`` (token ids); see
            :attr:`modality`.
        shape: image shape ``(C, H, W)``; ``(T,)`` samples per clip for audio; ``(T, C, H, W)`` frames
            for video; ``None`` for text.
        levels: number of discrete pixel values (17 for digits, 256 for MNIST, 2 if binary).
        num_classes: number of class labels, 0 when the data has none.
        vocab: the tokenizer's vocabulary (one string per token id) for text.
        scale: for super-resolution pairs, how many times larger the target image is than its
            low-resolution input (``shape`` is the target's); None for other data.
        rate: for audio, the sample rate in Hz (``shape`` is ``(T,)``, samples per clip); None for other data.
        steps_per_quarter: for piano rolls, the time grid: steps per quarter note (1, 2, 4); None
            for other data.
        context_frames: for video (``shape`` is ``(T, C, H, W)``), how many first frames a prediction
            model is given (the rest it predicts); None for other data.
    """

    name: str
    kind: str
    shape: tuple[int, ...] | None = None
    levels: int | None = None
    num_classes: int = 0
    vocab: list[str] | None = None
    scale: int | None = None
    rate: int | None = None
    steps_per_quarter: int | None = None
    context_frames: int | None = None

    @property
    def modality(self):
        """The :class:`~genlab.data.modalities.Modality` of this data: how it is scored, shown and parsed."""
        return get_modality(self.kind)

    @property
    def vocab_size(self) -> int | None:
        return None if self.vocab is None else len(self.vocab)

    @property
    def dims(self) -> int:
        """Number of dimensions of one example (pixels x channels; audio samples) for bits/dim."""
        if self.shape is None:
            raise DataError(f"data set '{self.name}' is {self.kind} data and has no image shape")
        return math.prod(self.shape)

    def differences(self, other: "DataInfo") -> list[str]:
        """How ``other`` differs from this data in what a model depends on (the name aside).

        Each entry reads "FIELD X here, Y there" in words; [] when a model of this data fits ``other``.
        """
        out = []
        if self.kind != other.kind:
            out.append(f"kind {self.kind} vs {other.kind}")
        if self.shape != other.shape:
            out.append(f"image shape {_listed(self.shape)} vs {_listed(other.shape)}")
        if self.levels != other.levels:
            out.append(f"levels {self.levels} vs {other.levels}")
        if self.scale != other.scale:
            out.append(f"super-resolution scale {self.scale} vs {other.scale}")
        if self.rate != other.rate:
            out.append(f"sample rate {self.rate} vs {other.rate} Hz")
        if self.steps_per_quarter != other.steps_per_quarter:
            out.append(f"time grid {self.steps_per_quarter} vs {other.steps_per_quarter} steps per quarter note")
        if self.context_frames != other.context_frames:
            out.append(f"context frames {self.context_frames} vs {other.context_frames}")
        if self.num_classes != other.num_classes:
            out.append(f"classes {self.num_classes} vs {other.num_classes}")
        if self.vocab != other.vocab:
            if self.vocab is None or other.vocab is None or len(self.vocab) != len(other.vocab):
                sizes = [None if v is None else len(v) for v in (self.vocab, other.vocab)]
                out.append(f"vocabulary size {sizes[0]} vs {sizes[1]}")
            else:
                i = next(i for i, (a, b) in enumerate(zip(self.vocab, other.vocab)) if a != b)
                out.append(f"vocabulary (same size {len(self.vocab)}, but token {i} is "
                           f"{self.vocab[i]!r} vs {other.vocab[i]!r})")
        return out

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["shape"] is not None:
            d["shape"] = list(d["shape"])
        for key in OPTIONAL_FACTS:  # kind-specific facts: other models' config.json stays as it was
            if d[key] is None:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataInfo":
        d = dict(d)
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise DataError(f"unknown data fields {sorted(unknown)}; known: {[f.name for f in dataclasses.fields(cls)]}")
        if d.get("shape") is not None:
            d["shape"] = tuple(d["shape"])
        return cls(**d)


class Split(Protocol):
    """What the trainer and evaluation need of a split, whatever its modality."""

    def __len__(self) -> int: ...
    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]: ...
    def windows(self, length: int | None) -> "Split": ...
    def eval_indices(self) -> torch.Tensor: ...


@dataclasses.dataclass
class DataSet:
    """A named data set: its :class:`DataInfo` and its train / val / test splits.

    ``synthetic_examples`` counts the examples whose files genlab marked synthetic (see
    :mod:`genlab.provenance`), which a loader takes only when given ``allow_synthetic=true``; a run
    records it in ``run.json`` as ``data.synthetic_examples``."""

    info: DataInfo
    train: Split
    val: Split | None
    test: Split | None
    tokenizer: Any = None
    synthetic_examples: int = 0  # examples read from files genlab generated (loaded with allow_synthetic)

    def split(self, name: str) -> Split:
        if name not in ("train", "val", "test"):
            raise DataError(f"unknown split '{name}'; use train, val or test")
        part = getattr(self, name)
        if part is None:
            have = [n for n in ("train", "val", "test") if getattr(self, n) is not None]
            raise DataError(f"data set '{self.info.name}' has no {name} split; it has: {', '.join(have)}")
        return part


def _listed(shape) -> str:
    return "none" if shape is None else str(list(shape))


def check_data_fits(model_info: DataInfo, data_info: DataInfo) -> None:
    """Refuse data a model was not built for: another kind, image shape, levels, classes or vocabulary.

    The names may differ (a model fine-tuned on new data of the same form). Text for a text model
    must be encoded with the model's own tokenizer, e.g. ``load_dataset(spec, tokenizer=model)``.
    """
    problems = model_info.differences(data_info)
    if not problems:
        return
    hint = ("load the text with the model's tokenizer (load_dataset(spec, tokenizer=model))"
            if model_info.kind == "text" == data_info.kind else "give data of the same form, or a new model for it")
    raise DataError(f"the data '{data_info.name}' does not fit the model, which was built for '{model_info.name}': "
                    f"{'; '.join(problems)} (model vs data); {hint}")


def folder_splits(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train, validation and test indices of a folder data set's ``count`` files: a seeded shuffle, a
    tenth (at least one) for validation and a tenth for test, the rest to train."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    n_val = n_test = max(1, count // 10)
    return order[: count - n_val - n_test], order[-n_val - n_test: -n_test], order[-n_test:]

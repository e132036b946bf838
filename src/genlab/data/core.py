"""Containers for data sets: :class:`DataInfo`, image and token splits, :class:`DataSet`."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

import torch

from ..errors import DataError

DATA_ENV = "GENLAB_DATA"


def default_data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GENLAB_DATA``, else ``./data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path("data")


@dataclasses.dataclass
class DataInfo:
    """What a model needs to know about its data, saved in every model's ``config.json``.

    Attributes:
        name: the data set's name as given to :func:`load_dataset`.
        kind: ``"image"`` (uint8 pixels) or ``"text"`` (token ids).
        shape: image shape ``(C, H, W)``; ``None`` for text.
        levels: number of discrete pixel values (17 for digits, 256 for MNIST, 2 if binary).
        num_classes: number of class labels, 0 when the data has none.
        vocab: the tokenizer's vocabulary (one string per token id) for text.
    """

    name: str
    kind: Literal["image", "text"]
    shape: tuple[int, int, int] | None = None
    levels: int | None = None
    num_classes: int = 0
    vocab: list[str] | None = None

    @property
    def vocab_size(self) -> int | None:
        return None if self.vocab is None else len(self.vocab)

    @property
    def dims(self) -> int:
        """Number of dimensions of one example (pixels x channels) for bits/dim."""
        if self.shape is None:
            raise DataError(f"data set '{self.name}' is {self.kind} data and has no image shape")
        c, h, w = self.shape
        return c * h * w

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["shape"] is not None:
            d["shape"] = list(d["shape"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataInfo":
        d = dict(d)
        if d.get("shape") is not None:
            d["shape"] = tuple(d["shape"])
        return cls(**d)


class ImageSplit:
    """Images as a uint8 tensor ``[N, C, H, W]`` with optional integer labels ``[N]``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        if images.dim() != 4:
            raise DataError(f"images must have shape [N, C, H, W], got {tuple(images.shape)}")
        if labels is not None and len(labels) != len(images):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """A batch ``{"x": uint8 [B, C, H, W], "y": long [B]}`` (``"y"`` only with labels)."""
        batch = {"x": self.images[indices]}
        if self.labels is not None:
            batch["y"] = self.labels[indices]
        return batch

    def windows(self, length: int | None) -> "ImageSplit":
        return self

    def eval_indices(self) -> torch.Tensor:
        """Items that cover the split once, for evaluation: every image, in order."""
        return torch.arange(len(self))


class TokenSplit:
    """A stream of token ids ``[N]``; items are windows of ``length`` consecutive tokens.

    ``windows(T + 1)`` makes every start position an item, so a batch is ``[B, T + 1]``:
    a model reads the first T tokens and predicts the last T.
    """

    def __init__(self, tokens: torch.Tensor, length: int | None = None):
        self.tokens = tokens
        self.length = length

    def windows(self, length: int | None) -> "TokenSplit":
        if length is None:
            raise DataError("text data needs a sequence model (one with a context length)")
        if len(self.tokens) < length:
            raise DataError(
                f"the text has {len(self.tokens)} tokens, fewer than one window of {length}; "
                "use a longer text or a smaller block_size"
            )
        return TokenSplit(self.tokens, length)

    def __len__(self) -> int:
        if self.length is None:
            return len(self.tokens)
        return len(self.tokens) - self.length + 1

    def eval_indices(self) -> torch.Tensor:
        """Window starts that cover the stream once: windows share one token, so each token
        after the first is predicted exactly once."""
        return torch.arange(0, len(self.tokens) - self.length + 1, self.length - 1)

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """A batch ``{"x": long [B, length]}`` of windows starting at ``indices``."""
        offsets = torch.arange(self.length)
        return {"x": self.tokens[indices[:, None] + offsets]}


@dataclasses.dataclass
class DataSet:
    """A named data set: its :class:`DataInfo` and its train / val / test splits."""

    info: DataInfo
    train: ImageSplit | TokenSplit
    val: ImageSplit | TokenSplit | None
    test: ImageSplit | TokenSplit | None
    tokenizer: Any = None

    def split(self, name: str) -> ImageSplit | TokenSplit:
        if name not in ("train", "val", "test"):
            raise DataError(f"unknown split '{name}'; use train, val or test")
        part = getattr(self, name)
        if part is None:
            have = [n for n in ("train", "val", "test") if getattr(self, n) is not None]
            raise DataError(f"data set '{self.info.name}' has no {name} split; it has: {', '.join(have)}")
        return part

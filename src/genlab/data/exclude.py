"""Exclusion lists: training examples a run leaves out (``genlab train --exclude FILE``).

The file ``genlab data dedup`` writes (``exclude.txt``) has one ``split:index`` a line, e.g.
``train:1234``; blank lines and lines starting with ``#`` are ignored. Training drops only
training examples, so every line must name ``train``. What an index means is the example
numbering of :func:`examples_of`:

- images (and other kinds of separate examples): the example's position in the split;
- text: the line's number (from 0) when the split's text is cut after every newline; dropping a
  line removes its characters and its newline from the training text.

A run records the exclusion in ``run.json`` (``data.exclude``: the file, its SHA-256, the count
and the indices themselves), so ``--resume`` and evaluation reload exactly the same data even if
the file has moved or changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from .core import DataSet
from .modalities.image import ImageSplit
from .modalities.tokens import TokenSplit, text_line_bounds  # noqa: F401 (also imported from here)

LINE = re.compile(r"^(train|val|test):(\d+)$")
FIX = "each line must be split:index, e.g. train:12 (as `genlab data dedup` writes)"


@dataclasses.dataclass
class Exclusion:
    """The training examples to drop: sorted unique indices, and where they came from."""

    indices: list[int]
    file: str | None = None
    sha256: str | None = None

    def record(self) -> dict[str, Any]:
        """What ``run.json`` keeps under ``data.exclude``."""
        return {"file": self.file, "sha256": self.sha256, "count": len(self.indices), "indices": self.indices}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Exclusion":
        indices = record.get("indices")
        if not isinstance(indices, list) or not all(isinstance(i, int) and i >= 0 for i in indices):
            raise DataError("run.json's data.exclude has no list of indices; the file was edited: restore it")
        if record.get("count") != len(indices):
            raise DataError(f"run.json's data.exclude counts {record.get('count')} examples but lists {len(indices)}; "
                            "the file was edited: restore it")
        return cls(sorted(set(indices)), record.get("file"), record.get("sha256"))


def read_exclude_file(path: str | Path, num_train: int | None = None) -> Exclusion:
    """The exclusion list in ``path``, checked: a line that is not ``train:INDEX`` or an index past
    the ``num_train`` training examples is a one-line :class:`DataError` naming the line and the fix."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"exclusion list '{path}' does not exist; give the exclude.txt `genlab data dedup` wrote")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"exclusion list '{path}' is not UTF-8 text; {FIX}") from e
    indices: set[int] = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        if match is None:
            raise DataError(f"{path} line {number}: '{line[:40]}' is not split:index; {FIX}")
        split, index = match.group(1), int(match.group(2))
        if split != "train":
            raise DataError(f"{path} line {number}: '{line}' names the {split} split, but training drops only "
                            f"training examples; keep the train:INDEX lines")
        if num_train is not None and index >= num_train:
            raise DataError(f"{path} line {number}: index {index} is past the {num_train:,} training examples of "
                            "this data (indices start at 0); make the list with `genlab data dedup` on the same "
                            "data and options")
        indices.add(index)
    return Exclusion(sorted(indices), str(path.resolve()), hashlib.sha256(raw).hexdigest())


# ---- examples of a split ------------------------------------------------------------------------------
def newline_id(data: DataSet) -> int | None:
    vocab = data.info.vocab or []
    return vocab.index("\n") if "\n" in vocab else None


def count_examples(data: DataSet, split: str = "train") -> int:
    """How many examples :mod:`genlab.data.exclude` numbers in ``split`` (images, or text lines)."""
    part = data.split(split)
    if isinstance(part, TokenSplit):
        return len(text_line_bounds(part.tokens, newline_id(data)))
    return len(part)


# ---- dropping examples ------------------------------------------------------------------------------
class SubsetSplit:
    """The examples ``keep`` of a split of separate examples (audio clips, image pairs, video clips)."""

    def __init__(self, base, keep: torch.Tensor):
        self.base, self.keep = base, keep

    def __len__(self) -> int:
        return len(self.keep)

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.base.get(self.keep[indices])

    def windows(self, length: int | None) -> "SubsetSplit":
        if self.base.windows(length) is not self.base:
            raise DataError("this data set reads training windows from its examples; --exclude is not supported for it")
        return self

    def eval_indices(self) -> torch.Tensor:
        return torch.arange(len(self))


def exclude_examples(data: DataSet, exclusion: Exclusion) -> DataSet:
    """``data`` with the training examples of ``exclusion`` dropped (the other splits as they are)."""
    if not exclusion.indices:
        return data
    train = data.train
    total = count_examples(data, "train")
    if exclusion.indices[-1] >= total:
        raise DataError(f"the exclusion list names training example {exclusion.indices[-1]}, but '{data.info.name}' "
                        f"has {total:,}; make the list with `genlab data dedup` on the same data and options")
    drop = torch.zeros(total, dtype=torch.bool)
    drop[torch.tensor(exclusion.indices)] = True
    keep = torch.nonzero(~drop).flatten()
    if len(keep) == 0:
        raise DataError("the exclusion list drops every training example; nothing would be left to train on")
    if isinstance(train, ImageSplit):
        new = ImageSplit(train.images[keep], None if train.labels is None else train.labels[keep])
    elif isinstance(train, TokenSplit):
        bounds = text_line_bounds(train.tokens, newline_id(data))
        new = TokenSplit(torch.cat([train.tokens[bounds[i][0]:bounds[i][1]] for i in keep.tolist()]), train.length, train.name)
    else:
        new = SubsetSplit(train, keep)
    return dataclasses.replace(data, train=new)

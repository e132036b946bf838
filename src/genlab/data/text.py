"""Text data: a character tokenizer and UTF-8 text files split 90/10."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DataError
from .core import DataInfo, DataSet
from .download import REMOTE, verified_path
from .modalities.tokens import UNKNOWN, CharTokenizer, TokenSplit  # noqa: F401  (CharTokenizer, UNKNOWN: their old import path)
from .registry import register_dataset



def read_text(path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"text file '{path}' does not exist")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"text file '{path}' is not UTF-8 (bad byte at offset {e.start}); "
                        "convert it, e.g. `iconv -t UTF-8`") from e
    if len(text) < 2:
        raise DataError(f"text file '{path}' is empty or holds a single character; give a file with text in it")
    return text


def load_text(path: str | Path, name: str | None = None, train_fraction: float = 0.9) -> DataSet:
    """A UTF-8 text file at character level: first 90% train, last 10% validation.

    The tokenizer is built from the training split; there is no separate test split.
    """
    if not 0 < train_fraction < 1:
        raise DataError(f"train_fraction must be between 0 and 1 (the rest validates), got {train_fraction}")
    text = read_text(path)
    n = int(len(text) * train_fraction)
    train_text, val_text = text[:n], text[n:]
    tok = CharTokenizer.from_text(train_text, extra_text=val_text)
    info = DataInfo(name=name or f"text:{path}", kind="text", vocab=tok.vocab)
    return DataSet(info, TokenSplit(tok.encode(train_text)), TokenSplit(tok.encode(val_text)), None, tokenizer=tok)


@register_dataset("tinyshakespeare", "Tiny Shakespeare, character level, <data root>/tinyshakespeare/input.txt")
def load_tinyshakespeare(root: Path, train_fraction: float = 0.9) -> DataSet:
    """Tiny Shakespeare (checksummed) at character level: first 90% train, last 10% validation."""
    path = verified_path(root, "tinyshakespeare", REMOTE["tinyshakespeare"].files[0])
    return load_text(path, name="tinyshakespeare", train_fraction=train_fraction)


@register_dataset("text:", "a UTF-8 text file, character level, 90/10 split; option train_fraction")
def load_text_file(path: Path, train_fraction: float = 0.9) -> DataSet:
    """A UTF-8 text file at character level, named ``text:PATH``."""
    return load_text(path, train_fraction=train_fraction)

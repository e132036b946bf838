"""Token sequences: a stream of token ids, read as windows; NLL per token (and bits per token).

With genlab's character tokenizer a token is a character, so the unit reads "per character".
Samples are shown as text; a prompt is parsed with the model's vocabulary.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError, DataError
from .base import Modality, register_modality

SEPARATOR = "\n-----\n"  # between samples in a text file or on the terminal
UNKNOWN = "\ufffd"  # stands for characters never seen in the training split
MAX_SHOWN = 5  # missing characters an error names


class CharTokenizer:
    """Maps each character to an id. The vocabulary is sorted and saved with the model.

    A vocabulary built from a training split gets one extra token, U+FFFD, for characters
    that only appear in the validation text when there are any (``encode(..., strict=False)``).
    """

    def __init__(self, vocab: list[str]):
        if len(set(vocab)) != len(vocab):
            raise DataError("tokenizer vocabulary has repeated entries")
        self.vocab = list(vocab)
        self.index = {c: i for i, c in enumerate(self.vocab)}

    @classmethod
    def from_text(cls, text: str, extra_text: str = "") -> "CharTokenizer":
        vocab = sorted(set(text))
        if set(extra_text) - set(vocab) and UNKNOWN not in vocab:  # the text may hold U+FFFD itself
            vocab.append(UNKNOWN)
        return cls(vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, strict: bool = True) -> torch.Tensor:
        """Token ids (long ``[len(text)]``) of ``text``.

        A character outside the vocabulary is a DataError naming every such character (a prompt
        the model cannot read should not be changed silently). ``strict=False`` maps them to
        U+FFFD instead, where the vocabulary has it (text split off after training, e.g. validation).
        """
        unk = None if strict else self.index.get(UNKNOWN)
        ids, unknown = [], {}
        for pos, ch in enumerate(text):
            i = self.index.get(ch, unk)
            if i is None:
                unknown.setdefault(ch, pos)
                continue
            ids.append(i)
        if unknown:
            listed = ", ".join(f"{ch!r} at position {pos}" for ch, pos in list(unknown.items())[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            what = "character" if len(unknown) == 1 else f"{len(unknown)} characters"
            raise DataError(f"{what} {listed}{more} not in the model's vocabulary of {len(self.vocab)} "
                            "characters; use only characters of the text it was trained on")
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def check_covers(self, text: str, what: str) -> None:
        """Refuse ``text`` (described as ``what``) if it holds characters this vocabulary lacks.

        The message names the first few missing characters (in the order they first appear), repr'd,
        and how many there are.
        """
        missing = [c for c in dict.fromkeys(text) if c not in self.index]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:MAX_SHOWN]) + (", ..." if len(missing) > MAX_SHOWN else "")
            raise DataError(f"{what} has {len(missing)} character(s) the model's vocabulary of {len(self.vocab)} "
                            f"lacks: {shown}; remove or replace them in the text, or train a new model on it "
                            "from scratch")


def text_line_bounds(tokens: torch.Tensor, newline: int | None) -> list[tuple[int, int]]:
    """``(start, end)`` token ranges of a text split's lines, each with its newline (the last may lack one)."""
    if newline is None:
        return [(0, len(tokens))]
    ends = (torch.nonzero(tokens == newline).flatten() + 1).tolist()
    if not ends or ends[-1] != len(tokens):
        ends.append(len(tokens))
    starts = [0] + ends[:-1]
    return [(a, b) for a, b in zip(starts, ends) if b > a]


class TokenSplit:
    """A stream of token ids ``[N]``; items are windows of ``length`` consecutive tokens.

    ``windows(T + 1)`` makes every start position an item, so a batch is ``[B, T + 1]``:
    a model reads the first T tokens and predicts the last T.
    """

    def __init__(self, tokens: torch.Tensor, length: int | None = None, name: str = "text"):
        self.tokens = tokens
        self.length = length
        self.name = name  # what an error calls it: "the validation split (the last 10% of the text)"

    def windows(self, length: int | None) -> "TokenSplit":
        if length is None:
            raise DataError("text data needs a sequence model (one with a context length)")
        if len(self.tokens) < length:
            raise DataError(
                f"{self.name} has {len(self.tokens)} tokens, fewer than one window of {length} (block_size + 1); "
                "use a longer text or a smaller block_size"
            )
        return TokenSplit(self.tokens, length, self.name)

    def __len__(self) -> int:
        if self.length is None:
            return len(self.tokens)
        return len(self.tokens) - self.length + 1

    def eval_indices(self) -> torch.Tensor:
        """Window starts that cover the stream once: windows share one token, so each token
        after the first is predicted exactly once."""
        return torch.arange(0, len(self.tokens) - self.length + 1, self.length - 1)

    def predicted_per_item(self) -> int:
        """Tokens scored per window: all but the first, which only conditions."""
        return self.length - 1

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """A batch ``{"x": long [B, length]}`` of windows starting at ``indices``."""
        offsets = torch.arange(self.length)
        return {"x": self.tokens[indices[:, None] + offsets]}


def decode_tokens(info, ids) -> str:
    """Token ids -> text with the vocabulary saved in a model's data info (ids joined if none)."""
    if info.vocab is None:
        return " ".join(str(int(i)) for i in ids)
    return "".join(info.vocab[int(i)] for i in ids)


@register_modality
class TokenModality(Modality):
    """Token sequences (characters of a text); NLL per token and bits per token."""

    name = "text"
    unit = "token"
    sample_suffix = ".txt"
    default_num_samples = 4
    sample_quality = False
    reads_as_text = True
    fields = {"x": "long token ids [B, T + 1] (a model reads T and predicts T)"}
    preview_tokens = 200  # tokens per preview sample written during training

    def check_info(self, info) -> None:
        if info.vocab is not None and len(info.vocab) < 1:
            raise DataError(f"text data '{info.name}' has an empty vocabulary")

    def model_fields(self, info) -> dict[str, Any]:
        return {} if info.vocab is None else {"vocab_size": len(info.vocab)}

    def likelihood_report(self, info, total_nats: float, num_examples: int, split) -> dict[str, Any]:
        tokens = num_examples * split.predicted_per_item()
        return {"nll_nats": total_nats / tokens, "bits_per_token": total_nats / tokens / math.log(2),
                "num_tokens": tokens, "unit": "nats per token"}

    def describe_likelihood(self, result: dict[str, Any]) -> list[str]:
        return [f"NLL          {result['nll_nats']:.4f} nats per character",
                f"bits/char    {result['bits_per_token']:.4f}"]

    def preview(self, num_samples: int, split=None) -> tuple[int, dict[str, Any]]:
        return 4, {"max_new_tokens": self.preview_tokens}

    def to_text(self, info, samples: torch.Tensor) -> str:
        return SEPARATOR.join(decode_tokens(info, row) for row in samples)

    def write_files(self, info, samples: torch.Tensor, path: str | Path) -> list[Path]:
        from ...files import atomic_write_text

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, self.to_text(info, samples) + "\n")
        return [path]

    def example_file(self, info, split, index: int) -> tuple[bytes, str]:
        """A text example is a line (the numbering of :mod:`genlab.data.exclude`)."""
        newline = info.vocab.index("\n") if info.vocab and "\n" in info.vocab else None
        a, b = text_line_bounds(split.tokens, newline)[index]
        return decode_tokens(info, split.tokens[a:b]).encode("utf-8"), "text/plain; charset=utf-8"

    def parse_content(self, info, value: str) -> torch.Tensor:
        return self.parse(info, value)  # a text prompt is content already

    def parse(self, info, value: Any) -> torch.Tensor:
        """A prompt string as token ids ``long [T]``; a character outside the vocabulary is refused."""
        if info.vocab is None:
            raise ConfigError("this model has no tokenizer; it cannot take a text prompt")
        if not isinstance(value, str) or not value:
            raise ConfigError("the prompt is empty; give some text or leave it out")
        return CharTokenizer(info.vocab).encode(value)

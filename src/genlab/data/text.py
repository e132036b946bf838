"""Text data: a character tokenizer and UTF-8 text files split 90/10."""

from __future__ import annotations

from pathlib import Path


from ..errors import DataError
from .core import DataInfo, DataSet
from .download import REMOTE, verified_path
from .modalities.tokens import UNKNOWN, CharTokenizer, TokenSplit  # noqa: F401  (CharTokenizer, UNKNOWN: their old import path)
from .registry import register_dataset


def as_tokenizer(source) -> CharTokenizer:
    """The character tokenizer of ``source``: a :class:`CharTokenizer`, a vocabulary (list of
    strings), a :class:`DataInfo` or a model (its ``data_info``), or a :class:`DataSet`."""
    if isinstance(source, CharTokenizer):
        return source
    if isinstance(source, DataSet):
        return as_tokenizer(source.tokenizer if source.tokenizer is not None else source.info)
    info = getattr(source, "data_info", source)  # a model
    vocab = info.vocab if isinstance(info, DataInfo) else source
    if isinstance(info, DataInfo) and vocab is None:
        raise DataError(f"'{info.name}' is {info.kind} data with no vocabulary, so it gives no tokenizer; "
                        "use a text model or data set")
    if not isinstance(vocab, (list, tuple)) or not all(isinstance(c, str) for c in vocab):
        raise DataError(f"a tokenizer must be a CharTokenizer, a vocabulary (list of strings), a text model or its "
                        f"DataInfo, not {type(source).__name__}")
    return CharTokenizer(list(vocab))


def read_text(path: str | Path) -> str:
    """The text of a UTF-8 file, without a leading byte-order mark (which is no character of it)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"text file '{path}' does not exist")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # strips a leading UTF-8 BOM, if any
    except UnicodeDecodeError as e:
        raise DataError(f"text file '{path}' is not UTF-8 (bad byte at offset {e.start}); "
                        "convert it, e.g. `iconv -t UTF-8`") from e
    if len(text) < 2:
        raise DataError(f"text file '{path}' is empty or holds a single character; give a file with text in it")
    return text


def load_text(path: str | Path, name: str | None = None, train_fraction: float = 0.9,
              tokenizer: CharTokenizer | None = None) -> DataSet:
    """A UTF-8 text file at character level: first 90% train, last 10% validation.

    The tokenizer is built from the training split, unless ``tokenizer`` is given (a trained
    model's, to fine-tune it): then every character of the file must be in its vocabulary.
    There is no separate test split.
    """
    if not 0 < train_fraction < 1:
        raise DataError(f"train_fraction must be between 0 and 1 (the rest validates), got {train_fraction}")
    text = read_text(path)
    n = int(len(text) * train_fraction)
    train_text, val_text = text[:n], text[n:]
    if tokenizer is None:
        tok = CharTokenizer.from_text(train_text, extra_text=val_text)
    else:
        tok = as_tokenizer(tokenizer)
        tok.check_covers(text, f"text file '{path}'")
    info = DataInfo(name=name or f"text:{path}", kind="text", vocab=tok.vocab)
    # the validation text may hold characters the training text lacks: they become U+FFFD
    val_tokens = tok.encode(val_text, strict=False)
    share = f"{1 - train_fraction:.0%}"
    return DataSet(info, TokenSplit(tok.encode(train_text), name=f"the training split (the first {train_fraction:.0%} "
                                    f"of the {len(text):,} characters)"),
                   TokenSplit(val_tokens, name=f"the validation split (the last {share} of the {len(text):,} "
                              "characters)"), None, tokenizer=tok)


@register_dataset("tinyshakespeare", "Tiny Shakespeare, character level, <data root>/tinyshakespeare/input.txt")
def load_tinyshakespeare(root: Path, tokenizer: CharTokenizer | None = None, train_fraction: float = 0.9) -> DataSet:
    """Tiny Shakespeare (checksummed) at character level: first 90% train, last 10% validation."""
    path = verified_path(root, "tinyshakespeare", REMOTE["tinyshakespeare"].files[0])
    return load_text(path, name="tinyshakespeare", train_fraction=train_fraction, tokenizer=tokenizer)


@register_dataset("text:", "a UTF-8 text file, character level, 90/10 split; options train_fraction, allow_synthetic")
def load_text_file(path: Path, tokenizer: CharTokenizer | None = None, train_fraction: float = 0.9,
                   allow_synthetic: bool = False) -> DataSet:
    """A UTF-8 text file at character level, named ``text:PATH``. A file genlab generated (its
    provenance sidecar marks it synthetic, :mod:`genlab.provenance`) is refused unless ``allow_synthetic``."""
    from ..provenance import check_synthetic

    synthetic = check_synthetic([path], Path(path).parent, allow_synthetic, "text files")
    data = load_text(path, train_fraction=train_fraction, tokenizer=tokenizer)
    data.synthetic_examples = synthetic
    return data

"""The data-set registry: ``@register_dataset``, :func:`load_dataset`, :func:`list_datasets`.

A data set is a loader function registered under a name (``"mnist"``) or a path prefix
(``"images:"``, whose spec is ``images:PATH``). The loader's keyword parameters with defaults are
the data set's options: they can be given in Python (``load_dataset("mnist", val_size=0)``) or
on the command line (``--data-arg val_size=0``), are type-checked like config keys, and are
recorded in a run's ``run.json`` so that a resume or an evaluation loads the same data.

A loader takes ``root`` (the data root) and/or ``path`` (for a prefix) if it names them, and a
text loader takes ``tokenizer``: a trained model's, so that new text is encoded with the model's
vocabulary (fine-tuning) instead of a vocabulary built from the text.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import typing
from pathlib import Path
from typing import Any, Callable

from ..config import coerce, unknown_key_error
from ..errors import ConfigError, DataError
from ..lookup import Lookup
from .core import DataSet, default_data_root

_DATASETS: "Lookup[DatasetEntry]" = Lookup("data set", DataError)
_CONTEXT = ("root", "path", "tokenizer")  # loader parameters genlab fills in; not options


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """A registered data set: its name (or ``prefix:``), description and loader."""

    name: str
    description: str
    loader: Callable[..., DataSet]

    @property
    def is_prefix(self) -> bool:
        return self.name.endswith(":")

    def options(self) -> dict[str, tuple[Any, Any]]:
        """``{option: (type, default)}`` from the loader's keyword parameters."""
        hints = typing.get_type_hints(self.loader)
        return {p.name: (hints.get(p.name, Any), p.default)
                for p in inspect.signature(self.loader).parameters.values()
                if p.name not in _CONTEXT and p.default is not inspect.Parameter.empty}

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` type-checked (strings from the command line parsed); unknown ones fail."""
        known = self.options()
        out = {}
        for key, value in options.items():
            if key not in known:
                if key == "allow_synthetic":
                    takers = [name for name, entry in _DATASETS.items() if "allow_synthetic" in entry.options()]
                    raise ConfigError(f"data set '{self.name}' is not read from your files, so it holds nothing genlab "
                                      f"generated; allow_synthetic (--allow-synthetic) is for {', '.join(takers)}")
                if not known:
                    raise ConfigError(f"data set '{self.name}' takes no options, got '{key}'")
                raise unknown_key_error(key, list(known), f"'{self.name}' data set")
            out[key] = coerce(value, known[key][0], key)
        return out

    def load(self, root: Path, path: str | None, options: dict[str, Any], tokenizer: Any = None) -> DataSet:
        params = inspect.signature(self.loader).parameters
        context = {}
        if "root" in params:
            context["root"] = root
        if "path" in params:
            context["path"] = Path(path)
        if tokenizer is not None:
            if "tokenizer" not in params:
                raise DataError(f"data set '{self.name}' is not text, so it cannot be read with a model's tokenizer; "
                                "give text data (text:PATH, tinyshakespeare) for a text model")
            context["tokenizer"] = tokenizer  # the loader makes it a tokenizer (a model, a vocabulary...)
        return self.loader(**context, **options)


def register_dataset(name: str, description: str):
    """Decorator registering a loader as data set ``name`` (end it with ``:`` for a path prefix)."""

    def decorator(loader: Callable[..., DataSet]) -> Callable[..., DataSet]:
        _DATASETS.add(name, DatasetEntry(name, description, loader), same=lambda old, new: old.loader is new.loader)
        return loader

    return decorator


def _builtin() -> "Lookup[DatasetEntry]":
    # genlab.data's __init__ imports the built-in data set modules (images, text), which registers them,
    # before any of its submodules can be used: this module need not (and must not: a cycle) import them
    return _DATASETS


def find_dataset(spec: str) -> tuple[DatasetEntry, str | None]:
    """The entry behind ``spec`` and, for a prefix, the path after it."""
    entries = _builtin()
    if spec in entries and not entries[spec].is_prefix:
        return entries[spec], None
    prefix, sep, rest = spec.partition(":")
    if sep and f"{prefix}:" in entries:
        if not rest:
            raise DataError(f"'{spec}' names no path; write {prefix}:PATH")
        return entries[f"{prefix}:"], rest
    raise DataError(f"unknown data set '{spec}'; known: {', '.join(_spec_names())}")


def _spec_names() -> list[str]:
    return [f"{n}PATH" if e.is_prefix else n for n, e in _builtin().items()]


def list_datasets() -> dict[str, str]:
    """Data set names (and ``prefix:PATH`` specs) with a one-line description each."""
    return {f"{n}PATH" if e.is_prefix else n: e.description for n, e in _builtin().items()}


def dataset_options(spec: str) -> dict[str, Any]:
    """The options of the data set behind ``spec`` with their defaults."""
    entry, _ = find_dataset(spec)
    return {k: default for k, (_, default) in entry.options().items()}


def normalise_spec(spec: str) -> str:
    """``spec`` with a prefix's path made absolute, so a run resumes from any working directory."""
    entry, path = find_dataset(spec)
    return spec if path is None else entry.name + str(Path(path).expanduser().resolve())


def load_dataset(spec: str, root: str | os.PathLike | None = None, tokenizer: Any = None, **options: Any) -> DataSet:
    """Load a data set by name or path spec.

    Args:
        spec: a name from :func:`list_datasets`, or a prefix spec such as ``images:PATH`` or ``text:PATH``.
        root: the data root (default: ``$GENLAB_DATA``, else ``./data``); nothing is downloaded.
        tokenizer: for text, encode with this tokenizer instead of one built from the text: a
            :class:`~genlab.data.CharTokenizer`, a vocabulary (list of strings), or a text model
            (``genlab.load(RUN)``) to fine-tune; text with characters outside it is refused.
        options: the data set's options (:func:`dataset_options`), e.g. ``val_size`` for MNIST,
            ``size`` and ``channels`` for an image folder; strings are parsed as on the command line.
    """
    entry, path = find_dataset(spec)
    return entry.load(default_data_root(root), path, entry.check_options(options), tokenizer=tokenizer)

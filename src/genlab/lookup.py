"""One small helper behind every named table of genlab: models, data sets, modalities, scorers, tasks.

A :class:`Lookup` registers a value under a name (twice only for the same value), finds one by name
with a one-line error that suggests the closest name and lists the known ones, and lists them. It
is not "the registry": for users that word names one thing, the index of runs and generated
samples (:mod:`genlab.runs.catalog`).
"""

from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from .errors import ConfigError, GenlabError

T = TypeVar("T")


class Lookup(Generic[T]):
    """Values of one kind by name (``what`` names the kind in messages: "model", "task"...).

    Args:
        what: the kind, as an error says it ("unknown model 'vea'").
        error: the :class:`~genlab.errors.GenlabError` class an unknown name raises.
    """

    def __init__(self, what: str, error: type[GenlabError] = ConfigError):
        self.what, self.error = what, error
        self._values: dict[str, T] = {}

    def add(self, name: str, value: T, same=None) -> T:
        """Register ``value`` as ``name``; a second, different value under one name is a programming error
        (``same(old, new)`` says whether two values are the same one; default identity)."""
        old = self._values.get(name)
        if old is not None and not (same(old, value) if same is not None else old is value):
            raise ValueError(f"{self.what} name '{name}' is registered twice")
        self._values[name] = value
        return value

    def get(self, name: str) -> T:
        """The value of ``name``; a one-line error with the closest name and the known ones."""
        if name not in self._values:
            raise self.error(self.unknown(name))
        return self._values[name]

    def unknown(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), list(self._values), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"unknown {self.what} '{name}'.{hint} Known: {', '.join(sorted(self._values))}"

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def items(self):
        return self._values.items()

    def values(self):
        return self._values.values()

    def names(self) -> list[str]:
        return list(self._values)

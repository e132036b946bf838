"""Progress bars with the time left, on stderr, for long work (sampling, evaluation, compare).

Shared by all layers: it imports nothing of genlab. Two pieces:

* :func:`bar` makes a tqdm bar on stderr that shows the elapsed time and the time left; library
  functions take ``progress=False`` and pass it as ``enabled``.
* :func:`reporting` turns on bars for the long loops *inside* a model's ``sample`` (denoising
  steps, pixels, audio samples, tokens, frames) without changing the models' signatures: the
  command sets it around the call, ``with reporting("sample"): model.sample(...)``, and the loops
  iterate through :func:`steps`, which is the plain iterable when no one asked for a bar. The
  setting lives in a context variable, so it is reset when the block ends, also by an exception.
  Only the outermost such loop of a call shows a bar (a loop within a loop does not open another).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import sys
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")


@dataclasses.dataclass
class _Reporter:
    desc: str
    open: bool = False  # a step bar of this reporter is showing


_ACTIVE: contextvars.ContextVar[_Reporter | None] = contextvars.ContextVar("genlab_progress", default=None)


def bar(total: int | None, desc: str, enabled: bool = True, unit: str = "it", leave: bool | None = None) -> tqdm:
    """A tqdm bar on stderr with the elapsed time and the time left (``[00:03<00:12]``); a no-op one
    when not ``enabled``. ``leave=None`` keeps the outermost bar's last state and clears nested ones."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=leave, dynamic_ncols=True,
                file=sys.stderr)


@contextlib.contextmanager
def reporting(desc: str, enabled: bool = True) -> Iterator[None]:
    """Within the block, the long loops of sampling show a bar labelled ``desc`` (when ``enabled``;
    ``enabled=False`` turns bars off for the block, also inside an outer ``reporting``)."""
    token = _ACTIVE.set(_Reporter(desc) if enabled else None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def current() -> str | None:
    """The description of the active :func:`reporting` block, or None when bars are off."""
    reporter = _ACTIVE.get()
    return None if reporter is None else reporter.desc


def steps(iterable: Iterable[T], total: int | None = None, unit: str = "step") -> Iterable[T]:
    """``iterable``, ticking a bar of ``total`` ``unit`` as it goes while :func:`reporting` is on;
    ``iterable`` itself otherwise, or inside a loop that already shows a bar."""
    reporter = _ACTIVE.get()
    if reporter is None or reporter.open:
        return iterable
    if total is None:
        total = len(iterable)  # type: ignore[arg-type]
    return _ticking(reporter, iterable, total, unit)


def _ticking(reporter: _Reporter, iterable: Iterable[T], total: int, unit: str) -> Iterator[T]:
    reporter.open = True
    try:
        with bar(total, reporter.desc, unit=unit) as b:
            for item in iterable:
                yield item
                b.update(1)
    finally:
        reporter.open = False

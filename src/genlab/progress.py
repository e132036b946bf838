"""Progress bars with the time left, on stderr, for long work (sampling, evaluation, compare).

Shared by all layers: it imports only genlab's errors. Three pieces:

* :func:`bar` makes a tqdm bar on stderr that shows the elapsed time and the time left; library
  functions take ``progress=False`` and pass it as ``enabled``.
* :func:`reporting` turns on bars for the long loops *inside* a model's ``sample`` (denoising
  steps, pixels, audio samples, tokens, frames) without changing the models' signatures: the
  command sets it around the call, ``with reporting("sample"): model.sample(...)``, and the loops
  iterate through :func:`steps`, which is the plain iterable when no one asked for a bar. The
  setting lives in a context variable, so it is reset when the block ends, also by an exception.
  Only the outermost such loop of a call shows a bar (a loop within a loop does not open another).
* :func:`deadline` gives the work in a block a time limit: every step of a :func:`steps` loop (and
  every :func:`check_deadline`) raises :class:`~genlab.errors.TimeLimitExceeded` once it has passed,
  so a server can stop a generation between two steps rather than wait for it to end.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import sys
import time
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

from .errors import TimeLimitExceeded

T = TypeVar("T")


@dataclasses.dataclass
class _Reporter:
    desc: str
    open: bool = False  # a step bar of this reporter is showing


_ACTIVE: contextvars.ContextVar[_Reporter | None] = contextvars.ContextVar("genlab_progress", default=None)
_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar("genlab_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Within the block, :func:`steps` loops and :func:`check_deadline` raise
    :class:`~genlab.errors.TimeLimitExceeded` once ``seconds`` have passed (None: no limit)."""
    token = _DEADLINE.set(None if seconds is None else (time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline() -> None:
    """Raise :class:`~genlab.errors.TimeLimitExceeded` if the block's :func:`deadline` has passed."""
    limit = _DEADLINE.get()
    if limit is not None and time.monotonic() > limit[0]:
        raise TimeLimitExceeded(f"the work ran past its time limit of {limit[1]:g} s; ask for less (fewer samples, "
                                "tokens or steps)")


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
        return iterable if _DEADLINE.get() is None else _checking(iterable)
    if total is None:
        total = len(iterable)  # type: ignore[arg-type]
    return _ticking(reporter, iterable, total, unit)


def _checking(iterable: Iterable[T]) -> Iterator[T]:
    for item in iterable:
        check_deadline()
        yield item


def _ticking(reporter: _Reporter, iterable: Iterable[T], total: int, unit: str) -> Iterator[T]:
    reporter.open = True
    try:
        with bar(total, reporter.desc, unit=unit) as b:
            for item in iterable:
                check_deadline()
                yield item
                b.update(1)
    finally:
        reporter.open = False

"""Stored evaluations: a run folder remembers what its weights scored, so it is not recomputed.

Each result is kept in ``<run>/evaluations.json`` under a key made of the weights' SHA-256 (the
one ``config.json`` records, checked when the weights load) and every setting the result depends
on (kind, data, split, K or other ``log_prob`` settings, number of examples, seed...). Other
weights, or any other setting, make another key: a stored result is reused only for exactly
the same weights scored the same way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from ..errors import GenlabError
from ..files import atomic_write_text
from ..runs.pretrained import read_config

STORE_FILE = "evaluations.json"


def weights_sha256(folder: str | Path) -> str | None:
    """The weights' SHA-256 recorded in ``folder``'s config.json; None where none is recorded."""
    try:
        return read_config(Path(folder)).get("weights_sha256")
    except GenlabError:  # an unreadable config is reported by whatever loads the weights
        return None


def evaluation_key(weights_hash: str, settings: dict[str, Any]) -> str:
    """The store key of an evaluation: a hash of the weights' hash and the settings (order-free)."""
    text = json.dumps({"weights_sha256": weights_hash, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(run: Path) -> dict[str, Any] | None:
    """The stored evaluations of ``run``; {} where there are none; None where the file is unreadable
    (it is then neither used nor overwritten)."""
    path = run / STORE_FILE
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return entries if isinstance(entries, dict) else None


def lookup(run: str | Path, weights_hash: str | None, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The stored result for these weights and settings, or None."""
    if weights_hash is None:
        return None
    entry = (_read(Path(run)) or {}).get(evaluation_key(weights_hash, settings))
    return entry.get("result") if isinstance(entry, dict) else None


def record(run: str | Path, weights_hash: str | None, settings: dict[str, Any], result: dict[str, Any]) -> bool:
    """Store ``result``; False (nothing written) without a weights hash or with an unreadable store."""
    run = Path(run)
    entries = _read(run)
    if weights_hash is None or entries is None:
        return False
    entries[evaluation_key(weights_hash, settings)] = {"weights_sha256": weights_hash, "settings": settings,
                                                       "result": result}
    try:
        atomic_write_text(run / STORE_FILE, json.dumps(entries, indent=1, sort_keys=True, default=str))
    except OSError:  # a read-only run folder: the result is still returned, just not remembered
        return False
    return True


def stored_evaluation(run: str | Path, weights_folder: str | Path, settings: dict[str, Any],
                      compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """``(result, reused)``: the stored result of these weights and settings, else ``compute()``,
    which is then stored in the run folder."""
    digest = weights_sha256(weights_folder)
    found = lookup(run, digest, settings)
    if found is not None:
        return found, True
    result = compute()
    record(run, digest, settings, result)
    return result, False

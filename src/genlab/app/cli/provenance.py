"""``genlab provenance FILE...``: what generated a file (the record genlab stamps on what it writes)."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import ConfigError, DataError
from ...provenance import read

SOURCES = {"sidecar": "its .provenance.json sidecar", "png": "its PNG text chunk", "wav": "its WAV INFO chunk",
           "midi": "its MIDI text event", "gif": "its GIF comment"}


def add_parser(sub) -> None:
    p = sub.add_parser("provenance", help="show what generated a file: genlab's provenance record in it or beside it")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per file: file, source and provenance")
    p.set_defaults(func=run)


def describe(path: Path, found) -> list[str]:
    """The record of ``path`` for a person, a few lines."""
    if found is None:
        return [f"{path}: no genlab provenance"]
    rec, gen = found.record, found.record.get("generator") or {}
    made = "synthetic" if rec.get("synthetic") is True else "not marked synthetic"
    lines = [f"{path}: {made}, made by genlab {gen.get('genlab', '?')} (read from {SOURCES.get(found.source, found.source)})"]
    rows = [("command", rec.get("command")), ("model", gen.get("model")), ("run", gen.get("run")),
            ("weights", gen.get("weights")), ("sha256", gen.get("weights_sha256")), ("step", gen.get("step")),
            ("kind", rec.get("kind")), ("seed", rec.get("seed")), ("source", rec.get("source")),
            ("created", rec.get("created"))]
    lines += [f"  {key:<9}{value}" for key, value in rows if value is not None]
    sampling = rec.get("sampling") or {}
    if sampling:
        lines.append("  sampling " + ", ".join(f"{k}={json.dumps(v)}" for k, v in sampling.items()))
    return lines


def run(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    paths = [Path(f) for f in args.files]
    for path in paths:  # every file checked before anything is printed
        if not path.is_file():
            raise DataError(f"'{path}' is a folder, not a file" if path.is_dir() else f"'{path}' does not exist")
    for path in paths:
        found = read(path)
        if args.json:
            print(json.dumps({"file": str(path), "source": found and found.source,
                              "provenance": found and found.record}, sort_keys=True))
        else:
            print("\n".join(describe(path, found)))
    return 0

"""``genlab search RUN_OR_DATA QUERY_FILE [-k 5]``: the training examples nearest a picture or text file."""

from __future__ import annotations

import json
from pathlib import Path

from .arguments import key_values


def add_parser(sub) -> None:
    s = sub.add_parser("search", help="the training examples nearest a generated or user file")
    s.add_argument("run", metavar="RUN_OR_DATA", help="a run folder (its data) or a data set name")
    s.add_argument("query", metavar="QUERY_FILE", help="a picture (image data) or a text file (text data)")
    s.add_argument("-k", type=int, default=5, help="how many neighbours (default 5)")
    s.add_argument("--split", default="train")
    s.add_argument("--features", metavar="DIR", help="embed images with this feature network instead of the "
                                                     "perceptual embedding")
    s.add_argument("--data-root")
    s.add_argument("--data-arg", action="append", metavar="KEY=VALUE", help="a data set option (repeatable)")
    s.add_argument("--out", metavar="DIR", help="also write search.json and a picture (query, then neighbours) "
                                                "or the neighbours' text")
    s.add_argument("--overwrite", action="store_true", help="replace the files of an earlier search in --out")
    s.add_argument("--json", action="store_true", help="print the results as JSON")
    s.set_defaults(func=run)


def run(args, extra) -> int:
    from ...errors import ConfigError
    from ...files import atomic_write_text, storage_errors
    from .. import service

    options = key_values(args.data_arg, "--data-arg")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is a file; give a folder")
    if out is not None and not args.overwrite:
        taken = [out / name for name in ("search.json", "search.png", "search.txt") if (out / name).exists()]
        if taken:
            raise ConfigError(f"'{taken[0]}' already exists; give another --out folder, remove it, or pass --overwrite")
    if out is not None:
        with storage_errors(out):
            out.mkdir(parents=True, exist_ok=True)
    results = service.search(args.run, args.query, args.k, split=args.split, features=args.features,
                             data_root=args.data_root, options=options,
                             picture=out / "search.png" if out is not None else None)
    if out is not None:
        atomic_write_text(out / "search.json", json.dumps({"query": str(args.query), "results": results}, indent=1))
        if "text" in results[0]:
            atomic_write_text(out / "search.txt", "".join(f"{r['rank']}. {r['split']}:{r['index']} "
                                                          f"({r['distance']:.4f}) {r['text']}\n" for r in results))
    if args.json:
        print(json.dumps(results))
        return 0
    for r in results:
        extra_text = f"  label {r['label']}" if "label" in r else f"  {r['text'][:100]}" if "text" in r else ""
        print(f"{r['rank']}. {r['split']}:{r['index']}  distance {r['distance']:.6f}{extra_text}")
    return 0

"""``genlab registry rebuild|runs``: the index of runs and samples (:mod:`genlab.runs.catalog`)."""

from __future__ import annotations

import json
import sys

from ...runs.catalog import open_registry
from ...errors import ConfigError


def add_registry_option(parser) -> None:
    parser.add_argument("--registry", metavar="FILE",
                        help="the registry file (default $GENLAB_REGISTRY, else runs/registry.sqlite3)")


def add_parser(sub) -> None:
    r = sub.add_parser("registry", help="the index of runs and generated samples: rebuild it, list its runs")
    actions = r.add_subparsers(dest="action", required=True)
    b = actions.add_parser("rebuild", help="recreate the index from the run folders' samples.jsonl and run.json")
    b.add_argument("roots", nargs="*", default=["runs"], metavar="ROOT", help="folders holding run folders "
                   "(default runs)")
    add_registry_option(b)
    b.add_argument("--json", action="store_true", help="the report as one JSON object")
    b.set_defaults(func=rebuild)
    n = actions.add_parser("runs", help="the indexed run folders and how many samples each generated")
    add_registry_option(n)
    n.add_argument("--json", action="store_true", help="one JSON object per run")
    n.set_defaults(func=runs)


def rebuild(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    registry = open_registry(args.registry)
    report = registry.rebuild(args.roots)
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    print(f"indexed {report['samples']} samples of {report['runs']} run folders under {', '.join(args.roots)} "
          f"in {registry.path}")
    for what, label in (("missing", "file gone"), ("changed", "file changed since it was recorded")):
        for item in report[what]:
            print(f"  {what:<8}{item['id']}  {item['path']} ({label})")
    for line in report["bad_lines"]:
        print(f"genlab: warning: {line}", file=sys.stderr)
    return 0


def runs(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    rows = open_registry(args.registry, create=False).list_runs()
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
        return 0
    for row in rows:
        step = "" if row["step"] is None else f" step {row['step']}"
        count = f"{row['samples']} sample{'' if row['samples'] == 1 else 's'}"
        print(f"{row['path']}  {row['model'] or '?'} on {row['data'] or '?'}{step}, {count}")
    if not rows:
        print("no runs indexed; run `genlab registry rebuild`")
    return 0

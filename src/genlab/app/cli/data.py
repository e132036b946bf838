"""``genlab data download NAME`` (explicit, checksummed downloads: genlab never downloads on its own) and
``genlab data dedup DATA`` (exact and near duplicates, train-test overlap, an exclusion list)."""

from __future__ import annotations

import json

from ...errors import ConfigError
from .arguments import key_values


def add_parser(sub) -> None:
    d = sub.add_parser("data", help="data set downloads (never implicit) and de-duplication")
    d.add_argument("action", choices=["download", "dedup"])
    d.add_argument("name", nargs="?", help="a data set name or spec (dedup: or a run folder)")
    d.add_argument("--data-root")
    d.add_argument("--data-arg", action="append", metavar="KEY=VALUE", help="a data set option (repeatable)")
    d.add_argument("--split", default="train", help="dedup: the split to de-duplicate (default train)")
    d.add_argument("--against", default="auto",
                   help="dedup: the held-out split looked up in it (default test, else val; 'none' for none)")
    d.add_argument("--threshold", type=float, help="dedup: the largest distance of a near duplicate (default: the "
                                                   "embedding's, see the README)")
    d.add_argument("--features", metavar="DIR", help="dedup: embed images with this feature network instead of the "
                                                     "perceptual embedding")
    d.add_argument("--out", help="dedup: the report folder (default dedup/NAME)")
    d.add_argument("--overwrite", action="store_true", help="dedup: replace an earlier report in --out")
    d.add_argument("--json", action="store_true", help="dedup: print the whole report as JSON")
    d.set_defaults(func=run)


def run(args, extra) -> int:
    if not args.name:
        raise ConfigError(f"name a data set, e.g. `genlab data {args.action} mnist`")
    if args.action == "download":
        from ...data import default_data_root
        from ...data.download import download

        for path in download(args.name, default_data_root(args.data_root)):
            print(path)
        return 0
    from pathlib import Path

    from .. import service

    out = args.out or str(Path("dedup") / Path(args.name).name.replace(":", "-"))
    from ...progress import reporting

    with reporting("dedup"):  # each long stage (signatures, candidate pairs, the overlap) shows a bar on stderr
        report = service.dedup(args.name, out, split=args.split, threshold=args.threshold, features=args.features,
                               against=None if args.against == "none" else args.against, data_root=args.data_root,
                               options=key_values(args.data_arg, "--data-arg"), overwrite=args.overwrite)
    if args.json:
        print(json.dumps(report))
        return 0
    summary = {"data": report["data"], "split": report["split"], "examples": report["examples"],
               "threshold": report["threshold"], "exact_duplicates": report["exact"]["duplicates"],
               "near_groups": len(report["near"]["groups"]), "excluded": len(report["exclude"]),
               "seconds": report["seconds"], "out": out}
    if "overlap" in report:
        o = report["overlap"]
        summary.update({f"{o['split']}_with_exact_in_{report['split']}": o["exact"],
                        f"{o['split']}_with_near_in_{report['split']}": o["near"]})
    print(json.dumps(summary))
    return 0

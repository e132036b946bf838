"""``genlab data download NAME``: explicit, checksummed downloads (genlab never downloads on its own)."""

from __future__ import annotations

from ...errors import ConfigError


def add_parser(sub) -> None:
    d = sub.add_parser("data", help="data set downloads (never implicit)")
    d.add_argument("action", choices=["download"])
    d.add_argument("name", nargs="?")
    d.add_argument("--data-root")
    d.set_defaults(func=run)


def run(args, extra) -> int:
    from ...data import default_data_root
    from ...data.download import download

    if args.action == "download":
        if not args.name:
            raise ConfigError("name a data set to download, e.g. `genlab data download mnist`")
        for path in download(args.name, default_data_root(args.data_root)):
            print(path)
    return 0

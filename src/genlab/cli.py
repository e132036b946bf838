"""``python -m genlab.cli`` and the old import path of the command-line tool (:mod:`genlab.app.cli`)."""

from __future__ import annotations

import sys

from .app.cli import build_parser, main
from .app.cli.arguments import parse_overrides, parse_sample_args, read_overrides_file, split_overrides

__all__ = ["build_parser", "main", "parse_overrides", "parse_sample_args", "read_overrides_file", "split_overrides"]

if __name__ == "__main__":
    sys.exit(main())

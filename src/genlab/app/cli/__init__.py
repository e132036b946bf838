"""The ``genlab`` command-line tool: one module per command, all calling :mod:`genlab.app.service`.

    genlab train MODEL --data NAME [--steps N | --epochs N] [--set key=value ...] [--out DIR]
    genlab train --resume DIR [--steps N]
    genlab sample RUN [--num N] [--out FILE] [--prompt TEXT] [--sample-arg KEY=VALUE ...]
    genlab eval RUN [--split val|test] [--metrics all] [--json]
    genlab inpaint RUN IMAGE (--mask FILE | --box x,y,w,h | --mask-kind KIND) --out DIR
    genlab superres RUN IMAGE... --out DIR [--tile N]
    genlab translate-image RUN IMAGE... --out DIR [--overwrite] [--keep-size]
    genlab interpolate RUN A.png B.png --steps 8 --out DIR
    genlab compare RUN [RUN ...] --out DIR
    genlab provenance FILE [FILE ...] [--json]
    genlab registry rebuild [ROOT ...] | runs
    genlab samples list [--run R] [--tag T] [--min-score NAME=VALUE] [--json] | show ID | tag ID TAG... | score ID...
    genlab serve RUN [RUN ...] [--host 127.0.0.1] [--port 8000] [--token T]
    genlab data dedup DATA [--threshold T] [--out DIR]; genlab search RUN_OR_DATA QUERY_FILE [-k 5]
    genlab features train | list | info RUN | bench [NAME] | data download NAME | demo

Errors the user can fix are printed as one line (``--debug`` shows the traceback) and the
exit code is 2; success exits 0.
"""

from __future__ import annotations

import argparse
import sys

from ...errors import GenlabError
from . import (bench, compare, data, evaluate, features, info, inpaint, interpolate, provenance, registry, sample,
               samples, search, serve, superres, train, translate)

# each adds its sub-commands
COMMANDS = (train, sample, inpaint, superres, translate, interpolate, evaluate, compare, features, info, bench, data, search,
            provenance, registry, samples, serve)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the problem and where to look) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"genlab: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="genlab", description="Train, sample, evaluate and compare generative models.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = parser.parse_known_args(argv)
    if args.command == "train":
        train.reclaim_option_value(args, extra, argv)
    if extra and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra)
    except GenlabError as e:
        if args.debug:
            raise
        print(f"genlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `genlab list | head`: the reader has what it wanted
        _quiet_stdout()
        return 141  # the shell's code for a process ended by SIGPIPE


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit does not fail on the closed pipe again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it): nothing to flush
        pass


if __name__ == "__main__":
    sys.exit(main())

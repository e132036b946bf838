"""``genlab bench [NAME]``: the benchmarks BENCHMARKS.md reports, and ``genlab demo``."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import ConfigError


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="run a benchmark (all when no name)")
    b.add_argument("name", nargs="?")
    b.add_argument("--json", action="store_true", help="one JSON object per benchmark")
    b.add_argument("--data-root")
    b.add_argument("--quick", action="store_true", help="a short version, to check that it runs")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", help="keep the trained runs (DIR/runs/MODEL; compare benchmarks: and the report) "
                                 "to sample, evaluate or serve them afterwards")
    b.add_argument("--train-only", action="store_true",
                   help="compare benchmarks: train the runs into --out and stop; run again to score them")
    b.set_defaults(func=run_bench)

    m = sub.add_parser("demo", help="train the VAE on digits and write pictures (about a minute)")
    m.add_argument("--out", default="runs/demo")
    m.add_argument("--steps", type=int, default=None)
    m.set_defaults(func=run_demo)


def run_bench(args, extra) -> int:
    from ...bench import BENCHMARKS, run_benchmark

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    names = [args.name] if args.name else list(BENCHMARKS)
    kwargs = {}
    if args.train_only:
        if not args.name or not args.name.startswith("compare-"):
            raise ConfigError("--train-only is for the compare benchmarks (compare-digits, compare-mnist): name one")
        if not args.out:
            raise ConfigError("--train-only keeps the runs for a later call: give --out DIR too")
        kwargs["train_only"] = True
    for name in names:
        if args.out:  # one benchmark keeps its runs in DIR/runs/MODEL; all of them, each in DIR/NAME/runs/MODEL
            kwargs["out"] = Path(args.out) if args.name else Path(args.out) / name
        result = run_benchmark(name, data_root=args.data_root, quick=args.quick, seed=args.seed, **kwargs)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(f"{name}:")
            for k, v in result.items():
                print(f"  {k:24s} {v:.4g}" if isinstance(v, float) else f"  {k:24s} {v}")
    return 0


def run_demo(args, extra) -> int:
    from ...bench.demo import run_demo as demo

    demo(out=args.out, steps=args.steps)
    return 0

"""``genlab compare RUN [RUN ...] --out DIR``: every run scored the same way, one report."""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from .. import service
from .arguments import add_sample_arg, parse_sample_args


def add_parser(sub) -> None:
    c = sub.add_parser("compare", help="score runs on the same data side by side: a Markdown and HTML report")
    c.add_argument("runs", nargs="+", metavar="RUN", help="run folders made by genlab train")
    c.add_argument("--out", required=True, help="report folder (report.md, report.html, results.json, PNGs)")
    c.add_argument("--features", help="feature network folder (default features/DATA) or Inception-v3 weights file")
    c.add_argument("--num-samples", type=int, help="samples per run (default: 10,000, or the test split's size); for "
                   "models scored against the truth (video prediction), the test clips or images scored (default all)")
    add_sample_arg(c, "sampler setting given to every model, e.g. sampler=ddim, steps=100 (repeatable)")
    c.add_argument("--data-root")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--device", help="where to sample and score: cpu (default), cuda, cuda:N or auto")
    c.add_argument("--skip-likelihood", action="store_true",
                   help="leave out the test NLL (otherwise computed once per weights and reused from the run folder)")
    c.set_defaults(func=run)


def run(args, extra) -> int:
    from ...compare import compare_runs
    from ...training.trainer import pick_device

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    service.check_count("--num-samples", args.num_samples, 1, service.MAX_SAMPLES)
    pick_device(args.device or "cpu")  # a misspelt device fails before any run is loaded
    for run_dir in args.runs:
        service.require_run_folder(run_dir)
    report = compare_runs(args.runs, args.out, args.features, num_samples=args.num_samples, seed=args.seed,
                          data_root=args.data_root, sample_kwargs=parse_sample_args(args.sample_arg),
                          device=args.device or "cpu", skip_likelihood=args.skip_likelihood)
    print(f"compared {len(report['runs'])} runs on {report['data']} ({report['scorer']} metrics): "
          f"{Path(args.out) / 'report.md'}, {Path(args.out) / 'report.html'}")
    return 0

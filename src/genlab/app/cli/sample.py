"""``genlab sample RUN``: samples as a picture (images) or text (text models)."""

from __future__ import annotations

import math
from pathlib import Path

from ...runs.catalog import check_tags
from ...errors import ConfigError
from .. import service
from .arguments import add_sample_arg, parse_sample_args

# Flags that are sample arguments of sequence models; given only when set, and checked like --sample-arg.
SEQUENCE_FLAGS = ("max_new_tokens", "temperature", "top_k", "top_p")


def add_weights(q) -> None:
    q.add_argument("run", help="a run folder or saved-model folder")
    q.add_argument("--weights", default="best", help="best (by validation, if kept) or last")
    q.add_argument("--device", help="device to run on (default cpu)")


def add_parser(sub) -> None:
    s = sub.add_parser("sample", help="draw samples: a PNG grid for images, text for text models")
    add_weights(s)
    s.add_argument("--num", type=int, help="how many (default 64 images, or 4 texts)")
    s.add_argument("--out", help="output file (default RUN/samples.png for images, stdout for text, RUN/samples.gif "
                   "and its filmstrip for video), or a folder (default RUN/samples: .mid files and pianoroll.png for "
                   "piano rolls, WAV files and spectrograms for audio)")
    s.add_argument("--prompt", help="text a sequence model continues")
    s.add_argument("--max-new-tokens", type=int, help="tokens to generate (sequence models; default 200)")
    s.add_argument("--temperature", type=float, help="divides the logits (or scales the prior's noise)")
    s.add_argument("--top-k", type=int)
    s.add_argument("--top-p", type=float)
    s.add_argument("--condition", type=int, help="class label for conditional models (default: the classes in turn)")
    s.add_argument("--context", metavar="CLIP", help="video prediction: a clip (animated GIF or folder of frames) whose "
                   "first frames the model continues (default: the first --num clips of the run's test split)")
    s.add_argument("--seed", type=int, default=0)
    add_sample_arg(s)
    add_registry_args(s)
    s.add_argument("--score", action="store_true", help="score this batch's sample quality against the test split "
                   "(noisy for a small batch) and record the scores with it")
    s.add_argument("--features", help="feature network for --score (default features/DATA)")
    s.set_defaults(func=run)


def add_registry_args(parser) -> None:
    """``--registry FILE`` and ``--tag TAG`` (repeatable): where and how generated files are recorded."""
    parser.add_argument("--registry", metavar="FILE", help="the registry to record the files in (default "
                        "$GENLAB_REGISTRY, else runs/registry.sqlite3); the run's samples.jsonl always records them")
    parser.add_argument("--tag", action="append", default=[], metavar="TAG", help="tag the files in the registry "
                        "(repeatable)")


def record(args, paths, rec=None, scores=None, score_info=None) -> list[str]:
    """Record the files a command wrote in the registry (with ``rec``, else the provenance record stamped
    on each); print their ids, and any warning on stderr."""

    from ...provenance import read

    paths = [Path(p) for p in paths]
    if rec is None:
        rec = [read(p).record for p in paths]
    ids, warnings = service.record_samples(args.run, paths, rec, args.tag, scores, score_info,
                                           args.registry)
    report_recorded(ids, warnings)
    return ids


def report_recorded(ids: list[str], warnings: list[str]) -> None:
    """Print the registry ids of what a command wrote, and any warning (on stderr)."""
    import sys

    for warning in warnings:
        print(f"genlab: warning: {warning}", file=sys.stderr)
    if ids:
        print(f"recorded as sample{'s' if len(ids) > 1 else ''} {', '.join(ids)}")


def check_sequence_flags(args) -> None:
    """Refuse a sequence-model flag no generation can use (``--max-new-tokens 0``, ``--top-p 2``...)."""
    service.check_count("--num", args.num, 1, service.MAX_SAMPLES)
    service.check_count("--max-new-tokens", args.max_new_tokens, 1, service.MAX_NEW_TOKENS)
    service.check_count("--top-k", args.top_k)
    if args.temperature is not None and not (math.isfinite(args.temperature) and args.temperature >= 0):
        raise ConfigError(f"--temperature must be a finite number >= 0 (0 picks the most likely token), "
                          f"got {args.temperature}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise ConfigError(f"--top-p must be in (0, 1] (the probability mass kept), got {args.top_p}")


def run(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    check_sequence_flags(args)  # before the model loads
    check_tags(args.tag)
    if args.features and not args.score:
        raise ConfigError("--features names the feature network of --score; give --score too")
    model, folder = service.load_model(args.run, args.weights, args.device)
    sample_args = parse_sample_args(args.sample_arg)
    for flag in SEQUENCE_FLAGS:
        if getattr(args, flag) is not None:
            sample_args[flag] = getattr(args, flag)
    modality = model.data_info.modality
    out = args.out
    if out is None and not modality.reads_as_text:  # what --help says: the modality's richest output
        out = Path(args.run) / modality.default_output
    if out is not None:
        service.check_sample_out(model, out)  # before the (maybe long) sampling
    elif args.score or args.tag:
        raise ConfigError("--score and --tag are recorded with the samples' file: give --out FILE")
    scorer = service.batch_scorer(model, args.run, args.features) if args.score else None
    done = service.generate(model, folder, args.run, out, command="sample", num=args.num, condition=args.condition,
                            clip=args.context, prompt=args.prompt, seed=args.seed, sample_args=sample_args,
                            scorer=scorer, tags=args.tag, registry=args.registry, progress=True)
    if out is None:
        print(done.text)
        return 0
    print(f"wrote {len(done.samples)} samples from {folder} to {done.path}")
    if done.scores is not None:
        info = done.score_info
        shown = ", ".join(f"{k} {v:.4g}" for k, v in done.scores.items())
        print(f"scores of this batch of {info['num_samples']} against {info['num_test']} test examples "
              f"(features {info['feature_net'] or 'none'}; few samples give noisy scores): {shown}")
    report_recorded(done.ids, done.warnings)
    return 0


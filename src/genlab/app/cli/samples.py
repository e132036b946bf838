"""``genlab samples list|show|tag``: the generated files the registry knows (:mod:`genlab.runs.catalog`)."""

from __future__ import annotations

import json
import math

from ...runs.catalog import open_registry
from ...errors import ConfigError
from .. import service
from .arguments import key_values
from .registry import add_registry_option


def add_parser(sub) -> None:
    s = sub.add_parser("samples", help="list, show and tag the generated files recorded in the registry")
    actions = s.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", help="the recorded samples, oldest first")
    ls.add_argument("--run", help="only those of this run folder")
    ls.add_argument("--tag", help="only those with this tag")
    ls.add_argument("--min-score", action="append", metavar="NAME=VALUE",
                    help="only those whose score NAME is at least VALUE (e.g. precision=0.5; repeatable)")
    ls.add_argument("--max-score", action="append", metavar="NAME=VALUE",
                    help="only those whose score NAME is at most VALUE (e.g. fid=20; repeatable)")
    ls.add_argument("--limit", type=int, help="at most this many")
    ls.add_argument("--json", action="store_true", help="one JSON object per sample")
    add_registry_option(ls)
    ls.set_defaults(func=list_samples)
    show = actions.add_parser("show", help="one sample: its file, run, weights, seed, sampling, tags and scores")
    show.add_argument("id", metavar="ID", help="a sample id (or the start of one)")
    show.add_argument("--json", action="store_true")
    add_registry_option(show)
    show.set_defaults(func=show_sample)
    score = actions.add_parser("score", help="draw a recorded batch of `genlab sample` images again (checked "
                               "against its file), score its quality and record the scores")
    score.add_argument("ids", nargs="+", metavar="ID")
    score.add_argument("--features", help="feature network (default features/DATA)")
    score.add_argument("--device", help="device to run on (default cpu; the batch must come out as it did)")
    add_registry_option(score)
    score.set_defaults(func=score_samples)
    tag = actions.add_parser("tag", help="add tags to a sample")
    tag.add_argument("id", metavar="ID")
    tag.add_argument("tags", nargs="+", metavar="TAG")
    add_registry_option(tag)
    tag.set_defaults(func=tag_sample)


def parse_scores(pairs: list[str] | None, flag: str) -> dict[str, float]:
    out = {}
    for key, value in key_values(pairs, flag).items():
        try:
            out[key] = float(value)
        except ValueError:
            raise ConfigError(f"{flag} takes NAME=NUMBER, got {key}={value!r}") from None
        if not math.isfinite(out[key]):
            raise ConfigError(f"{flag} takes a finite number, got {key}={value}")
    return out


STATES = {"ok": "ok", "missing": "missing: the file has gone", "changed": "changed since it was recorded"}


def state(sample: dict) -> str:
    if not sample["exists"]:
        return "missing"
    return "changed" if sample.get("sha256_ok") is False else "ok"


def list_samples(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    rows = open_registry(args.registry, create=False).list_samples(
        run=args.run, tag=args.tag, min_scores=parse_scores(args.min_score, "--min-score"),
        max_scores=parse_scores(args.max_score, "--max-score"), limit=args.limit)
    for s in rows:
        if args.json:
            print(json.dumps(s, sort_keys=True))
            continue
        tags = f"  [{', '.join(s['tags'])}]" if s["tags"] else ""
        scores = "  " + ", ".join(f"{k}={v:.4g}" for k, v in s["scores"].items()) if s["scores"] else ""
        print(f"{s['id']}  {(s['time'] or '?')[:19]}  {s['model'] or '?':<8} {s['command'] or '?':<8} {state(s):<7} "
              f"{s['path']}{tags}{scores}")
    if not rows and not args.json:
        print("no samples match")
    return 0


def show_sample(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    s = open_registry(args.registry, create=False).get_sample(args.id)
    if args.json:
        print(json.dumps(s, sort_keys=True))
        return 0
    print(f"sample {s['id']}: {s['path']} ({STATES[state(s)]})")
    rows = [("sha256", s["sha256"]), ("run", s["run"]), ("model", s["model"]), ("weights", s["weights_sha256"]),
            ("command", s["command"]), ("kind", s["kind"]), ("seed", s["seed"]), ("source", s["source"]),
            ("time", s["time"])]
    for key, value in rows:
        if value is not None:
            print(f"  {key:<9}{value}")
    if s["sampling"]:
        print("  sampling " + ", ".join(f"{k}={json.dumps(v)}" for k, v in s["sampling"].items()))
    if s["tags"]:
        print("  tags     " + ", ".join(s["tags"]))
    if s["scores"]:
        info = s["score_info"] or {}
        print("  scores   " + ", ".join(f"{k}={v:.4g}" for k, v in s["scores"].items())
              + f" (batch of {info.get('num_samples', '?')} samples, features {s['feature_net'] or 'none'})")
    return 0


def tag_sample(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    s = open_registry(args.registry, create=False).add_tags(args.id, args.tags)
    print(f"sample {s['id']}: tags {', '.join(s['tags'])}")
    return 0


def score_samples(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    registry = open_registry(args.registry, create=False)
    for sample_id in args.ids:
        s, scores, info = service.rescore_sample(registry, sample_id, args.features, args.device)
        shown = ", ".join(f"{k}={v:.4g}" for k, v in scores.items())
        print(f"sample {s['id']}: batch of {info['num_samples']} against {info['num_test']} test examples, features "
              f"{info['feature_net'] or 'none'} (few samples give noisy scores): {shown}")
    return 0

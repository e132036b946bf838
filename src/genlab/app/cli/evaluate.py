"""``genlab eval RUN``: the likelihood (exact or bound, in the data's units) and sample quality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .. import service
from .arguments import add_sample_arg, parse_sample_args
from .sample import add_weights

QUALITY_LINES = [("fid", "Fréchet distance", "{:.3f}"), ("kid", "KID", "{:.5f}"), ("precision", "precision", "{:.3f}"),
                 ("recall", "recall", "{:.3f}"), ("coverage", "class coverage", "{:.2f}"),
                 ("class_kl", "class KL", "{:.4f}"), ("memorisation", "memorisation", "{:.3f}"),
                 ("memorisation_baseline", "  (test images)", "{:.3f}")]


def add_parser(sub) -> None:
    e = sub.add_parser("eval", help="negative log-likelihood (exact or bound) and sample-quality metrics")
    add_weights(e)
    e.add_argument("--metrics", help="sample-quality metrics: all, or a list of fid,kid,precision,recall,coverage,"
                                     "memorisation")
    e.add_argument("--features", help="feature network folder (default features/DATA, from `genlab features train`), "
                   "or an Inception-v3 weights file (pt_inception-2015-12-05-6726825d.pth) for paper-comparable FIDs")
    e.add_argument("--num-samples", type=int, help="samples drawn for the metrics (default: 10,000, or the test "
                                                     "split's size where smaller)")
    add_sample_arg(e)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--split", choices=["val", "test"])
    e.add_argument("--data", help="data set (default: the run's own)")
    e.add_argument("--data-root")
    e.add_argument("--iw-samples", type=int, help="importance samples K for bound models (VAE)")
    e.add_argument("--max-examples", type=int)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run)


def print_quality(result: dict[str, Any]) -> None:
    print(f"  samples           {result['num_samples']} against {result['num_test']} test images")
    print(f"  features          {result['feature_description']}")
    for key, label, fmt in QUALITY_LINES:
        if key in result:
            extra = f" +- {result['kid_std']:.5f}" if key == "kid" else ""
            print(f"  {label:17s} {fmt.format(result[key])}{extra}")
    if result.get("coverage_unavailable"):
        print(f"  class coverage    not computed: {result['coverage_unavailable']}")
    if result.get("missing_classes"):
        print(f"  classes hardly sampled: {result['missing_classes']}")
    print(f"  sampling          {result['sampling_s_per_image'] * 1000:.2f} ms per image")
    if "nearest_neighbours_png" in result:
        print(f"  nearest training images: {result['nearest_neighbours_png']}")


def run(args, extra) -> int:
    from ...evaluation.quality import parse_metrics

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    metrics = parse_metrics(args.metrics)
    sample_args = parse_sample_args(args.sample_arg)
    if sample_args and not metrics:
        raise ConfigError("--sample-arg sets how the metrics' samples are drawn; give --metrics too")
    service.check_count("--num-samples", args.num_samples, 1, service.MAX_SAMPLES)
    service.check_count("--iw-samples", args.iw_samples, 1, service.MAX_IW_SAMPLES)
    service.check_count("--max-examples", args.max_examples)
    model, folder = service.load_model(args.run, args.weights, args.device)
    data = service.run_data(args.run, model, args.data, args.data_root)
    if model.likelihood == "none" and not metrics:
        raise ConfigError(f"model '{model.name}' has no likelihood; judge it by its samples: "
                          f"genlab eval {args.run} --metrics all")
    if metrics:  # fail early, before any long work
        service.check_sample_args(model, sample_args)
        net = service.load_features(data, args.features)
    result: dict[str, Any] = {"model": model.name, "data": data.info.name, "weights": str(folder)}
    if model.likelihood != "none":
        result.update(service.evaluate_likelihood(model, data, args.split, args.iw_samples, args.max_examples,
                                                   progress=True))
    if metrics:
        result["quality"] = service.evaluate_quality(model, data, net, metrics, num_samples=args.num_samples,
                                                     seed=args.seed,
                                                     nearest_png=Path(args.run) / "nearest_training_images.png",
                                                     **sample_args)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{model.name} on {data.info.name}, weights {folder}")
    if "nll_nats" in result:
        kind = "exact" if result["likelihood"] == "exact" else "upper bound (from a lower bound on log-likelihood)"
        print(f"  {result['split']} split ({result['num_examples']} examples)")
        lines = data.info.modality.describe_likelihood(result)
        print(f"  {lines[0]}  [{kind}]")
        for line in lines[1:]:
            print(f"  {line}")
    if "quality" in result:
        print_quality(result["quality"])
    return 0

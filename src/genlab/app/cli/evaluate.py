"""``genlab eval RUN``: the likelihood (exact or bound, in the data's units) and sample quality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError
from .. import service
from .arguments import add_sample_arg, key_values, parse_sample_args
from .sample import add_weights

QUALITY_LINES = [("fid", "Fréchet distance", "{:.3f}"), ("kid", "KID", "{:.5f}"), ("precision", "precision", "{:.3f}"),
                 ("recall", "recall", "{:.3f}"), ("coverage", "class coverage", "{:.2f}"),
                 ("class_kl", "class KL", "{:.4f}"), ("memorisation", "memorisation", "{:.3f}"),
                 ("memorisation_baseline", "  (test images)", "{:.3f}"),
                 ("accuracy", "asked class heard", "{:.3f}"), ("inception_score", "inception score", "{:.3f}")]


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
    e.add_argument("--data", help="data set (default: the run's own; a super-resolution model takes any "
                                  "superres data of its scale, e.g. set5)")
    e.add_argument("--data-arg", action="append", metavar="KEY=VALUE", help="an option of --data, e.g. scale=4")
    e.add_argument("--data-root")
    e.add_argument("--iw-samples", type=int, help="importance samples K for bound models (VAE)")
    e.add_argument("--max-examples", type=int)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run)


def print_quality(result: dict[str, Any], columns=()) -> None:
    """The sample-quality lines: the known ones, then any other column of the data kind's scorer."""
    print(f"  samples           {result['num_samples']} against {result['num_test']} test examples")
    print(f"  features          {result.get('feature_description') or 'none (scored from the samples themselves)'}")
    lines = QUALITY_LINES + [(key, header, f"{{:.{max(decimals, 3)}f}}") for header, key, decimals in columns
                             if key not in {k for k, _, _ in QUALITY_LINES}]
    for key, label, fmt in lines:
        if key in result:
            if key == "kid":
                std = result.get("kid_std")
                extra = f" +- {std:.5f}" if std is not None else " (no spread: one subset, the whole sets)"
            else:
                extra = ""
            print(f"  {label:17s} {fmt.format(result[key])}{extra}")
    if result.get("coverage_unavailable"):
        print(f"  class coverage    not computed: {result['coverage_unavailable']}")
    if result.get("missing_classes"):
        print(f"  classes hardly sampled: {result['missing_classes']}")
    print(f"  sampling          {result['sampling_s_per_image'] * 1000:.2f} ms per image")
    if "nearest_neighbours_png" in result:
        print(f"  nearest training images: {result['nearest_neighbours_png']}")


TRUTH_METRICS = {"restoration": "PSNR, SSIM, L1", "prediction": "MSE and SSIM per predicted frame"}


def run_restoration(args, model, folder, sample_args: dict[str, Any]) -> int:
    """``genlab eval`` of a model judged against the truth: a super-resolution or translation model (PSNR /
    SSIM on Y and L1), a video prediction model (MSE and MAE per frame, SSIM, against copying the last frame)."""
    if args.metrics:
        metrics = TRUTH_METRICS.get(model.data_info.modality.truth_scorer, "its modality's metrics")
        raise ConfigError(f"model '{model.name}' is scored against the truth ({metrics}); drop --metrics")
    data = service.paired_eval_data(args.run, model, args.data, args.data_root, key_values(args.data_arg, "--data-arg"))
    torch.manual_seed(args.seed)
    result = {"model": model.name, "data": data.info.name, "weights": str(folder),
              **service.evaluate_restoration(model, data, args.split, args.max_examples, progress=not args.json,
                                             **sample_args)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{model.name} on {data.info.name}, weights {folder}")
    if result["scorer"] == "prediction":
        from ...evaluation.prediction import describe_prediction

        print(f"  {result['split']} split ({result['num_examples']} clips; {result['context_frames']} context frames, "
              f"{result['predicted_frames']} predicted; errors summed over a frame's pixels in [0, 1])")
        for line in describe_prediction(result):
            print(f"  {line}")
        return 0
    border = f", {result['border']}-pixel border cropped" if result.get("border") else ""
    print(f"  {result['split']} split ({result.get('num_examples', '')} images; Y channel{border})")
    print(f"  PSNR        {result['psnr']:.3f} dB")
    print(f"  SSIM        {result['ssim']:.4f}" if result["ssim"] is not None else
          "  SSIM        not computed: the images are smaller than its 11x11 window")
    if "l1" in result:
        print(f"  L1          {result['l1']:.4f} (pixels in [0, 1])")
    return 0


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
    if model.data_info.modality.scored_against_truth(model):  # a model of an input image, a video predictor
        return run_restoration(args, model, folder, sample_args)
    if args.data_arg:
        raise ConfigError("--data-arg is for models of an input image (super-resolution, translation)")
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
                                                     progress=True, **sample_args)
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
        if "nll_se_nats" in result:
            print(f"  standard error {result['nll_se_nats']:.4f} nats (over the {result['num_examples']} examples: "
                  "differences smaller than about twice this are noise)")
    if "quality" in result:
        from ...evaluation.scorers import scorer_class

        print_quality(result["quality"], scorer_class(data.info.kind).columns)
    return 0

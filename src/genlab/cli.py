"""The ``genlab`` command-line tool.

    genlab train MODEL --data NAME [--steps N | --epochs N] [--set key=value ...] [--out DIR]
    genlab train --resume DIR [--steps N]
    genlab sample RUN --num N [--out FILE] [--prompt TEXT] [--temperature T] [--top-k K] [--top-p P]
    genlab eval RUN [--split val|test] [--json]
    genlab list | info RUN | bench [NAME] [--json] | data download NAME | demo

Errors the user can fix are printed as one line (``--debug`` shows the traceback) and the
exit code is 2; success exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError, GenlabError


# ---- override parsing ---------------------------------------------------------------------------
def parse_overrides(pairs: list[str], extra: list[str]) -> dict[str, str]:
    """``--set key=value`` pairs plus leftover ``--key value`` / ``--key=value`` flags -> dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set takes key=value, got '{pair}'")
        key, value = pair.split("=", 1)
        out[key.strip().replace("-", "_")] = value
    i = 0
    while i < len(extra):
        token = extra[i]
        if not token.startswith("--") or token == "--":
            raise ConfigError(f"unexpected argument '{token}'")
        if "=" in token:
            key, value = token[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(extra) or extra[i + 1].startswith("--"):
                raise ConfigError(f"option '{token}' needs a value")
            key, value = token[2:], extra[i + 1]
            i += 2
        out[key.replace("-", "_")] = value
    return out


def split_overrides(values: dict[str, Any], model_keys: list[str], train_keys: list[str]) -> tuple[dict, dict]:
    """Route each key to the model config or the training config; unknown keys fail."""
    from .config import unknown_key_error

    model, train = {}, {}
    for key, value in values.items():
        if key in model_keys:
            model[key] = value
        elif key in train_keys:
            train[key] = value
        else:
            raise unknown_key_error(key, model_keys + train_keys, "model or training")
    return model, train


def read_overrides_file(path: str) -> dict[str, Any]:
    """A YAML/JSON file: either flat ``key: value`` or ``{model: {...}, train: {...}}``."""
    from .config import read_config_file

    data = read_config_file(path)
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("model", "train") and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


# ---- commands -----------------------------------------------------------------------------------
def cmd_train(args, extra) -> int:
    import torch

    from . import create_model, load_dataset
    from .registry import get_model_class
    from .runs import check_can_write_run
    from .training import TrainConfig, Trainer, resume

    overrides: dict[str, Any] = read_overrides_file(args.config) if args.config else {}
    overrides.update(parse_overrides(args.set or [], extra))
    for flag in ("batch_size", "lr", "precision", "device", "seed", "epochs"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.resume:
        if args.model:
            raise ConfigError("give either MODEL or --resume DIR, not both")
        trainer = resume(args.resume, steps=args.steps, data_root=args.data_root, overrides=overrides)
        print(f"resuming {args.resume} at step {trainer.step} of {trainer.total_steps}", file=sys.stderr)
    else:
        if not args.model:
            raise ConfigError("name a model to train (see `genlab list`) or give --resume DIR")
        cls = get_model_class(args.model)
        model_over, train_over = split_overrides(overrides, cls.config_class.keys(), TrainConfig.keys())
        if args.steps is not None:
            train_over["steps"] = args.steps
        spec = args.data
        for prefix in ("images:", "text:"):  # keep the run resumable from any working directory
            if spec.startswith(prefix):
                spec = prefix + str(Path(spec[len(prefix):]).resolve())
        data = load_dataset(spec, root=args.data_root)
        config = TrainConfig.for_model(cls, **train_over)
        torch.manual_seed(config.seed)  # the seed decides the initial weights too, not only the batches
        model = create_model(args.model, data=data, **model_over)
        out = Path(args.out or f"runs/{args.model}-{data.info.name.replace(':', '-').replace('/', '_')}")
        check_can_write_run(out, args.overwrite)  # the old run is replaced only when the new one starts
        trainer = Trainer(model, data, config, out_dir=out, data_spec={"name": spec, "options": {}},
                          overwrite=args.overwrite)
        print(f"training {args.model} ({model.num_parameters():,} parameters) on {data.info.name} "
              f"for {trainer.total_steps} steps -> {out}", file=sys.stderr)
    summary = trainer.fit()
    report = {"run": str(trainer.out_dir), "steps": summary["steps"], "wall_s": round(summary["wall_s"], 2)}
    if "loss" in summary.get("val", {}):
        report["val_loss"] = summary["val"]["loss"]
        report["best_val_loss"] = summary["best_val_loss"]
    elif "val" in summary:  # no validation objective (GANs): the last validation metrics as they are
        report["val"] = {k: v for k, v in summary["val"].items() if k not in ("step", "split")}
    print(json.dumps(report))
    return 0


def _resolve_weights(run: str, weights: str) -> Path:
    from .runs import resolve_weights

    return resolve_weights(run, weights)


def _load_for_run(args):
    from . import load

    folder = _resolve_weights(args.run, args.weights)
    return load(folder, map_location=args.device or "cpu"), folder


def cmd_sample(args, extra) -> int:
    import torch

    from .training.plots import save_image_grid
    from .training.trainer import decode_tokens

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    model, folder = _load_for_run(args)
    info = model.data_info
    gen = torch.Generator(device=model.device).manual_seed(args.seed)
    torch.manual_seed(args.seed)
    condition = None if args.condition is None else torch.tensor([args.condition])
    if info.kind == "image":
        x = model.sample(args.num, generator=gen, condition=condition)
        out = Path(args.out or Path(args.run) / "samples.png")
        save_image_grid(x, info.levels, out)
        print(f"wrote {args.num} samples from {folder} to {out}")
        return 0
    prompt = None
    if args.prompt is not None:
        if info.vocab is None:
            raise ConfigError("this model has no tokenizer; it cannot take a text prompt")
        from .data.text import CharTokenizer

        prompt = CharTokenizer(info.vocab).encode(args.prompt, strict=True)
        if len(prompt) == 0:
            raise ConfigError("--prompt is empty; give some text or leave it out")
    ids = model.sample(args.num, generator=gen, prompt=prompt, max_new_tokens=args.max_new_tokens,
                       temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    text = "\n-----\n".join(decode_tokens(info, row) for row in ids)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.num} samples to {args.out}")
    else:
        print(text)
    return 0


def _data_for_run(run: str, data_name: str | None, data_root: str | None):
    from .data import load_dataset
    from .runs import is_run_folder, load_run_data

    if data_name is None and is_run_folder(run):
        return load_run_data(run, data_root)
    if data_name is None:
        raise ConfigError(f"'{run}' is not a training run; name its data with --data")
    return load_dataset(data_name, root=data_root)


def parse_sample_args(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` settings for ``model.sample`` (``sampler=ddim``, ``steps=50``...), typed by their look."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--sample-arg takes key=value, got '{pair}'")
        key, value = (part.strip() for part in pair.split("=", 1))
        if value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
            continue
        for kind in (int, float):
            try:
                out[key] = kind(value)
                break
            except ValueError:
                pass
        else:
            out[key] = value
    return out


def load_features_for(data, features: str | None):
    """The features of ``--features`` (a feature network folder, or an Inception weights file),
    else ``features/<data name>``; a clear error if there are none."""
    from .evaluation.features import default_feature_dir, load_feature_extractor

    path = Path(features) if features else default_feature_dir(data.info.name)
    if not features and not path.is_dir():
        raise ConfigError(f"no feature network for '{data.info.name}' at {path}; train one with "
                          f"`genlab features train --data {data.info.name}` or pass --features DIR "
                          "(or an Inception weights file)")
    return load_feature_extractor(path, data.info)


def print_quality(result: dict[str, Any]) -> None:
    labels = [("fid", "Fréchet distance", "{:.3f}"), ("kid", "KID", "{:.5f}"), ("precision", "precision", "{:.3f}"),
              ("recall", "recall", "{:.3f}"), ("coverage", "class coverage", "{:.2f}"), ("class_kl", "class KL", "{:.4f}"),
              ("memorisation", "memorisation", "{:.3f}"),
              ("memorisation_baseline", "  (test images)", "{:.3f}")]
    print(f"  samples           {result['num_samples']} against {result['num_test']} test images")
    print(f"  features          {result['feature_description']}")
    for key, label, fmt in labels:
        if key in result:
            extra = f" +- {result['kid_std']:.5f}" if key == "kid" else ""
            print(f"  {label:17s} {fmt.format(result[key])}{extra}")
    if result.get("coverage_unavailable"):
        print(f"  class coverage    not computed: {result['coverage_unavailable']}")
    if result.get("missing_classes"):
        print(f"  classes hardly sampled: {result['missing_classes']}")
    print(f"  sampling          {result['sampling_s_per_image'] * 1000:.2f} ms per image")


def cmd_eval(args, extra) -> int:
    from .evaluation import evaluate
    from .evaluation.quality import nearest_neighbour_grid, parse_metrics, public, sample_quality
    from .runs import check_data_matches

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    metrics = parse_metrics(args.metrics)
    model, folder = _load_for_run(args)
    data = _data_for_run(args.run, args.data, args.data_root)
    check_data_matches(model.data_info, data.info, folder)
    if model.likelihood == "none" and not metrics:
        raise ConfigError(f"model '{model.name}' has no likelihood; judge it by its samples: "
                          f"genlab eval {args.run} --metrics all")
    net = load_features_for(data, args.features) if metrics else None  # fail early, before any long work
    result: dict[str, Any] = {"model": model.name, "data": data.info.name, "weights": str(folder)}
    split = args.split or ("test" if data.test is not None else "val")
    if model.likelihood != "none":
        kwargs = {"num_samples": args.iw_samples} if args.iw_samples else {}
        result.update(evaluate(model, data, split=split, max_examples=args.max_examples, **kwargs))
    quality = None
    if metrics:
        quality = sample_quality(model, data, net, metrics, num_samples=args.num_samples, seed=args.seed,
                                 **parse_sample_args(args.sample_arg))
        result["quality"] = public(quality)
        if "_nearest_index" in quality:
            path = Path(args.run) / "nearest_training_images.png"
            nearest_neighbour_grid(quality["_images"], quality["_nearest_index"], data.train.images, data.info.levels,
                                   path)
            result["quality"]["nearest_neighbours_png"] = str(path)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{model.name} on {data.info.name}, weights {folder}")
    if "nll_nats" in result:
        kind = "exact" if result["likelihood"] == "exact" else "upper bound (from a lower bound on log-likelihood)"
        print(f"  {split} split ({result['num_examples']} examples)")
        if data.info.kind == "image":
            print(f"  NLL          {result['nll_nats']:.3f} nats per image  [{kind}]")
            print(f"  bits/dim     {result['bits_per_dim']:.4f}")
        else:
            print(f"  NLL          {result['nll_nats']:.4f} nats per character  [{kind}]")
            print(f"  bits/char    {result['bits_per_token']:.4f}")
    if quality is not None:
        print_quality(result["quality"])
        if "nearest_neighbours_png" in result["quality"]:
            print(f"  nearest training images: {result['quality']['nearest_neighbours_png']}")
    return 0


def cmd_compare(args, extra) -> int:
    from .compare import compare_runs
    from .runs import is_run_folder, load_run_data

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    for run in args.runs:
        if not is_run_folder(run):
            raise ConfigError(f"'{run}' is not a training run folder (no run.json); give folders made by genlab train")
    data = load_run_data(args.runs[0], args.data_root)
    net = load_features_for(data, args.features)
    report = compare_runs(args.runs, args.out, net, num_samples=args.num_samples, seed=args.seed,
                          data_root=args.data_root, sample_kwargs=parse_sample_args(args.sample_arg), first_data=data,
                          device=args.device or "cpu")
    print(f"compared {len(report['runs'])} runs on {report['data']}: {Path(args.out) / 'report.md'}, "
          f"{Path(args.out) / 'report.html'}")
    return 0


def cmd_features(args, extra) -> int:
    from .data import load_dataset
    from .evaluation.features import default_feature_dir, save_feature_network, train_feature_network

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    data = load_dataset(args.data, root=args.data_root)
    out = Path(args.out) if args.out else default_feature_dir(data.info.name)
    net = train_feature_network(data, steps=args.steps, seed=args.seed, progress=True)
    save_feature_network(net, out)
    print(f"feature network for {data.info.name}: test accuracy {net.test_accuracy:.4f}, hash {net.content_hash}, "
          f"saved to {out}")
    return 0


def cmd_list(args, extra) -> int:
    from . import list_datasets, list_models

    print("models:")
    for name, m in list_models().items():
        print(f"  {name:12s} {m['family']:15s} likelihood={m['likelihood']:6s} data={','.join(m['data']):6s} "
              f"{m['description']}")
    print("data sets:")
    for name, desc in list_datasets().items():
        print(f"  {name:16s} {desc}")
    return 0


def cmd_info(args, extra) -> int:
    from .io import read_config
    from .runs import METRICS_FILE, is_run_folder, read_metrics, read_run_file, resolve_checkpoint_dir

    folder = resolve_checkpoint_dir(args.run)
    meta = read_config(folder)
    out: dict[str, Any] = {"folder": str(folder), **meta}
    run = Path(args.run)
    if is_run_folder(run):
        out["run"] = read_run_file(run)
    if (run / METRICS_FILE).is_file():
        rows = read_metrics(run)
        out["last_train"] = next((r for r in reversed(rows) if r["split"] == "train"), None)
        out["last_val"] = next((r for r in reversed(rows) if r["split"] == "val"), None)
    print(json.dumps(out, indent=2))
    return 0


def cmd_verify(args, extra) -> int:
    from .runs.verify import print_verification

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    return print_verification(args.run)


def cmd_bench(args, extra) -> int:
    from .bench import BENCHMARKS, run_benchmark

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    names = [args.name] if args.name else list(BENCHMARKS)
    kwargs = {}
    if args.out:
        if not args.name or not args.name.startswith("compare-"):
            raise ConfigError("--out is for the compare benchmarks (compare-digits, compare-mnist): it keeps their report")
        kwargs["out"] = args.out
    if args.train_only:
        if not args.out:
            raise ConfigError("--train-only keeps the runs for a later call: give --out DIR too")
        kwargs["train_only"] = True
    for name in names:
        result = run_benchmark(name, data_root=args.data_root, quick=args.quick, seed=args.seed, **kwargs)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(f"{name}:")
            for k, v in result.items():
                print(f"  {k:24s} {v:.4g}" if isinstance(v, float) else f"  {k:24s} {v}")
    return 0


def cmd_data(args, extra) -> int:
    from .data import default_data_root
    from .data.download import download

    if args.action == "download":
        if not args.name:
            raise ConfigError("name a data set to download, e.g. `genlab data download mnist`")
        for path in download(args.name, default_data_root(args.data_root)):
            print(path)
    return 0


def cmd_demo(args, extra) -> int:
    from .demo import run_demo

    run_demo(out=args.out, steps=args.steps)
    return 0


# ---- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genlab", description="Train, sample, evaluate and compare generative models.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (any extra --key value is a config override)")
    t.add_argument("model", nargs="?", help="registered model name (see `genlab list`)")
    t.add_argument("--data", default="digits", help="data set name, images:PATH or text:PATH (default digits)")
    t.add_argument("--data-root", help="folder with the data sets (default $GENLAB_DATA, else ./data)")
    t.add_argument("--steps", type=int, help="optimizer steps (on resume: a new total)")
    t.add_argument("--epochs", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--precision", choices=["fp32", "bf16"])
    t.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    t.add_argument("--seed", type=int)
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="model or training setting (repeatable)")
    t.add_argument("--config", help="YAML or JSON file of settings")
    t.add_argument("--out", help="run folder (default runs/MODEL-DATA)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    t.set_defaults(func=cmd_train)

    def add_weights(q):
        q.add_argument("run", help="a run folder or saved-model folder")
        q.add_argument("--weights", default="best", help="best (by validation, if kept) or last")
        q.add_argument("--device", help="device to run on (default cpu)")

    s = sub.add_parser("sample", help="draw samples: a PNG grid for images, text for text models")
    add_weights(s)
    s.add_argument("--num", type=int, default=64)
    s.add_argument("--out", help="output file (default RUN/samples.png for images, stdout for text)")
    s.add_argument("--prompt")
    s.add_argument("--max-new-tokens", type=int, default=200)
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-k", type=int)
    s.add_argument("--top-p", type=float)
    s.add_argument("--condition", type=int, help="class label for conditional models")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("eval", help="negative log-likelihood (exact or bound) and sample-quality metrics")
    add_weights(e)
    e.add_argument("--metrics", help="sample-quality metrics: all, or a list of fid,kid,precision,recall,coverage,"
                                     "memorisation")
    e.add_argument("--features", help="feature network folder (default features/DATA, from `genlab features train`), "
                   "or an Inception-v3 weights file (pt_inception-2015-12-05-6726825d.pth) for paper-comparable FIDs")
    e.add_argument("--num-samples", type=int, help="samples drawn for the metrics (default: 10,000, or the test "
                                                     "split's size where smaller)")
    e.add_argument("--sample-arg", action="append", metavar="KEY=VALUE",
                   help="setting for the model's sampler, e.g. sampler=ddim, steps=50 (repeatable)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--split", choices=["val", "test"])
    e.add_argument("--data", help="data set (default: the run's own)")
    e.add_argument("--data-root")
    e.add_argument("--iw-samples", type=int, help="importance samples K for bound models (VAE)")
    e.add_argument("--max-examples", type=int)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    f = sub.add_parser("features", help="train the feature network the sample-quality metrics use")
    f.add_argument("action", choices=["train"])
    f.add_argument("--data", default="digits", help="a labelled image data set (default digits)")
    f.add_argument("--data-root")
    f.add_argument("--out", help="folder (default features/DATA)")
    f.add_argument("--steps", type=int, default=2000)
    f.add_argument("--seed", type=int, default=0)
    f.set_defaults(func=cmd_features)

    c = sub.add_parser("compare", help="score runs on the same data side by side: a Markdown and HTML report")
    c.add_argument("runs", nargs="+", metavar="RUN", help="run folders made by genlab train")
    c.add_argument("--out", required=True, help="report folder (report.md, report.html, results.json, PNGs)")
    c.add_argument("--features", help="feature network folder (default features/DATA) or Inception-v3 weights file")
    c.add_argument("--num-samples", type=int, help="samples per run (default: 10,000, or the test split's size)")
    c.add_argument("--sample-arg", action="append", metavar="KEY=VALUE",
                   help="sampler setting given to every model, e.g. sampler=ddim, steps=100 (repeatable)")
    c.add_argument("--data-root")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--device", help="where to sample and score: cpu (default), cuda, cuda:N or auto")
    c.set_defaults(func=cmd_compare)

    sub.add_parser("list", help="registered models and data sets").set_defaults(func=cmd_list)
    i = sub.add_parser("info", help="config, step and last metrics of a run or saved model")
    i.add_argument("run")
    i.set_defaults(func=cmd_info)
    v = sub.add_parser("verify", help="check a run or saved model: config, weights hash, trainer state, run.json")
    v.add_argument("run")
    v.set_defaults(func=cmd_verify)

    b = sub.add_parser("bench", help="run a benchmark (all when no name)")
    b.add_argument("name", nargs="?")
    b.add_argument("--json", action="store_true", help="one JSON object per benchmark")
    b.add_argument("--data-root")
    b.add_argument("--quick", action="store_true", help="a short version, to check that it runs")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", help="compare benchmarks: keep the runs and the report in this folder")
    b.add_argument("--train-only", action="store_true",
                   help="compare benchmarks: train the runs into --out and stop; run again to score them")
    b.set_defaults(func=cmd_bench)

    d = sub.add_parser("data", help="data set downloads (never implicit)")
    d.add_argument("action", choices=["download"])
    d.add_argument("name", nargs="?")
    d.add_argument("--data-root")
    d.set_defaults(func=cmd_data)

    m = sub.add_parser("demo", help="train the VAE on digits and write pictures (about a minute)")
    m.add_argument("--out", default="runs/demo")
    m.add_argument("--steps", type=int, default=None)
    m.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())

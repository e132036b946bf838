"""``genlab train MODEL --data NAME ...`` and ``genlab train --resume RUN``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .arguments import key_values, parse_overrides, read_overrides_file, split_overrides

FLAGS = ("batch_size", "lr", "precision", "device", "seed", "epochs")  # training settings with their own flag


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a model (any extra --key value is a config override)")
    t.add_argument("model", nargs="?", help="registered model name (see `genlab list`)")
    t.add_argument("--data", default="digits", help="data set name, images:PATH or text:PATH (default digits)")
    t.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="a data set option, e.g. val_size=0 for MNIST or size=64 for an image folder (repeatable)")
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
    t.add_argument("--track", metavar="BACKENDS", help="also log to tensorboard, mlflow or both (comma-separated)")
    t.set_defaults(func=run)


def run(args, extra) -> int:
    """Train; under torchrun every process runs this, joined by the trainer, and rank 0 reports."""
    from ...training import distributed

    try:
        return _train(args, extra)
    finally:
        distributed.shutdown()  # the process group the trainer joined (none for one process)


def _train(args, extra) -> int:
    import torch

    from ... import create_model, load_dataset
    from ...data.registry import normalise_spec
    from ...registry import get_model_class
    from ...runs import check_can_write_run
    from ...training import TrainConfig, Trainer, distributed, resume

    overrides: dict[str, Any] = read_overrides_file(args.config) if args.config else {}
    overrides.update(parse_overrides(args.set or [], extra))
    for flag in FLAGS:
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.track is not None:  # "tensorboard,mlflow"; metrics.jsonl is always written
        overrides["track"] = [name.strip() for name in args.track.split(",") if name.strip()]
    data_options = key_values(args.data_arg, "--data-arg")
    if args.resume:
        if args.model:
            raise ConfigError("give either MODEL or --resume DIR, not both")
        if data_options:
            raise ConfigError("--data-arg cannot change on resume: the run keeps the data it was started on")
        trainer = resume(args.resume, steps=args.steps, data_root=args.data_root, overrides=overrides)
        if distributed.is_main():
            print(f"resuming {args.resume} at step {trainer.step} of {trainer.total_steps}", file=sys.stderr)
    else:
        if not args.model:
            raise ConfigError("name a model to train (see `genlab list`) or give --resume DIR")
        cls = get_model_class(args.model)
        model_over, train_over = split_overrides(overrides, cls.config_class.keys(), TrainConfig.keys())
        if args.steps is not None:
            train_over["steps"] = args.steps
        spec = normalise_spec(args.data)  # a path made absolute: the run resumes from any working directory
        data = load_dataset(spec, root=args.data_root, **data_options)
        options = _typed_options(spec, data_options)
        config = TrainConfig.for_model(cls, **train_over)
        torch.manual_seed(config.seed)  # the seed decides the initial weights too, not only the batches
        model = create_model(args.model, data=data, **model_over)
        out = Path(args.out or f"runs/{args.model}-{data.info.name.replace(':', '-').replace('/', '_')}")
        check_can_write_run(out, args.overwrite)  # the old run is replaced only when the new one starts
        trainer = Trainer(model, data, config, out_dir=out, data_spec={"name": spec, "options": options},
                          overwrite=args.overwrite)
        if distributed.is_main():
            print(f"training {args.model} ({model.num_parameters():,} parameters) on {data.info.name} "
                  f"for {trainer.total_steps} steps -> {out}"
                  + (f" on {distributed.world_size()} processes" if distributed.world_size() > 1 else ""),
                  file=sys.stderr)
    summary = trainer.fit()
    report = {"run": str(trainer.out_dir), "steps": summary["steps"], "wall_s": round(summary["wall_s"], 2)}
    if "loss" in summary.get("val", {}):
        report["val_loss"] = summary["val"]["loss"]
        report["best_val_loss"] = summary["best_val_loss"]
    elif "val" in summary:  # no validation objective (GANs): the last validation metrics as they are
        report["val"] = {k: v for k, v in summary["val"].items() if k not in ("step", "split")}
    if distributed.is_main():
        print(json.dumps(report))
    return 0


def _typed_options(spec: str, options: dict[str, str]) -> dict[str, Any]:
    """The data options as the loader took them (typed), for run.json."""
    from ...data.registry import find_dataset

    entry, _ = find_dataset(spec)
    return entry.check_options(options)

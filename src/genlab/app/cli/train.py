"""``genlab train MODEL --data NAME ...``, ``genlab train --resume RUN`` and
``genlab train [MODEL] --init-from RUN --data NEW`` (fine-tuning: a new run from trained weights)."""

from __future__ import annotations

import json
import sys
from typing import Any

from ...errors import ConfigError
from .arguments import key_values, parse_overrides, read_overrides_file

CLI_PRECISION = "auto"  # a new run's precision unless --precision, --set or --config says otherwise
FLAGS = ("batch_size", "lr", "precision", "device", "seed", "epochs")  # training settings with their own flag


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a model (any extra --key value is a config override)")
    t.add_argument("model", nargs="?", help="registered model name (see `genlab list`)")
    t.add_argument("--data", help="data set name, images:PATH or text:PATH (default digits; with --init-from, "
                                  "the source run's data)")
    t.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="a data set option, e.g. val_size=0 for MNIST or size=64 for an image folder (repeatable)")
    t.add_argument("--data-root", help="folder with the data sets (default $GENLAB_DATA, else ./data)")
    t.add_argument("--allow-synthetic", action="store_true",
                   help="train on files genlab generated (marked synthetic by their provenance); run.json records "
                        "how many (a data option: allow_synthetic=true)")
    t.add_argument("--exclude", metavar="FILE", help="leave out the training examples listed in FILE (train:INDEX "
                                                     "lines, e.g. the exclude.txt of `genlab data dedup`); run.json "
                                                     "records them, so --resume leaves out the same")
    t.add_argument("--steps", type=int, help="optimizer steps (on resume: a new total)")
    t.add_argument("--epochs", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                   help="auto (default for a new run): bf16 autocast where the hardware computes bf16 natively "
                        "(AMX, AVX-512 BF16, a CUDA GPU with bf16), fp32 elsewhere; on resume, the run's own")
    t.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    t.add_argument("--seed", type=int)
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="model or training setting (repeatable)")
    t.add_argument("--config", help="YAML or JSON file of settings")
    t.add_argument("--out", help="run folder (default runs/MODEL-DATA)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    t.add_argument("--init-from", metavar="RUN", help="start a new run from the trained weights of RUN (its best, "
                                                      "else last) or of a saved model; text keeps its vocabulary")
    t.add_argument("--track", metavar="BACKENDS", help="also log to tensorboard, mlflow or both (comma-separated)")
    t.set_defaults(func=run)


def reclaim_option_value(args, extra: list[str], argv: list[str]) -> None:
    """Give an unknown ``--key value`` its value back when argparse took the value for MODEL.

    argparse fills the optional MODEL with the first bare word, so in ``genlab train --resume RUN
    --progress false`` it takes ``false`` and leaves ``--progress`` without a value."""
    if args.model is None:
        return
    for i, token in enumerate(argv[:-1]):
        if token.startswith("--") and "=" not in token and token in extra and argv[i + 1] == args.model:
            at = extra.index(token)
            if at + 1 >= len(extra) or extra[at + 1].startswith("--"):
                extra.insert(at + 1, args.model)
                args.model = None
            return


def run(args, extra) -> int:
    """Train; under torchrun every process runs this, joined by the trainer, and rank 0 reports."""
    from ...training import distributed

    try:
        return _train(args, extra)
    finally:
        distributed.shutdown()  # the process group the trainer joined (none for one process)


def _train(args, extra) -> int:
    from ...training import distributed
    from ...training.setup import finetune_run, new_run, resume_run

    overrides: dict[str, Any] = read_overrides_file(args.config) if args.config else {}
    overrides.update(parse_overrides(args.set or [], extra))
    for flag in FLAGS:
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.track is not None:  # "tensorboard,mlflow"; metrics.jsonl is always written
        overrides["track"] = [name.strip() for name in args.track.split(",") if name.strip()]
    data_options = key_values(args.data_arg, "--data-arg")
    if args.allow_synthetic:
        data_options["allow_synthetic"] = "true"
    if args.resume:
        if args.model:
            raise ConfigError("give either MODEL or --resume DIR, not both")
        if args.init_from:
            raise ConfigError("give either --resume DIR (continue a run) or --init-from RUN (a new run from its "
                              "weights), not both")
        trainer, message = resume_run(args.resume, overrides, steps=args.steps, data=args.data,
                                      data_options=data_options, exclude=args.exclude, data_root=args.data_root)
    elif args.init_from:
        trainer, message = finetune_run(args.init_from, overrides, model_name=args.model, data=args.data,
                                        data_options=data_options, data_root=args.data_root, exclude=args.exclude,
                                        steps=args.steps, out=args.out, overwrite=args.overwrite,
                                        default_precision=CLI_PRECISION)
    else:
        if not args.model:
            raise ConfigError("name a model to train (see `genlab list`), or give --resume DIR or --init-from RUN")
        trainer, message = new_run(args.model, overrides, data=args.data, data_options=data_options,
                                   data_root=args.data_root, exclude=args.exclude, steps=args.steps, out=args.out,
                                   overwrite=args.overwrite, default_precision=CLI_PRECISION)
    if distributed.world_size() > 1:
        message += f" on {distributed.world_size()} processes"
    announce = (lambda: print(message, file=sys.stderr)) if distributed.is_main() else None
    summary = trainer.fit(on_start=announce)  # once the run folder is set up, so a refusal is the only line
    report = {"run": str(trainer.out_dir), "steps": summary["steps"], "wall_s": round(summary["wall_s"], 2)}
    if "loss" in summary.get("val", {}):
        report["val_loss"] = summary["val"]["loss"]
        report["best_val_loss"] = summary["best_val_loss"]
    elif "val" in summary:  # no validation objective (GANs): the last validation metrics as they are
        report["val"] = {k: v for k, v in summary["val"].items() if k not in ("step", "split")}
    if distributed.is_main():
        print(json.dumps(report))
    return 0

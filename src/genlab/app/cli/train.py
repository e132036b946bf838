"""``genlab train MODEL --data NAME ...``, ``genlab train --resume RUN`` and
``genlab train [MODEL] --init-from RUN --data NEW`` (fine-tuning: a new run from trained weights)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .arguments import key_values, parse_overrides, read_overrides_file, split_overrides

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
    if args.allow_synthetic:
        data_options["allow_synthetic"] = "true"
    if args.resume:
        if args.model:
            raise ConfigError("give either MODEL or --resume DIR, not both")
        if args.init_from:
            raise ConfigError("give either --resume DIR (continue a run) or --init-from RUN (a new run from its "
                              "weights), not both")
        _check_same_data(args.resume, args.data, data_options)
        if args.exclude:
            _check_same_exclusion(args.resume, args.exclude)
        trainer = resume(args.resume, steps=args.steps, data_root=args.data_root, overrides=overrides)
        message = f"resuming {args.resume} at step {trainer.step} of {trainer.total_steps}"
    elif args.init_from:
        trainer, message = _finetune(args, overrides, data_options)
    else:
        if not args.model:
            raise ConfigError("name a model to train (see `genlab list`), or give --resume DIR or --init-from RUN")
        cls = get_model_class(args.model)
        model_over, train_over = split_overrides(overrides, cls.config_class.keys(), TrainConfig.keys())
        if args.steps is not None:
            train_over["steps"] = args.steps
        spec = normalise_spec(args.data or "digits")  # a path made absolute: the run resumes from any working directory
        data = load_dataset(spec, root=args.data_root, **data_options)
        options = _typed_options(spec, data_options)
        data_spec = {"name": spec, "options": options}
        data = _apply_exclude(args.exclude, data, data_spec)
        config = TrainConfig.for_model(cls, **{**_cli_defaults(cls), **train_over})
        torch.manual_seed(config.seed)  # the seed decides the initial weights too, not only the batches
        model = create_model(args.model, data=data, **model_over)
        out = Path(args.out or f"runs/{args.model}-{data.info.name.replace(':', '-').replace('/', '_')}")
        check_can_write_run(out, args.overwrite)  # the old run is replaced only when the new one starts
        trainer = Trainer(model, data, config, out_dir=out, data_spec=data_spec, overwrite=args.overwrite)
        message = (f"training {args.model} ({model.num_parameters():,} parameters) on {data.info.name} "
                   f"for {trainer.total_steps} steps -> {out}")
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


def _cli_defaults(cls) -> dict[str, Any]:
    """The CLI's own training defaults for a new run of family ``cls`` (under the family's own)."""
    return {} if "precision" in getattr(cls, "train_defaults", {}) else {"precision": CLI_PRECISION}


def _typed_options(spec: str, options: dict[str, str]) -> dict[str, Any]:
    """The data options as the loader took them (typed), for run.json."""
    from ...data.registry import find_dataset

    entry, _ = find_dataset(spec)
    return entry.check_options(options)


def _apply_exclude(path: str | None, data, data_spec: dict[str, Any]):
    """``data`` without the training examples listed in ``path`` (checked), recorded in ``data_spec``."""
    from ...data.exclude import count_examples, exclude_examples, read_exclude_file

    if not path:
        return data
    exclusion = read_exclude_file(path, count_examples(data, "train"))
    data_spec["exclude"] = exclusion.record()
    return exclude_examples(data, exclusion)


def _check_same_exclusion(run_dir: str, path: str) -> None:
    """Refuse an ``--exclude`` on resume that is not the list the run was started with."""
    from ...data.exclude import read_exclude_file
    from ...runs import read_run_file

    recorded = read_run_file(run_dir)["data"].get("exclude")
    given = read_exclude_file(path)
    if recorded is None or recorded.get("sha256") != given.sha256:
        was = "no exclusion list" if recorded is None else f"the list {recorded.get('file')}"
        raise ConfigError(f"--exclude {path} is not what {run_dir} was started with ({was}); a resumed run keeps "
                          "its data and reapplies its own list: drop --exclude")


def _check_same_data(run_dir: str, data: str | None, options: dict[str, str]) -> None:
    """Refuse a ``--data`` or ``--data-arg`` on resume that differs from the run's own data."""
    from ...data.registry import dataset_options, normalise_spec
    from ...runs import read_run_file

    if data is None and not options:
        return
    recorded = read_run_file(run_dir)["data"]
    other = f"start a new run from its weights with --init-from {run_dir}"
    if data is not None and normalise_spec(data) != recorded["name"]:
        raise ConfigError(f"--data {data} is not the data {run_dir} was trained on ({recorded['name']}); a resumed "
                          f"run keeps its data: drop --data, or {other}")
    defaults = dataset_options(recorded["name"])
    had = {**defaults, **recorded.get("options", {})}
    given = _typed_options(recorded["name"], options)
    for key, value in given.items():
        if value != had.get(key):
            raise ConfigError(f"--data-arg {key}={options[key]} differs from the data {run_dir} was trained on "
                              f"({key}={had.get(key)}); a resumed run keeps its data: drop it, or {other}")


def _finetune(args, overrides: dict[str, Any], data_options: dict[str, str]):
    """The :class:`Trainer` of a new run that starts from the weights of ``--init-from``, and its start line."""
    import torch

    from ... import load_dataset
    from ...data.registry import normalise_spec
    from ...io import load_for_finetuning, read_config
    from ...registry import get_model_class
    from ...runs import check_can_write_run, is_run_folder, read_run_file, resolve_weights
    from ...training import TrainConfig, Trainer

    source = args.init_from
    meta = read_config(resolve_weights(source, "best"))  # the model's name and data facts; weights come later
    name = meta["model"]
    if args.model and args.model != name:
        raise ConfigError(f"--init-from {source} holds a '{name}' model, not '{args.model}'; name {name} or "
                          "leave MODEL out")
    cls = get_model_class(name)
    model_over, train_over = split_overrides(overrides, cls.config_class.keys(), TrainConfig.keys())
    if args.steps is not None:
        train_over["steps"] = args.steps
    inherited_exclusion = None
    if args.data is not None:
        spec, options = normalise_spec(args.data), _typed_options(args.data, data_options)
    elif is_run_folder(source):  # the source run's own data: a new run (fresh optimizer) on the same data
        recorded = read_run_file(source)["data"]
        inherited_exclusion = recorded.get("exclude")  # its left-out examples stay out, unless --exclude says otherwise
        spec = recorded["name"]
        options = {**recorded.get("options", {}), **_typed_options(spec, data_options)}
    else:
        raise ConfigError(f"--init-from {source} is a saved model, not a run, so it names no data; give --data")
    vocab = meta["data"].get("vocab")  # text: the new text is encoded with the source's vocabulary
    data = load_dataset(spec, root=args.data_root, tokenizer=vocab, **options)
    config = TrainConfig.for_model(cls, **{**_cli_defaults(cls), **train_over})
    torch.manual_seed(config.seed)
    model, init_from = load_for_finetuning(source, data, **model_over)
    default_out = f"runs/{name}-{data.info.name.replace(':', '-').replace('/', '_')}-from-{Path(source).name}"
    out = Path(args.out or default_out)
    source_folder = Path(source).resolve()
    if out.resolve() == source_folder or out.resolve() in source_folder.parents:
        raise ConfigError(f"--out {out} holds the model --init-from reads; choose another --out")
    check_can_write_run(out, args.overwrite)
    data_spec = {"name": spec, "options": options, **({"vocab": vocab} if vocab is not None else {})}
    if args.exclude is None and isinstance(inherited_exclusion, dict):
        from ...data.exclude import Exclusion, exclude_examples

        data_spec["exclude"] = inherited_exclusion
        data = exclude_examples(data, Exclusion.from_record(inherited_exclusion))
    else:
        data = _apply_exclude(args.exclude, data, data_spec)
    trainer = Trainer(model, data, config, out_dir=out, data_spec=data_spec, overwrite=args.overwrite,
                      init_from=init_from)
    message = (f"fine-tuning {name} ({model.num_parameters():,} parameters) from {init_from['path']} on "
               f"{data.info.name} for {trainer.total_steps} steps -> {out}")
    return trainer, message

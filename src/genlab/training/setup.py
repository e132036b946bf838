"""Setting a training run up: a new run, a resumed one, or a fine-tune from trained weights.

What `genlab train` does before it trains, as library functions, so that any caller (the command
line, a notebook, a service) starts runs the same way: each checks its settings and data, builds
the :class:`~genlab.training.Trainer` and returns it with a one-line description; nothing is
written until ``Trainer.fit`` starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import unknown_key_error
from ..errors import ConfigError
from .config import TrainConfig
from .trainer import Trainer, resume


def split_overrides(values: dict[str, Any], model_keys: list[str], train_keys: list[str]) -> tuple[dict, dict]:
    """Route each key to the model config or the training config; unknown keys fail."""
    model, train = {}, {}
    for key, value in values.items():
        if key in model_keys:
            model[key] = value
        elif key in train_keys:
            train[key] = value
        else:
            raise unknown_key_error(key, model_keys + train_keys, "model or training")
    return model, train


def _defaults(cls, precision: str | None) -> dict[str, Any]:
    """``precision`` as a new run's default, under the family's own training defaults."""
    if precision is None or "precision" in getattr(cls, "train_defaults", {}):
        return {}
    return {"precision": precision}


def new_run(model_name: str, overrides: dict[str, Any], *, data: str | None = None,
            data_options: dict[str, str] | None = None, data_root: str | None = None, exclude: str | None = None,
            steps: int | None = None, out: str | Path | None = None, overwrite: bool = False,
            default_precision: str | None = None) -> tuple[Trainer, str]:
    """A new run of ``model_name`` on ``data`` (default digits) with ``overrides`` (model and training
    settings, routed by key): the trainer, and the line that announces it. ``exclude`` names a file of
    training examples to leave out (recorded in run.json); ``out`` defaults to ``runs/MODEL-DATA``."""
    import torch

    from ..data import load_dataset
    from ..data.registry import normalise_spec
    from ..models.registry import create_model, get_model_class
    from ..runs import check_can_write_run

    cls = get_model_class(model_name)
    model_over, train_over = split_overrides(overrides, cls.config_class.keys(), TrainConfig.keys())
    if steps is not None:
        train_over["steps"] = steps
    data_options = dict(data_options or {})
    spec = normalise_spec(data or "digits")  # a path made absolute: the run resumes from any working directory
    dataset = load_dataset(spec, root=data_root, **data_options)
    data_spec = {"name": spec, "options": typed_options(spec, data_options)}
    dataset = apply_exclude(exclude, dataset, data_spec)
    config = TrainConfig.for_model(cls, **{**_defaults(cls, default_precision), **train_over})
    torch.manual_seed(config.seed)  # the seed decides the initial weights too, not only the batches
    model = create_model(model_name, data=dataset, **model_over)
    out = Path(out or f"runs/{model_name}-{dataset.info.name.replace(':', '-').replace('/', '_')}")
    check_can_write_run(out, overwrite)  # the old run is replaced only when the new one starts
    trainer = Trainer(model, dataset, config, out_dir=out, data_spec=data_spec, overwrite=overwrite)
    return trainer, (f"training {model_name} ({model.num_parameters():,} parameters) on {dataset.info.name} "
                     f"for {trainer.total_steps} steps -> {out}")


def resume_run(run_dir: str | Path, overrides: dict[str, Any], *, steps: int | None = None, data: str | None = None,
               data_options: dict[str, str] | None = None, exclude: str | None = None,
               data_root: str | None = None) -> tuple[Trainer, str]:
    """The trainer of the run in ``run_dir``, continued from its last checkpoint (``steps``: a new total).
    A ``data``, ``data_options`` or ``exclude`` that differs from the run's own is refused."""
    check_same_data(run_dir, data, dict(data_options or {}))
    if exclude:
        check_same_exclusion(run_dir, exclude)
    trainer = resume(run_dir, steps=steps, data_root=data_root, overrides=overrides)
    return trainer, f"resuming {run_dir} at step {trainer.step} of {trainer.total_steps}"


def typed_options(spec: str, options: dict[str, str]) -> dict[str, Any]:
    """The data options as the loader took them (typed), for run.json."""
    from ..data.registry import find_dataset

    entry, _ = find_dataset(spec)
    return entry.check_options(options)


def apply_exclude(path: str | None, data, data_spec: dict[str, Any]):
    """``data`` without the training examples listed in ``path`` (checked), recorded in ``data_spec``."""
    from ..data.exclude import count_examples, exclude_examples, read_exclude_file

    if not path:
        return data
    exclusion = read_exclude_file(path, count_examples(data, "train"))
    data_spec["exclude"] = exclusion.record()
    return exclude_examples(data, exclusion)


def check_same_exclusion(run_dir: str, path: str) -> None:
    """Refuse an ``--exclude`` on resume that is not the list the run was started with."""
    from ..data.exclude import read_exclude_file
    from ..runs import read_run_file

    recorded = read_run_file(run_dir)["data"].get("exclude")
    given = read_exclude_file(path)
    if recorded is None or recorded.get("sha256") != given.sha256:
        was = "no exclusion list" if recorded is None else f"the list {recorded.get('file')}"
        raise ConfigError(f"--exclude {path} is not what {run_dir} was started with ({was}); a resumed run keeps "
                          "its data and reapplies its own list: drop --exclude")


def check_same_data(run_dir: str, data: str | None, options: dict[str, str]) -> None:
    """Refuse a ``--data`` or ``--data-arg`` on resume that differs from the run's own data."""
    from ..data.registry import dataset_options, normalise_spec
    from ..runs import read_run_file

    if data is None and not options:
        return
    recorded = read_run_file(run_dir)["data"]
    other = f"start a new run from its weights with --init-from {run_dir}"
    if data is not None and normalise_spec(data) != recorded["name"]:
        raise ConfigError(f"--data {data} is not the data {run_dir} was trained on ({recorded['name']}); a resumed "
                          f"run keeps its data: drop --data, or {other}")
    defaults = dataset_options(recorded["name"])
    had = {**defaults, **recorded.get("options", {})}
    given = typed_options(recorded["name"], options)
    for key, value in given.items():
        if value != had.get(key):
            raise ConfigError(f"--data-arg {key}={options[key]} differs from the data {run_dir} was trained on "
                              f"({key}={had.get(key)}); a resumed run keeps its data: drop it, or {other}")


def finetune_run(source: str | Path, overrides: dict[str, Any], *, model_name: str | None = None,
                 data: str | None = None, data_options: dict[str, str] | None = None, data_root: str | None = None,
                 exclude: str | None = None, steps: int | None = None, out: str | Path | None = None,
                 overwrite: bool = False, default_precision: str | None = None) -> tuple[Trainer, str]:
    """A new run that starts from the trained weights of ``source`` (a run: its best, else last; or a saved
    model), on ``data`` (default: the source run's own, its left-out examples still left out), with a
    fresh optimizer; text keeps the source's vocabulary. The trainer and its start line."""
    import torch

    from ..data import load_dataset
    from ..data.registry import normalise_spec
    from ..models.io import load_for_finetuning, read_config
    from ..models.registry import get_model_class
    from ..runs import check_can_write_run, is_run_folder, read_run_file, resolve_weights

    source = str(source)
    data_options = dict(data_options or {})
    meta = read_config(resolve_weights(source, "best"))  # the model's name and data facts; weights come later
    name = meta["model"]
    if model_name and model_name != name:
        raise ConfigError(f"--init-from {source} holds a '{name}' model, not '{model_name}'; name {name} or "
                          "leave MODEL out")
    cls = get_model_class(name)
    model_over, train_over = split_overrides(overrides, cls.config_class.keys(), TrainConfig.keys())
    if steps is not None:
        train_over["steps"] = steps
    inherited_exclusion = None
    if data is not None:
        spec, options = normalise_spec(data), typed_options(data, data_options)
    elif is_run_folder(source):  # the source run's own data: a new run (fresh optimizer) on the same data
        recorded = read_run_file(source)["data"]
        inherited_exclusion = recorded.get("exclude")  # its left-out examples stay out, unless --exclude says otherwise
        spec = recorded["name"]
        options = {**recorded.get("options", {}), **typed_options(spec, data_options)}
    else:
        raise ConfigError(f"--init-from {source} is a saved model, not a run, so it names no data; give --data")
    vocab = meta["data"].get("vocab")  # text: the new text is encoded with the source's vocabulary
    data = load_dataset(spec, root=data_root, tokenizer=vocab, **options)
    config = TrainConfig.for_model(cls, **{**_defaults(cls, default_precision), **train_over})
    torch.manual_seed(config.seed)
    model, init_from = load_for_finetuning(source, data, **model_over)
    default_out = f"runs/{name}-{data.info.name.replace(':', '-').replace('/', '_')}-from-{Path(source).name}"
    out = Path(out or default_out)
    source_folder = Path(source).resolve()
    if out.resolve() == source_folder or out.resolve() in source_folder.parents:
        raise ConfigError(f"--out {out} holds the model --init-from reads; choose another --out")
    check_can_write_run(out, overwrite)
    data_spec = {"name": spec, "options": options, **({"vocab": vocab} if vocab is not None else {})}
    if exclude is None and isinstance(inherited_exclusion, dict):
        from ..data.exclude import Exclusion, exclude_examples

        data_spec["exclude"] = inherited_exclusion
        data = exclude_examples(data, Exclusion.from_record(inherited_exclusion))
    else:
        data = apply_exclude(exclude, data, data_spec)
    trainer = Trainer(model, data, config, out_dir=out, data_spec=data_spec, overwrite=overwrite,
                      init_from=init_from)
    message = (f"fine-tuning {name} ({model.num_parameters():,} parameters) from {init_from['path']} on "
               f"{data.info.name} for {trainer.total_steps} steps -> {out}")
    return trainer, message

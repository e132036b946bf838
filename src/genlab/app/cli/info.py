"""``genlab list`` (models, data sets, modalities), ``genlab info RUN`` and ``genlab verify RUN``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def add_parser(sub) -> None:
    sub.add_parser("list", help="registered models, data sets, kinds of data and tasks").set_defaults(func=run_list)
    i = sub.add_parser("info", help="config, step and last metrics of a run or saved model")
    i.add_argument("run")
    i.set_defaults(func=run_info)
    v = sub.add_parser("verify", help="check a run or saved model: config, weights hash, trainer state, run.json")
    v.add_argument("run")
    v.set_defaults(func=run_verify)


def run_list(args, extra) -> int:
    from ... import list_datasets, list_models
    from ...data.modalities import list_modalities
    from ...data.registry import dataset_options

    print("models:")
    models = list_models()
    width = max(len(",".join(m["data"])) for m in models.values())  # the columns line up whatever the kinds
    for name, m in models.items():
        print(f"  {name:12s} {m['family']:15s} likelihood={m['likelihood']:6s} data={','.join(m['data']):{width}s} "
              f"{m['description']}")
    print("data sets (options given with --data-arg KEY=VALUE):")
    for name, desc in list_datasets().items():
        options = dataset_options(name.replace("PATH", "x"))
        opts = f"  [{', '.join(f'{k}={v}' for k, v in options.items())}]" if options else ""
        print(f"  {name:16s} {desc}{opts}")
    print("kinds of data:")
    for name, desc in list_modalities().items():
        print(f"  {name:16s} {desc}")
    from ...tasks import get_task, list_tasks

    print("tasks (besides sampling):")
    for name, desc in list_tasks().items():
        print(f"  {name:16s} {desc}: {get_task(name).command}")
    return 0


def run_info(args, extra) -> int:
    from ...models.io import read_config
    from ...runs import METRICS_FILE, is_run_folder, read_metrics, read_run_file, resolve_checkpoint_dir

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


def run_verify(args, extra) -> int:
    from ..service.verify import print_verification

    return print_verification(args.run)

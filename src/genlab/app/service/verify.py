"""``genlab verify``: check every part of a run folder or saved model without changing anything.

Each part is reported on its own: ``run.json`` (valid), each saved model's ``config.json``
(a genlab config) and ``model.safetensors`` (the SHA-256 recorded at save time, the shapes the
config implies, a strict load), the checkpoint's ``trainer_state.pt`` (loads, has what a resume
needs, is at the checkpoint's step) and ``metrics.jsonl`` (readable).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ...errors import GenlabError
from ...models.io import CONFIG_FILE, WEIGHTS_FILE, load, read_config
from ...runs.run import (METRICS_FILE, RUN_FILE, STATE_FILE, find_saved_model, is_run_folder, read_metrics, read_run_file,
                  read_trainer_state)

Result = tuple[str, "str | None"]  # (part, the problem or None when it is fine)


def _problem(check: Callable[[], object]) -> str | None:
    try:
        check()
    except GenlabError as e:
        return str(e)
    return None


def _check_config(folder: Path) -> None:
    from ...data.core import DataInfo
    from ...models.registry import get_model_class

    from ...errors import CheckpointError
    from ...runs.pretrained import config_sha256

    meta = read_config(folder)
    recorded = meta.get("config_sha256")
    if recorded is not None and recorded != config_sha256(meta):
        raise CheckpointError(f"{folder / CONFIG_FILE} was changed after it was saved (its SHA-256 is not the one "
                              "recorded in it); restore it from a copy, or save the model again")
    cls = get_model_class(meta["model"])
    cls.config_class.from_dict(meta["config"])
    DataInfo.from_dict(meta["data"])


def _check_state(folder: Path) -> None:
    from ...errors import CheckpointError

    state = read_trainer_state(folder)
    step = read_config(folder).get("step")
    if step is not None and state["step"] != step:
        raise CheckpointError(f"{folder / STATE_FILE} is at step {state['step']}, the model beside it at step {step}")


def verify_saved_model(folder: Path, label: str = "") -> list[Result]:
    """The checks of one saved-model folder (and its trainer state, if it has one)."""
    results = [(f"{label}{CONFIG_FILE}", _problem(lambda: _check_config(folder)))]
    if results[0][1] is not None:
        return results  # the weights cannot be judged without a config
    meta = read_config(folder)
    if "config_sha256" not in meta:
        results[0] = (f"{label}{CONFIG_FILE} (no hash recorded: saved by an older genlab, edits not detectable)", None)
    hashed = "weights_sha256" in meta
    note = "" if hashed else " (no hash recorded: saved by an older genlab, content not checked)"
    results.append((f"{label}{WEIGHTS_FILE}{note}", _problem(lambda: load(folder))))
    if (folder / STATE_FILE).is_file():
        results.append((f"{label}{STATE_FILE}", _problem(lambda: _check_state(folder))))
    return results


def verify(path: str | os.PathLike) -> list[Result]:
    """Check the run folder or saved-model folder ``path``; one (part, problem or None) per part."""
    path = Path(path)
    if not path.is_dir():
        return [(str(path), "does not exist or is not a folder")]
    if (path / CONFIG_FILE).is_file():
        return verify_saved_model(path)
    if not is_run_folder(path):
        return [(str(path), f"is neither a saved model (no {CONFIG_FILE}) nor a training run (no {RUN_FILE})")]
    results = [(RUN_FILE, _problem(lambda: read_run_file(path)))]
    for name in ("checkpoint", "best"):
        folder = find_saved_model(path, name)
        if folder is not None:
            results += verify_saved_model(folder, f"{folder.name}/")
        elif name == "checkpoint":
            results.append(("checkpoint/", "missing: the run has no saved checkpoint (killed before its first?)"))
    if (path / METRICS_FILE).is_file():
        results.append((METRICS_FILE, _problem(lambda: read_metrics(path))))
    return results


def print_verification(path: str | os.PathLike) -> int:
    """Print one ``OK`` or ``FAILED`` line per part of ``path``; the exit code: 0 when all is well, else 2."""
    results = verify(path)
    for part, problem in results:
        print(f"OK     {part}" if problem is None else f"FAILED {part}: {problem}")
    return 2 if any(problem is not None for _, problem in results) else 0

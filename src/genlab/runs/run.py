"""What a training run folder is, in one place.

A run folder (written by :class:`genlab.Trainer` and ``genlab train --out``) holds:

- ``run.json``: the model's registry name, the data spec (name and options), the training
  config and the total number of steps; validated on every read.
- ``checkpoint/``: the last saved model plus ``trainer_state.pt`` (what a resume needs);
  ``best/``: the model with the best validation loss. Either may be found as ``NAME.old``
  only, when a kill fell between the two renames of :func:`genlab.models.io.replace_dir`.
- ``metrics.jsonl``: one JSON row per log event (appended; a torn last line is dropped).
- ``run.lock``: the lock a training holds for its whole ``fit`` (pid and host inside).
- ``samples/`` and ``training_curve.png``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError, GenlabError, RunLockedError
from ..files import CONFIG_FILE, atomic_write_text, storage_errors

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
LOCK_FILE = "run.lock"
STATE_FILE = "trainer_state.pt"
RUN_KEYS = {"model": str, "data": dict, "train": dict, "total_steps": int}
# Everything genlab itself writes into a run folder: what --overwrite removes. Other files are
# the user's and stay.
RUN_OUTPUTS = (RUN_FILE, METRICS_FILE, "checkpoint", "checkpoint.old", ".checkpoint.tmp", "best", "best.old",
               ".best.tmp", "samples", "training_curve.png", "samples.png", "nearest_training_images.png",
               "evaluations.json")  # the stored evaluations of genlab.evaluation.store
RUN_HINT = "give the folder `genlab train --out` wrote"


# ---- run.json -------------------------------------------------------------------------------------
def is_run_folder(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder with a ``run.json`` (its contents are not checked)."""
    return (Path(path) / RUN_FILE).is_file()


def read_run_file(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The checked ``run.json`` of a training run: model, data spec, training config, total steps.

    Raises:
        CheckpointError: no run.json, or one that is not JSON, lacks a key or has a value of the
            wrong type (e.g. ``total_steps`` as a string, ``train`` as a list).
    """
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise CheckpointError(f"'{run_dir}' is not a training run (no {RUN_FILE}); {RUN_HINT}")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} cannot be read as JSON ({e}); the file is damaged: restore it or train again") from e
    if not isinstance(run, dict):
        raise CheckpointError(f"{path} is not a genlab run file (a JSON mapping); restore it or train again")
    for key, kind in RUN_KEYS.items():
        if key not in run:
            raise CheckpointError(f"{path} has no '{key}'; the file is damaged or edited: restore it or train again")
        value = run[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CheckpointError(f"{path}: '{key}' must be {'an integer' if kind is int else f'a {kind.__name__}'}, "
                                  f"not {type(value).__name__} {value!r:.40}; the file was edited: restore it")
    if not isinstance(run["data"].get("name"), str) or not isinstance(run["data"].get("options", {}), dict):
        raise CheckpointError(f"{path}: 'data' needs a 'name' (text) and 'options' (a mapping); restore the file")
    return run


def write_run_file(run_dir: str | os.PathLike, run: dict[str, Any]) -> None:
    """Write ``run.json`` atomically."""
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(run, indent=2))


def load_run_data(run_dir: str | os.PathLike, data_root: str | None = None):
    """The data set a training run was trained on, loaded again from its ``run.json``.

    A fine-tuned text run records the vocabulary it encodes its text with (its source model's)
    as ``data.vocab``; the text is read with it again.
    A run trained with ``--exclude`` records the training examples it left out
    (``data.exclude``, :mod:`genlab.data.exclude`); they are left out again.
    """
    from ..data import load_dataset
    from ..data.exclude import Exclusion, exclude_examples

    spec = read_run_file(run_dir)["data"]
    data = load_dataset(spec["name"], root=data_root, tokenizer=spec.get("vocab"), **spec.get("options", {}))
    if isinstance(spec.get("exclude"), dict):
        data = exclude_examples(data, Exclusion.from_record(spec["exclude"]))
    return data


def check_data_matches(model_info, data_info, where: str | os.PathLike) -> None:
    """Refuse data that differs from what the model was trained on (name, kind, shape, levels, vocabulary).

    Args:
        model_info: the model's :class:`~genlab.data.DataInfo` (from its config.json).
        data_info: the data set's :class:`~genlab.data.DataInfo`.
        where: the model's folder, named in the message.
    """
    ours, theirs = model_info.to_dict(), data_info.to_dict()
    differ = [key for key in ours if ours[key] != theirs.get(key)]
    if differ:
        raise CheckpointError(f"the model in {where} was trained on '{model_info.name}'; the data '{data_info.name}' "
                              f"differs in {', '.join(differ)}: give the data the model was trained on")


# ---- new runs and --overwrite ------------------------------------------------------------------------
def check_can_write_run(out: str | os.PathLike, overwrite: bool) -> None:
    """Refuse an ``--out`` that holds a run (unless ``overwrite``) or that is not a run at all.

    Nothing is touched: the old run is removed only when the new one starts
    (:func:`clear_run`), after every check of the new run has passed.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenlabError(f"'{out}' is a file, not a run folder; choose another --out")
    if not overwrite:
        if (out / "checkpoint").exists() or (out / "checkpoint.old").exists():
            raise GenlabError(f"run folder '{out}' already has a checkpoint; continue it with --resume {out}, "
                              "choose another --out, or pass --overwrite")
        return
    if out.is_dir() and not is_run_folder(out) and any(p.name != LOCK_FILE for p in out.iterdir()):
        raise GenlabError(f"'{out}' is not a genlab run folder (no {RUN_FILE}), so --overwrite will not delete it; "
                          "choose another --out")


def clear_run(out: str | os.PathLike) -> None:
    """Remove what genlab wrote in the run folder ``out`` (the user's own files stay)."""
    out = Path(out)
    for name in RUN_OUTPUTS:
        path = out / name
        with storage_errors(path):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()


# ---- the lock --------------------------------------------------------------------------------------
class RunLock:
    """An exclusive lock on a run folder: ``run.lock``, held with ``flock`` while a training writes.

    ``flock`` locks an open file description, so two trainers in one process exclude each other
    as two processes do; the kernel drops the lock when the process dies. The file names the
    holder (pid and host) for the message the second trainer gets. Where ``fcntl`` does not
    exist (Windows) the lock is a no-op.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_FILE
        self._file = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # no flock on this platform
            return
        with storage_errors(self.path):
            f = open(self.path, "a+", encoding="utf-8")  # "a+": a failed opener must not erase the holder's name
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = _describe_holder(f.read())
            f.close()
            raise RunLockedError(f"run folder {self.path.parent} is in use by another training ({holder}); wait for it "
                                 "to finish or stop it, or choose another --out") from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is None:
            return
        import fcntl

        self._file.seek(0)
        self._file.truncate()  # nobody holds it now
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on host {holder['host']}"
    except (json.JSONDecodeError, KeyError, TypeError):
        return "holder unknown"


# ---- metrics.jsonl -----------------------------------------------------------------------------------
def append_metrics(run_dir: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append one row to ``metrics.jsonl``."""
    path = Path(run_dir) / METRICS_FILE
    with storage_errors(path), open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` ([] when there is none).

    A torn last line (a kill or a full disk during a write) is dropped with a warning on
    stderr; a damaged line before the last is an error, since rows would be lost silently.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    rows = []
    for number, line in enumerate(lines, 1):
        row = _parse_row(line)
        if row is not None:
            rows.append(row)
        elif number == len(lines):
            print(f"warning: dropped the torn last line of {path} (an interrupted write)", file=sys.stderr)
        else:
            raise CheckpointError(f"line {number} of {path} is damaged (not a metrics row); delete that line and run again")
    return rows


def _parse_row(line: str) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    return row if isinstance(row, dict) and isinstance(row.get("step"), int) else None


def truncate_metrics(run_dir: str | os.PathLike, step: int) -> list[dict[str, Any]]:
    """Drop the rows logged after ``step`` (and a torn tail); returns the rows kept."""
    rows = [r for r in read_metrics(run_dir) if r["step"] <= step]
    if (Path(run_dir) / METRICS_FILE).is_file():
        atomic_write_text(Path(run_dir) / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in rows))
    return rows


# ---- weights and checkpoints ----------------------------------------------------------------------
def find_saved_model(folder: Path, name: str) -> Path | None:
    """``folder/name``, else ``folder/name.old`` (a kill between two renames), if either holds a model."""
    for candidate in (folder / name, folder / f"{name}.old"):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """The saved-model folder behind ``path``: the folder itself or a training run's last checkpoint."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"'{path}' does not exist; give a saved-model folder or a training run folder")
    found = find_saved_model(path, "checkpoint")
    if (path / CONFIG_FILE).is_file() and not (found is not None and is_run_folder(path)):
        return path  # a saved model (a config.json beside a run's run.json is not genlab's: the checkpoint wins)
    if found is None:
        raise CheckpointError(f"'{path}' is neither a saved model (no {CONFIG_FILE}) nor a training run "
                              "with a checkpoint; train one with `genlab train` first")
    return found


def resolve_weights(run: str | os.PathLike, which: str = "best") -> Path:
    """The saved-model folder to sample or evaluate: ``best`` (by validation, if kept) or ``last``.

    ``best`` falls back to ``best.old`` and then to the last checkpoint; a saved-model folder
    is itself for both.
    """
    if which not in ("best", "last"):
        raise ConfigError(f"--weights must be best or last, got {which}")
    run = Path(run)
    if which == "best" and run.is_dir() and not (run / CONFIG_FILE).is_file():
        best = find_saved_model(run, "best")
        if best is not None:
            return best
    return resolve_checkpoint_dir(run)


# ---- what a resume needs -----------------------------------------------------------------------------
STATE_KEYS = ("step", "optimizers", "schedulers", "sampler", "best_val", "evals_since_best", "lr_scale", "rng")
RNG_KEYS = ("torch", "cuda", "python", "numpy")


def read_trainer_state(folder: str | os.PathLike) -> dict[str, Any]:
    """The checked ``trainer_state.pt`` of a checkpoint folder, loaded with ``weights_only=True``.

    Raises:
        CheckpointError: no state file, a damaged one, one holding objects genlab does not load
            (the global is named), or one without an entry a resume needs (the RNG states...).
    """
    import torch

    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder} has no {STATE_FILE}: it is a saved model, not a resumable checkpoint")
    fix = "resume from another checkpoint or start the run again"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's text advises loading with weights_only=False, which genlab never does: not repeated
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointError(f"{path} holds objects genlab does not load{what}: it was not written by genlab's "
                              f"trainer; {fix}") from e
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path} is damaged (not a readable trainer state); {fix}") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a genlab trainer state; {fix}")
    missing = [k for k in STATE_KEYS if k not in state]
    missing += [f"rng.{k}" for k in RNG_KEYS if "rng" in state and k not in (state["rng"] or {})]
    if missing:
        raise CheckpointError(f"{path} has no '{missing[0]}' entry, which a resume needs; {fix}")
    return state


def check_resume_steps(steps: int | None, current: int, run_dir: str | os.PathLike) -> None:
    """Refuse a new total of steps below the step the run has reached."""
    if steps is not None and steps < current:
        raise ConfigError(f"--steps {steps} is below the step {run_dir} has reached ({current}); give a total of at "
                          f"least {current}, or start a new run")

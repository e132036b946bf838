"""What every benchmark shares: a seeded model, where its run is kept, and steps for a time budget."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..models.registry import create_model
from ..training import TrainConfig, Trainer


def _seeded(model_name: str, data, seed: int, **model_kw):
    torch.manual_seed(seed)
    return create_model(model_name, data=data, **model_kw)


def _run_dir(out, model_name: str) -> Path | None:
    """Where a benchmark keeps the run of ``model_name``: ``out/runs/MODEL``, or None without ``out``.

    A folder there that is not empty is refused before anything is trained: it is never replaced.
    """
    if out is None:
        return None
    run_dir = Path(out) / "runs" / model_name
    if run_dir.is_dir() and any(run_dir.iterdir()) or run_dir.is_file():
        raise ConfigError(f"'{run_dir}' already exists and the benchmark would replace it; give another --out "
                          "or remove that folder")
    return run_dir


def _data_spec(recipe) -> dict[str, Any]:
    """How ``genlab`` loads a recipe's data again (resume, sample, eval of a kept run)."""
    return {"name": recipe.data, "options": dict(recipe.data_options)}


def _kept(result: dict[str, Any], *run_dirs) -> dict[str, Any]:
    """``result`` with the folders of the runs it kept, if any."""
    runs = [str(r) for r in run_dirs if r is not None]
    return dict(result, runs=runs) if runs else result


def _train(model, data, train: dict[str, Any], out_dir=None, data_spec=None) -> tuple[Trainer, dict[str, Any]]:
    trainer = Trainer(model, data, TrainConfig.for_model(model, **train), out_dir=out_dir, data_spec=data_spec)
    summary = trainer.fit()
    return trainer, summary


def steps_for_budget(model_name: str, data, model_kw: dict, train: dict, budget_s: float, seed: int = 0,
                     probe: int = 10) -> int:
    """Optimizer steps of the ``train`` recipe that fit in ``budget_s`` seconds on this machine.

    Times three windows of ``probe`` steps (after 3 warm-up steps) of a throw-away copy of the
    model and keeps the fastest, so that a moment of contention from another process does not
    shrink the run; the real run then trains that many steps with its full learning-rate
    schedule, so a run is fixed by its step count (reported beside the figures) and repeats
    exactly on any machine.
    """
    model = _seeded(model_name, data, seed, **model_kw)
    config = TrainConfig.for_model(model, **dict(train, steps=10**9, eval_every=0, checkpoint_every=0, sample_every=0,
                                                 progress=False))
    trainer = Trainer(model, data, config)
    trainer.fit(until=3)
    windows = []
    for _ in range(3):
        start = time.perf_counter()
        trainer.fit(until=trainer.step + probe)
        windows.append((time.perf_counter() - start) / probe)
    return max(1, int(budget_s / min(windows)))

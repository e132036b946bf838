"""The registry of samples: record what a command generated (the run's log and the index), and
score a batch's sample quality."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError
from ...runs import is_run_folder
from .evaluation import load_features
from .models import draw_samples, load_model, provenance_record, run_data


# ---- the registry of samples ---------------------------------------------------------------------
def record_samples(run: str | Path, paths: list[Path], rec: dict[str, Any] | list[dict[str, Any]], tags: list[str] | tuple = (),
                   scores: dict[str, Any] | None = None, score_info: dict[str, Any] | None = None,
                   registry=None) -> tuple[list[str], list[str]]:
    """Record the generated files ``paths`` of ``run`` (made with provenance record ``rec``, or a list of
    records, one per file): a line each in the run's log ``samples.jsonl`` (the source of truth), then in
    the registry's index (:mod:`genlab.runs.catalog`). Returns ``(ids, warnings)``: a log or index that cannot
    be written is a one-line warning, not an error, since the files are already written. ``registry``: an
    open :class:`~genlab.runs.catalog.Registry`, or its path (default ``$GENLAB_REGISTRY``, else ``runs/registry.sqlite3``)."""
    from ...runs import catalog
    from ...errors import GenlabError

    catalog.check_tags(tags)
    home = catalog.run_home(run, rec)
    entries = catalog.sample_entries(home, paths, rec, tags, scores, score_info)
    try:
        catalog.append_log(home, entries)
    except GenlabError as e:
        return [], [f"the samples were not recorded: {e}"]
    warnings = []
    try:
        index = registry if isinstance(registry, catalog.Registry) else catalog.open_registry(registry)
        index.index(home, entries)
    except GenlabError as e:
        warnings.append(f"the samples are in {home / catalog.LOG_FILE} but not in the registry index ({e})")
    return [e["id"] for e in entries], warnings


def rescore_sample(registry, sample_id: str, features: str | None = None, device: str | None = None
                   ) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """Score a recorded batch of ``genlab sample`` images again and record the scores: the batch is drawn
    again from its record (the same weights, seed and sampling arguments) and must render to the very
    pixels of the recorded file, else it is refused (a batch drawn on another device may differ).
    Returns ``(sample, scores, info)`` as :func:`score_batch`."""
    import tempfile

    import numpy as np
    from PIL import Image

    from ...provenance import read

    s = registry.get_sample(sample_id)
    sid = s["id"]
    if s["command"] != "sample" or s["kind"] != "image":
        raise ConfigError(f"sample {sid} was not drawn by `genlab sample` from an image model; only those are scored "
                          "again (score a batch as it is drawn: genlab sample --score)")
    if not s["exists"] or not s["sha256_ok"]:
        state = "has gone" if not s["exists"] else "changed since it was recorded"
        raise ConfigError(f"the file of sample {sid} ({s['path']}) {state}; it cannot be scored")
    sampling = dict(s["sampling"] or {})
    num, condition = sampling.pop("num", None), sampling.pop("condition", None)
    if sampling.pop("prompt", None) is not None or sampling.pop("context", None) is not None or num is None:
        raise ConfigError(f"sample {sid} was drawn from a prompt or context; it cannot be drawn again here")
    if not is_run_folder(s["run"]):
        raise ConfigError(f"sample {sid} comes from a bare saved model ({s['run']}), which names no test data")
    found = read(s["path"])
    weights = ((found.record if found else {}).get("generator") or {}).get("weights")
    if not weights or not Path(weights).is_dir():
        raise ConfigError(f"the weights folder that drew sample {sid} ({weights}) is gone; it cannot be drawn again")
    model, folder = load_model(weights, "best", device)
    if provenance_record(model, folder, s["run"], "sample", None)["generator"]["weights_sha256"] != s["weights_sha256"]:
        raise ConfigError(f"the weights in {folder} changed since sample {sid} was drawn; it cannot be drawn again")
    scorer = batch_scorer(model, s["run"], features)
    samples = draw_samples(model, num, condition=condition, seed=s["seed"] or 0, progress=True, **sampling)
    with tempfile.TemporaryDirectory() as tmp:
        again = model.data_info.modality.render(model.data_info, samples, Path(tmp) / Path(s["path"]).name)
        with Image.open(again) as a, Image.open(s["path"]) as b:
            same = np.array_equal(np.asarray(a), np.asarray(b))
    if not same:
        raise ConfigError(f"drawing sample {sid} again did not give the pixels of {s['path']} (another device or "
                          "genlab version?); score batches as they are drawn: genlab sample --score")
    scores, info = score_batch(scorer, samples, s["seed"] or 0)
    registry.record_scores([sid], scores, info.pop("feature_net"), **info)
    return s, scores, registry.get_sample(sid, check_file=False)["score_info"]


def batch_scorer(model, run: str | Path, features: str | None = None):
    """The scorer (:mod:`genlab.evaluation.scorers`) of ``model``'s samples against its run's test split,
    with the feature network ``features`` (else ``features/<data>``); checked before any sampling."""
    from ...evaluation.scorers import get_scorer

    if model.data_info.modality.scored_against_truth(model):
        raise ConfigError(f"model '{model.name}' is scored against the truth, not by its samples' quality; "
                          f"leave out --score and run `genlab eval {run}`")
    data = run_data(run, model)
    return get_scorer(data, load_features(data, features))


def score_batch(scorer, samples: torch.Tensor, seed: int = 0) -> tuple[dict[str, float], dict[str, Any]]:
    """Sample-quality scores of the batch ``samples`` with ``scorer`` (:func:`batch_scorer`). Returns
    ``(scores, info)``: the numeric scores, and the feature network's hash, the scorer and the numbers
    of samples and test examples (a small batch gives noisy scores)."""
    data = scorer.data
    result = scorer.score_samples(samples.cpu(), seed=seed)
    scores = {k: float(v) for k, v in result.items()
              if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("num_samples", "num_test")
              and not k.startswith("feature")}
    info = {"feature_net": result.get("features"), "scorer": data.info.kind, "num_samples": result.get("num_samples"),
            "num_test": result.get("num_test"), "seed": seed}
    return scores, info

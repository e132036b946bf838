"""The models a server holds: each run loaded once, and what `GET /api/models` says of it."""

from __future__ import annotations

import dataclasses
import inspect
import re
import threading
from pathlib import Path
from typing import Any

from ...errors import ConfigError, GenlabError

from .. import service


@dataclasses.dataclass
class Served:
    """One model the server holds: loaded once, with its run folder and (lazily) its data."""

    id: str
    run: Path
    model: Any
    folder: Path
    data: Any = None
    indexed: Any = None  # the data search and the example files read (every training example)
    scorer: Any = None  # what scores a batch's sample quality, made on the first request to score
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def get_data(self):
        with self.lock:
            if self.data is None:
                self.data = service.run_data(self.run, self.model)
            return self.data

    def get_scorer(self, features: str | None):
        """The sample-quality scorer of this model's batches (its data's test split, the feature network)."""
        with self.lock:
            if self.scorer is None:
                self.scorer = service.batch_scorer(self.model, self.run, features)
            return self.scorer

    @property
    def is_run(self) -> bool:
        from ...runs import is_run_folder

        return is_run_folder(self.run)

    def get_indexed(self):
        """The run's data with every training example (what search numbers), loaded once."""
        with self.lock:
            if self.indexed is None:
                self.indexed = service.indexed_data(self.run)
            return self.indexed


def served_id(run: Path, taken: set[str]) -> str:
    """The run folder's name, made unique (``demo``, ``demo-2``...) and safe in a URL."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", run.resolve().name).strip("-") or "model"
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}-{i}"
    return name


def load_served(runs: list[str | Path], weights: str = "best", device: str | None = None) -> dict[str, Served]:
    """Load every run once; a one-line error for a folder that is not a run or saved model."""
    if not runs:
        raise ConfigError("give at least one run folder to serve, e.g. genlab serve runs/demo")
    served: dict[str, Served] = {}
    for run in runs:
        model, folder = service.load_model(run, weights, device)
        sid = served_id(Path(run), set(served))
        served[sid] = Served(sid, Path(run), model, Path(folder))
    return served


def sample_arg_specs(model) -> dict[str, dict[str, Any]]:
    """The model's own sampling settings: ``{name: {"default": value, "type": "int"|"float"|"bool"|"str"|"any"}}``."""
    params = service.sample_parameters(model) or {}
    specs = {}
    for name, p in params.items():
        if p.kind not in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            continue
        default = None if p.default is inspect.Parameter.empty else p.default
        kind = type(default).__name__ if isinstance(default, (bool, int, float, str)) else _annotated(p.annotation)
        specs[name] = {"default": default, "type": kind}
    return specs


def _annotated(annotation: Any) -> str:
    """The kind of a setting without a typed default, from its annotation (``int | None`` -> "int")."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    text = text.strip("'\"")
    parts = {part.strip() for part in text.replace("Optional[", "").replace("]", "").split("|")} - {"None"}
    return parts.pop() if len(parts) == 1 and parts <= {"int", "float", "bool", "str"} else "any"


def describe(s: Served) -> dict[str, Any]:
    """What ``GET /api/models`` says of a served model: what it is, what it takes, what it scored."""
    from ...runs.pretrained import read_config
    from ...runs import is_run_folder, read_metrics

    model, info = s.model, s.model.data_info
    modality = info.modality
    spec = model.condition_spec
    condition = None
    if spec is not None:
        condition = {"kind": spec.kind}
        if hasattr(spec, "num_classes"):
            condition["num_classes"] = spec.num_classes
    from ...tasks import tasks_for

    tasks = [] if modality.input_task else ["generate"]  # a model of an input picture samples only through its task
    tasks += [task.name for task in tasks_for(model)]
    if model.likelihood != "none" or modality.scored_against_truth(model):
        tasks.append("evaluate")
    meta = read_config(s.folder)
    out: dict[str, Any] = {
        "id": s.id, "run": s.run.resolve().name, "model": model.name, "family": model.family, "kind": info.kind,
        "data": public_name(info.name), "shape": list(info.shape) if info.shape is not None else None,
        "likelihood": model.likelihood, "unit": modality.unit if isinstance(getattr(modality, "unit", None), str)
        else None, "parameters": model.num_parameters(), "step": meta.get("step"),
        "weights_sha256": meta.get("weights_sha256"), "condition": condition, "tasks": tasks,
        "sample_args": sample_arg_specs(model), "default_num_samples": modality.default_num_samples,
        "reads_as_text": modality.reads_as_text, "metrics": {},
        "scorable": "generate" in tasks and not modality.scored_against_truth(model) and scorable(info.kind),
    }
    if is_run_folder(s.run):
        rows = [r for r in read_metrics(s.run) if r.get("split") == "val"]
        if rows:
            out["metrics"] = {k: v for k, v in rows[-1].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    out["evaluations"] = stored_evaluations(s.run)
    return out


def scorable(kind: str) -> bool:
    """Whether a batch of this kind of data can be scored (``"score": true``): a sample scorer judges it."""
    from ...evaluation.scorers import Scorer, scorer_class

    try:
        cls = scorer_class(kind)
    except GenlabError:
        return False
    return cls.score_samples is not Scorer.score_samples  # text is compared by likelihood only


def stored_evaluations(run: Path) -> list[dict[str, Any]]:
    """The results ``genlab eval`` and ``genlab compare`` stored in the run (numbers and names only)."""
    import json

    from ...evaluation.store import STORE_FILE

    try:
        entries = json.loads((run / STORE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    results = [e.get("result") for e in entries.values() if isinstance(e, dict)] if isinstance(entries, dict) else []
    return [{k: public_name(v) if isinstance(v, str) else v for k, v in r.items()
             if isinstance(v, (int, float, str)) and not isinstance(v, bool)} for r in results if isinstance(r, dict)]


def public_name(name: str) -> str:
    """A data set's name without a path of this machine: ``text:/home/me/book.txt`` -> ``text:book.txt``."""
    kind, sep, rest = name.partition(":")
    if sep and ("/" in rest or "\\" in rest):
        return f"{kind}:{Path(rest).name}"
    return name

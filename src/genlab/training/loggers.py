"""Where training logs go: ``metrics.jsonl`` always, TensorBoard and MLflow when asked.

Every back-end has the same four methods, which the trainer calls and nothing else:

- ``log_params(params)``: the run's settings once, at the start (a flat ``{name: value}``);
- ``log_metrics(row, step)``: one row of the trainer's log (``{"step", "split", metric: value}``);
- ``log_artifact(path, step=None, folder=None)``: a file the run wrote (a sample grid, a model file);
- ``close(status)``: flush and finish, ``status`` being "FINISHED", "FAILED" or "KILLED".

TensorBoard and MLflow are optional extras and are imported only when a run asks for them, so
``import genlab`` never loads them. Only the main process (rank 0) logs: the trainer opens no
back-end on the other ranks.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "mlartifacts"
MLFLOW_RUN_FILE = "mlflow_run.json"  # the MLflow run id, so that a resumed run continues the same MLflow run
TRACKERS = ("jsonl", "mlflow", "tensorboard")  # "jsonl" is always on; naming it changes nothing
EXTRA = "pip install 'genlab[tracking]'"
PARAM_MAX_CHARS = 6000  # MLflow's limit on a parameter value


def check_trackers(names: list[str]) -> None:
    """Raise a one-line ConfigError for a back-end name that is not one of :data:`TRACKERS`."""
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ConfigError(f"unknown tracking back-end '{unknown[0]}'; valid: {', '.join(TRACKERS)} "
                          "(e.g. --track tensorboard,mlflow)")


def require_backends(names: list[str]) -> None:
    """Raise the one-line ConfigError of a missing extra now, before anything is written."""
    modules = {"tensorboard": "torch.utils.tensorboard", "mlflow": "mlflow.tracking"}
    for name in dict.fromkeys(names):
        if name in modules:
            try:
                importlib.import_module(modules[name])
            except ImportError as e:
                raise ConfigError(f"--track {name} needs the {name} package: {EXTRA}") from e


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The numbers of a log row, named ``split/key`` (``train/loss``, ``val/loss``, ``event/lr_scale``).

    ``step`` and ``split`` are the row's coordinates, not metrics; text, lists and booleans
    (warnings, event names) are left to ``metrics.jsonl``.
    """
    split = row.get("split", "train")
    return {f"{split}/{k}": float(v) for k, v in row.items()
            if k not in ("step", "split") and isinstance(v, (int, float)) and not isinstance(v, bool)}


class Logger:
    """The interface; each method does nothing unless a back-end overrides it."""

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def log_metrics(self, row: dict[str, Any], step: int) -> None:
        pass

    def log_artifact(self, path: str | Path, step: int | None = None, folder: str | None = None) -> None:
        pass

    def close(self, status: str = "FINISHED") -> None:
        pass


class JsonlLogger(Logger):
    """One JSON object per line in ``RUN/metrics.jsonl``, appended as it comes (the default log)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / METRICS_FILE

    def log_metrics(self, row: dict[str, Any], step: int) -> None:
        from ..runs import append_metrics

        append_metrics(self.run_dir, row)  # a full disk or read-only folder is a one-line error


class TensorBoardLogger(Logger):
    """Event files in ``RUN/tensorboard/``: scalars by step, sample grids as images, text samples as text.

    Args:
        run_dir: the run folder.
        start_step: the step training resumes from (0 for a new run). Events that an earlier,
            killed session logged after it are hidden by TensorBoard, so that a resumed run shows
            each step once.
    """

    def __init__(self, run_dir: str | Path, start_step: int = 0):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ConfigError(f"--track tensorboard needs the tensorboard package: {EXTRA}") from e
        # TensorBoard hides the events of steps >= purge_step written before this writer
        self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR), purge_step=start_step + 1)

    def log_params(self, params: dict[str, Any]) -> None:
        # the text plugin renders Markdown: a code block keeps the JSON readable
        self.writer.add_text("params", "```\n" + json.dumps(params, indent=2, sort_keys=True) + "\n```", 0)

    def log_metrics(self, row: dict[str, Any], step: int) -> None:
        for name, value in scalars(row).items():
            self.writer.add_scalar(name, value, step)

    def log_artifact(self, path: str | Path, step: int | None = None, folder: str | None = None) -> None:
        path = Path(path)
        tag = folder or path.stem
        if path.suffix.lower() == ".png":
            import numpy as np
            from PIL import Image

            image = np.asarray(Image.open(path))  # [H, W] grey or [H, W, C] colour, uint8
            self.writer.add_image(tag, image, step, dataformats="HW" if image.ndim == 2 else "HWC")
        elif path.suffix.lower() == ".txt":
            self.writer.add_text(tag, "```\n" + path.read_text(encoding="utf-8") + "\n```", step)
        # other files (model weights) have no TensorBoard view

    def close(self, status: str = "FINISHED") -> None:
        self.writer.close()


def default_mlflow_uri(run_dir: str | Path) -> str:
    """``sqlite:///RUN/mlflow.db`` with the run folder's absolute path: no server needed."""
    return f"sqlite:///{(Path(run_dir) / MLFLOW_DB).resolve()}"


class MlflowLogger(Logger):
    """One MLflow run per genlab run: parameters, metrics by step, sample grids and the model as artifacts.

    The MLflow run id is kept in ``RUN/mlflow_run.json``; a resumed genlab run continues that
    MLflow run, and steps the MLflow run already has (logged after the last checkpoint by a
    killed session, which the resumed run recomputes exactly) are not logged twice.

    Args:
        run_dir: the run folder.
        uri: the tracking URI; "" means MLflow's own ``MLFLOW_TRACKING_URI`` where it is set, else
            :func:`default_mlflow_uri` (a store in the run folder). For a SQLite store, a new
            experiment keeps its artifacts in ``mlartifacts/`` beside the database file.
        experiment: the MLflow experiment's name (created if missing).
        start_step: the step training resumes from; 0 starts a new MLflow run even where the
            folder records one (of an earlier attempt that never reached a checkpoint).
    """

    def __init__(self, run_dir: str | Path, uri: str = "", experiment: str = "genlab", start_step: int = 0):
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as e:
            raise ConfigError(f"--track mlflow needs the mlflow package: {EXTRA}") from e
        self.run_dir = Path(run_dir)
        self.uri = uri or os.environ.get("MLFLOW_TRACKING_URI", "").strip() or default_mlflow_uri(run_dir)
        self.client = MlflowClient(tracking_uri=self.uri)
        self.run_id = (self._continue_run() if start_step > 0 else None) or self._new_run(experiment)
        self.logged_to = self._last_logged_steps()

    def _continue_run(self) -> str | None:
        """The recorded MLflow run id when it was logged to this URI, set running again; else None."""
        from mlflow.exceptions import MlflowException

        path = self.run_dir / MLFLOW_RUN_FILE
        if not path.is_file():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("uri", "") != self._recorded_uri():
            raise ConfigError(f"this run logged to MLflow at '{record.get('uri') or MLFLOW_DB + ' in the run folder'}', "
                              f"not '{self.uri}'; resume with the run's own mlflow_uri")
        try:
            self.client.update_run(record["run_id"], status="RUNNING")
        except MlflowException as e:
            raise ConfigError(f"MLflow run {record['run_id']} (named in {path}) is not in {self.uri}; delete that file "
                              "to log to a new MLflow run, or resume with --track without mlflow") from e
        return record["run_id"]

    def _recorded_uri(self) -> str:
        # the default store moves with the run folder, so it is recorded as "" rather than as a path
        return "" if self.uri == default_mlflow_uri(self.run_dir) else self.uri

    def _new_run(self, experiment: str) -> str:
        found = self.client.get_experiment_by_name(experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            artifacts = None
            if self.uri.startswith("sqlite:///"):  # else MLflow would write them under the working directory
                artifacts = (Path(self.uri[len("sqlite:///"):]).parent / MLFLOW_ARTIFACTS).resolve().as_uri()
            experiment_id = self.client.create_experiment(experiment, artifact_location=artifacts)
        run = self.client.create_run(experiment_id, run_name=self.run_dir.resolve().name,
                                     tags={"genlab.run_dir": str(self.run_dir.resolve())})
        from ..files import atomic_write_text

        atomic_write_text(self.run_dir / MLFLOW_RUN_FILE,
                          json.dumps({"uri": self._recorded_uri(), "run_id": run.info.run_id}, indent=2))
        return run.info.run_id

    def _last_logged_steps(self) -> dict[str, int]:
        """The highest step of each metric the MLflow run already holds (none for a new run)."""
        keys = self.client.get_run(self.run_id).data.metrics
        return {key: max(m.step for m in self.client.get_metric_history(self.run_id, key)) for key in keys}

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        # MLflow parameters cannot change: a resumed run adds only the ones it did not have
        have = self.client.get_run(self.run_id).data.params
        new = [Param(k, _param_text(v)) for k, v in params.items() if k not in have]
        for i in range(0, len(new), 100):  # MLflow takes at most 100 parameters per batch
            self.client.log_batch(self.run_id, params=new[i:i + 100])

    def log_metrics(self, row: dict[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in scalars(row).items()
                   if math.isfinite(v) and step > self.logged_to.get(k, -1)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_artifact(self, path: str | Path, step: int | None = None, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path=folder)

    def close(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:PARAM_MAX_CHARS]


class LoggerGroup(Logger):
    """Several back-ends behind the one interface; every call goes to each in turn."""

    def __init__(self, loggers: list[Logger]):
        self.loggers = loggers

    def log_params(self, params: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_params(params)

    def log_metrics(self, row: dict[str, Any], step: int) -> None:
        for logger in self.loggers:
            logger.log_metrics(row, step)

    def log_artifact(self, path: str | Path, step: int | None = None, folder: str | None = None) -> None:
        for logger in self.loggers:
            logger.log_artifact(path, step=step, folder=folder)

    def close(self, status: str = "FINISHED") -> None:
        for logger in self.loggers:
            logger.close(status)


def open_trackers(run_dir: str | Path, names: list[str], start_step: int = 0, mlflow_uri: str = "",
                  mlflow_experiment: str = "genlab") -> LoggerGroup:
    """The optional back-ends ``names`` (``tensorboard``, ``mlflow``) for the run in ``run_dir``.

    A back-end whose package is missing raises a one-line ConfigError naming the extra to install.
    """
    check_trackers(names)
    opened: list[Logger] = []
    try:
        for name in dict.fromkeys(names):  # each once, in the order given
            if name == "tensorboard":
                opened.append(TensorBoardLogger(run_dir, start_step))
            elif name == "mlflow":
                opened.append(MlflowLogger(run_dir, mlflow_uri, mlflow_experiment, start_step))
    except BaseException:
        LoggerGroup(opened).close("FAILED")
        raise
    return LoggerGroup(opened)

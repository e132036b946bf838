"""One trainer for every family.

The trainer knows the model contract only: it asks the model for its optimizers and their
order, calls ``training_step``, and handles everything else the same way for every family:
schedules, clipping, accumulation, EMA, precision, validation, samples, checkpoints and resume.

A run folder holds ``run.json`` (what was trained on what, with which settings),
``checkpoint/`` (the saved model plus ``trainer_state.pt``), ``best/`` (the best model on
validation), ``metrics.jsonl`` and ``samples/``.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data.core import DataSet, check_data_fits
from ..data.modalities.tokens import decode_tokens  # noqa: F401  (its old import path)
from ..data.sampler import BatchSampler
from ..devices import bf16_autocast, hardware, pick_device, resolve_precision
from ..errors import CheckpointError, ConfigError, StorageError, TrainingDiverged
from ..models.io import (CONFIG_FILE, WEIGHTS_FILE, atomic_write_bytes, load_state_file, read_config, replace_dir,
                  save_pretrained, storage_errors)
from ..runs import run as runs
from ..runs.run import RUN_FILE, STATE_FILE, load_run_data, read_run_file, resolve_checkpoint_dir  # noqa: F401 (old imports)
from .. import distributed, progress, provenance
from .config import TrainConfig
from .ema import EMA
from .loggers import JsonlLogger, Logger, open_trackers, require_backends
from .plots import save_curve
from .schedule import lr_factor

EVAL_SEED = 1234  # validation and sampling run on their own RNG stream


def bar_losses(row: dict[str, Any]) -> dict[str, str]:
    """The losses the progress bar shows: ``loss``, or one per optimizer of a model with several
    (a GAN's ``loss_discriminator`` and ``loss_generator`` as ``d_loss`` and ``g_loss``)."""
    if "loss" in row:
        return {"loss": f"{row['loss']:.4g}"}
    return {f"{k[len('loss_'):][:1]}_loss": f"{v:.4g}" for k, v in sorted(row.items()) if k.startswith("loss_")}


class Trainer:
    """Trains ``model`` on ``data`` with ``config``; writes the run folder ``out_dir`` if given.

    Args:
        model: any registered :class:`~genlab.models.base.GenerativeModel`.
        data: the :class:`~genlab.data.DataSet` (its splits are read; nothing else).
        config: a :class:`TrainConfig`.
        out_dir: the run folder (checkpoints, metrics, samples); None keeps everything in memory.
        data_spec: how to load ``data`` again on resume (name and options), saved in run.json.
        overwrite: replace the run already in ``out_dir`` (only genlab's files, and only when
            :meth:`fit` starts, once every check has passed); a folder that is not a run is refused.
        init_from: where the initial weights came from (``{"path", "weights_sha256", ...}``, see
            :func:`genlab.models.io.load_for_finetuning`), recorded in run.json.

    ``data`` must have the form the model was built for (kind, image shape, levels, classes,
    vocabulary; the name may differ): else a one-line :class:`~genlab.errors.DataError`.
    """

    def __init__(self, model, data: DataSet, config: TrainConfig | None = None, out_dir: str | Path | None = None,
                 data_spec: dict[str, Any] | None = None, overwrite: bool = False,
                 init_from: dict[str, Any] | None = None):
        check_data_fits(model.data_info, data.info)  # other ids would index out of range, or train silently
        model.data_info = data.info  # the same form; saves now name the data the model is trained on
        self.init_from = init_from
        self.config = config or TrainConfig.for_model(model)
        self.data = data
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.data_spec = data_spec or {"name": data.info.name, "options": {}}
        self.device = pick_device(self.config.device)
        if self.device.type == "cuda" and self.device.index is None and distributed.env_world_size() > 1:
            self.device = torch.device("cuda", distributed.local_rank())  # one GPU per process
        distributed.init_from_env(self.device)  # under torchrun; a no-op for one process
        self.precision = resolve_precision(self.config.precision, self.device)  # fp32 or bf16, never auto
        self.is_main = distributed.is_main()
        if self.config.track and self.out_dir is None:
            raise ConfigError(f"tracking with {', '.join(self.config.track)} needs a run folder: give out_dir")
        # metrics.jsonl always; TensorBoard / MLflow are opened by fit (rank 0 only)
        self._jsonl = JsonlLogger(self.out_dir) if self.out_dir is not None and self.is_main else Logger()
        self._trackers = Logger()
        seed = distributed.rank_seed(self.config.seed)  # each rank draws its own noise
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        self.model = model.to(self.device)
        if distributed.world_size() > 1:
            distributed.sync_batch_norm(self.model)  # batch norm sees the global batch, as one process would
            distributed.broadcast_module(self.model)  # every rank starts from rank 0's weights
        self.train_split = data.train.windows(model.sequence_length)
        self.val_split = data.val.windows(model.sequence_length) if data.val is not None else None
        self.sampler = BatchSampler(len(self.train_split), self.config.batch_size, seed=self.config.seed,
                                    rank=distributed.rank(), world_size=distributed.world_size())
        self.order = model.optimizer_order()
        batches_per_step = sum(r for _, r in self.order) * self.config.grad_accum
        if self.config.epochs > 0:
            self.total_steps = math.ceil(self.config.epochs * self.sampler.batches_per_epoch / batches_per_step)
        else:
            self.total_steps = self.config.steps
        self.optimizers = model.configure_optimizers(self.config)
        missing = {name for name, _ in self.order} - set(self.optimizers)
        if missing:
            raise ConfigError(f"model '{model.name}' steps optimizers {sorted(missing)} it does not configure")
        self.lr_scale = 1.0
        self.schedulers = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, self._lr_lambda) for name, opt in self.optimizers.items()
        }
        self.ema = EMA(model, self.config.ema_decay) if self.config.ema_decay > 0 else None
        self._sync_buffers = distributed.world_size() > 1 and any(True for _ in model.buffers())
        self._step_items = 0
        self._feature_net = None
        if self.config.features:  # checked now, not at the first validation
            from ..evaluation.features import check_feature_network, load_feature_network

            self._feature_net = load_feature_network(self.config.features)
            check_feature_network(self._feature_net, data.info)
        self.step = 0
        self.train_seconds = 0.0  # training wall time over all sessions of this run (resumes included)
        self.best_val = math.inf
        self.evals_since_best = 0
        self.history: list[dict[str, Any]] = []
        self._sums: dict[str, float] = {}
        self._count = 0
        self._rollbacks = 0
        self._overwrite = overwrite
        self._restored = False  # a restored trainer cuts the log back to its step when fit starts
        self._lock: runs.RunLock | None = None

    # ---- schedule ---------------------------------------------------------------------------
    def _lr_lambda(self, step: int) -> float:
        c = self.config
        return self.lr_scale * lr_factor(step, self.total_steps, c.warmup_steps, c.schedule, c.min_lr_ratio)

    def _refresh_lr(self) -> None:
        for sched in self.schedulers.values():
            for group, base in zip(sched.optimizer.param_groups, sched.base_lrs):
                group["lr"] = base * self._lr_lambda(sched.last_epoch)

    # ---- the loop ---------------------------------------------------------------------------
    def _autocast(self):
        return bf16_autocast(self.device, self.precision == "bf16")

    def _next_batch(self) -> dict[str, torch.Tensor]:
        idx = self.sampler.next()
        self._step_items += len(idx)
        batch = self.train_split.get(idx)
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _train_step(self) -> dict[str, float]:
        """One optimizer step of every optimizer (in the model's order); returns summed metrics."""
        model, c = self.model, self.config
        model.train()
        metrics: dict[str, float] = {}
        for name, repeats in self.order:
            opt = self.optimizers[name]
            for _ in range(repeats):
                opt.zero_grad(set_to_none=True)
                self._step_items, nonfinite = 0, None
                for _ in range(c.grad_accum):
                    with self._autocast():
                        out = model.training_step(self._next_batch(), self.step, optimizer=name)
                    loss = float(out.loss.detach())
                    if not math.isfinite(loss):
                        nonfinite = loss
                        break
                    (out.loss / c.grad_accum).backward()
                    key = "loss" if name == "model" else f"loss_{name}"
                    metrics[key] = metrics.get(key, 0.0) + loss / c.grad_accum / repeats
                    for k, v in out.metrics.items():
                        metrics[k] = metrics.get(k, 0.0) + float(v) / c.grad_accum / repeats
                # the gradients of this optimizer's parameters, averaged over the ranks (no-op for one
                # process); every rank learns of a non-finite loss on any rank at the same step
                params = [p for g in opt.param_groups for p in g["params"]]
                if distributed.average_gradients(params, self._step_items, nonfinite is not None):
                    return {"__nonfinite__": nonfinite if nonfinite is not None else math.nan,
                            "__optimizer__": name}
                if c.grad_clip > 0 or model.log_grad_norms:
                    params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
                    norm = torch.nn.utils.clip_grad_norm_(params, c.grad_clip if c.grad_clip > 0 else math.inf)
                    metrics[f"grad_norm_{name}"] = float(norm) / repeats + metrics.get(f"grad_norm_{name}", 0.0)
                opt.step()
            self.schedulers[name].step()  # the schedule follows trainer steps, however many updates each has
        if self._sync_buffers:  # running statistics (BatchNorm) follow rank 0's, as DDP does
            distributed.broadcast_module(model, buffers_only=True)
        if self.ema is not None:
            self.ema.update(model)
        return metrics

    def fit(self, until: int | None = None, on_start: Callable[[], None] | None = None) -> dict[str, Any]:
        """Train up to ``total_steps`` (or only up to step ``until``); returns metrics and timings.

        ``on_start`` is called once the run folder is locked and ``run.json`` written, before the
        first step (the command line announces the run there, so a refusal is its only output).

        ``until`` stops the loop early as a kill would (it writes nothing extra), which is how
        the tests check that a resumed run continues exactly. The run folder is locked while
        this runs: a second trainer on it fails with :class:`~genlab.errors.RunLockedError`. The
        tracking back-ends of ``config.track`` are open for the call and closed at its end, also
        on an error.
        """
        if self.out_dir is None or not self.is_main:
            if on_start is not None:
                on_start()
            return self._tracked_fit(until)
        require_backends(self.config.track)  # a missing extra fails before run.json is written
        self._open_run()
        try:
            if on_start is not None:
                on_start()
            return self._tracked_fit(until)
        finally:
            self._lock.release()

    def _open_run(self) -> None:
        """Lock the run folder, then (and only then) replace an old run and write run.json."""
        if self._overwrite:
            runs.check_can_write_run(self.out_dir, overwrite=True)  # before anything is created in it
        with storage_errors(self.out_dir):
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._lock = runs.RunLock(self.out_dir)
        self._lock.acquire()
        try:
            if self._overwrite:
                runs.clear_run(self.out_dir)
                self._overwrite = False
            if self._restored:
                self.truncate_metrics()
            self._write_run_file()
        except BaseException:
            self._lock.release()
            raise

    def _tracked_fit(self, until: int | None) -> dict[str, Any]:
        """:meth:`_fit` with the trackers open; the model goes to them when the run completes."""
        self._trackers = self._open_trackers()
        status = "FAILED"
        try:
            summary = self._fit(until)
            if self.out_dir is not None and (self.step >= self.total_steps or summary["stopped_early"]):
                self._log_model()
            status = "FINISHED"
            return summary
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            self._trackers.close(status)
            self._trackers = Logger()

    def _open_trackers(self) -> Logger:
        """TensorBoard / MLflow as ``config.track`` asks (on rank 0), with the run's settings as parameters."""
        c = self.config
        if not (c.track and self.is_main):
            return Logger()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        trackers = open_trackers(self.out_dir, c.track, start_step=self.step, mlflow_uri=c.mlflow_uri,
                                 mlflow_experiment=c.mlflow_experiment)
        trackers.log_params({"model": self.model.name, "data": self.data_spec["name"], "total_steps": self.total_steps,
                             **{f"model.{k}": v for k, v in self.model.config.to_dict().items()},
                             **{f"train.{k}": v for k, v in c.to_dict().items()}})
        return trackers

    def _log_model(self) -> None:
        """Give the trackers the saved model (``best/``, else ``checkpoint/``) as artifacts."""
        folder = self.out_dir / "best" if (self.out_dir / "best").is_dir() else self.out_dir / "checkpoint"
        for name in (CONFIG_FILE, WEIGHTS_FILE):  # the saved model, not the optimizer state
            if (folder / name).is_file():
                self._trackers.log_artifact(folder / name, folder=folder.name)

    def _fit(self, until: int | None) -> dict[str, Any]:
        """The training loop of :meth:`fit`."""
        from tqdm import tqdm

        c = self.config
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not (c.progress and self.is_main),
                   desc=f"train {self.model.name}", dynamic_ncols=True, mininterval=0.5)
        items_per_step = c.batch_size * c.grad_accum * sum(r for _, r in self.order) * distributed.world_size()
        start = time.perf_counter()
        clock = start  # train_seconds advances at each log row (validation and checkpoints included)
        window_start, window_steps = start, 0
        stopped_early = False
        stop_at = self.total_steps if until is None else min(until, self.total_steps)
        while self.step < stop_at:
            metrics = self._train_step()
            if "__nonfinite__" in metrics:
                self._handle_nonfinite(metrics)
                continue
            self.step += 1
            window_steps += 1
            for k, v in metrics.items():
                self._sums[k] = self._sums.get(k, 0.0) + v
            self._count += 1
            bar.update(1)
            last = self.step == self.total_steps
            if self.step % c.log_every == 0 or last:
                now = time.perf_counter()
                self.train_seconds += now - clock
                clock = now
                rate = window_steps * items_per_step / max(now - window_start, 1e-9)
                sums, count = distributed.all_reduce_metrics(self._sums, self._count)  # the mean over ranks
                row = {"step": self.step, "split": "train", **{k: v / count for k, v in sums.items()},
                       "lr": self.optimizers[self.order[0][0]].param_groups[0]["lr"], "items_per_s": rate,
                       "time_s": round(self.train_seconds, 3)}
                self._log(row)
                bar.set_postfix(**bar_losses(row), items_s=f"{rate:.0f}")
                self._sums, self._count = {}, 0
                window_start, window_steps = now, 0
            if (c.eval_every and self.step % c.eval_every == 0) or last:
                if self.val_split is not None:
                    with self._phase(bar, "validating"):
                        stopped_early = self._validate_and_track() or stopped_early
            if self.out_dir is not None and ((c.sample_every and self.step % c.sample_every == 0) or last
                                            or stopped_early):
                with self._phase(bar, "drawing previews"):
                    self.write_samples()
            if self.out_dir is not None and ((c.checkpoint_every and self.step % c.checkpoint_every == 0)
                                            or last or stopped_early):
                with self._phase(bar, "saving"):
                    self.save_checkpoint()
            if stopped_early:
                break
        bar.close()
        self.train_seconds += time.perf_counter() - clock
        wall = time.perf_counter() - start
        summary = {"steps": self.step, "wall_s": wall, "stopped_early": stopped_early}
        val_rows = [r for r in self.history if r.get("split") == "val"]
        if val_rows:
            summary["val"] = val_rows[-1]
            summary["best_val_loss"] = self.best_val
        if self.out_dir is not None and self.is_main and self.history:
            self.write_curve()
        return summary

    @contextlib.contextmanager
    def _phase(self, bar, what: str):
        """Say on the training bar what the run does between steps (validating, drawing previews,
        saving), and turn on the bars of the model's long loops inside (a DDPM's denoising steps,
        WaveNet's samples), so that no phase of more than a few seconds is silent."""
        shown = self.config.progress and self.is_main
        if shown:
            bar.set_description_str(f"train {self.model.name}: {what}")
            bar.refresh()
        try:
            with progress.reporting(f"{what}", shown):
                yield
        finally:
            if shown:
                bar.set_description_str(f"train {self.model.name}")
                bar.refresh()

    # ---- validation, samples, logs ----------------------------------------------------------
    def eval_model(self):
        """The model used for sampling and evaluation: the EMA copy when EMA is on."""
        return self.ema.model if self.ema is not None else self.model

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean validation metrics over the split (or ``eval_batches`` batches of it).

        Each batch draws its noise from its own seed, so under several processes each rank
        validates every ``world_size``-th batch and the sums are added over the ranks: every
        rank gets the metrics one process would (to float rounding).
        """
        model = self.eval_model()
        was_training = model.training
        model.eval()
        indices = self.val_split.eval_indices()
        bs = max(self.config.batch_size, 256)
        batches = list(indices.split(bs))
        if self.config.eval_batches:
            batches = batches[: self.config.eval_batches]
        sums: dict[str, float] = {}
        n = 0
        with torch.random.fork_rng(devices=[]), self._autocast():
            for i in progress.steps(range(distributed.rank(), len(batches), distributed.world_size()),
                                    unit="batch"):
                torch.manual_seed(EVAL_SEED + i)
                idx = batches[i]
                batch = {k: v.to(self.device) for k, v in self.val_split.get(idx).items()}
                for k, v in model.validation_step(batch).items():
                    sums[k] = sums.get(k, 0.0) + v * len(idx)
                n += len(idx)
        model.train(was_training)
        sums, n = distributed.all_reduce_metrics(sums, n)
        return {k: v / n for k, v in sums.items()}

    def _validate_and_track(self) -> bool:
        """Validate, log, keep the best model; True when early stopping says stop."""
        metrics = self.validate()
        if self.config.features:
            metrics.update(self.class_coverage())
        warnings = self.model.health_warnings(metrics)
        if metrics.pop("class_collapsed", False):
            warnings.append(f"the samples cover only {metrics['class_coverage']:.0%} of the classes "
                            f"(class KL {metrics['class_kl']:.3f}): mode collapse")
        for text in warnings if self.is_main else []:
            print(f"warning at step {self.step}: {text}", file=sys.stderr)
        self._log({"step": self.step, "split": "val", **metrics, **({"warnings": warnings} if warnings else {})})
        if "loss" not in metrics:  # no validation objective (GANs): nothing to rank, no early stopping
            return False
        if metrics["loss"] < self.best_val:
            self.best_val = metrics["loss"]
            self.evals_since_best = 0
            if self.out_dir is not None and self.is_main:
                tmp = self.out_dir / ".best.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                save_pretrained(self.eval_model(), tmp, extra={"step": self.step, "val_loss": self.best_val,
                                                                   "train_seconds": round(self.train_seconds, 3)})
                replace_dir(tmp, self.out_dir / "best")
        else:
            self.evals_since_best += 1
        return bool(self.config.early_stopping and self.evals_since_best >= self.config.early_stopping)

    @torch.no_grad()
    def class_coverage(self) -> dict[str, float]:
        """Class coverage and class KL of ``num_samples`` samples, classified by the feature network."""
        from ..evaluation.sample_quality import class_coverage

        reference = self.val_split.labels if self.val_split is not None else self.train_split.labels
        model = self.eval_model()
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(EVAL_SEED)
            x = model.sample(self.config.num_samples, generator=torch.Generator(self.device).manual_seed(EVAL_SEED))
        model.train(was_training)
        result = class_coverage(self._feature_net.predict(x.cpu()), reference, self._feature_net.config.num_classes)
        return {"class_coverage": result["coverage"], "class_kl": result["kl"], "class_collapsed": result["collapsed"]}

    def _log(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        for logger in (self._jsonl, self._trackers):
            logger.log_metrics(row, row["step"])

    @torch.no_grad()
    def write_samples(self) -> Path | None:
        """Samples at the current step, rendered by the data's modality: ``samples/step-NNNNNN.png``
        for images, ``.txt`` for text, ..."""
        if not self.is_main:
            return None
        model = self.eval_model()
        was_training = model.training
        model.eval()
        info = model.data_info
        gen = torch.Generator(device=self.device).manual_seed(EVAL_SEED)
        split = self.val_split if self.val_split is not None else self.train_split
        num, kwargs = info.modality.preview(self.config.num_samples, split=split)
        kwargs = {**model.display_sample_args, **kwargs}  # e.g. a VAE's decoder mean: what a person looks at
        shown = {k: v for k, v in kwargs.items() if k in model.display_sample_args}  # recorded as used
        spec = model.condition_spec
        if getattr(spec, "from_data", False) and "condition" not in kwargs:  # e.g. a video predictor's context frames
            num = min(num, len(split))
            kwargs["condition"] = spec.from_batch(split.get(torch.arange(num)))
        kwargs = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        folder = self.out_dir / "samples"
        with torch.random.fork_rng(devices=[]), self._autocast():
            torch.manual_seed(EVAL_SEED)
            samples = model.sample(num, generator=gen, **kwargs)
        out = folder / f"step-{self.step:06d}{info.modality.sample_suffix}"
        with storage_errors(folder):
            folder.mkdir(parents=True, exist_ok=True)
            rec = provenance.record(model=model.name, weights_sha256=None, run=str(self.out_dir.resolve()),
                                    step=self.step, seed=EVAL_SEED, sampling={"num": num, **shown}, command="train preview",
                                    kind=info.kind)  # the weights of this step, not (yet) a saved file
            path, _ = provenance.render_stamped(info, samples, out, rec)
        model.train(was_training)
        self._trackers.log_artifact(path, step=self.step, folder="samples")
        return path

    def write_curve(self) -> Path:
        """``training_curve.png``: training and validation loss against steps."""
        train_rows = [r for r in self.history if r["split"] == "train"]
        keys = sorted({k for r in train_rows for k in r if k == "loss" or k.startswith("loss_")})
        series = {f"train {k.replace('_', ' ')}": [(r["step"], r[k]) for r in train_rows if k in r] for k in keys}
        val = [(r["step"], r["loss"]) for r in self.history if r["split"] == "val" and "loss" in r]
        if val:
            series["validation loss"] = val
        path = self.out_dir / "training_curve.png"
        with storage_errors(path):
            return save_curve(series, path, title=f"{self.model.name} on {self.data.info.name}")

    # ---- checkpoints --------------------------------------------------------------------------
    def _write_run_file(self) -> None:
        from ..version import __version__

        data = {k: v for k, v in self.data_spec.items() if k != "synthetic_examples"}  # counted again on resume
        if getattr(self.data, "synthetic_examples", 0):  # files genlab generated, taken with allow_synthetic
            data["synthetic_examples"] = self.data.synthetic_examples
        run = {"model": self.model.name, "data": data, "train": self.config.to_dict(),
               "total_steps": self.total_steps, "genlab_version": __version__,
               "precision": self.precision, "hardware": hardware(self.device)}
        if self.init_from is not None:
            run["init_from"] = self.init_from
        runs.write_run_file(self.out_dir, run)

    @staticmethod
    def _rng_state() -> dict[str, Any]:
        """This process's random streams (torch, CUDA, Python, NumPy)."""
        np_state = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        }

    def state_dict(self, rng_ranks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Everything a resume needs; ``rng_ranks`` holds every rank's random streams under several processes."""
        state = {
            "step": self.step,
            "total_steps": self.total_steps,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "sampler": self.sampler.state_dict(),
            "best_val": self.best_val,
            "evals_since_best": self.evals_since_best,
            "lr_scale": self.lr_scale,
            "train_seconds": self.train_seconds,
            # the open averaging window of the training log, so a resumed log reads like an uninterrupted one
            "log_window": {"sums": dict(self._sums), "count": self._count},
            "rng": self._rng_state(),
            "world_size": distributed.world_size(),
        }
        if rng_ranks is not None and len(rng_ranks) > 1:
            state["rng_ranks"] = rng_ranks
        if self.ema is not None:  # model.safetensors holds the EMA weights; keep the raw ones here
            state["raw_model"] = self.model.state_dict()
        return state

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoint/`` atomically: a kill at any moment leaves the previous one readable.

        Every rank calls it (each hands rank 0 its random streams); only rank 0 writes, and the
        others wait for it, so that any rank may read the checkpoint afterwards (rollback, resume).
        """
        rng_ranks = distributed.all_gather_object(self._rng_state())
        if not self.is_main:
            distributed.barrier()
            return None
        try:
            return self._write_checkpoint(rng_ranks)
        finally:
            distributed.barrier()

    def _write_checkpoint(self, rng_ranks: list[dict[str, Any]]) -> Path:
        tmp = self.out_dir / ".checkpoint.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        target = self.out_dir / "checkpoint"
        try:
            save_pretrained(self.eval_model(), tmp, extra={"step": self.step,
                                                           "train_seconds": round(self.train_seconds, 3)})
            buffer = io.BytesIO()
            torch.save(self.state_dict(rng_ranks), buffer)
            atomic_write_bytes(tmp / STATE_FILE, buffer.getvalue())
            with storage_errors(target):
                replace_dir(tmp, target)
        except StorageError as e:
            shutil.rmtree(tmp, ignore_errors=True)  # give the space back; the last good checkpoint is untouched
            raise StorageError(f"{e}; the last good checkpoint is kept (resume with `genlab train --resume "
                               f"{self.out_dir}`)") from e
        return target

    def load_state_dict(self, state: dict[str, Any], model_state: dict[str, torch.Tensor]) -> None:
        """Restore everything :meth:`state_dict` saved; ``model_state`` is the saved-model weights.

        Every rank loads the same state and takes its own random streams from it.
        """
        for k, o in self.optimizers.items():  # checked first: a mismatch found half-way would leave a mixed state
            check_optimizer_state(k, o, state["optimizers"].get(k))
        if self.ema is not None:
            self.ema.load_state_dict(model_state, updates=state["step"])  # one EMA update per trainer step
            self.model.load_state_dict(state["raw_model"])
        else:
            self.model.load_state_dict(model_state)
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        self.step = state["step"]
        self.sampler.load_state_dict(state["sampler"])
        self.best_val = state["best_val"]
        self.evals_since_best = state["evals_since_best"]
        self.lr_scale = state["lr_scale"]
        self.train_seconds = state.get("train_seconds", 0.0)
        window = state.get("log_window", {"sums": {}, "count": 0})  # absent in checkpoints of older versions
        self._sums, self._count = dict(window["sums"]), window["count"]
        self._refresh_lr()
        rng = state["rng_ranks"][distributed.rank()] if "rng_ranks" in state else state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        random.setstate(rng["python"])
        kind, keys, *rest = rng["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))

    def restore_checkpoint(self, folder: Path | None = None) -> int:
        """Load the run's latest checkpoint into this trainer; returns its step."""
        folder = resolve_checkpoint_dir(folder or self.out_dir)
        state = runs.read_trainer_state(folder)
        saved_world = state.get("world_size", 1)  # absent in checkpoints of older versions: one process
        if saved_world != distributed.world_size() or len(state.get("rng_ranks", [None])) != saved_world:
            raise CheckpointError(f"{folder / STATE_FILE} was written by a run of {saved_world} process(es), this one has "
                                  f"{distributed.world_size()}: the global batch would change; resume with the same "
                                  f"number of processes (torchrun --nproc_per_node {saved_world} ...)")
        meta = read_config(folder)
        if meta.get("step") is not None and meta["step"] != state["step"]:
            raise CheckpointError(f"{folder / STATE_FILE} is at step {state['step']} but the model beside it at step "
                                  f"{meta['step']}: the state belongs to another checkpoint; restore the folder")
        model_state = load_state_file(folder / WEIGHTS_FILE, sha256=meta.get("weights_sha256"))
        try:
            self.load_state_dict(state, model_state)
        except (KeyError, ValueError, RuntimeError, TypeError, IndexError, AttributeError) as e:
            raise CheckpointError(f"{folder / STATE_FILE} does not fit this run's model and optimizers "
                                  f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else 'no detail'}); "
                                  "it belongs to another run: restore the checkpoint folder") from e
        self._restored = True
        return self.step

    def truncate_metrics(self) -> None:
        """Drop logged rows after the restored step, so the log reads like an uninterrupted run."""
        if self.is_main:
            self.history = runs.truncate_metrics(self.out_dir, self.step)
        else:  # rank 0 owns metrics.jsonl
            self.history = [row for row in self.history if row["step"] <= self.step]
        self._restored = False

    def _handle_nonfinite(self, metrics: dict[str, Any]) -> None:
        value, name = metrics["__nonfinite__"], metrics["__optimizer__"]
        ckpt = self.out_dir / "checkpoint" if self.out_dir is not None else None
        has_ckpt = ckpt is not None and (ckpt / STATE_FILE).is_file()
        where = f"the last good checkpoint is {ckpt}" if has_ckpt else "no checkpoint was written yet"
        if self.config.on_nonfinite == "rollback" and has_ckpt and self._rollbacks < 5:
            scale = self.lr_scale * 0.5
            self.restore_checkpoint(ckpt)
            self.lr_scale = scale
            self._refresh_lr()
            self._rollbacks += 1
            self.truncate_metrics()
            self._log({"step": self.step, "split": "event", "event": "rollback", "lr_scale": scale})
            return
        raise TrainingDiverged(
            f"the {name} loss became {value} at step {self.step + 1}; {where}. Lower the learning rate "
            "(--lr), use gradient clipping (--set grad_clip=1), or --set on_nonfinite=rollback")


def check_optimizer_state(name: str, optimizer: torch.optim.Optimizer, saved: dict[str, Any] | None) -> None:
    """Refuse a saved optimizer state that is not this optimizer's (other parameters or shapes).

    ``Optimizer.load_state_dict`` checks only the number of parameters; moments of another
    shape would load and fail at the next step.
    """
    if not isinstance(saved, dict) or "param_groups" not in saved or "state" not in saved:
        raise ValueError(f"no state for optimizer '{name}'")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    ids = [i for group in saved["param_groups"] for i in group["params"]]
    if len(ids) != len(params):
        raise ValueError(f"optimizer '{name}' has {len(params)} parameters, the saved state {len(ids)}")
    for param, i in zip(params, ids):
        for key, value in saved["state"].get(i, {}).items():
            if torch.is_tensor(value) and value.dim() > 0 and value.shape != param.shape:
                raise ValueError(f"optimizer '{name}' state '{key}' has shape {list(value.shape)}, "
                                 f"its parameter {list(param.shape)}")


def resume(run_dir: str | Path, steps: int | None = None, data_root: str | None = None,
           overrides: dict[str, Any] | None = None) -> Trainer:
    """A :class:`Trainer` that continues the run in ``run_dir`` from its latest checkpoint.

    Args:
        steps: a new total number of steps (default: the run's own).
        data_root: where to find the data again (default: ``$GENLAB_DATA``).
        overrides: training settings that may change on resume (e.g. ``progress``, ``device``).
    """
    from ..models.io import load as load_model

    run_dir = Path(run_dir)
    run = runs.read_run_file(run_dir)
    folder = runs.resolve_checkpoint_dir(run_dir)
    model = load_model(folder).train()
    config = TrainConfig.from_dict(run["train"])
    allowed = {"progress", "device", "eval_every", "sample_every", "checkpoint_every", "log_every", "eval_batches",
               "on_nonfinite", "track"}
    for key in overrides or {}:
        if key not in allowed:
            raise ConfigError(f"'{key}' cannot change on resume (it would change the run); "
                              f"settings that can: {', '.join(sorted(allowed))}")
    config = config.replace(**(overrides or {}))
    if steps is not None:
        config = config.replace(steps=steps, epochs=0.0)
    spec = run["data"]
    data = runs.load_run_data(run_dir, data_root)
    runs.check_data_matches(model.data_info, data.info, folder)
    trainer = Trainer(model, data, config, out_dir=run_dir, data_spec=spec, init_from=run.get("init_from"))
    if steps is None:
        trainer.total_steps = run["total_steps"]
    trainer.restore_checkpoint(folder)
    runs.check_resume_steps(steps, trainer.step, run_dir)
    return trainer  # its log is cut back to the checkpoint's step when fit starts, under the run's lock

"""The training configuration shared by every family."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Literal

from ..config import Config
from ..errors import ConfigError
from .loggers import check_trackers

DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclasses.dataclass
class TrainConfig(Config):
    steps: int = 1000  # optimizer steps; ignored when epochs > 0
    epochs: float = 0.0  # if > 0: train this many passes over the training split
    batch_size: int = 64  # per process and micro-batch
    lr: float = 1e-3
    schedule: Literal["cosine", "constant"] = "cosine"  # after warm-up
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    optimizer: Literal["adamw", "adam", "sgd", "rmsprop"] = "adamw"  # genlab.optim.make_optimizer
    momentum: float = 0.9  # sgd and rmsprop (0 = none)
    weight_decay: float = 0.0  # on weight matrices and kernels only: decoupled (adamw) or L2 (the others)
    betas: list[float] = dataclasses.field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    grad_accum: int = 1  # micro-batches per optimizer step
    ema_decay: float = 0.0  # EMA of weights (bias-corrected) for sampling and evaluation; 0 turns it off
    # bf16 = autocast (weights stay fp32); auto = bf16 only where the device computes it natively
    # (genlab.devices.resolve_precision). The CLI and the recipes default to auto.
    precision: Literal["auto", "fp32", "bf16"] = "fp32"
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    seed: int = 0
    eval_every: int = 500  # validation every N steps (and at the end); 0 = only at the end
    eval_batches: int = 0  # cap on validation batches; 0 = the whole split
    sample_every: int = 0  # sample grid / text every N steps (and at the end); 0 = only at the end
    num_samples: int = 64
    checkpoint_every: int = 1000  # 0 = only at the end
    log_every: int = 50  # training metrics averaged over N steps into metrics.jsonl
    early_stopping: int = 0  # stop after N evaluations without a better validation loss; 0 = off
    on_nonfinite: Literal["stop", "rollback"] = "stop"  # rollback: last checkpoint, half the lr
    features: str = ""  # feature network folder: each validation then logs the samples' class coverage
    progress: bool = True
    track: list[str] = dataclasses.field(default_factory=list)  # tensorboard, mlflow (metrics.jsonl is always written)
    mlflow_uri: str = ""  # MLflow tracking URI; "" = $MLFLOW_TRACKING_URI, else sqlite:///RUN/mlflow.db
    mlflow_experiment: str = "genlab"  # MLflow experiment name (created if missing)

    @classmethod
    def for_model(cls, model, **overrides) -> "TrainConfig":
        """The defaults, then the model family's ``train_defaults`` (a class or an instance), then ``overrides``."""
        return cls().replace(**{**getattr(model, "train_defaults", {}), **overrides})

    def validate(self) -> None:
        """Refuse settings no run can use (a zero batch, a NaN learning rate...), naming the key."""
        if not math.isfinite(self.epochs) or self.epochs < 0:
            raise ConfigError(f"epochs must be a finite number >= 0 (0 = use steps), got {self.epochs}; "
                              "set --epochs N or leave it out")
        if self.steps < 1 and self.epochs <= 0:
            raise ConfigError("steps must be >= 1 (or set epochs > 0)")
        for key in ("batch_size", "grad_accum", "log_every", "num_samples"):
            _at_least(key, getattr(self, key), 1)
        for key in ("warmup_steps", "eval_every", "eval_batches", "sample_every", "checkpoint_every", "early_stopping"):
            _at_least(key, getattr(self, key), 0, "0 turns it off")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}; 0 turns the EMA off")
        if not (math.isfinite(self.momentum) and 0.0 <= self.momentum < 1.0):
            raise ConfigError(f"momentum must be in [0, 1) (sgd and rmsprop; 0 = none), got {self.momentum}")
        if len(self.betas) != 2:
            raise ConfigError(f"betas must be two numbers, got {self.betas}; e.g. --set betas=[0.9,0.999]")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"betas must both be in [0, 1), got {self.betas}; e.g. --set betas=[0.9,0.999]")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be > 0 and finite, got {self.lr}; e.g. --lr 1e-3")
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"eps must be > 0 and finite, got {self.eps}; e.g. --set eps=1e-8")
        for key, off in (("weight_decay", "0 turns it off"), ("grad_clip", "0 turns clipping off")):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{key} must be a finite number >= 0 ({off}), got {value}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"min_lr_ratio must be between 0 and 1 (the cosine ends at lr * min_lr_ratio), "
                              f"got {self.min_lr_ratio}")
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise ConfigError(f"device must be auto, cpu, mps, cuda or cuda:N, got '{self.device}'")
        check_trackers(self.track)


def _at_least(key: str, value: int, low: int, note: str = "") -> None:
    """Refuse an integer setting below ``low`` with a one-line error naming it."""
    if value < low:
        hint = f" ({note})" if note else ""
        raise ConfigError(f"{key} must be >= {low}{hint}, got {value}; set --set {key}=N with N >= {low}")

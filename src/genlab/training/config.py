"""The training configuration shared by every family."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..config import Config
from ..errors import ConfigError
from .loggers import check_trackers


@dataclasses.dataclass
class TrainConfig(Config):
    steps: int = 1000  # optimizer steps; ignored when epochs > 0
    epochs: float = 0.0  # if > 0: train this many passes over the training split
    batch_size: int = 64  # per process and micro-batch
    lr: float = 1e-3
    schedule: Literal["cosine", "constant"] = "cosine"  # after warm-up
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    weight_decay: float = 0.0  # AdamW, on weight matrices and kernels only
    betas: list[float] = dataclasses.field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    grad_accum: int = 1  # micro-batches per optimizer step
    ema_decay: float = 0.0  # EMA of weights (bias-corrected) for sampling and evaluation; 0 turns it off
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 = autocast, weights stay fp32
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
    mlflow_uri: str = ""  # MLflow tracking URI; "" = sqlite:///RUN/mlflow.db
    mlflow_experiment: str = "genlab"  # MLflow experiment name (created if missing)

    @classmethod
    def for_model(cls, model, **overrides) -> "TrainConfig":
        """The defaults, then the model family's ``train_defaults`` (a class or an instance), then ``overrides``."""
        return cls().replace(**{**getattr(model, "train_defaults", {}), **overrides})

    def validate(self) -> None:
        if self.steps < 1 and self.epochs <= 0:
            raise ConfigError("steps must be >= 1 (or set epochs > 0)")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ConfigError("batch_size and grad_accum must be >= 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if len(self.betas) != 2:
            raise ConfigError(f"betas must be two numbers, got {self.betas}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        check_trackers(self.track)

"""Training: one trainer for every family, its config, schedules, EMA and pictures."""

from .. import distributed  # noqa: F401  (genlab.distributed; its old import path, genlab.training.distributed)
from .config import TrainConfig
from .trainer import Trainer, resume

__all__ = ["TrainConfig", "Trainer", "resume"]

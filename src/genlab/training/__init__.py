"""Training: one trainer for every family, its config, schedules, EMA and pictures."""

from .config import TrainConfig
from .trainer import Trainer, resume

__all__ = ["TrainConfig", "Trainer", "resume"]

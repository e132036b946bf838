"""genlab: train, sample, evaluate and compare deep generative models under one API.

>>> import genlab
>>> data = genlab.load_dataset("digits")
>>> model = genlab.create_model("vae", data=data)
>>> genlab.Trainer(model, data, genlab.TrainConfig(steps=100)).fit()    # doctest: +SKIP
>>> genlab.evaluate(model, data, split="test")                          # doctest: +SKIP
"""

from .runs.catalog import open_registry
from .compare import compare
from .config import Config
from .data import DataInfo, DataSet, list_datasets, list_modalities, load_dataset
from .errors import CheckpointError, ConfigError, DataError, GenlabError, TrainingDiverged
from .evaluation import evaluate
from .models.io import load, load_for_finetuning, save_pretrained
from .models.base import GenerativeModel, ModelConfig, StepOutput
from .models.registry import create_model, list_models, register_model
from .training import TrainConfig, Trainer, resume
from .version import __version__

from . import models  # noqa: E402,F401  (importing registers the built-in models; the registry sits below them)

__all__ = [
    "CheckpointError", "Config", "ConfigError", "DataError", "DataInfo", "DataSet", "GenerativeModel",
    "GenlabError", "ModelConfig", "StepOutput", "TrainConfig", "Trainer", "TrainingDiverged", "__version__",
    "compare", "create_model", "evaluate", "list_datasets", "list_models", "list_modalities", "load", "load_dataset",
    "load_for_finetuning", "open_registry", "register_model", "resume", "save_pretrained",
]

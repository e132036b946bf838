"""Built-in models. Every module in this package is imported here, which registers its models."""

import importlib
import pkgutil

from .base import GenerativeModel, ModelConfig, StepOutput

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["GenerativeModel", "ModelConfig", "StepOutput"]

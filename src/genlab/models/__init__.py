"""Built-in models; importing this package registers them."""

from . import gpt, vae  # noqa: F401
from .base import GenerativeModel, ModelConfig, StepOutput

__all__ = ["GenerativeModel", "ModelConfig", "StepOutput"]

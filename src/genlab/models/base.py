"""The contract every genlab model follows.

A model is an ``nn.Module`` that trains through :meth:`GenerativeModel.training_step`, declares
its optimizers, samples, and (where its family allows) scores data with :meth:`log_prob` in
nats of the *discrete* data. The trainer, the evaluator and the CLI use nothing else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from ..config import Config
from ..data.conditions import ClassLabel, ConditionSpec
from ..data.core import DataInfo
from ..errors import ConfigError, DataError
from ..optim import make_optimizer
from ..runs.pretrained import load_pretrained, save_pretrained
from ..runs.run import resolve_checkpoint_dir


@dataclasses.dataclass
class ModelConfig(Config):
    """Base of model configs. Fields named like a :class:`DataInfo` attribute are filled from data."""

    def adapt_to_data(self, info: DataInfo) -> "ModelConfig":
        """A copy whose data-dependent fields (image shape, levels, vocabulary size...) match ``info``.

        The data's modality says which fields the data decides; fields this config lacks are skipped.
        """
        keys = set(self.keys())
        values = {k: v for k, v in info.modality.model_fields(info).items() if k in keys and v is not None}
        return self.replace(**values)


@dataclasses.dataclass
class ImageModelConfig(ModelConfig):
    """The fields every image model has; :meth:`adapt_to_data` fills them from the data set."""

    image_shape: list[int] = dataclasses.field(default_factory=lambda: [1, 8, 8])  # [C, H, W]
    levels: int = 17  # pixel values 0 .. levels-1
    num_classes: int = 0
    conditional: bool = False  # condition on the class label (where the model supports it)

    def validate(self) -> None:
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ConfigError(f"image_shape must be [C, H, W], got {self.image_shape}")
        if self.levels < 2:
            raise ConfigError(f"levels must be >= 2, got {self.levels}")
        if self.conditional and self.num_classes < 1:
            raise ConfigError("conditional=true needs data with class labels (num_classes >= 1)")


@dataclasses.dataclass
class StepOutput:
    """What a training step returns: the loss to minimise and metrics to log.

    Metrics may be floats or detached scalar tensors (the trainer converts them), so that a
    training step can be compiled without graph breaks.
    """

    loss: torch.Tensor
    metrics: dict[str, float | torch.Tensor] = dataclasses.field(default_factory=dict)


class GenerativeModel(nn.Module):
    """Base class of all genlab models.

    Class attributes set by each model:
        config_class: its :class:`ModelConfig` dataclass.
        likelihood: ``"exact"``, ``"bound"`` (log_prob is a lower bound) or ``"none"``.
        data_kinds: the kinds of data it trains on (``"image"``, ``"text"``).
        family: a short family name for tables ("vae", "autoregressive", ...).
        train_defaults: training settings the family needs unlike the trainer's defaults (GANs:
            Adam betas, no clipping); :meth:`TrainConfig.for_model` applies them, and anything
            the user sets wins.
        log_grad_norms: log each optimizer's gradient norm every step even without clipping.
        compare_log_prob_kwargs: ``log_prob`` settings for ``genlab compare`` where the default
            costs too much (DDPM: an estimate of its bound over 50 timesteps per image).
    """

    name: ClassVar[str] = ""  # set by @register_model
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    likelihood: ClassVar[Literal["exact", "bound", "none"]] = "none"
    data_kinds: ClassVar[tuple[str, ...]] = ("image",)
    family: ClassVar[str] = ""
    train_defaults: ClassVar[dict[str, Any]] = {}
    log_grad_norms: ClassVar[bool] = False
    compare_log_prob_kwargs: ClassVar[dict[str, Any]] = {}  # log_prob settings `genlab compare` uses
    # Sampling settings for what a person looks at (trainer previews, `genlab sample`, the server) where
    # they differ from sample()'s own defaults, which draw from the model's distribution (what the sample
    # metrics score). Given settings win; the file's provenance records the ones used.
    display_sample_args: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: ModelConfig, data_info: DataInfo):
        super().__init__()
        if data_info.kind not in self.data_kinds:
            raise DataError(f"model '{self.name}' trains on {' or '.join(self.data_kinds)} data, "
                            f"but '{data_info.name}' is {data_info.kind} data")
        data_info.modality.check_info(data_info)
        self.config = config
        self.data_info = data_info

    @classmethod
    def default_data_info(cls, config: ModelConfig) -> DataInfo:
        """The data facts a config implies on its own, for a model built without data."""
        if isinstance(config, ImageModelConfig):
            return DataInfo(name="none", kind="image", shape=tuple(config.image_shape), levels=config.levels,
                            num_classes=config.num_classes)
        raise NotImplementedError

    # ---- training -------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], step: int, optimizer: str = "model") -> StepOutput:
        """The loss for one batch (``{"x": ..., "y": ...}``) for the optimizer named ``optimizer``."""
        raise NotImplementedError

    @torch.no_grad()
    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Float metrics on a validation batch; ``"loss"`` is used for early stopping."""
        out = self.training_step(batch, step=0)
        return {"loss": float(out.loss), **{k: float(v) for k, v in out.metrics.items()}}

    def health_warnings(self, metrics: dict[str, float]) -> list[str]:
        """Warnings (e.g. mode collapse) the trainer prints and logs after a validation."""
        return []

    def optimizer_order(self) -> list[tuple[str, int]]:
        """Optimizers in the order the trainer steps them, each with its number of updates per step."""
        return [("model", 1)]

    def configure_optimizers(self, train_config) -> dict[str, torch.optim.Optimizer]:
        """AdamW over all parameters; weight decay only on matrices and kernels (not biases, norms)."""
        return {"model": adamw(self.parameters(), train_config)}

    @property
    def sequence_length(self) -> int | None:
        """Tokens per training window for sequence models (None for image models)."""
        return None

    # ---- generation and scoring -----------------------------------------------------------
    def sample(self, num_samples: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        """Draw samples in data space (integer pixel levels ``[N, C, H, W]`` or token ids)."""
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor, *, condition: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """``[B]`` log-likelihood in nats of the discrete data ``x`` (a lower bound if ``likelihood == "bound"``)."""
        raise NotImplementedError(f"model '{self.name}' has no likelihood")

    # ---- helpers --------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self) -> int:
        seen, total = set(), 0
        for p in self.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
        return total

    # ---- conditions (one rule for every family: see genlab.data.conditions) -----------------
    @property
    def condition_spec(self) -> ConditionSpec | None:
        """What this model is conditioned on, or None for an unconditional model.

        The default: class labels when the config says ``conditional=true``; a model conditioned
        on something else overrides this property.
        """
        if getattr(self.config, "conditional", False):
            return ClassLabel(getattr(self.config, "num_classes", 0))
        return None

    def condition_from_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The condition of a training or evaluation batch (None for an unconditional model)."""
        spec = self.condition_spec
        return None if spec is None else spec.from_batch(batch)

    def condition_for_sampling(self, condition: Any, num_samples: int) -> torch.Tensor | None:
        """``condition`` validated for ``num_samples`` samples; the spec's default when None is given."""
        spec = self._spec_accepting(condition)
        if spec is None:
            return None
        return spec.default(num_samples, self.device) if condition is None else spec.validate(
            condition, num_samples, self.device)

    def condition_for_scoring(self, condition: Any, batch_size: int) -> torch.Tensor | None:
        """``condition`` validated for scoring ``batch_size`` examples; a conditional model needs one."""
        spec = self._spec_accepting(condition)
        if spec is None:
            return None
        if condition is None:
            raise ConfigError(f"model '{self.name}' is conditional: its likelihood is log p(x | condition); "
                              f"pass condition= ({spec.describe()})")
        return spec.validate(condition, batch_size, self.device)

    def _spec_accepting(self, condition: Any) -> ConditionSpec | None:
        spec = self.condition_spec
        if spec is None and condition is not None:
            hint = "; a sequence model takes a prompt= instead" if self.sequence_length else \
                "; train one with conditional=true"
            raise ConfigError(f"model '{self.name}' is unconditional and takes no condition{hint}")
        return spec

    @classmethod
    def from_pretrained(cls, path, map_location="cpu") -> "GenerativeModel":
        """Load a saved model (or a training run's checkpoint) of this class; another model type fails clearly.

        ``genlab.load(path)`` loads whatever model a folder holds.
        """
        if not cls.name:
            raise ConfigError(f"{cls.__name__} is not a registered model class; use genlab.load(path), which "
                              "finds the model class from the folder's config.json")
        return load_pretrained(cls, resolve_checkpoint_dir(path), map_location=map_location)

    def save_pretrained(self, path) -> None:
        """Write the model to the folder ``path``: config.json + model.safetensors."""
        save_pretrained(self, path)


def adamw(params, train_config) -> torch.optim.Optimizer:
    """The training config's optimizer (AdamW unless ``optimizer`` says otherwise); see
    :func:`genlab.optim.make_optimizer`."""
    return make_optimizer(params, train_config)

"""Gated PixelCNN (van den Oord et al. 2016): an exact autoregressive likelihood over pixels.

``p(x) = prod_i p(x_i | x_<i)`` over pixels in raster order (row by row, left to right), each
factor a categorical distribution over the ``levels`` grey levels. The channels of one pixel are
conditionally independent given the pixels before it (see :mod:`genlab.nn.masked_conv`), so
``p(x_i | x_<i) = prod_ch p(x_i^ch | x_<i)``. All log-likelihoods are nats of the discrete data.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import progress
from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import GatedPixelCNNLayer, sample_next
from .registry import register_model
from ..nn.levels import grid_to_float
from .base import GenerativeModel, ImageModelConfig, StepOutput


@dataclasses.dataclass
class PixelCNNConfig(ImageModelConfig):
    channels: int = 64  # hidden width of both stacks
    layers: int = 6  # gated layers (the first reads the image)
    kernel_size: int = 3  # odd; the receptive field grows by kernel_size // 2 per layer
    dropout: float = 0.0

    def validate(self) -> None:
        super().validate()
        if self.channels < 1 or self.layers < 1:
            raise ConfigError("channels and layers must be >= 1")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd, got {self.kernel_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}; e.g. --set dropout=0.1")


@register_model("pixelcnn")
class PixelCNN(GenerativeModel):
    """Gated PixelCNN: vertical + horizontal stacks (no blind spot), categorical pixels, exact likelihood."""

    config_class = PixelCNNConfig
    likelihood = "exact"
    data_kinds = ("image",)
    family = "autoregressive"

    def __init__(self, config: PixelCNNConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        c = config.image_shape[0]
        num_classes = config.num_classes if config.conditional else 0
        self.layers = nn.ModuleList(
            GatedPixelCNNLayer(c if i == 0 else config.channels, config.channels, config.kernel_size,
                               first=i == 0, num_classes=num_classes, dropout=config.dropout)
            for i in range(config.layers))
        # per-pixel head on the horizontal stack: logits for every channel and level
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(config.channels, config.channels, 1), nn.ReLU(),
                                  nn.Conv2d(config.channels, c * config.levels, 1))

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        """Integer levels -> floats in [-1, 1]."""
        return grid_to_float(x, self.config.levels, signed=True)

    def _label(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        if not self.config.conditional:
            return None
        if condition is None:
            raise ConfigError("this PixelCNN is conditional: pass condition= (class labels)")
        return condition

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, C, H, W, levels]`` of ``p(x[:, :, r, c] | pixels before (r, c))`` for integer images ``x``.

        Args:
            x: ``[B, C, H, W]`` levels in ``[0, levels)``: integers, or floats (e.g. to take gradients
                with respect to the input).
            condition: ``[B]`` class labels (required, and only used, when ``conditional``).
        """
        label = self._label(condition)
        c, h, w = self.config.image_shape
        v = hs = self._scale(x)  # [B, C, H, W]
        for layer in self.layers:
            v, hs = layer(v, hs, label)  # [B, channels, H, W] each
        out = self.head(hs).float()  # [B, C * levels, H, W]
        return out.view(-1, c, self.config.levels, h, w).permute(0, 1, 3, 4, 2)

    def nll(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``[B]`` negative log-likelihood in nats of integer images ``x`` ``[B, C, H, W]``."""
        logits = self(x, condition)  # [B, C, H, W, levels]
        per_dim = F.cross_entropy(logits.permute(0, 4, 1, 2, 3), x.long(), reduction="none")  # [B, C, H, W]
        return per_dim.flatten(1).sum(1)

    # ---- the contract ---------------------------------------------------------------------
    def training_step(self, batch, step, optimizer="model"):
        """Mean over the batch of the NLL per image (nats); metrics ``nll`` and ``bits_per_dim``."""
        x = batch["x"]
        condition = self.condition_from_batch(batch)
        nll = self.nll(x, condition).mean()
        dims = math.prod(self.config.image_shape)
        return StepOutput(nll, {"nll": nll.detach(), "bits_per_dim": nll.detach() / (dims * math.log(2))})

    @torch.no_grad()
    def log_prob(self, x, *, condition=None, **kwargs):
        """Exact ``log p(x)``, ``[B]`` nats, of integer images ``x`` ``[B, C, H, W]`` (one forward pass)."""
        condition = self.condition_for_scoring(condition, len(x))
        return -self.nll(x.to(self.device), condition)

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, temperature: float = 1.0):
        """``[N, C, H, W]`` long levels drawn pixel by pixel in raster order.

        Args:
            num_samples: N.
            condition: class labels (``[N]`` or one label for all); a conditional model without
                them draws the classes ``0, 1, ..., num_classes - 1, 0, ...``.
            generator: torch RNG for reproducible samples.
            temperature: divides the logits; 0 takes the most likely level (greedy).
        Costs ``H * W`` forward passes; the channels of a pixel are drawn together.
        """
        condition = self.condition_for_sampling(condition, num_samples)
        c, h, w = self.config.image_shape
        levels = self.config.levels
        x = torch.zeros(num_samples, c, h, w, dtype=torch.long, device=self.device)
        for r, col in progress.steps(((r, col) for r in range(h) for col in range(w)), h * w, "pixel"):
            # pixels at and after (r, col) are still 0 but cannot affect these logits
            logits = self(x, condition)[:, :, r, col]  # [N, C, levels]
            levels_drawn = sample_next(logits.reshape(-1, levels), temperature, generator=generator)
            x[:, :, r, col] = levels_drawn.view(num_samples, c)
        return x

    @torch.no_grad()
    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, *, condition=None, generator=None,
                temperature: float = 1.0) -> torch.Tensor:
        """Fill the pixels where ``mask`` (bool ``[B, 1, H, W]``) is True, in raster order, keeping the rest.

        Each unknown pixel is drawn from ``p(x_i | x_<i)`` given the known pixels and the pixels
        already drawn before it. When every unknown pixel comes after every known one in raster
        order (e.g. the bottom half), this is exact sampling from ``p(unknown | known)``. For
        other masks it **ignores the known pixels below and to the right** of an unknown pixel
        (the model cannot condition on them), so the fill may not join up with them.
        Costs one forward pass per pixel position that is unknown in some image.
        """
        condition = self.condition_for_sampling(condition, len(x))
        levels = self.config.levels
        x = x.to(self.device).long().clone()
        mask = mask.to(self.device)
        n, c = x.shape[:2]
        rows, cols = torch.nonzero(mask.any(0)[0], as_tuple=True)  # raster order: row-major
        for r, col in progress.steps(zip(rows.tolist(), cols.tolist()), len(rows), "pixel"):
            logits = self(x, condition)[:, :, r, col]  # [B, C, levels]; depends on pixels before (r, col) only
            drawn = sample_next(logits.reshape(-1, levels), temperature, generator=generator).view(n, c)
            x[:, :, r, col] = torch.where(mask[:, :, r, col], drawn, x[:, :, r, col])
        return x

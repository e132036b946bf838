"""Normalizing flows on images: RealNVP (Dinh et al. 2017) and Glow (Kingma & Dhariwal 2018).

Data handling. Integer pixels ``x`` in ``[0, L)`` are dequantised, ``y = (x + u) / L`` with
``u ~ U[0, 1)^D``, optionally mapped through ``logit(alpha + (1 - 2 alpha) y)`` (its
log-determinant is added), and the flow maps the result to ``z ~ N(0, I)``. The flow's density
of ``y`` is exact (change of variables); the probability of the *discrete* image obeys

    log P(x) >= E_u[log p_model(y)] - D log L                   (the dequantisation bound)

by Jensen's inequality, where ``- D log L`` converts the density on ``[0, 1)^D`` into one on
the integer grid's unit cells. :meth:`log_prob` returns a Monte Carlo estimate of this lower
bound (tightened with ``num_samples`` importance samples of ``u``), so the models are labelled
``likelihood = "bound"``, like the VAE: the papers call flow likelihoods "exact", which is true
of the continuous density but not of ``log P(x)`` that genlab compares across families.

Class conditioning (``conditional=true``): the prior becomes ``z | y ~ N(mean_y, std_y^2)``, a
learned mean and log-std per class for every latent dimension of every factored-out level (as
Glow's class-conditional prior); ``conditional_couplings=true`` also feeds the one-hot label to
every coupling network. :meth:`log_prob` then bounds ``log P(x | y)`` and needs the labels;
sampling without a condition draws the classes in turn (see :mod:`genlab.data.conditions`).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import ActNorm, AffineCoupling, FlowLayer, FlowSequential, InvConv1x1, MultiScaleFlow, Squeeze
from .registry import register_model
from .base import GenerativeModel, ImageModelConfig, StepOutput


@dataclasses.dataclass
class FlowConfig(ImageModelConfig):
    num_scales: int = 2  # stages of the multi-scale architecture (factor-out after all but the last)
    steps_per_scale: int = 3  # couplings (RealNVP) or actnorm/1x1/coupling steps (Glow) per stage
    hidden_channels: int = 64  # width of the coupling networks
    logit: bool = True  # logit transform of y (else y - 0.5)
    logit_alpha: float = 0.05  # logit(alpha + (1 - 2 alpha) y) keeps away from 0 and 1
    dequant_samples: int = 1  # default K of the importance-weighted dequantisation bound in log_prob
    # conditional=true: a class-conditional prior (a learned mean and log-std per class and latent
    # dimension, over every factored-out level); conditional_couplings also feeds the label to every coupling
    conditional_couplings: bool = False

    def validate(self) -> None:
        super().validate()
        if self.conditional_couplings and not self.conditional:
            raise ConfigError("conditional_couplings=true needs conditional=true (class labels)")
        if self.num_scales < 1 or self.steps_per_scale < 1 or self.hidden_channels < 1:
            raise ConfigError("num_scales, steps_per_scale and hidden_channels must be >= 1")
        if not 0.0 <= self.logit_alpha < 0.5:
            raise ConfigError(f"logit_alpha must be in [0, 0.5), got {self.logit_alpha}")
        if self.dequant_samples < 1:
            raise ConfigError("dequant_samples must be >= 1")


@dataclasses.dataclass
class GlowConfig(FlowConfig):
    steps_per_scale: int = 4
    logit: bool = False


def _check_squeezes(shape: list[int], squeezes: int, model: str) -> None:
    """ConfigError unless H and W halve evenly ``squeezes`` times (28 -> 14 -> 7 allows two)."""
    _, h, w = shape
    f = 2**squeezes
    if h % f or w % f:
        raise ConfigError(f"{model} with these num_scales squeezes the image {squeezes} time(s), which needs "
                          f"height and width divisible by {f}; got {h}x{w}. Use fewer num_scales.")


class _ImageFlow(GenerativeModel):
    """Shared data handling, prior, scoring and sampling of the image flows."""

    config_class = FlowConfig
    likelihood = "bound"
    data_kinds = ("image",)
    family = "flow"

    def __init__(self, config: FlowConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        c, h, w = config.image_shape
        self.dims = c * h * w
        self.flow = MultiScaleFlow(self.build_stages(config), (c, h, w))
        if config.conditional:
            # Class-conditional prior (as Glow's): z | y ~ N(mean_y, diag(exp(log_std_y))^2) over all D
            # latents, i.e. every factored-out level. The means start slightly apart, so labels
            # change samples from the first step; the log-stds start at 0 (the unit prior).
            self.prior = nn.Embedding(config.num_classes, 2 * self.dims)
            with torch.no_grad():
                nn.init.normal_(self.prior.weight[:, : self.dims], std=0.01)
                self.prior.weight[:, self.dims:].zero_()

    def build_stages(self, config: FlowConfig) -> list[FlowLayer]:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- data space <-> flow input ------------------------------------------------------
    def dequantize(self, x: torch.Tensor) -> torch.Tensor:
        """Integer levels ``[B, C, H, W]`` -> ``y = (x + u) / L`` in ``[0, 1)``, ``u ~ U[0, 1)`` (global RNG)."""
        return (x.to(self.flow_dtype) + torch.rand(x.shape, dtype=self.flow_dtype, device=x.device)) / self.config.levels

    @property
    def flow_dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _preprocess(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``y`` in [0, 1) -> flow input and its ``[B]`` log-determinant."""
        if not self.config.logit:
            return y - 0.5, y.new_zeros(y.shape[0])
        a = self.config.logit_alpha
        p = a + (1 - 2 * a) * y
        h = torch.log(p) - torch.log1p(-p)
        # d logit(p)/dy = (1 - 2a) / (p (1 - p))
        logdet = (math.log(1 - 2 * a) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
        return h, logdet

    def _postprocess(self, h: torch.Tensor) -> torch.Tensor:
        if not self.config.logit:
            return h + 0.5
        a = self.config.logit_alpha
        return (torch.sigmoid(h) - a) / (1 - 2 * a)

    # ---- the flow ------------------------------------------------------------------------
    @property
    def coupling_condition_dim(self) -> int:
        """Values of the condition each coupling sees: the one-hot label with conditional couplings, else 0."""
        return self.config.num_classes if self.config.conditional_couplings else 0

    def _coupling_condition(self, condition: torch.Tensor | None) -> torch.Tensor | None:
        """``[B]`` labels -> the ``[B, K]`` one-hot the couplings read (None without conditional couplings)."""
        if condition is None or not self.config.conditional_couplings:
            return None
        return nn.functional.one_hot(condition, self.config.num_classes).to(self.flow_dtype)

    def encode(self, y: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Dequantised images ``y`` ``[B, C, H, W]`` in [0, 1) -> ``(z [B, D], log|det dz/dy| [B])``.

        ``condition`` (``[B]`` labels) is needed with conditional couplings and ignored otherwise.
        """
        h, logdet = self._preprocess(y)
        z, ld = self.flow(h, self._coupling_condition(condition))
        return z, logdet + ld

    def inverse(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Latents ``z`` ``[B, D]`` -> continuous images ``y`` ``[B, C, H, W]`` (the inverse of :meth:`encode`)."""
        with torch.autocast(z.device.type, enabled=False):  # full precision, as in log_density
            return self._postprocess(self.flow.inverse(z.to(self.flow_dtype), self._coupling_condition(condition)))

    def prior_params(self, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, log_std)``, each ``[B, D]``, of the class-conditional prior for labels ``[B]``."""
        mean, log_std = self.prior(condition).to(self.flow_dtype).chunk(2, dim=1)
        return mean, log_std

    def log_density(self, y: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``[B]`` exact log density (nats) of the continuous ``y`` on ``[0, 1)^D`` under the flow.

        A conditional flow needs ``condition`` (``[B]`` labels) and gives ``log p(y | condition)``.
        Runs without autocast: bf16 log-determinants summed over thousands of dimensions and
        the 1x1 convolutions' inverses would be too coarse for a likelihood.
        """
        with torch.autocast(y.device.type, enabled=False):
            z, logdet = self.encode(y.to(self.flow_dtype), condition)
            if condition is None:
                log_prior = -0.5 * (z.pow(2).sum(1) + z.shape[1] * math.log(2 * math.pi))
            else:
                mean, log_std = self.prior_params(condition)
                eps = (z - mean) * torch.exp(-log_std)
                log_prior = -0.5 * (eps.pow(2).sum(1) + z.shape[1] * math.log(2 * math.pi)) - log_std.sum(1)
        return log_prior + logdet

    def dequantization_bound(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``[B]`` one-sample estimate of ``E_u[log p(y)] - D log L <= log P(x)`` (with gradients)."""
        return self.log_density(self.dequantize(x), condition) - self.dims * math.log(self.config.levels)

    # ---- the contract --------------------------------------------------------------------
    def training_step(self, batch, step, optimizer="model"):
        bound = self.dequantization_bound(batch["x"], self.condition_from_batch(batch))
        nll = -bound.mean()
        return StepOutput(nll, {"nll": nll.detach(), "bits_per_dim": nll.detach() / (self.dims * math.log(2))})

    @torch.no_grad()
    def validation_step(self, batch):
        metrics = {k: float(v) for k, v in self.training_step(batch, 0).metrics.items()}
        return {"loss": metrics["nll"], **metrics}

    @torch.no_grad()
    def log_prob(self, x, *, condition=None, num_samples: int | None = None, **kwargs):
        """Lower bound on ``log P(x)``, ``[B]`` nats of the discrete images ``x``.

        ``log P(x) >= log (1/K) sum_k p(y_k) - D log L`` with ``y_k = (x + u_k) / L``,
        ``u_k ~ U[0, 1)^D`` (uniform dequantisation as the proposal); K = ``num_samples``
        (default ``config.dequant_samples``); K = 1 is the usual dequantisation bound. A
        conditional flow needs ``condition`` (``[B]`` labels) and bounds ``log P(x | condition)``.
        """
        condition = self.condition_for_scoring(condition, len(x))
        k = num_samples or self.config.dequant_samples
        terms = torch.stack([self.dequantization_bound(x, condition) for _ in range(k)])  # [K, B]
        return (torch.logsumexp(terms.double(), 0) - math.log(k)).to(terms.dtype)

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, temperature: float = 1.0):
        """``[N, C, H, W]`` integer images: ``z ~ N(0, temperature^2 I)``, ``y = inverse(z)``, ``floor(y L)``.

        A conditional flow draws ``z = mean_y + temperature exp(log_std_y) eps`` for the labels
        ``condition`` (one, or one per sample; without one, the classes in turn).
        """
        condition = self.condition_for_sampling(condition, num_samples)
        z = temperature * torch.randn(num_samples, self.dims, generator=generator, device=self.device,
                                      dtype=self.flow_dtype)
        if condition is not None:
            mean, log_std = self.prior_params(condition)
            z = mean + torch.exp(log_std) * z
        y = self.inverse(z, condition)
        levels = self.config.levels
        return torch.nan_to_num(y * levels).floor().clamp(0, levels - 1).long()


@register_model("realnvp")
class RealNVP(_ImageFlow):
    """RealNVP: affine couplings with checkerboard and channel masks in a multi-scale flow.

    Each stage but the last: ``steps_per_scale`` checkerboard couplings, a squeeze,
    ``steps_per_scale`` channel couplings, then half the channels are factored out. The last
    stage: ``steps_per_scale + 1`` checkerboard couplings. ``num_scales - 1`` squeezes in all
    (28x28 MNIST allows up to 3 scales, 8x8 digits up to 4). ``likelihood = "bound"``: log_prob
    is the uniform-dequantisation lower bound on the discrete log-likelihood (see the module).
    """

    config_class = FlowConfig

    def build_stages(self, config):
        c, h, w = config.image_shape
        _check_squeezes(config.image_shape, config.num_scales - 1, "realnvp")
        hidden, k, cond = config.hidden_channels, config.steps_per_scale, self.coupling_condition_dim
        stages: list[FlowLayer] = []
        for scale in range(config.num_scales):
            if scale == config.num_scales - 1:
                stages.append(FlowSequential([AffineCoupling(c, hidden, "checkerboard", i % 2, cond)
                                              for i in range(k + 1)]))
                break
            layers: list[FlowLayer] = [AffineCoupling(c, hidden, "checkerboard", i % 2, cond) for i in range(k)]
            layers.append(Squeeze())
            c, h, w = 4 * c, h // 2, w // 2
            layers += [AffineCoupling(c, hidden, "channel", i % 2, cond) for i in range(k)]
            stages.append(FlowSequential(layers))
            c = c - c // 2  # factored out
        return stages


@register_model("glow")
class Glow(_ImageFlow):
    """Glow: squeeze, then steps of actnorm, invertible 1x1 conv (LU) and affine coupling, multi-scale.

    Each stage squeezes once (``num_scales`` squeezes: 28x28 MNIST allows up to 2 scales, 8x8
    digits up to 3) and runs ``steps_per_scale`` steps; half the channels are factored out after
    every stage but the last. ActNorm initialises from the first training batch.
    ``likelihood = "bound"``: log_prob is the uniform-dequantisation lower bound (see the module).
    """

    config_class = GlowConfig

    def build_stages(self, config):
        c, _, _ = config.image_shape
        _check_squeezes(config.image_shape, config.num_scales, "glow")
        stages: list[FlowLayer] = []
        for scale in range(config.num_scales):
            c = 4 * c
            layers: list[FlowLayer] = [Squeeze()]
            for _ in range(config.steps_per_scale):
                layers += [ActNorm(c), InvConv1x1(c),
                           AffineCoupling(c, config.hidden_channels, "channel", 0, self.coupling_condition_dim)]
            stages.append(FlowSequential(layers))
            if scale < config.num_scales - 1:
                c = c - c // 2
        return stages

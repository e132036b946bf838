"""Generative adversarial networks: DCGAN, WGAN-GP and the hinge-loss GAN with spectral norm.

One class, three registered recipes that differ in their loss and in what keeps the
discriminator in check:

- ``dcgan`` (Radford et al. 2016): batch norm in both nets; the non-saturating loss
  ``L_D = softplus(-D(x)) + softplus(D(G(z)))``, ``L_G = softplus(-D(G(z)))``.
- ``wgan-gp`` (Gulrajani et al. 2017): a critic without batch norm, the Wasserstein loss
  ``L_D = D(G(z)) - D(x) + lambda (||grad D(x_hat)|| - 1)^2`` on random interpolates
  ``x_hat``, and ``discriminator_steps`` critic updates per generator update.
- ``sngan`` (Miyato et al. 2018): spectral normalisation of every discriminator weight and the
  hinge loss ``L_D = relu(1 - D(x)) + relu(1 + D(G(z)))``, ``L_G = -D(G(z))``.

Conditioning: the label's embedding is concatenated to z, and the discriminator adds the
projection term. Real images are dequantised (``(x + u) / L``, u ~ U(0, 1), mapped to
[-1, 1]) so that the discriminator cannot tell real from fake by the pixel grid; a generated
image in [-1, 1] is mapped back to the level whose bin it falls in. GANs have no likelihood:
judge them with the sample-quality metrics. The trainer steps the two optimizers in the order
``optimizer_order`` gives, each update on its own batch; ``discriminator_lr_ratio`` sets the
two-time-scale learning rates; the trainer's EMA of the weights gives the sampling generator.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import torch

from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import ConvDiscriminator, ConvGenerator, gradient_penalty
from .registry import register_model
from ..nn.adversarial import collapse_warnings, discriminator_loss, diversity, frozen, generator_loss
from ..optim import make_optimizer
from ..nn.levels import bins_to_float, float_to_bins
from .base import GenerativeModel, ImageModelConfig, StepOutput


@dataclasses.dataclass
class GANConfig(ImageModelConfig):
    latent_dim: int = 64
    generator_channels: list[int] = dataclasses.field(default_factory=lambda: [128, 64, 32])  # lowest res first
    discriminator_channels: list[int] = dataclasses.field(default_factory=lambda: [32, 64, 128])
    loss: Literal["nonsaturating", "wasserstein", "hinge"] = "nonsaturating"
    discriminator_norm: Literal["batch", "layer", "none"] = "batch"
    spectral_norm: bool = False
    discriminator_steps: int = 1  # discriminator updates per generator update
    gradient_penalty: float = 0.0  # lambda of the WGAN-GP penalty; 0 turns it off
    discriminator_lr_ratio: float = 1.0  # the discriminator's lr = the training lr x this (two time scales)
    collapse_warning: float = 0.5  # warn when sample diversity falls below this share of the real data's

    def validate(self) -> None:
        super().validate()
        if self.latent_dim < 1 or not self.generator_channels or not self.discriminator_channels:
            raise ConfigError("latent_dim must be >= 1 and both channel lists non-empty")
        if min(self.generator_channels + self.discriminator_channels) < 1:
            raise ConfigError("every channel width must be >= 1")
        if self.discriminator_steps < 1:
            raise ConfigError(f"discriminator_steps must be >= 1, got {self.discriminator_steps}")
        if self.gradient_penalty < 0 or self.discriminator_lr_ratio <= 0:
            raise ConfigError("gradient_penalty must be >= 0 and discriminator_lr_ratio > 0")
        if self.gradient_penalty > 0 and self.discriminator_norm == "batch":
            raise ConfigError("the gradient penalty is per example, which batch norm breaks; "
                              "set discriminator_norm to layer or none")


@dataclasses.dataclass
class WGANGPConfig(GANConfig):
    loss: Literal["nonsaturating", "wasserstein", "hinge"] = "wasserstein"
    discriminator_norm: Literal["batch", "layer", "none"] = "layer"
    discriminator_steps: int = 5
    gradient_penalty: float = 10.0


@dataclasses.dataclass
class SNGANConfig(GANConfig):
    loss: Literal["nonsaturating", "wasserstein", "hinge"] = "hinge"
    discriminator_norm: Literal["batch", "layer", "none"] = "none"
    spectral_norm: bool = True
    discriminator_steps: int = 2


class _GAN(GenerativeModel):
    config_class: ClassVar[type[GANConfig]] = GANConfig
    likelihood = "none"
    data_kinds = ("image",)
    family = "gan"
    log_grad_norms = True
    # the field's optimizer settings: Adam with beta1 = 0.5 (DCGAN) or 0 (WGAN-GP), no clipping
    train_defaults: ClassVar[dict[str, Any]] = dict(lr=2e-4, betas=[0.5, 0.999], grad_clip=0.0, weight_decay=0.0,
                                                    schedule="constant", ema_decay=0.999)

    def __init__(self, config: GANConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.num_classes = config.num_classes if config.conditional else 0
        self.generator = ConvGenerator(config.latent_dim, config.image_shape, config.generator_channels,
                                       self.num_classes)
        self.discriminator = ConvDiscriminator(config.image_shape, config.discriminator_channels, self.num_classes,
                                               norm=config.discriminator_norm, spectral_norm=config.spectral_norm)

    # ---- data space <-> network space -----------------------------------------------------
    def to_unit(self, x: torch.Tensor, dequantize: bool = True) -> torch.Tensor:
        """Integer levels -> [-1, 1]; with ``dequantize``, uniformly spread within each level's bin."""
        return bins_to_float(x, self.config.levels, dequantize)

    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> the level whose bin holds the value."""
        return float_to_bins(x, self.config.levels)

    # ---- training -------------------------------------------------------------------------
    def optimizer_order(self) -> list[tuple[str, int]]:
        return [("discriminator", self.config.discriminator_steps), ("generator", 1)]

    def configure_optimizers(self, train_config) -> dict[str, torch.optim.Optimizer]:
        return {"generator": make_optimizer(self.generator.parameters(), train_config),
                "discriminator": make_optimizer(self.discriminator.parameters(), train_config,
                                                lr=train_config.lr * self.config.discriminator_lr_ratio)}

    def _fake(self, n: int, y: torch.Tensor | None, device, generator: torch.Generator | None = None,
              truncation: float = 1.0) -> torch.Tensor:
        z = torch.randn(n, self.config.latent_dim, device=device, generator=generator) * truncation
        return self.generator(z, y)

    def training_step(self, batch, step, optimizer="model"):
        if optimizer not in ("discriminator", "generator"):
            raise ConfigError(f"a GAN steps the optimizers 'discriminator' and 'generator', not '{optimizer}'")
        x = batch["x"]
        y = self.condition_from_batch(batch)
        loss_kind = self.config.loss
        if optimizer == "discriminator":
            real = self.to_unit(x)
            with torch.no_grad():
                fake = self._fake(x.shape[0], y, x.device)
            d_real, d_fake = self.discriminator(real, y), self.discriminator(fake, y)
            loss = discriminator_loss(loss_kind, d_real, d_fake)
            metrics = {"d_real": d_real.detach().float().mean(), "d_fake": d_fake.detach().float().mean()}
            if self.config.gradient_penalty > 0:
                gp = gradient_penalty(lambda x_hat: self.discriminator(x_hat, y), real, fake)
                loss = loss + self.config.gradient_penalty * gp
                metrics["gradient_penalty"] = gp.detach()
            return StepOutput(loss, metrics)
        with frozen(self.discriminator):  # the generator's graph need not reach D's weights
            d_fake = self.discriminator(self._fake(x.shape[0], y, x.device), y)
        return StepOutput(generator_loss(loss_kind, d_fake), {})

    @torch.no_grad()
    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Discriminator scores on held-out real images and on fakes, and the samples' diversity.

        There is no ``loss``: a GAN has no validation objective, so no "best" model is kept.
        ``diversity`` is the mean pairwise distance between fakes divided by that between the
        real images of the batch; near 0 means the generator repeats itself (mode collapse).
        """
        x = batch["x"]
        y = self.condition_from_batch(batch)
        real = self.to_unit(x)
        fake = self._fake(x.shape[0], y, x.device)
        out = {"d_real_val": float(self.discriminator(real, y).float().mean()),
               "d_fake_val": float(self.discriminator(fake, y).float().mean())}
        if x.shape[0] > 1:
            out["diversity"] = diversity(fake, real)
        return out

    def health_warnings(self, metrics: dict[str, float]) -> list[str]:
        return collapse_warnings(metrics, self.config.collapse_warning, "images")

    # ---- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, truncation: float = 1.0):
        """``[N, C, H, W]`` integer levels from ``G(truncation * z)``.

        ``condition``: class labels for a conditional model (without them it draws the classes
        ``0, 1, ..., num_classes - 1, 0, ...``); ``truncation`` < 1 trades diversity for fidelity.
        """
        condition = self.condition_for_sampling(condition, num_samples)
        return self.to_levels(self._fake(num_samples, condition, self.device, generator, truncation))


@register_model("dcgan")
class DCGAN(_GAN):
    """DCGAN: batch-normalised convolutional nets, non-saturating loss (Radford et al. 2016)."""

    config_class = GANConfig


@register_model("wgan-gp")
class WGANGP(_GAN):
    """WGAN-GP: Wasserstein critic with a gradient penalty, 5 critic steps per generator step."""

    config_class = WGANGPConfig
    train_defaults = dict(_GAN.train_defaults, lr=1e-4, betas=[0.0, 0.9])


@register_model("sngan")
class SNGAN(_GAN):
    """Hinge-loss GAN with spectral normalisation in the discriminator (Miyato et al. 2018)."""

    config_class = SNGANConfig
    train_defaults = dict(_GAN.train_defaults, betas=[0.0, 0.9])

"""Super-resolution: a residual CNN trained on pixels (``sr-cnn``) and the same net as a GAN (``sr-gan``).

Both enlarge a low-resolution image ``scale`` times with :class:`~genlab.nn.SRResNet` (EDSR-style
residual blocks, sub-pixel upsampling, a bicubic skip) and are fully convolutional: trained on
patches, they enlarge a whole photo (``genlab superres``, tiled when large).

* ``sr-cnn`` (the ESPCN / EDSR line) minimises the L1 distance to the high-resolution truth, which
  is what PSNR rewards (EDSR found L1 trains better than L2 for the same PSNR).
* ``sr-gan`` (the SRGAN / ESRGAN line) adds a PatchGAN discriminator on high-resolution patches:
  ``L_G = l1_weight * L1 + adversarial_weight * softplus(-D(G(lr)))`` and the non-saturating
  ``L_D``. It trades PSNR for sharper texture; SRGAN and ESRGAN add a VGG feature loss that genlab
  cannot ship (no pretrained VGG weights here), so this is the pixel-plus-adversarial variant. Start it
  from a trained ``sr-cnn`` (``model.net.load_state_dict(cnn.net.state_dict())``) as SRGAN starts
  from SRResNet.

Pixels are mapped from levels to [0, 1]; samples are rounded back to levels. Neither model has a
likelihood: they are judged by PSNR and SSIM against the truth (:mod:`genlab.evaluation.restoration`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..data.conditions import LowResImage
from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import PatchDiscriminator, SRResNet
from .registry import register_model
from ..nn.adversarial import discriminator_loss, frozen, generator_loss
from ..optim import make_optimizer
from ..nn.levels import float_to_grid, grid_to_float
from .base import GenerativeModel, ImageModelConfig, StepOutput


@dataclasses.dataclass
class SRConfig(ImageModelConfig):
    scale: int = 4  # filled from the data (DataInfo.scale)
    width: int = 64
    blocks: int = 8
    res_scale: float = 1.0
    bicubic_skip: bool = True  # predict the difference to a bicubic enlargement

    def validate(self) -> None:
        super().validate()
        if self.scale < 1:
            raise ConfigError(f"scale must be a whole number >= 1, got {self.scale}")
        if self.width < 1 or self.blocks < 0:
            raise ConfigError(f"width must be >= 1 and blocks >= 0, got width={self.width}, blocks={self.blocks}")


@dataclasses.dataclass
class SRGANConfig(SRConfig):
    disc_width: int = 64
    disc_layers: int = 0  # stride-2 layers of the PatchGAN (3: 70x70 patches); 0: as many as patches allow, up to 3
    l1_weight: float = 1.0
    adversarial_weight: float = 0.01

    def validate(self) -> None:
        super().validate()
        if self.disc_width < 1 or self.disc_layers < 0:
            raise ConfigError("disc_width must be >= 1 and disc_layers >= 0 (0: automatic)")
        if self.l1_weight < 0 or self.adversarial_weight < 0:
            raise ConfigError("l1_weight and adversarial_weight must be >= 0")


class _SuperResolution(GenerativeModel):
    """What both super-resolution models share: the generator net, pixel mapping, sampling."""

    config_class: ClassVar[type[SRConfig]] = SRConfig
    likelihood = "none"
    data_kinds = ("superres",)

    def __init__(self, config: SRConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.net = SRResNet(config.image_shape[0], config.width, config.blocks, config.scale, config.res_scale,
                            config.bicubic_skip)

    @classmethod
    def default_data_info(cls, config: SRConfig) -> DataInfo:
        return DataInfo(name="none", kind="superres", shape=tuple(config.image_shape), levels=config.levels,
                        num_classes=config.num_classes, scale=config.scale)

    @property
    def condition_spec(self) -> LowResImage:
        return LowResImage(self.config.image_shape[0])

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Levels (or 0..255 for uint8 input of a 256-level model) -> [0, 1]."""
        return grid_to_float(x, self.config.levels)

    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        return float_to_grid(x, self.config.levels)

    def upscale(self, lowres: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Low-resolution levels ``[B, C, h, w]`` -> high-resolution floats in [0, 1] (not clamped).

        Deterministic: ``generator`` is taken, and unused, so every super-resolution model is called alike."""
        return self.net(self.to_unit(lowres)).float()

    def _pixel_loss(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hr = self.to_unit(batch["x"])
        sr = self.upscale(self.condition_from_batch(batch))
        if sr.shape != hr.shape:
            raise ConfigError(f"the model enlarges {self.config.scale}x, but the data pairs "
                              f"{list(batch['lowres'].shape[-2:])} with {list(hr.shape[-2:])} images; "
                              "train it on data of its scale")
        return F.l1_loss(sr, hr), sr, hr

    @torch.no_grad()
    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """``l1`` and ``psnr`` (dB, all channels, on [0, 1] pixels rounded to levels) on a held-out batch."""
        l1, sr, hr = self._pixel_loss(batch)
        mse = ((self.to_unit(self.to_levels(sr)) - hr) ** 2).flatten(1).mean(1).clamp_min(1e-10)
        return {"l1": float(l1), "psnr": float((-10 * torch.log10(mse)).mean())}

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None):
        """High-resolution levels ``[N, C, h * scale, w * scale]`` for low-resolution ``condition`` images.

        The enlargement is deterministic (``generator`` is unused): one answer per input.
        """
        condition = self.condition_for_sampling(condition, num_samples)
        return self.to_levels(self.upscale(condition))


@register_model("sr-cnn")
class SRCNN(_SuperResolution):
    """Super-resolution CNN: EDSR-style residual blocks, sub-pixel upsampling, L1 loss."""

    family = "cnn"

    def training_step(self, batch, step, optimizer="model"):
        l1, _, _ = self._pixel_loss(batch)
        return StepOutput(l1, {})

    @torch.no_grad()
    def validation_step(self, batch):
        out = super().validation_step(batch)
        return {"loss": out["l1"], **out}


@register_model("sr-gan")
class SRGAN(_SuperResolution):
    """Super-resolution GAN: the sr-cnn generator, a PatchGAN discriminator, L1 plus adversarial loss."""

    config_class = SRGANConfig
    family = "gan"
    log_grad_norms = True
    train_defaults: ClassVar[dict[str, Any]] = dict(lr=1e-4, betas=[0.9, 0.999], grad_clip=0.0, weight_decay=0.0,
                                                    schedule="constant")

    def __init__(self, config: SRGANConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        _, h, w = config.image_shape
        try:
            layers = PatchDiscriminator.layers_for(h, w, config.disc_layers, norm="none")
        except ValueError as e:
            raise ConfigError(str(e)) from e
        self.discriminator = PatchDiscriminator(config.image_shape[0], config.disc_width, layers, norm="none",
                                                spectral_norm=True)

    def optimizer_order(self) -> list[tuple[str, int]]:
        return [("discriminator", 1), ("generator", 1)]

    def configure_optimizers(self, train_config) -> dict[str, torch.optim.Optimizer]:
        return {"generator": make_optimizer(self.net.parameters(), train_config),
                "discriminator": make_optimizer(self.discriminator.parameters(), train_config)}

    def training_step(self, batch, step, optimizer="model"):
        if optimizer not in ("discriminator", "generator"):
            raise ConfigError(f"sr-gan steps the optimizers 'discriminator' and 'generator', not '{optimizer}'")
        hr = self.to_unit(batch["x"]) * 2 - 1  # the discriminator sees [-1, 1]
        if optimizer == "discriminator":
            with torch.no_grad():
                fake = self.upscale(self.condition_from_batch(batch)) * 2 - 1
            d_real, d_fake = self.discriminator(hr), self.discriminator(fake)
            loss = discriminator_loss("nonsaturating", d_real, d_fake)
            return StepOutput(loss, {"d_real": d_real.detach().float().mean(), "d_fake": d_fake.detach().float().mean()})
        l1, sr, _ = self._pixel_loss(batch)
        with frozen(self.discriminator):  # the generator's graph need not reach D's weights
            adversarial = generator_loss("nonsaturating", self.discriminator(sr * 2 - 1))
        loss = self.config.l1_weight * l1 + self.config.adversarial_weight * adversarial
        return StepOutput(loss, {"l1": l1.detach(), "adversarial": adversarial.detach()})

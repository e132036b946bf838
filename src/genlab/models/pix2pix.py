"""Image-to-image translation: pix2pix (Isola et al., CVPR 2017).

A conditional GAN that turns a source image (an edge map, a label map) into a target image of
the same size:

* the generator is a U-Net (:class:`~genlab.nn.UNetGenerator`) from the source to the target;
  its dropout is its only noise and stays on when sampling, as in the paper, so a seeded
  generator gives one answer and different seeds slightly different ones;
* the discriminator is a PatchGAN (:class:`~genlab.nn.PatchDiscriminator`) on the source and a
  target (real or generated) concatenated along the channels: it judges whether each patch of the
  target is a plausible rendering of that patch of the source;
* the losses: ``L_G = l1_weight * |G(s) - t|_1 + adversarial_weight * softplus(-D(s, G(s)))``
  (L1 with lambda = 100 on pixels in [-1, 1], as the paper, plus the non-saturating GAN loss) and
  ``L_D = (softplus(-D(s, t)) + softplus(D(s, G(s)))) / 2`` (the paper halves D's objective);
* two optimizers, the discriminator's step then the generator's, each Adam with lr 2e-4 and betas
  (0.5, 0.999), a constant rate, no clipping, no weight average (the paper's settings).

``adversarial_weight = 0`` gives the paper's "L1 only" ablation: the U-Net alone, trained on L1,
with one optimizer (the discriminator is built but never trained or used).

Sizes: the U-Net halves the image ``depth`` times (by default as often as the smaller side allows
a bottleneck of at least one pixel: 3 for 8x8, 4 for 28x28, 8 for 256x256); a side that is not a
multiple of ``2^depth`` is padded and the output cropped, so any image size works, in training and
when translating a picture of another size.

Validation reports ``l1``, the mean absolute difference between the translation (rounded to the
data's levels) and the truth, on pixels in [0, 1], and the discriminator's mean scores, but no
``loss``: L1 is what the adversarial term deliberately gives up some of for sharpness, so keeping the
weights of the lowest validation L1 would favour the blurrier checkpoints (and the adversarial game
makes it noisy); as for the other GANs no "best" model is kept and the last weights are used.
There is no likelihood: pix2pix is judged by L1 to the truth and by sample-quality metrics.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import torch

from ..data.conditions import SourceImage
from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import PatchDiscriminator, UNetGenerator
from .registry import register_model
from ..nn.adversarial import discriminator_loss, frozen, generator_loss
from ..optim import make_optimizer
from ..nn.levels import float_to_grid, grid_to_float
from .base import GenerativeModel, ImageModelConfig, StepOutput


@dataclasses.dataclass
class Pix2PixConfig(ImageModelConfig):
    width: int = 64  # channels of the U-Net's first layer (ngf)
    max_width: int = 512  # the cap on the U-Net's channels (8 x ngf in the paper)
    depth: int = 0  # the U-Net's halvings; 0: as many as the image allows (a bottleneck of >= 1 pixel)
    norm: Literal["instance", "batch", "none"] = "instance"  # the U-Net's
    dropout: float = 0.5  # the generator's noise, on in training and sampling
    dropout_layers: int = 3  # decoder layers with dropout, from the innermost
    disc_width: int = 64  # the PatchGAN's first layer (ndf)
    disc_layers: int = 0  # its stride-2 layers (3: 70x70 patches); 0: as many as the image allows, up to 3
    disc_norm: Literal["instance", "batch", "none"] = "instance"
    l1_weight: float = 100.0  # lambda of the paper
    adversarial_weight: float = 1.0

    def validate(self) -> None:
        super().validate()
        if self.conditional:
            raise ConfigError("pix2pix is conditioned on its source image, not on class labels; "
                              "leave conditional=false")
        if self.width < 1 or self.max_width < self.width or self.disc_width < 1 or self.disc_layers < 0:
            raise ConfigError("width and disc_width must be >= 1, max_width >= width and disc_layers >= 0 (0: automatic), got "
                              f"width={self.width}, max_width={self.max_width}, disc_width={self.disc_width}, "
                              f"disc_layers={self.disc_layers}")
        if self.depth < 0 or self.dropout_layers < 0:
            raise ConfigError(f"depth (0 = automatic) and dropout_layers must be >= 0, got depth={self.depth}, "
                              f"dropout_layers={self.dropout_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.l1_weight < 0 or self.adversarial_weight < 0 or self.l1_weight + self.adversarial_weight == 0:
            raise ConfigError("l1_weight and adversarial_weight must be >= 0 and not both 0, got "
                              f"{self.l1_weight} and {self.adversarial_weight}")


@register_model("pix2pix")
class Pix2Pix(GenerativeModel):
    """pix2pix: a U-Net from source to target image, a PatchGAN on (source, target), L1 + adversarial loss."""

    config_class: ClassVar[type[Pix2PixConfig]] = Pix2PixConfig
    likelihood = "none"
    data_kinds = ("image-pair",)
    family = "gan"
    log_grad_norms = True
    train_defaults: ClassVar[dict[str, Any]] = dict(lr=2e-4, betas=[0.5, 0.999], grad_clip=0.0, weight_decay=0.0,
                                                    schedule="constant")

    def __init__(self, config: Pix2PixConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        c, h, w = config.image_shape
        depth = config.depth or UNetGenerator.auto_depth(h, w)
        self.generator = UNetGenerator(c, c, depth, config.width, config.max_width, config.norm, config.dropout,
                                       config.dropout_layers)
        try:
            layers = PatchDiscriminator.layers_for(h, w, config.disc_layers, config.disc_norm)
        except ValueError as e:
            raise ConfigError(str(e)) from e
        self.discriminator = PatchDiscriminator(2 * c, config.disc_width, layers, norm=config.disc_norm)

    @classmethod
    def default_data_info(cls, config: Pix2PixConfig) -> DataInfo:
        return DataInfo(name="none", kind="image-pair", shape=tuple(config.image_shape), levels=config.levels,
                        num_classes=config.num_classes)

    @property
    def condition_spec(self) -> SourceImage:
        """Source images of the model's channels, any size (the U-Net pads what it cannot halve)."""
        return SourceImage(self.config.image_shape[0])

    # ---- pixels -------------------------------------------------------------------------------
    def to_signed(self, x: torch.Tensor) -> torch.Tensor:
        """Levels -> [-1, 1] (what both networks see)."""
        return grid_to_float(x, self.config.levels, signed=True)

    def to_levels(self, y: torch.Tensor) -> torch.Tensor:
        return float_to_grid(y, self.config.levels, signed=True)

    def translate(self, source: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Source levels ``[B, C, H, W]`` -> the generator's output in (-1, 1), same size."""
        return self.generator(self.to_signed(source), generator=generator)

    # ---- training -----------------------------------------------------------------------------
    @property
    def adversarial(self) -> bool:
        """False with ``adversarial_weight = 0``: the U-Net alone, trained on L1 (the discriminator idles)."""
        return self.config.adversarial_weight > 0

    def optimizer_order(self) -> list[tuple[str, int]]:
        return [("discriminator", 1), ("generator", 1)] if self.adversarial else [("generator", 1)]

    def configure_optimizers(self, train_config) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"generator": make_optimizer(self.generator.parameters(), train_config)}
        if self.adversarial:
            optimizers["discriminator"] = make_optimizer(self.discriminator.parameters(), train_config)
        return optimizers

    def _score(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The PatchGAN's logits for ``target`` as a rendering of ``source`` (both in [-1, 1])."""
        return self.discriminator(torch.cat([source, target], dim=1))

    def training_step(self, batch, step, optimizer="model"):
        if optimizer not in [name for name, _ in self.optimizer_order()]:
            names = " and ".join(f"'{name}'" for name, _ in self.optimizer_order())
            raise ConfigError(f"this pix2pix steps the optimizer(s) {names}, not '{optimizer}'")
        source_levels = self.condition_from_batch(batch)
        source, target = self.to_signed(source_levels), self.to_signed(batch["x"])
        if optimizer == "discriminator":
            with torch.no_grad():
                fake = self.generator(source)
            d_real, d_fake = self._score(source, target), self._score(source, fake)
            loss = discriminator_loss("nonsaturating", d_real, d_fake) / 2  # the paper halves D's objective
            return StepOutput(loss, {"d_real": d_real.detach().float().mean(), "d_fake": d_fake.detach().float().mean()})
        fake = self.generator(source)
        l1 = (fake.float() - target).abs().mean()
        metrics = {"l1": l1.detach() / 2}  # on [0, 1] pixels
        loss = self.config.l1_weight * l1
        if self.adversarial:
            with frozen(self.discriminator):  # the generator's graph need not reach D's weights
                adversarial = generator_loss("nonsaturating", self._score(source, fake).float())
            loss = loss + self.config.adversarial_weight * adversarial
            metrics["adversarial"] = adversarial.detach()
        return StepOutput(loss, metrics)

    @torch.no_grad()
    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """``l1`` (translations rounded to levels against the truth, pixels in [0, 1]) and the
        discriminator's mean scores on real and translated pairs; no ``loss`` (see the module)."""
        source_levels = self.condition_from_batch(batch)
        fake = self.translate(source_levels)
        top = self.config.levels - 1
        l1 = (self.to_levels(fake).float() - batch["x"].float()).abs().mean() / top
        if not self.adversarial:
            return {"l1": float(l1)}
        source = self.to_signed(source_levels)
        return {"l1": float(l1), "d_real_val": float(self._score(source, self.to_signed(batch["x"])).float().mean()),
                "d_fake_val": float(self._score(source, fake).float().mean())}

    # ---- sampling -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None):
        """Target levels ``[N, C, H, W]`` translated from the source images ``condition`` (levels,
        ``[N, C, H, W]``, or one ``[C, H, W]`` for all N; any size).

        The dropout masks come from ``generator``: the same seed gives the same images.
        """
        source = self.condition_for_sampling(condition, num_samples)
        return self.to_levels(self.translate(source, generator))

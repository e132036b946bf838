"""A GAN of whole video clips (MoCoGAN's factorised generator, a 3-D convolutional critic, hinge loss).

Why this design: unconditional video generation on Moving MNIST is the adversarial line's
benchmark (VGAN, Vondrick et al. 2016; TGAN, Saito et al. 2017; MoCoGAN, Tulyakov et al. 2018
all report it), and of its designs the factorised one is the cheapest that still models motion:

* **generator** (TGAN, MoCoGAN): a clip is a content code ``z_C`` ``[content_dim]``, drawn once
  per clip, and a motion code per frame ``z_M(t)`` ``[motion_dim]``, the hidden state of a GRU
  driven by fresh noise at every frame (MoCoGAN's motion subspace, its start drawn too). Frame
  ``t`` is a 2-D DCGAN generator (:class:`genlab.nn.ConvGenerator`, batch norm, transposed
  convolutions, tanh) applied to ``[z_C, z_M(t)]``. The digits' identity lives in ``z_C``, their
  movement in the GRU, and the frame generator's weights are shared over time: a 3-D
  transposed-convolution generator (VGAN) costs about as much per output pixel but has to learn
  the same digit at every time offset, and trains slower on a CPU;
* **critics**: a 3-D convolutional video critic (:class:`genlab.nn.VideoDiscriminator`, VGAN's and
  TGAN's, kernels over neighbouring frames) that judges motion, and MoCoGAN's image critic
  (:class:`genlab.nn.ConvDiscriminator`) on one random frame of each clip, which teaches the
  frame generator what a digit looks like faster than the video critic alone
  (``frame_discriminator_channels=[]`` turns it off);
* **loss**: the hinge loss with spectral normalisation on every critic weight (Miyato et al.
  2018; genlab's ``sngan``): ``L_D = relu(1 - D(x)) + relu(1 + D(G(z)))``, ``L_G = -D(G(z))``, summed
  over the two critics. It needs no gradient penalty (WGAN-GP's doubles a 3-D critic's cost, and
  TGAN's weight clipping is what later work replaced) and no batch norm in the critics. The
  non-saturating loss (``loss="nonsaturating"``) is the alternative.

Real clips are dequantised as the image GANs' images are (``(x + u) / L``, u ~ U(0, 1), mapped to
[-1, 1]); a generated clip is mapped back to the level whose bin each value falls in. The model
has no likelihood: its samples are judged by the Fréchet distance of their frames with an MNIST
feature network (:mod:`genlab.evaluation.video_quality`). It is unconditional: the data's context
frames are for prediction models (``convlstm``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import ConvDiscriminator, ConvGenerator, VideoDiscriminator
from .registry import register_model
from ..nn.adversarial import collapse_warnings, discriminator_loss, diversity, frozen, generator_loss
from ..optim import make_optimizer
from ..nn.levels import bins_to_float, float_to_bins
from .base import GenerativeModel, ModelConfig, StepOutput


@dataclasses.dataclass
class VideoGANConfig(ModelConfig):
    video_shape: list[int] = dataclasses.field(default_factory=lambda: [20, 1, 64, 64])  # [T, C, H, W], from the data
    levels: int = 256  # from the data
    content_dim: int = 48  # z_C: one per clip (what is in it)
    motion_dim: int = 16  # z_M(t): the GRU's state, one per frame (how it moves)
    generator_channels: list[int] = dataclasses.field(default_factory=lambda: [64, 32, 16, 8])  # lowest res first
    discriminator_channels: list[int] = dataclasses.field(default_factory=lambda: [16, 32, 64, 128])  # 3-D critic
    frame_discriminator_channels: list[int] = dataclasses.field(default_factory=lambda: [16, 32, 64])  # [] = none
    loss: Literal["hinge", "nonsaturating"] = "hinge"
    spectral_norm: bool = True
    discriminator_steps: int = 1  # critic updates per generator update
    discriminator_lr_ratio: float = 1.0  # the critics' lr = the training lr x this
    collapse_warning: float = 0.5  # warn when sample diversity falls below this share of the real data's

    def validate(self) -> None:
        if len(self.video_shape) != 4 or min(self.video_shape) < 1:
            raise ConfigError(f"video_shape must be [T, C, H, W], got {self.video_shape}")
        t, _, h, w = self.video_shape
        if t < 2:
            raise ConfigError(f"clips need at least 2 frames, got {t}")
        if self.levels < 2:
            raise ConfigError(f"levels must be >= 2, got {self.levels}")
        if self.content_dim < 1 or self.motion_dim < 1:
            raise ConfigError(f"content_dim and motion_dim must be >= 1, got {self.content_dim} and {self.motion_dim}")
        if not self.generator_channels or not self.discriminator_channels:
            raise ConfigError("generator_channels and discriminator_channels must each list at least one width")
        widths = self.generator_channels + self.discriminator_channels + self.frame_discriminator_channels
        if min(widths) < 1:
            raise ConfigError(f"every channel width must be >= 1, got {widths}")
        ups = len(self.generator_channels) - 1
        if 2 ** ups > min(h, w):
            most = min(h, w).bit_length()  # widths k with 2^(k-1) <= min(h, w)
            raise ConfigError(f"{h}x{w} frames are too small for {ups} doublings of generator_channels "
                              f"{self.generator_channels}; list at most {most} widths")
        if self.discriminator_steps < 1 or self.discriminator_lr_ratio <= 0:
            raise ConfigError("discriminator_steps must be >= 1 and discriminator_lr_ratio > 0")


class ClipGenerator(nn.Module):
    """``z_C [N, Dc]``, the motion start ``h0 [N, Dm]`` and noise ``eps [N, T, Dm]`` -> clips ``[N, T, C, H, W]``
    in [-1, 1]: ``z_M(t) = GRU(eps_t, z_M(t-1))``, frame ``t`` = ``ConvGenerator([z_C, z_M(t)])``."""

    def __init__(self, video_shape: list[int], content_dim: int, motion_dim: int, channels: list[int]):
        super().__init__()
        _, c, h, w = video_shape
        self.motion = nn.GRUCell(motion_dim, motion_dim)
        self.frames = ConvGenerator(content_dim + motion_dim, [c, h, w], channels)

    def motion_codes(self, h0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        codes, h = [], h0
        for t in range(eps.shape[1]):
            h = self.motion(eps[:, t], h)
            codes.append(h)
        return torch.stack(codes, 1)

    def forward(self, z_content: torch.Tensor, h0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        n, t = eps.shape[:2]
        motion = self.motion_codes(h0, eps)
        z = torch.cat([z_content[:, None].expand(-1, t, -1).to(motion.dtype), motion], 2)
        return self.frames(z.flatten(0, 1)).unflatten(0, (n, t))


class Critics(nn.Module):
    """The 3-D video critic and (optionally) the frame critic, stepped by one optimizer."""

    def __init__(self, config: VideoGANConfig):
        super().__init__()
        _, c, h, w = config.video_shape
        self.video = VideoDiscriminator(config.video_shape, config.discriminator_channels, norm="none",
                                        spectral_norm=config.spectral_norm)
        self.frame = ConvDiscriminator([c, h, w], config.frame_discriminator_channels, norm="none",
                                       spectral_norm=config.spectral_norm) if config.frame_discriminator_channels else None

    def forward(self, clips: torch.Tensor, which: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The video critic's scores ``[N]`` and the frame critic's on frame ``which[i]`` of clip ``i`` (or None)."""
        video = self.video(clips)
        if self.frame is None or which is None:
            return video, None
        return video, self.frame(clips[torch.arange(len(clips), device=clips.device), which])


@register_model("video-gan")
class VideoGAN(GenerativeModel):
    """Unconditional GAN of whole clips: MoCoGAN's content + GRU-motion generator, 3-D and frame critics, hinge loss."""

    config_class: ClassVar[type[VideoGANConfig]] = VideoGANConfig
    likelihood = "none"
    data_kinds = ("video",)
    family = "gan"
    log_grad_norms = True
    # MoCoGAN's optimizer: Adam, lr 2e-4, beta1 = 0.5; no clipping; the trainer's EMA gives the sampling generator
    train_defaults: ClassVar[dict[str, Any]] = dict(lr=2e-4, betas=[0.5, 0.999], grad_clip=0.0, weight_decay=0.0,
                                                    schedule="constant", ema_decay=0.999)

    def __init__(self, config: VideoGANConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.generator = ClipGenerator(config.video_shape, config.content_dim, config.motion_dim,
                                       config.generator_channels)
        self.discriminator = Critics(config)

    @classmethod
    def default_data_info(cls, config: VideoGANConfig) -> DataInfo:
        return DataInfo(name="none", kind="video", shape=tuple(config.video_shape), levels=config.levels)

    # ---- data space <-> network space -----------------------------------------------------
    def to_unit(self, x: torch.Tensor, dequantize: bool = True) -> torch.Tensor:
        """Integer levels -> [-1, 1]; with ``dequantize``, uniformly spread within each level's bin."""
        return bins_to_float(x, self.config.levels, dequantize)

    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> the level whose bin holds the value."""
        return float_to_bins(x, self.config.levels)

    def _fake(self, n: int, device, generator: torch.Generator | None = None, truncation: float = 1.0) -> torch.Tensor:
        c = self.config
        t = c.video_shape[0]
        z = torch.randn(n, c.content_dim, device=device, generator=generator) * truncation
        h0 = torch.randn(n, c.motion_dim, device=device, generator=generator)
        eps = torch.randn(n, t, c.motion_dim, device=device, generator=generator)
        return self.generator(z, h0, eps)

    def _check(self, x: torch.Tensor) -> None:
        if list(x.shape[1:]) != list(self.config.video_shape):
            raise ConfigError(f"the model makes clips {self.config.video_shape} (T, C, H, W), the data gives "
                              f"{list(x.shape[1:])}")

    # ---- training -------------------------------------------------------------------------
    def optimizer_order(self) -> list[tuple[str, int]]:
        return [("discriminator", self.config.discriminator_steps), ("generator", 1)]

    def configure_optimizers(self, train_config) -> dict[str, torch.optim.Optimizer]:
        return {"generator": make_optimizer(self.generator.parameters(), train_config),
                "discriminator": make_optimizer(self.discriminator.parameters(), train_config,
                                                lr=train_config.lr * self.config.discriminator_lr_ratio)}

    def discriminator_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """Hinge: ``mean relu(1 - D(x)) + mean relu(1 + D(G(z)))``; non-saturating: softplus in place of relu."""
        return discriminator_loss(self.config.loss, d_real, d_fake)

    def generator_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """Hinge: ``-mean D(G(z))``; non-saturating: ``mean softplus(-D(G(z)))``."""
        return generator_loss(self.config.loss, d_fake)

    def _frames(self, n: int, device) -> torch.Tensor:
        """One random frame index per clip, for the frame critic (MoCoGAN samples one frame of each clip)."""
        return torch.randint(self.config.video_shape[0], (n,), device=device)

    def training_step(self, batch, step, optimizer="model"):
        if optimizer not in ("discriminator", "generator"):
            raise ConfigError(f"a GAN steps the optimizers 'discriminator' and 'generator', not '{optimizer}'")
        x = batch["x"]
        self._check(x)
        n = x.shape[0]
        if optimizer == "discriminator":
            real = self.to_unit(x)
            with torch.no_grad():
                fake = self._fake(n, x.device)
            which = self._frames(n, x.device)
            (v_real, f_real), (v_fake, f_fake) = self.discriminator(real, which), self.discriminator(fake, which)
            loss = self.discriminator_loss(v_real, v_fake)
            metrics = {"d_real": v_real.detach().float().mean(), "d_fake": v_fake.detach().float().mean()}
            if f_real is not None:
                loss = loss + self.discriminator_loss(f_real, f_fake)
                metrics.update(d_frame_real=f_real.detach().float().mean(), d_frame_fake=f_fake.detach().float().mean())
            return StepOutput(loss, metrics)
        with frozen(self.discriminator):  # no graph into the critics' weights
            fake = self._fake(n, x.device)
            v_fake, f_fake = self.discriminator(fake, self._frames(n, x.device))
        loss = self.generator_loss(v_fake)
        if f_fake is not None:
            loss = loss + self.generator_loss(f_fake)
        return StepOutput(loss, {})

    @torch.no_grad()
    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """The video critic's scores on held-out real clips and on fakes; ``diversity`` (the fakes' mean
        pairwise distance over the real clips'; near 0 is mode collapse) and ``motion`` (the fakes' mean
        absolute change between consecutive frames over the real clips'; near 0 is a still picture).
        No ``loss``: a GAN has no validation objective, so no "best" model is kept."""
        x = batch["x"]
        self._check(x)
        real = self.to_unit(x)
        fake = self._fake(x.shape[0], x.device)
        out = {"d_real_val": float(self.discriminator.video(real).float().mean()),
               "d_fake_val": float(self.discriminator.video(fake).float().mean())}

        def change(clips):
            return float((clips[:, 1:].float() - clips[:, :-1].float()).abs().mean())

        out["motion"] = change(fake) / max(change(self.to_unit(x, dequantize=False)), 1e-12)
        if x.shape[0] > 1:
            out["diversity"] = diversity(fake, real)
        return out

    def health_warnings(self, metrics: dict[str, float]) -> list[str]:
        return collapse_warnings(metrics, self.config.collapse_warning, "clips")

    # ---- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, truncation: float = 1.0):
        """Clips ``long [N, T, C, H, W]`` of levels ``0 .. levels - 1``, from ``G(truncation * z_C, h0, eps)``.

        Unconditional: ``condition`` must be None. The same ``generator`` state gives the same clips.
        """
        self.condition_for_sampling(condition, num_samples)  # refuses a condition
        return self.to_levels(self._fake(num_samples, self.device, generator, truncation))

"""WaveGAN (Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis"): a GAN of raw waveforms.

The generator maps ``z`` (100-d, uniform in the paper; standard normal here, as genlab's other GANs)
through a dense layer to ``[d * 2^(k-1), base]`` and ``k`` transposed 1-D convolutions (kernel 25,
stride 4) to a clip of ``base * 4^k`` samples in [-1, 1] (tanh). The critic mirrors it with strided
convolutions, LeakyReLU(0.2) and **phase shuffle** (each example's feature maps shifted by a random
``-n .. n`` steps with reflection padding, after every convolution but the last), then a dense score.
It trains with the WGAN-GP loss ``L_D = D(G(z)) - D(x) + lambda (||grad D(x_hat)|| - 1)^2`` (lambda
10) and 5 critic updates per generator update, Adam lr 1e-4, betas (0.5, 0.9), as the paper.

The depth ``k`` is ``num_layers``, or by default derived from the clip length: the most stride-4
layers, up to the paper's 5, that leave a whole base length of at least 4 samples. 16,384 samples
give the paper's network (k = 5, base 16, d = ``model_size`` = 64: 16 d channels), FSDD's 8,192
give k = 5 and base 8, the 64-sample test tones k = 2 and base 4; a length that is not a multiple
of 4 of at least 16 (or that ``num_layers`` does not fit) is a one-line ConfigError naming the fix.

Data: clips are 8-bit mu-law codes; the critic sees waveforms. A real clip is decoded with
:func:`mu_law_decode` after *dequantisation*: each code ``c`` is spread uniformly over its bin
``[c - 1/2, c + 1/2)`` in the companded domain before expanding, so a real waveform re-encodes to
its own codes but no longer sits on the 256-value grid, which the critic could otherwise use to tell
real from fake (the image GANs dequantise their pixels for the same reason). A generated waveform
is encoded with :func:`mu_law_encode`, so :meth:`WaveGAN.sample` returns long mu-law codes
``[N, T]`` as WaveNet does. With ``conditional=true`` the class label's embedding is concatenated
to ``z`` and the critic adds the projection term. GANs have no likelihood.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from ..data.core import DataInfo
from ..data.modalities.audio import DEFAULT_RATE, LEVELS, MU, mu_law_decode, mu_law_encode
from ..errors import ConfigError
from ..nn import WaveCritic, WaveGenerator, gradient_penalty
from ..nn.audio_gan import STRIDE
from .registry import register_model
from ..nn.adversarial import collapse_warnings, discriminator_loss, diversity, frozen, generator_loss
from ..optim import make_optimizer
from .base import GenerativeModel, ModelConfig, StepOutput

MAX_DERIVED_LAYERS = 5  # the paper's depth (16,384 samples = 16 x 4^5)
MIN_BASE = 4  # a derived depth leaves at least this many samples for the dense layers


@dataclasses.dataclass
class WaveGANConfig(ModelConfig):
    length: int = 16384  # audio samples per clip (from the data): a multiple of 4^num_layers
    levels: int = LEVELS  # mu-law codes 0 .. 255
    num_classes: int = 0
    conditional: bool = False  # condition on the class label (the spoken digit)
    latent_dim: int = 100
    model_size: int = 64  # d: the channel multiplier (the generator starts at d * 2^(num_layers-1) channels)
    num_layers: int = 0  # stride-4 (transposed) convolutions per network; 0: derived from length (see `layers`)
    phase_shuffle: int = 2  # n: the critic's feature maps are shifted by -n .. n steps (0 turns it off)
    gradient_penalty: float = 10.0  # lambda of the WGAN-GP penalty; 0 turns it off
    discriminator_steps: int = 5  # critic updates per generator update
    dequantize: bool = True  # spread real codes uniformly within their mu-law bins before the critic sees them
    collapse_warning: float = 0.5  # warn when sample diversity falls below this share of the real data's

    @property
    def layers(self) -> int:
        """The stride-4 layers of each network: ``num_layers``, or where that is 0 the most (up to
        :data:`MAX_DERIVED_LAYERS`, the paper's 5) that leave a whole base length of at least
        :data:`MIN_BASE` samples (16,384 and 8,192 -> 5, 1,024 -> 4, 64 -> 2); 0 when none does."""
        if self.num_layers:
            return self.num_layers
        fits = [k for k in range(1, MAX_DERIVED_LAYERS + 1)
                if self.length % STRIDE ** k == 0 and self.length // STRIDE ** k >= MIN_BASE]
        return max(fits, default=0)

    @property
    def base_length(self) -> int:
        """Samples per channel after the generator's dense layer (and before the critic's dense layer)."""
        return self.length // STRIDE ** self.layers

    def validate(self) -> None:
        if self.levels != LEVELS:
            raise ConfigError(f"levels must be {LEVELS} (8-bit mu-law codes), got {self.levels}")
        if not 0 <= self.num_layers <= 8:
            raise ConfigError(f"num_layers must be between 1 and 8 (or 0: derived from length), got {self.num_layers}")
        if self.layers == 0:
            raise ConfigError(f"wavegan's length must be a multiple of 4 of at least {STRIDE * MIN_BASE} samples, "
                              f"got {self.length}: e.g. 8192 or 16384 (a multiple of 4^5 = 1024 gets the paper's "
                              f"5 layers); use --data-arg length=16384")
        unit = STRIDE ** self.layers
        if self.length < unit or self.length % unit:
            suggestion = max(unit, round(self.length / unit) * unit)
            raise ConfigError(f"wavegan's length must be a multiple of 4^{self.layers} = {unit} with "
                              f"num_layers={self.layers}, got {self.length}: use --data-arg length={suggestion}, "
                              f"or --set num_layers=0 to derive the layers from the length")
        if self.latent_dim < 1 or self.model_size < 1:
            raise ConfigError("latent_dim and model_size must be >= 1")
        shuffled = self.length // STRIDE ** max(self.layers - 1, 1)  # the shortest feature map shuffled
        if self.phase_shuffle < 0 or (self.layers > 1 and self.phase_shuffle >= shuffled):
            raise ConfigError(f"phase_shuffle must be between 0 and {shuffled - 1} (the critic's shortest "
                              f"shuffled feature map has {shuffled} steps), got {self.phase_shuffle}")
        if self.discriminator_steps < 1:
            raise ConfigError(f"discriminator_steps must be >= 1, got {self.discriminator_steps}")
        if self.gradient_penalty < 0:
            raise ConfigError(f"gradient_penalty must be >= 0, got {self.gradient_penalty}")
        if self.conditional and self.num_classes < 1:
            raise ConfigError("conditional=true needs data with class labels (num_classes >= 1)")


@register_model("wavegan")
class WaveGAN(GenerativeModel):
    """WaveGAN: transposed 1-D convolutions to raw audio, a phase-shuffled WGAN-GP critic (Donahue et al. 2019)."""

    config_class: ClassVar[type[WaveGANConfig]] = WaveGANConfig
    likelihood = "none"
    data_kinds = ("audio",)
    family = "gan"
    log_grad_norms = True
    # the paper's optimizer: Adam, lr 1e-4, betas (0.5, 0.9), no clipping (EMA of the weights as genlab's GANs)
    train_defaults: ClassVar[dict[str, Any]] = dict(lr=1e-4, betas=[0.5, 0.9], grad_clip=0.0, weight_decay=0.0,
                                                    schedule="constant", ema_decay=0.999)

    def __init__(self, config: WaveGANConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.num_classes = config.num_classes if config.conditional else 0
        self.generator = WaveGenerator(config.latent_dim, config.base_length, config.layers, config.model_size,
                                       self.num_classes)
        self.discriminator = WaveCritic(config.length, config.layers, config.model_size, config.phase_shuffle,
                                        self.num_classes)

    @classmethod
    def default_data_info(cls, config: WaveGANConfig) -> DataInfo:
        return DataInfo(name="none", kind="audio", shape=(config.length,), levels=config.levels,
                        num_classes=config.num_classes, rate=DEFAULT_RATE)

    # ---- data space <-> waveforms ---------------------------------------------------------
    def to_wave(self, x: torch.Tensor, dequantize: bool | None = None) -> torch.Tensor:
        """Mu-law codes ``[B, T]`` -> waveforms ``[B, 1, T]`` in [-1, 1]; with ``dequantize`` (default:
        the config's) each code is spread uniformly over its bin before decoding."""
        codes = x.float()
        if self.config.dequantize if dequantize is None else dequantize:
            codes = (codes + torch.rand_like(codes) - 0.5).clamp(0, MU)
        return mu_law_decode(codes).to(x.device)[:, None, :]

    @staticmethod
    def to_codes(wave: torch.Tensor) -> torch.Tensor:
        """Waveforms ``[N, 1, T]`` (or ``[N, T]``) in [-1, 1] -> long mu-law codes ``[N, T]``."""
        return mu_law_encode(wave.reshape(len(wave), -1).float()).long()

    # ---- training -------------------------------------------------------------------------
    def optimizer_order(self) -> list[tuple[str, int]]:
        return [("discriminator", self.config.discriminator_steps), ("generator", 1)]

    def configure_optimizers(self, train_config) -> dict[str, torch.optim.Optimizer]:
        return {"generator": make_optimizer(self.generator.parameters(), train_config),
                "discriminator": make_optimizer(self.discriminator.parameters(), train_config)}

    def _fake(self, n: int, y: torch.Tensor | None, device, generator: torch.Generator | None = None,
              truncation: float = 1.0) -> torch.Tensor:
        z = torch.randn(n, self.config.latent_dim, device=device, generator=generator) * truncation
        return self.generator(z, y)

    def training_step(self, batch, step, optimizer="model"):
        """The critic's WGAN-GP loss (``optimizer="discriminator"``) or the generator's ``-D(G(z))``.

        Critic metrics: ``d_real``, ``d_fake``, ``wasserstein`` (``d_real - d_fake``, the critic's
        estimate of the Wasserstein distance) and ``gradient_penalty``."""
        if optimizer not in ("discriminator", "generator"):
            raise ConfigError(f"wavegan steps the optimizers 'discriminator' and 'generator', not '{optimizer}'")
        x = batch["x"]
        y = self.condition_from_batch(batch)
        if optimizer == "discriminator":
            real = self.to_wave(x)
            with torch.no_grad():
                fake = self._fake(x.shape[0], y, x.device)
            d_real, d_fake = self.discriminator(real, y).float(), self.discriminator(fake, y).float()
            loss = discriminator_loss("wasserstein", d_real, d_fake)
            metrics = {"d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean(),
                       "wasserstein": (d_real.mean() - d_fake.mean()).detach()}
            if self.config.gradient_penalty > 0:
                gp = gradient_penalty(lambda h: self.discriminator(h, y), real, fake)
                loss = loss + self.config.gradient_penalty * gp
                metrics["gradient_penalty"] = gp.detach()
            return StepOutput(loss, metrics)
        with frozen(self.discriminator):  # no graph through the critic's weights
            d_fake = self.discriminator(self._fake(x.shape[0], y, x.device), y).float()
        return StepOutput(generator_loss("wasserstein", d_fake), {})

    @torch.no_grad()
    def validation_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Critic scores on held-out real clips and on fakes, their difference and the samples' diversity.

        No ``loss``: a GAN has no validation objective. ``diversity`` is the mean pairwise distance
        between fake waveforms divided by that between the real ones; near 0 means mode collapse.
        """
        x = batch["x"]
        y = self.condition_from_batch(batch)
        real = self.to_wave(x)
        fake = self._fake(x.shape[0], y, x.device)
        d_real, d_fake = float(self.discriminator(real, y).float().mean()), float(self.discriminator(fake, y).float().mean())
        out = {"d_real_val": d_real, "d_fake_val": d_fake, "wasserstein_val": d_real - d_fake}
        if x.shape[0] > 1:
            out["diversity"] = diversity(fake, real)
        return out

    def health_warnings(self, metrics: dict[str, float]) -> list[str]:
        return collapse_warnings(metrics, self.config.collapse_warning, "clips")

    # ---- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, length: int | None = None,
               truncation: float = 1.0):
        """``[N, length]`` long mu-law codes of ``G(truncation * z)``.

        ``condition``: class labels for a conditional model (without them it draws the classes
        ``0, 1, ..., num_classes - 1, 0, ...``); ``generator``: torch RNG for reproducible samples;
        ``length``: keep the first ``length`` samples (at most the trained clip length, which the
        generator always makes); ``truncation`` < 1 trades diversity for fidelity.
        """
        condition = self.condition_for_sampling(condition, num_samples)
        full = self.config.length
        length = full if length is None else int(length)
        if not 1 <= length <= full:
            raise ConfigError(f"wavegan makes clips of {full} samples; length must be between 1 and {full}, "
                              f"got {length}")
        wave = self._fake(num_samples, condition, self.device, generator, truncation)[:, 0, :length]
        return self.to_codes(wave)

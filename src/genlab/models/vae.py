"""Variational autoencoder (Kingma & Welling 2014) with importance-weighted likelihood bounds.

Trained on the ELBO, ``log p(x) >= E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))`` (a bound for
beta = 1). :meth:`VAE.log_prob` is the importance-weighted bound of Burda et al. (2016) with K
samples, which tightens towards log p(x) as K grows. All values are nats of the discrete data.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
import torch.nn.functional as F

from .. import progress
from ..data.core import DataInfo
from ..errors import ConfigError, GenlabError
from ..nn import (MLP, check_setting, ConvDecoder, ConvEncoder, discretized_logistic_log_prob, gaussian_kl_standard,
                  gaussian_log_prob, sample_discretized_logistic)
from .registry import register_model
from ..nn.levels import grid_to_float
from .base import GenerativeModel, ImageModelConfig, StepOutput

# decoder name -> parameters per pixel
DECODER_PARAMS = {"categorical": None, "bernoulli": 1, "logistic": 2, "gaussian": 2}
# Default MLP widths: two layers of MAX_WIDTH, narrowed so that the decoder's output layer (width x
# pixels x parameters per pixel, by far the largest) holds at most OUTPUT_LAYER_BUDGET weights.
MAX_WIDTH, MIN_WIDTH, OUTPUT_LAYER_BUDGET = 256, 16, 1 << 23
MAX_TEMPERATURE = 100.0  # a latent 100 prior deviations out is already far from anything the decoder saw
# One pass of log_prob draws at most this many latents and this many decoder outputs, which bounds
# its memory (a few hundred MB) whatever the batch size and K; inside it the decoder runs over
# blocks of latents whose outputs (BLOCK_OUTPUTS floats, 32 MB) stay in the CPU's cache while their
# log-likelihood is taken: ~2x faster than one pass over the whole chunk.
CHUNK_ROWS, CHUNK_OUTPUTS, BLOCK_OUTPUTS = 1024, 1 << 24, 1 << 23


def default_hidden(outputs: int) -> list[int]:
    """MLP widths for a decoder with ``outputs`` outputs (pixels x parameters per pixel).

    Small data (8x8 digits: 64 x 17 outputs) gets [256, 256]; 32x32 RGB with a 256-way
    categorical decoder gets [16, 16] (about 13 million parameters rather than 200 million).
    """
    width = max(MIN_WIDTH, min(MAX_WIDTH, OUTPUT_LAYER_BUDGET // max(1, outputs)))
    return [width, width]


@dataclasses.dataclass
class VAEConfig(ImageModelConfig):
    architecture: Literal["mlp", "conv"] = "mlp"
    hidden: list[int] | None = None  # MLP widths; None: chosen from the data size (default_hidden)
    conv_channels: list[int] = dataclasses.field(default_factory=lambda: [32, 64])  # conv widths
    latent_dim: int = 16
    decoder: Literal["categorical", "bernoulli", "logistic", "gaussian"] = "categorical"
    activation: str = "relu"
    dropout: float = 0.0
    beta: float = 1.0  # KL weight in training; the reported bound always uses beta = 1
    iw_samples: int = 100  # K of the importance-weighted bound in log_prob

    def validate(self) -> None:
        super().validate()
        if self.latent_dim < 1 or self.iw_samples < 1:
            raise ConfigError("latent_dim and iw_samples must be >= 1")
        for key in ("hidden", "conv_channels"):
            widths = getattr(self, key)
            if widths is None and key == "hidden":  # chosen from the data size when the model is built
                continue
            if not widths or min(widths) < 1:
                raise ConfigError(f"{key} must be a list of widths >= 1, got {widths}; e.g. --set {key}=[64,64]")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}; e.g. --set dropout=0.1")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ConfigError(f"beta (the KL weight) must be a finite number >= 0, got {self.beta}")


@register_model("vae")
class VAE(GenerativeModel):
    """Variational autoencoder: MLP or conv, categorical/Bernoulli/logistic/Gaussian decoder."""

    display_sample_args = {"mode": "mean"}  # previews and `genlab sample` show the decoder's mean

    config_class = VAEConfig
    likelihood = "bound"
    data_kinds = ("image",)
    family = "vae"

    def __init__(self, config: VAEConfig, data_info: DataInfo):
        c, h, w = config.image_shape
        per_pixel = config.levels if config.decoder == "categorical" else DECODER_PARAMS[config.decoder]
        if config.hidden is None:  # the widths chosen are saved in the config
            config = dataclasses.replace(config, hidden=default_hidden(c * h * w * per_pixel))
        super().__init__(config, data_info)
        self.dims = c * h * w
        self.per_pixel = per_pixel
        cond = config.num_classes if config.conditional else 0
        if config.architecture == "mlp":
            self.encoder = MLP(self.dims + cond, config.hidden, 2 * config.latent_dim, config.activation, config.dropout)
            self.decoder = MLP(config.latent_dim + cond, list(reversed(config.hidden)), self.dims * per_pixel,
                               config.activation, config.dropout)
        else:
            self.encoder = ConvEncoder(c + cond, h, w, config.conv_channels, 2 * config.latent_dim, config.activation)
            self.decoder = ConvDecoder(config.latent_dim + cond, c * per_pixel, h, w,
                                       list(reversed(config.conv_channels)), config.activation)

    # ---- data space <-> network space -----------------------------------------------------
    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        """Integer levels -> floats in [0, 1]."""
        return grid_to_float(x, self.config.levels)

    def _with_condition(self, h: torch.Tensor, condition: torch.Tensor | None, image: bool) -> torch.Tensor:
        if not self.config.conditional:
            return h
        if condition is None:
            raise ConfigError("this VAE is conditional: pass condition= (class labels)")
        onehot = F.one_hot(condition, self.config.num_classes).to(h.dtype)
        if image and self.config.architecture == "conv":
            return torch.cat([h, onehot[:, :, None, None].expand(-1, -1, *h.shape[2:])], dim=1)
        return torch.cat([h, onehot], dim=1)

    # ---- encoder / decoder ----------------------------------------------------------------
    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``(mean, logvar)``, each ``[B, latent_dim]``, for integer images ``x``."""
        h = self._scale(x)
        if self.config.architecture == "mlp":
            h = h.flatten(1)
        mean, logvar = self.encoder(self._with_condition(h, condition, image=True)).float().chunk(2, dim=1)
        return mean, logvar

    def decoder_params(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder outputs ``[B, C, H, W, per_pixel]`` (logits or distribution parameters)."""
        c, h, w = self.config.image_shape
        out = self.decoder(self._with_condition(z, condition, image=False)).float()
        if self.config.architecture == "mlp":
            return out.view(-1, c, h, w, self.per_pixel)
        return out.view(-1, self.per_pixel, c, h, w).permute(0, 2, 3, 4, 1)

    def reconstruction_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``[B]`` log p(x | z) in nats of the discrete images (a bound for the Gaussian decoder)."""
        return self.pixel_log_prob(x, params).flatten(1).sum(1)

    def pixel_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` log p(x_i | z) of each pixel value in nats (the decoder factorises over pixels)."""
        kind, levels = self.config.decoder, self.config.levels
        if kind == "categorical":  # log-softmax over the contiguous last axis: 2x faster than a permuted cross_entropy
            logp = params.log_softmax(-1).gather(-1, x.long().unsqueeze(-1)).squeeze(-1)
        elif kind == "bernoulli":
            logp = -F.binary_cross_entropy_with_logits(params[..., 0], self._scale(x), reduction="none")
        elif kind == "logistic":
            logp = discretized_logistic_log_prob(x, torch.tanh(params[..., 0]), params[..., 1].clamp(min=-7.0), levels)
        else:  # gaussian on uniformly dequantised values in [0, 1]; -log(levels) per pixel for the bin width
            y = (x.float() + torch.rand_like(x, dtype=torch.float)) / levels
            logp = gaussian_log_prob(y, params[..., 0], params[..., 1].clamp(min=-7.0)) - math.log(levels)
        return logp

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None, mode: str = "mean",
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Integer images ``[B, C, H, W]`` from latents ``z``: the decoder's mean or a sample."""
        params = self.decoder_params(z, condition)
        kind, top = self.config.decoder, self.config.levels - 1
        if mode not in ("mean", "sample"):
            raise ConfigError(f"mode must be 'mean' or 'sample', got {mode!r}")
        if kind == "categorical":
            if mode == "mean":
                probs = params.softmax(-1)
                return (probs * torch.arange(top + 1, device=z.device)).sum(-1).round().long()
            flat = params.reshape(-1, top + 1).softmax(-1)
            return torch.multinomial(flat, 1, generator=generator).view(params.shape[:-1])
        if kind == "bernoulli":
            p = torch.sigmoid(params[..., 0])
            if mode == "mean":
                return (p * top).round().long()
            return torch.bernoulli(p, generator=generator).long() * top
        if kind == "logistic":
            mean, log_scale = torch.tanh(params[..., 0]), params[..., 1].clamp(min=-7.0)
            if mode == "mean":
                return ((mean + 1) / 2 * top).round().long()
            return sample_discretized_logistic(mean, log_scale, top + 1, generator)
        mean, log_std = params[..., 0], params[..., 1].clamp(min=-7.0)
        y = mean if mode == "mean" else mean + log_std.exp() * torch.randn(mean.shape, generator=generator,
                                                                           device=z.device)
        return (y * (top + 1)).floor().clamp(0, top).long()

    # ---- the contract ---------------------------------------------------------------------
    def elbo_terms(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample ``(log p(x|z), KL(q||p))``, each ``[B]`` in nats."""
        mean, logvar = self.encode(x, condition)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        recon = self.reconstruction_log_prob(x, self.decoder_params(z, condition))
        kl = gaussian_kl_standard(mean, logvar).sum(1)
        return recon, kl

    def training_step(self, batch, step, optimizer="model"):
        x = batch["x"]
        condition = self.condition_from_batch(batch)
        recon, kl = self.elbo_terms(x, condition)
        loss = (-recon + self.config.beta * kl).mean()
        nelbo = (kl - recon).mean()
        return StepOutput(loss, {"nelbo": nelbo.detach(), "recon": -recon.detach().mean(),
                                "kl": kl.detach().mean()})

    @torch.no_grad()
    def validation_step(self, batch):
        metrics = {k: float(v) for k, v in self.training_step(batch, 0).metrics.items()}
        return {"loss": metrics["nelbo"], **metrics}

    def _require_likelihood(self) -> None:
        if self.config.decoder == "bernoulli" and self.config.levels != 2:
            raise GenlabError(
                f"a Bernoulli decoder on {self.config.levels}-level pixels is not a likelihood of the data; "
                "use decoder=categorical or logistic, or binary data (mnist-binary)")

    @torch.no_grad()
    def log_prob(self, x, *, condition=None, num_samples: int | None = None, chunk: int | None = None,
                 **kwargs):
        """Importance-weighted lower bound on ``log p(x)``, ``[B]`` nats, with K = ``num_samples``.

        ``log p(x) >= E[log (1/K) sum_k p(x, z_k) / q(z_k | x)]``; K = 1 is the ELBO.
        The K samples are drawn at once (``[K, B, latent]``, small) and decoded ``chunk`` at a
        time, so memory is bounded and the result does not depend on ``chunk``. By default a
        chunk decodes at most CHUNK_ROWS latents and CHUNK_OUTPUTS decoder outputs.
        """
        self._require_likelihood()
        condition = self.condition_for_scoring(condition, len(x))
        k_total = num_samples or self.config.iw_samples
        if chunk is None:
            per_sample = len(x) * self.dims * self.per_pixel
            chunk = min(CHUNK_ROWS // max(1, len(x)), CHUNK_OUTPUTS // max(1, per_sample))
        chunk = max(1, min(int(chunk), k_total))
        mean, logvar = self.encode(x, condition)
        std = torch.exp(0.5 * logvar)
        z_all = mean + std * torch.randn(k_total, *mean.shape, device=x.device)  # [K, B, L]
        log_w = []
        rows = max(1, BLOCK_OUTPUTS // max(1, self.dims * self.per_pixel))  # latents decoded per block
        for start in progress.steps(range(0, k_total, chunk), unit="chunk of K"):
            z = z_all[start:start + chunk]
            k = len(z)
            log_q = gaussian_log_prob(z, mean, 0.5 * logvar).sum(-1)
            log_prior = gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1)
            xs = x.unsqueeze(0).expand(k, *x.shape).reshape(-1, *x.shape[1:])
            cond = None if condition is None else condition.repeat(k)
            zs = z.reshape(-1, z.shape[-1])
            log_px = torch.cat([
                self.reconstruction_log_prob(xs[i:i + rows],
                                             self.decoder_params(zs[i:i + rows], None if cond is None else cond[i:i + rows]))
                for i in range(0, len(zs), rows)]).view(k, -1)
            log_w.append(log_px + log_prior - log_q)
        return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k_total)

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, mode: str = "sample", temperature: float = 1.0):
        """``[N, C, H, W]`` integer images: z ~ N(0, temperature^2 I), then the decoder (``mode``).

        ``mode="sample"`` draws every pixel from the decoder (independently, given z): the model's
        distribution, what the sample-quality metrics score. ``mode="mean"`` shows the decoder's mean,
        what a person looks at (:attr:`display_sample_args`): per-pixel draws of a categorical or
        logistic decoder look like salt-and-pepper noise.
        """
        check_setting("temperature", temperature, 0.0, MAX_TEMPERATURE, "the latent's scale; 1 = the prior")
        condition = self.condition_for_sampling(condition, num_samples)
        z = temperature * torch.randn(num_samples, self.config.latent_dim, generator=generator,
                                      device=self.device)
        return self.decode(z, condition, mode=mode, generator=generator)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, condition: torch.Tensor | None = None, mode: str = "mean") -> torch.Tensor:
        """Decode the posterior mean of ``x``: integer images of the same shape."""
        mean, _ = self.encode(x, condition)
        return self.decode(mean, condition, mode=mode)

    @torch.no_grad()
    def interpolate(self, x1: torch.Tensor, x2: torch.Tensor, steps: int = 8,
                    condition: torch.Tensor | None = None) -> torch.Tensor:
        """``[steps, C, H, W]``: decodes of the straight line between the posterior means of two images."""
        m1, _ = self.encode(x1.reshape(1, *x1.shape[-3:]), condition)
        m2, _ = self.encode(x2.reshape(1, *x2.shape[-3:]), condition)
        t = torch.linspace(0, 1, steps, device=m1.device)[:, None]
        z = (1 - t) * m1 + t * m2
        cond = None if condition is None else condition.reshape(1).expand(steps)
        return self.decode(z, cond)

    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, *, condition=None, generator=None, steps: int = 300,
                restarts: int = 4, lr: float = 0.05, mode: str = "mean") -> torch.Tensor:
        """Fill ``mask`` (bool ``[B, 1, H, W]``, True = unknown) of ``x`` from a latent fitted to the known pixels.

        For each image, ``restarts`` latents drawn from the prior are optimised with Adam for
        ``steps`` steps on ``log p(x_known | z) + log p(z)`` (the decoder factorises over pixels,
        so the unknown ones simply drop out); the restart with the highest value is decoded
        (``mode``: the decoder's ``mean``, or a ``sample``) and fills the unknown pixels. The
        known pixels of the result are those of ``x``, exactly. The weights are not changed.
        """
        if steps < 0 or restarts < 1:
            raise ConfigError(f"steps must be >= 0 and restarts >= 1, got steps={steps}, restarts={restarts}")
        check_setting("lr", lr, 1e-8, 10.0, "Adam's step size for the latent")
        if mode not in ("mean", "sample"):
            raise ConfigError(f"mode must be 'mean' or 'sample', got {mode!r}")
        condition = self.condition_for_sampling(condition, len(x))
        x = x.to(self.device).long()
        mask = mask.to(self.device)
        B, R = len(x), restarts
        xs = x.repeat(R, 1, 1, 1)  # [R * B, ...], restart-major
        known = (~mask).expand_as(x).repeat(R, 1, 1, 1).float()
        cond = None if condition is None else condition.repeat(R)
        z = torch.randn(R * B, self.config.latent_dim, generator=generator, device=self.device)
        z.requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)

        def objective() -> torch.Tensor:  # [R * B] log p(x_known | z) + log p(z)
            log_px = (self.pixel_log_prob(xs, self.decoder_params(z, cond)) * known).flatten(1).sum(1)
            return log_px - 0.5 * (z ** 2).sum(1)

        with torch.enable_grad():
            for _ in range(steps):
                (grad,) = torch.autograd.grad(-objective().sum(), [z])  # only z: no gradients on the weights
                z.grad = grad
                opt.step()
        with torch.no_grad():
            best = objective().view(R, B).argmax(0)  # [B] the best restart of each image
            z_best = z.detach().view(R, B, -1)[best, torch.arange(B, device=self.device)]
            filled = self.decode(z_best, condition, mode=mode, generator=generator)
        return torch.where(mask, filled, x)

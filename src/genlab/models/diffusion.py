"""Denoising diffusion (Ho et al. 2020) with DDPM and DDIM (Song et al. 2021) sampling.

Images of integer levels are mapped to [-1, 1] by ``2 x / (L - 1) - 1``. The forward process
is ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``; a U-Net predicts the noise and is
trained on the simple MSE loss. :meth:`DDPM.log_prob` is the full variational bound (Ho et al.
eq. 5) with a discretized Gaussian decoder over the data's levels, in nats of the discrete data.

Timesteps are 0-based here: index ``t`` in ``0 .. T-1`` is the paper's step ``t + 1``.
Classifier-free guidance uses ``eps = eps_u + s * (eps_c - eps_u)`` (s = ``guidance_scale``):
s = 0 is the unconditional prediction (the null class), s = 1 the plain conditional one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
import torch.nn.functional as F

from .. import progress
from ..data.conditions import LowResImage
from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import UNet, check_setting, discretized_gaussian_log_prob
from .registry import register_model
from ..nn.levels import float_to_grid, grid_to_float
from .base import GenerativeModel, ImageModelConfig, StepOutput

MAX_GUIDANCE = 100.0  # classifier-free guidance; papers use 1-10


def make_betas(schedule: str, timesteps: int) -> torch.Tensor:
    """``[T]`` float64 noise variances beta_t.

    ``linear``: Ho et al.'s 1e-4 .. 0.02 for T = 1000, rescaled by 1000 / T so that shorter chains
    still end near pure noise (as Nichol & Dhariwal do). ``cosine``: Nichol & Dhariwal's
    ``abar(t) = cos^2(((t/T + s) / (1 + s)) pi / 2)`` with s = 0.008, betas clipped at 0.999.
    """
    if schedule == "linear":
        scale = 1000.0 / timesteps
        return torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), timesteps, dtype=torch.float64)
    if schedule == "cosine":
        s = 0.008
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        abar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)
    raise ConfigError(f"schedule must be 'linear' or 'cosine', got {schedule!r}")


def _repeat(condition: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """``condition`` (labels ``[B]`` or images ``[B, ...]``) repeated ``k`` times along the batch."""
    return None if condition is None else condition.repeat(k, *([1] * (condition.dim() - 1)))


def _extract(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` (``[T]`` indexed by ``[B]``) shaped ``[B, 1, 1, 1]`` in ``like``'s dtype."""
    return values[t].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


@dataclasses.dataclass
class DDPMConfig(ImageModelConfig):
    timesteps: int = 1000
    schedule: Literal["linear", "cosine"] = "linear"
    channels: list[int] = dataclasses.field(default_factory=lambda: [32, 64])  # U-Net widths, highest res first
    num_res_blocks: int = 1
    attention: bool = True  # self-attention at the lowest resolution
    heads: int = 1
    dropout: float = 0.0
    cond_drop_prob: float = 0.1  # training labels replaced by the null class with this probability
    clip_denoised: bool = True  # clip predicted x_0 to [-1, 1] in sampling and in the bound

    def validate(self) -> None:
        super().validate()
        if self.timesteps < 2:
            raise ConfigError(f"timesteps must be >= 2, got {self.timesteps}")
        if not self.channels or min(self.channels) < 1:
            raise ConfigError(f"channels must be positive widths, got {self.channels}")
        if not 0.0 <= self.cond_drop_prob < 1.0:
            raise ConfigError(f"cond_drop_prob must be in [0, 1), got {self.cond_drop_prob}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}; e.g. --set dropout=0.1")


@register_model("ddpm")
class DDPM(GenerativeModel):
    """Denoising diffusion: U-Net noise prediction, DDPM/DDIM sampling, classifier-free guidance."""

    config_class = DDPMConfig
    likelihood = "bound"
    data_kinds = ("image",)
    family = "diffusion"

    compare_log_prob_kwargs = {"timestep_samples": 50}

    def __init__(self, config: DDPMConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        c = config.image_shape[0]
        self.num_classes = config.num_classes if config.conditional else 0
        self.net = UNet(self._net_in_channels(config), c, config.channels, config.num_res_blocks, config.attention, config.heads,
                        self.num_classes, config.dropout)
        betas = make_betas(config.schedule, config.timesteps)  # [T] float64
        alphas = 1.0 - betas
        abar = torch.cumprod(alphas, 0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        # float64 schedules, not saved (they follow from the config); cast where used
        buffers = {
            "betas": betas, "alphas_cumprod": abar, "alphas_cumprod_prev": abar_prev,
            # q(x_{t-1} | x_t, x_0) = N(coef_x0 x_0 + coef_xt x_t, beta_tilde)
            "posterior_variance": betas * (1 - abar_prev) / (1 - abar),
            "posterior_coef_x0": betas * abar_prev.sqrt() / (1 - abar),
            "posterior_coef_xt": (1 - abar_prev) * alphas.sqrt() / (1 - abar),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)

    def _net_in_channels(self, config: DDPMConfig) -> int:
        """Channels the U-Net reads: the image's (SR3 adds those of its low-resolution input)."""
        return config.image_shape[0]

    # ---- data space <-> network space -----------------------------------------------------
    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Integer levels -> floats in [-1, 1]."""
        return grid_to_float(x, self.config.levels, signed=True)

    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        """Floats in [-1, 1] -> the nearest integer levels, clamped to [0, levels)."""
        return float_to_grid(x, self.config.levels, signed=True)

    # ---- forward process ------------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise``; ``x0``, ``noise`` ``[B, ...]``, ``t`` ``[B]``."""
        abar = _extract(self.alphas_cumprod, t, x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean ``[B, ...]`` and variance ``[B, 1, 1, 1]`` of q(x_{t-1} | x_t, x_0) (beta tilde_t)."""
        mean = _extract(self.posterior_coef_x0, t, x0) * x0 + _extract(self.posterior_coef_xt, t, xt) * xt
        return mean, _extract(self.posterior_variance, t, xt)

    # ---- the network ----------------------------------------------------------------------
    def predict_eps(self, xt: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The network's noise prediction ``[B, C, H, W]``; ``y`` None means the null class."""
        return self.net(xt, t, y).float()

    def check_guidance(self, guidance_scale: float) -> None:
        """Refuse a guidance scale no sampler can use, before any sampling."""
        check_setting("guidance_scale", guidance_scale, 0.0, MAX_GUIDANCE, "1 = no guidance")
        if guidance_scale != 1.0 and not self.num_classes:
            raise ConfigError(f"guidance_scale is for a class-conditional model; '{self.name}' has no classes: leave "
                              "it at 1")

    def guided_eps(self, xt: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None,
                   guidance_scale: float = 1.0) -> torch.Tensor:
        """Classifier-free guided noise ``eps_u + s (eps_c - eps_u)``, ``[B, C, H, W]``.

        s = 1 (or no label, or an unconditional model) is the plain prediction; s = 0 is the
        unconditional (null-class) one; s > 1 strengthens the condition.
        """
        if y is None or not self.num_classes or guidance_scale == 1.0:
            return self.predict_eps(xt, t, y if self.num_classes else None)
        if guidance_scale == 0.0:
            return self.predict_eps(xt, t, None)
        # one batched call: first half conditional, second half the null class
        null = torch.full_like(y, self.num_classes)
        eps_c, eps_u = self.predict_eps(torch.cat([xt, xt]), torch.cat([t, t]), torch.cat([y, null])).chunk(2)
        return eps_u + guidance_scale * (eps_c - eps_u)

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, clip: bool) -> torch.Tensor:
        """``x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``, optionally clipped to [-1, 1]."""
        abar = _extract(self.alphas_cumprod, t, xt)
        x0 = (xt - (1 - abar).sqrt() * eps) / abar.sqrt()
        return x0.clamp(-1, 1) if clip else x0

    # ---- training -------------------------------------------------------------------------
    def training_step(self, batch, step, optimizer="model"):
        x0 = self.to_unit(batch["x"])  # [B, C, H, W] in [-1, 1]
        B = x0.shape[0]
        t = torch.randint(0, self.config.timesteps, (B,), device=x0.device)
        noise = torch.randn_like(x0)
        y = None
        if self.num_classes:
            y = self.condition_from_batch(batch).long()
            if self.training and self.config.cond_drop_prob > 0:
                # classifier-free guidance: the same network also learns the null class
                drop = torch.rand(B, device=x0.device) < self.config.cond_drop_prob
                y = torch.where(drop, torch.full_like(y, self.num_classes), y)
        eps = self.predict_eps(self.q_sample(x0, t, noise), t, y)
        mse = F.mse_loss(eps, noise)
        return StepOutput(mse, {"mse": mse.detach()})

    # ---- the bound ------------------------------------------------------------------------
    @torch.no_grad()
    def _terms_at(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Bound term ``L_t`` in nats (float64) for each image ``x[i]`` at its timestep ``t[i]`` < T.

        t = 0 is the decoder ``-log p(x_0 | x_1)`` under the discretized Gaussian (mean: the
        predicted x_0, std: sqrt(beta_1)); t >= 1 is ``KL(q(x_t | x_{t+1}, x_0) || p(x_t | x_{t+1}))``
        with p's variance beta tilde (one noise draw each).
        """
        x0 = self.to_unit(x).double()  # the KLs are sums of tiny differences: float64
        xt = self.q_sample(x0, t, torch.randn_like(x0))
        eps = self.predict_eps(xt.float(), t, y).double()
        x0_hat = self.predict_x0(xt, t, eps, self.config.clip_denoised)
        mean_p, _ = self.q_posterior(x0_hat, xt, t)
        mean_q, var = self.q_posterior(x0, xt, t)
        # equal variances: KL = (mu_q - mu_p)^2 / (2 var), summed over pixels
        kl = ((mean_q - mean_p) ** 2 / (2 * var.clamp_min(1e-20))).flatten(1).sum(1)
        # at t = 0, x0_hat is p(x_0 | x_1)'s mean (the posterior coefficient on x_0 is 1)
        log_std = 0.5 * torch.log(self.betas[0]).expand_as(x0_hat)
        nll0 = -discretized_gaussian_log_prob(x, x0_hat, log_std, self.config.levels).flatten(1).sum(1)
        return torch.where(t == 0, nll0, kl)

    def _prior_term(self, x: torch.Tensor) -> torch.Tensor:
        """``L_T = KL(q(x_T | x_0) || N(0, I))`` per image, in nats (float64)."""
        x0 = self.to_unit(x).double()
        abar_T = self.alphas_cumprod[-1]
        mean_T, var_T = abar_T.sqrt() * x0, (1 - abar_T)
        return (0.5 * (mean_T**2 + var_T - 1 - torch.log(var_T))).flatten(1).sum(1)

    @torch.no_grad()
    def bound_terms(self, x: torch.Tensor, condition: torch.Tensor | None = None,
                    chunk: int = 16) -> torch.Tensor:
        """Per-term negative variational bound ``[B, T + 1]`` in nats (one noise draw per term).

        Column 0 is the decoder term ``L_0``, column t (1 .. T-1) the KL ``L_t`` (0-based steps,
        see :meth:`_terms_at`), column T the prior term ``L_T``. The sum over columns is
        ``-log p(x)``'s upper bound. ``chunk`` timesteps are evaluated per network call.
        """
        x = x.to(self.betas.device)
        B, T = x.shape[0], self.config.timesteps
        terms = torch.zeros(B, T + 1, dtype=torch.float64, device=x.device)
        for start in progress.steps(range(0, T, chunk), unit="chunk of steps"):
            ts = torch.arange(start, min(start + chunk, T), device=x.device)  # [k]
            k = len(ts)
            t = ts.repeat_interleave(B)  # [k * B], timestep-major
            ys = _repeat(condition, k)
            terms[:, start:start + k] = self._terms_at(x.repeat(k, 1, 1, 1), t, ys).view(k, B).T
        terms[:, T] = self._prior_term(x)
        return terms.float()

    @torch.no_grad()
    def estimated_bound(self, x: torch.Tensor, condition: torch.Tensor | None = None,
                        timestep_samples: int = 8) -> torch.Tensor:
        """``[B]`` unbiased Monte Carlo estimate of the negative bound in nats.

        ``L_0`` and ``L_T`` are computed exactly; the middle sum over t = 1 .. T-1 is estimated
        as ``(T - 1) * mean_k L_{t_k}`` with ``timestep_samples`` timesteps drawn uniformly per
        image. Its expectation is the full bound of :meth:`bound_terms`, at
        ``(timestep_samples + 1) / T`` of its cost; the noise averages out over a test set.
        """
        x = x.to(self.betas.device)
        B, T, K = x.shape[0], self.config.timesteps, timestep_samples
        zeros = torch.zeros(B, dtype=torch.long, device=x.device)
        total = self._terms_at(x, zeros, condition) + self._prior_term(x)
        if T > 1 and K > 0:
            t = torch.randint(1, T, (K * B,), device=x.device)
            ys = _repeat(condition, K)
            middle = self._terms_at(x.repeat(K, 1, 1, 1), t, ys).view(K, B).mean(0)
            total = total + (T - 1) * middle
        return total.float()

    @torch.no_grad()
    def log_prob(self, x, *, condition=None, chunk: int = 16, timestep_samples: int = 0, **kwargs):
        """``[B]`` lower bound on ``log p(x)`` in nats.

        ``timestep_samples = 0`` (default): minus the sum of all T + 1 :meth:`bound_terms`.
        ``timestep_samples = K > 0``: minus :meth:`estimated_bound` with K timesteps per image,
        for large images where all T terms cost too much.
        """
        condition = self.condition_for_scoring(condition, len(x))
        if timestep_samples > 0:
            return -self.estimated_bound(x, condition, timestep_samples)
        return -self.bound_terms(x, condition, chunk=chunk).sum(1)

    # ---- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample_continuous(self, num_samples: int, *, condition: torch.Tensor | None = None,
                          generator: torch.Generator | None = None, sampler: str = "ddpm",
                          steps: int | None = None, eta: float = 1.0, guidance_scale: float = 1.0,
                          clip: bool | None = None, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """Samples ``[N, C, H, W]`` as floats (x_0 of the reverse chain, before rounding).

        ``sampler="ddpm"``: ancestral sampling over all T steps with variance beta tilde.
        ``sampler="ddim"``: ``steps`` evenly spaced timesteps (default T) and
        ``x_{s} = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps + sigma z`` with
        ``sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)``;
        eta = 0 is deterministic, eta = 1 with steps = T is the DDPM sampler. ``shape`` (C, H, W)
        overrides the configured image shape (a fully convolutional model enlarging any size).
        """
        if sampler not in ("ddpm", "ddim"):
            raise ConfigError(f"sampler must be 'ddpm' or 'ddim', got {sampler!r}")
        check_setting("eta", eta, 0.0, 1.0, "DDIM's noise: 0 deterministic, 1 as DDPM")
        self.check_guidance(guidance_scale)
        T = self.config.timesteps
        clip = self.config.clip_denoised if clip is None else clip
        device = self.betas.device  # buffers, so a parameter-free stand-in network works too
        x = torch.randn(num_samples, *(shape or self.config.image_shape), generator=generator, device=device)
        if sampler == "ddpm":
            seq = list(range(T))
        else:
            steps = T if steps is None else steps
            if not 1 <= steps <= T:
                raise ConfigError(f"steps must be in [1, {T}], got {steps}")
            seq = sorted(set(torch.linspace(0, T - 1, steps).round().long().tolist()))
        for i in progress.steps(reversed(range(len(seq))), len(seq), "step"):
            t = torch.full((num_samples,), seq[i], device=device, dtype=torch.long)
            eps = self.guided_eps(x, t, condition, guidance_scale)
            x0 = self.predict_x0(x, t, eps, clip)
            if sampler == "ddpm":
                mean, var = self.q_posterior(x0, x, t)
                if seq[i] > 0:
                    x = mean + var.sqrt() * torch.randn(x.shape, generator=generator, device=device)
                else:
                    x = mean
                continue
            abar_t = float(self.alphas_cumprod[seq[i]])
            abar_s = float(self.alphas_cumprod[seq[i - 1]]) if i > 0 else 1.0
            # eps consistent with the (possibly clipped) x0, so eta = 1, steps = T equals DDPM
            eps = (x - math.sqrt(abar_t) * x0) / math.sqrt(1 - abar_t)
            sigma = eta * math.sqrt((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s))
            x = math.sqrt(abar_s) * x0 + math.sqrt(max(1 - abar_s - sigma**2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * torch.randn(x.shape, generator=generator, device=device)
        return x

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, sampler: str = "ddpm",
               steps: int | None = None, eta: float = 1.0, guidance_scale: float = 1.0):
        """``[N, C, H, W]`` integer levels from the DDPM or DDIM sampler (see :meth:`sample_continuous`).

        ``condition``: class labels for a conditional model (None: the classes in turn, as for
        every family); ``guidance_scale`` s gives ``eps_u + s (eps_c - eps_u)``, and s = 0 the
        unconditional (null-class) prediction.
        """
        condition = self.condition_for_sampling(condition, num_samples)
        x = self.sample_continuous(num_samples, condition=condition, generator=generator, sampler=sampler,
                                   steps=steps, eta=eta, guidance_scale=guidance_scale)
        return self.to_levels(x)

    # ---- inpainting -----------------------------------------------------------------------
    @staticmethod
    def repaint_schedule(timesteps: int, resample: int = 1, jump: int = 1) -> list[int]:
        """The chain's states ``T, T-1, ..., 0`` with RePaint's jumps (paper-style steps, T = pure noise).

        Going down, at every ``jump``-th state the chain goes back up ``jump`` steps (by forward
        noising), ``resample - 1`` times, before carrying on; ``resample = 1`` is the plain chain.
        """
        if resample < 1 or jump < 1:
            raise ConfigError(f"resample and jump must be >= 1, got resample={resample}, jump={jump}")
        backs = {t: resample - 1 for t in range(0, timesteps - jump + 1, jump)}
        t, states = timesteps, [timesteps]
        while t > 0:
            t -= 1
            states.append(t)
            if t > 0 and backs.get(t, 0) > 0:
                backs[t] -= 1
                for _ in range(jump):
                    t += 1
                    states.append(t)
        return states

    @torch.no_grad()
    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, *, condition=None, generator=None,
                resample: int = 1, jump: int = 1, guidance_scale: float = 1.0) -> torch.Tensor:
        """RePaint (Lugmayr et al. 2022): fill ``mask`` (bool ``[B, 1, H, W]``, True = unknown) of ``x``.

        At each reverse step the unknown pixels come from the model's ``p(x_{t-1} | x_t)`` and
        the known ones are the original forward-noised to the same level, ``q(x_{t-1} | x_0)``;
        ``resample`` r > 1 goes back ``jump`` steps by forward noising r - 1 times at every
        ``jump``-th step, so the two parts harmonise. Known pixels of the result are those of
        ``x``, exactly. Costs ``T * (1 + 2 (r - 1))`` network calls or so.
        """
        self.check_guidance(guidance_scale)
        condition = self.condition_for_sampling(condition, len(x))
        device = self.betas.device
        x = x.to(device)
        mask = mask.to(device)
        known = self.to_unit(x)
        B = len(x)
        noise = lambda: torch.randn(x.shape, generator=generator, device=device)  # noqa: E731
        states = self.repaint_schedule(self.config.timesteps, resample, jump)
        xt = noise()
        for prev, t in progress.steps(zip(states[:-1], states[1:]), len(states) - 1, "step"):
            if t > prev:  # a jump back up: x_t ~ q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t)
                beta = float(self.betas[t - 1])
                xt = math.sqrt(1 - beta) * xt + math.sqrt(beta) * noise()
                continue
            step = torch.full((B,), prev - 1, device=device, dtype=torch.long)  # 0-based index of x_prev
            eps = self.guided_eps(xt, step, condition, guidance_scale)
            mean, var = self.q_posterior(self.predict_x0(xt, step, eps, self.config.clip_denoised), xt, step)
            if t > 0:
                unknown = mean + var.sqrt() * noise()
                known_t = self.q_sample(known, step - 1, noise())
            else:
                unknown, known_t = mean, known
            xt = torch.where(mask, unknown, known_t)
        return torch.where(mask, self.to_levels(xt), x.long())


@dataclasses.dataclass
class SR3Config(DDPMConfig):
    scale: int = 4  # filled from the data (DataInfo.scale)
    attention: bool = False  # SR3's U-Net keeps attention to the lowest resolutions; off for small images

    def validate(self) -> None:
        super().validate()
        if self.scale < 1:
            raise ConfigError(f"scale must be a whole number >= 1, got {self.scale}")
        if self.conditional:
            raise ConfigError("sr3 is conditioned on the low-resolution image, not on class labels; drop conditional")


@register_model("sr3")
class SR3(DDPM):
    """SR3 super-resolution diffusion: a DDPM whose U-Net also sees the bicubic-enlarged low-res image."""

    config_class = SR3Config
    data_kinds = ("superres",)
    inpaint = None  # the DDPM's RePaint needs an unconditional or class-conditional chain

    # Saharia et al. 2021 (SR3): the low-resolution image, bicubic-enlarged to the target size, is
    # concatenated to x_t as extra input channels; everything else (forward process, loss, DDPM and
    # DDIM samplers, the variational bound, now of log p(x | low-res)) is the DDPM's.

    def _net_in_channels(self, config: DDPMConfig) -> int:
        return 2 * config.image_shape[0]

    @classmethod
    def default_data_info(cls, config: SR3Config) -> DataInfo:
        return DataInfo(name="none", kind="superres", shape=tuple(config.image_shape), levels=config.levels,
                        scale=config.scale)

    @property
    def condition_spec(self) -> LowResImage:
        return LowResImage(self.config.image_shape[0])

    def predict_eps(self, xt: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Noise prediction from ``x_t`` and the low-resolution levels ``y`` ``[B, C, h, w]``."""
        if y is None:
            raise ConfigError("sr3 predicts noise given the low-resolution image; pass it")
        up = F.interpolate(self.to_unit(y), size=xt.shape[-2:], mode="bicubic", align_corners=False)
        return self.net(torch.cat([xt, up.to(xt.dtype)], dim=1), t, None).float()

    def check_guidance(self, guidance_scale: float) -> None:
        if guidance_scale != 1.0:
            raise ConfigError("sr3 has no classifier-free guidance; leave guidance_scale at 1")

    def guided_eps(self, xt, t, y, guidance_scale: float = 1.0):
        return self.predict_eps(xt, t, y)  # guidance_scale was checked once, by sample or inpaint

    def training_step(self, batch, step, optimizer="model"):
        x0 = self.to_unit(batch["x"])
        lowres = self.condition_from_batch(batch)
        if lowres.shape[-1] * self.config.scale != x0.shape[-1] or lowres.shape[-2] * self.config.scale != x0.shape[-2]:
            raise ConfigError(f"sr3 enlarges {self.config.scale}x, but the data pairs {list(lowres.shape[-2:])} with "
                              f"{list(x0.shape[-2:])} images; train it on data of its scale")
        t = torch.randint(0, self.config.timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        mse = F.mse_loss(self.predict_eps(self.q_sample(x0, t, noise), t, lowres), noise)
        return StepOutput(mse, {"mse": mse.detach()})

    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None, sampler: str = "ddpm",
               steps: int | None = None, eta: float = 1.0, guidance_scale: float = 1.0):
        """High-resolution levels ``[N, C, h * scale, w * scale]`` for the low-resolution ``condition``.

        Each call draws a new enlargement (diffusion samples, unlike sr-cnn's one answer); the
        sampler settings are the DDPM's (``sampler="ddim", steps=50`` is the fast one).
        """
        condition = self.condition_for_sampling(condition, num_samples)
        c, (h, w) = self.config.image_shape[0], condition.shape[-2:]
        x = self.sample_continuous(num_samples, condition=condition, generator=generator, sampler=sampler,
                                   steps=steps, eta=eta, guidance_scale=guidance_scale,
                                   shape=(c, h * self.config.scale, w * self.config.scale))
        return self.to_levels(x)

    def upscale(self, lowres: torch.Tensor, generator: torch.Generator | None = None, **kwargs) -> torch.Tensor:
        """Low-resolution levels -> one high-resolution sample in [0, 1] (floats), as the SR CNNs give."""
        x = self.sample(len(lowres), condition=lowres, generator=generator, **kwargs)
        return grid_to_float(x, self.config.levels)

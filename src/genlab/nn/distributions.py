"""Log-densities used by several families, all in nats."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x; mean, exp(log_std)^2)."""
    return -0.5 * ((x - mean) * torch.exp(-log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)


def gaussian_kl_standard(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mean, exp(logvar)) || N(0, 1))."""
    return 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar)


def discretized_logistic_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
                                  levels: int) -> torch.Tensor:
    """Elementwise log P(x) for integer levels ``x`` in [0, levels) under a discretized logistic.

    The levels are placed at ``2 * x / (levels - 1) - 1`` in [-1, 1]; level ``k`` gets the
    logistic's mass on its bin of width ``2 / (levels - 1)``, the two end levels the tails
    (as in PixelCNN++), so the probabilities of all levels sum to one.
    """
    centred = 2.0 * x.float() / (levels - 1) - 1.0 - mean
    inv_scale = torch.exp(-log_scale)
    half_bin = 1.0 / (levels - 1)
    plus = inv_scale * (centred + half_bin)
    minus = inv_scale * (centred - half_bin)
    log_cdf_plus = F.logsigmoid(plus)  # log CDF at the bin's upper edge (used by the lowest level)
    log_one_minus_cdf_minus = -F.softplus(minus)  # log (1 - CDF) at the lower edge (highest level)
    # log(CDF(plus) - CDF(minus)) computed stably as log sigmoid(plus) + log(1 - exp(...))
    cdf_delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    mid = inv_scale * centred
    log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid)  # density at the centre, for tiny bins
    log_delta = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp_min(1e-12)),
                            log_pdf_mid + math.log(2 * half_bin))
    return torch.where(x == 0, log_cdf_plus, torch.where(x == levels - 1, log_one_minus_cdf_minus, log_delta))


def sample_discretized_logistic(mean: torch.Tensor, log_scale: torch.Tensor, levels: int,
                                generator: torch.Generator | None = None) -> torch.Tensor:
    """Integer levels in [0, levels) drawn from :func:`discretized_logistic_log_prob`'s distribution."""
    u = torch.rand(mean.shape, generator=generator, device=mean.device).clamp(1e-5, 1 - 1e-5)
    y = mean + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))
    return torch.round((y.clamp(-1, 1) + 1) / 2 * (levels - 1)).long()


def _log_ndtr_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``log(Phi(b) - Phi(a))`` for ``a < b``, stable in both tails (mirrored when a > 0)."""
    flip = a > 0  # in the upper tail Phi(b) - Phi(a) = Phi(-a) - Phi(-b), with better precision
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return log_hi + torch.log(-torch.expm1((log_lo - log_hi).clamp(max=0.0)))


def discretized_gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor,
                                  levels: int) -> torch.Tensor:
    """Elementwise log P(x) for integer levels ``x`` in [0, levels) under a discretized Gaussian.

    Level ``k`` sits at ``2 k / (levels - 1) - 1``; it gets the Gaussian's mass on
    ``[centre - 1/(levels-1), centre + 1/(levels-1)]``, and the two end levels the tails to
    -inf / +inf, so the probabilities of all levels sum to one.
    """
    half_bin = 1.0 / (levels - 1)
    inv_std = torch.exp(-log_std)
    centred = 2.0 * x.to(mean.dtype) / (levels - 1) - 1.0 - mean
    lower = torch.where(x == 0, torch.full_like(centred, -math.inf), inv_std * (centred - half_bin))
    upper = torch.where(x == levels - 1, torch.full_like(centred, math.inf), inv_std * (centred + half_bin))
    logp = _log_ndtr_diff(lower, upper)
    # a bin far narrower than the Gaussian can round to 0 mass: use density at the centre x width
    fallback = -0.5 * (inv_std * centred) ** 2 - log_std - 0.5 * math.log(2 * math.pi) + math.log(2 * half_bin)
    return torch.where(torch.isfinite(logp), logp, fallback)

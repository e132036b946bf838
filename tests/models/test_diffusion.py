"""DDPM/DDIM: forward process moments, the variational bound, sampler equivalence, guidance, training."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import genlab
from genlab.models.diffusion import discretized_gaussian_log_prob
from genlab.nn import UNet

torch.set_num_threads(1)


def tiny(**overrides) -> genlab.GenerativeModel:
    base = dict(timesteps=50, channels=[8, 16])
    base.update(overrides)
    return genlab.create_model("ddpm", **base)


def reference_alphabar(schedule: str, T: int) -> torch.Tensor:
    """``[T]`` alphabar written out independently from the papers' formulas (float64)."""
    if schedule == "linear":
        betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)
        return torch.cumprod(1 - betas, 0)
    s = 0.008
    f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    # Nichol & Dhariwal: alphabar_t = f(t) / f(0) for paper step t = 1..T (0-based index t-1)
    return torch.tensor([f(t) / f(0) for t in range(1, T + 1)], dtype=torch.float64)


class GaussianOracle(nn.Module):
    """The exact optimal noise predictor when every pixel of x_0 is N(mean, std^2), independently.

    x_t = sqrt(ab) x_0 + sqrt(1 - ab) eps is jointly Gaussian with eps, so
    E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) mean) / (ab std^2 + 1 - ab).
    """

    def __init__(self, alphabar: torch.Tensor, mean: float, std: float):
        super().__init__()
        self.alphabar, self.mean, self.std = alphabar, mean, std

    def forward(self, x, t, y=None):
        ab = self.alphabar[t].to(x.dtype).view(-1, 1, 1, 1)  # [B, 1, 1, 1]
        return (1 - ab).sqrt() * (x - ab.sqrt() * self.mean) / (ab * self.std**2 + 1 - ab)


class KnownX0Oracle(nn.Module):
    """Returns the true noise for a known batch x_0 ``[B, ...]`` (inputs are timestep-major repeats)."""

    def __init__(self, alphabar: torch.Tensor, x0: torch.Tensor):
        super().__init__()
        self.alphabar, self.x0 = alphabar, x0

    def forward(self, x, t, y=None):
        ab = self.alphabar[t].to(x.dtype).view(-1, 1, 1, 1)
        x0 = self.x0.to(x.dtype).repeat(x.shape[0] // self.x0.shape[0], 1, 1, 1)  # [k * B, C, H, W]
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_forward_noising_moments(schedule):
    model = tiny(schedule=schedule)
    T = model.config.timesteps
    alphabar = reference_alphabar(schedule, T)
    # the cosine schedule clips its last beta at 0.999 (its formula gives abar_T ~ 1e-33): compare before it
    torch.testing.assert_close(model.alphas_cumprod[:-1], alphabar[:-1], rtol=1e-6, atol=1e-9)
    assert abs(float(model.alphas_cumprod[-1] - alphabar[-1])) < 1e-5
    n = 20000
    x0 = torch.tensor([-1.0, -0.25, 0.5, 1.0]).view(1, 4, 1, 1).expand(n, 4, 1, 1)  # [n, 4, 1, 1]
    for t_index in (0, T // 3, T // 2, T - 1):
        t = torch.full((n,), t_index)
        xt = model.q_sample(x0, t, torch.randn(n, 4, 1, 1))
        ab = float(alphabar[t_index])
        mean, var = xt.mean(0).flatten(), xt.var(0).flatten()  # [4] per starting value
        # standard errors: sqrt(var / n) for the mean, var * sqrt(2 / n) for the variance
        assert torch.allclose(mean, math.sqrt(ab) * x0[0].flatten(), atol=5 * math.sqrt((1 - ab) / n)), t_index
        assert torch.allclose(var, torch.full((4,), 1 - ab), rtol=5 * math.sqrt(2 / n)), t_index


@pytest.mark.parametrize("mean", [-1.7, -1.0, -0.27, 0.0, 0.52, 1.0, 2.5])
@pytest.mark.parametrize("std", [1e-4, 0.01, 0.2, 3.0])
def test_discretized_gaussian_is_a_distribution_over_levels(mean, std):
    levels = 17
    x = torch.arange(levels)
    logp = discretized_gaussian_log_prob(x, torch.full((levels,), mean, dtype=torch.float64),
                                         torch.full((levels,), math.log(std), dtype=torch.float64), levels)
    assert torch.isfinite(logp).all() and (logp <= 0).all()
    assert abs(float(logp.exp().sum()) - 1.0) < 1e-6
    nearest = round((max(-1, min(1, mean)) + 1) / 2 * (levels - 1))
    if std <= 0.01:  # a narrow Gaussian puts (almost) all its mass on the nearest level
        assert int(logp.argmax()) == nearest and float(logp[nearest].exp()) > 0.99


def test_bound_terms_are_nonnegative_and_sum_to_log_prob(digits):
    model = tiny(conditional=True, num_classes=10).eval()
    x = digits.test.get(torch.arange(5))["x"]
    y = digits.test.get(torch.arange(5))["y"]
    terms = model.bound_terms(x, y, chunk=7)  # chunk that does not divide T, to cover the last partial chunk
    assert terms.shape == (5, model.config.timesteps + 1)
    assert torch.isfinite(terms).all() and (terms >= 0).all()
    torch.manual_seed(3)
    a = model.log_prob(x, condition=y)
    torch.manual_seed(3)
    b = -model.bound_terms(x, y, chunk=50).sum(1)  # chunking changes memory use, not the value
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_bound_is_tight_for_a_perfect_denoiser(digits, schedule):
    """With the true noise every KL term is 0 and L_0 is the decoder at the true x_0."""
    model = tiny(schedule=schedule, clip_denoised=False).eval()
    x = digits.test.get(torch.arange(4))["x"]
    model.net = KnownX0Oracle(model.alphas_cumprod, model.to_unit(x))
    terms = model.bound_terms(x)
    kls = terms[:, 1:-1]  # [B, T-1]
    assert kls.abs().max() < 1e-3
    # L_0: P(level x | N(x's own centre, beta_1)) over 64 pixels; the bin half-width 1/16 is
    # sqrt(beta_1) * z with z = (1/16) / sqrt(beta_1): mass inside is erf(z / sqrt 2) per pixel
    beta1 = float(model.betas[0])
    z = (1 / 16) / math.sqrt(beta1)
    inner = -math.log(math.erf(z / math.sqrt(2)))  # interior levels
    edge = -math.log(0.5 * (1 + math.erf(z / math.sqrt(2))))  # levels 0 and 16 (one tail to infinity)
    is_edge = ((x == 0) | (x == 16)).flatten(1).sum(1).double()
    expected = is_edge * edge + (64 - is_edge) * inner
    torch.testing.assert_close(terms[:, 0].double(), expected, rtol=1e-4, atol=1e-4)
    # the prior term is the closed-form KL(N(sqrt(ab_T) x0, 1 - ab_T) || N(0, 1)) summed over pixels
    abT = float(model.alphas_cumprod[-1])  # checked against the formulas in test_forward_noising_moments
    x0 = model.to_unit(x).double()
    prior = 0.5 * (abT * x0**2 + (1 - abT) - 1 - math.log(1 - abT)).flatten(1).sum(1)
    torch.testing.assert_close(terms[:, -1].double(), prior, rtol=1e-4, atol=1e-6)


def test_ddim_with_eta_1_and_all_steps_is_the_ddpm_sampler():
    T, mean, std = 100, 0.3, 0.5
    model = tiny(image_shape=[1, 1, 1], levels=256, timesteps=T, channels=[4], clip_denoised=False)
    model.net = GaussianOracle(model.alphas_cumprod, mean, std)
    n = 20000
    ddpm = model.sample_continuous(n, sampler="ddpm", generator=torch.Generator().manual_seed(1)).flatten()
    ddim = model.sample_continuous(n, sampler="ddim", eta=1.0, generator=torch.Generator().manual_seed(1)).flatten()
    # same noise stream, same update: identical up to rounding
    assert (ddpm - ddim).abs().max() < 1e-4
    other = model.sample_continuous(n, sampler="ddim", eta=1.0, steps=T,
                                    generator=torch.Generator().manual_seed(2)).flatten()
    assert abs(float(other.mean() - ddpm.mean())) < 0.02
    assert abs(float(other.std() / ddpm.std()) - 1) < 0.03
    # fewer DDIM steps with eta = 1 loses variance (each step's posterior variance misses Var(x0|x_t))
    coarse = model.sample_continuous(n, sampler="ddim", eta=1.0, steps=10,
                                     generator=torch.Generator().manual_seed(2)).flatten()
    assert float(coarse.std()) < float(ddpm.std()) - 0.03


def test_samplers_recover_a_known_gaussian_data_distribution():
    T, mean, std = 1000, 0.3, 0.5
    model = tiny(image_shape=[1, 1, 1], levels=256, timesteps=T, channels=[4], clip_denoised=False)
    model.net = GaussianOracle(model.alphas_cumprod, mean, std)
    n = 10000
    for kwargs in (dict(sampler="ddpm"), dict(sampler="ddim", eta=0.0, steps=200)):
        x = model.sample_continuous(n, generator=torch.Generator().manual_seed(4), **kwargs).flatten()
        assert abs(float(x.mean()) - mean) < 0.025, kwargs  # SE of the mean: 0.005
        assert abs(float(x.std()) - std) < 0.025, kwargs


def test_classifier_free_guidance_scale_0_is_unconditional_and_1_conditional(digits):
    model = tiny(conditional=True, num_classes=10).eval()
    xt = torch.randn(4, 1, 8, 8)
    t = torch.tensor([0, 10, 25, 49])
    y = torch.tensor([0, 3, 7, 9])
    eps_c = model.predict_eps(xt, t, y)
    eps_u = model.predict_eps(xt, t, None)  # None -> the null class index num_classes
    assert not torch.allclose(eps_c, eps_u), "labels must change the prediction for this test to mean anything"
    torch.testing.assert_close(eps_u, model.predict_eps(xt, t, torch.full((4,), 10)))
    torch.testing.assert_close(model.guided_eps(xt, t, y, 0.0), eps_u)
    torch.testing.assert_close(model.guided_eps(xt, t, y, 1.0), eps_c)
    torch.testing.assert_close(model.guided_eps(xt, t, y, 3.0), eps_u + 3.0 * (eps_c - eps_u), rtol=1e-5, atol=1e-5)
    # whole samplers: scale 0 ignores the labels (other labels, the same samples for the same noise)
    a = model.sample(3, condition=y[:3], guidance_scale=0.0, sampler="ddim", steps=10,
                     generator=torch.Generator().manual_seed(0))
    b = model.sample(3, condition=torch.tensor([5, 5, 5]), guidance_scale=0.0, sampler="ddim", steps=10,
                     generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    c = model.sample(3, condition=y[:3], guidance_scale=2.0, sampler="ddim", steps=10,
                     generator=torch.Generator().manual_seed(0))
    assert not torch.equal(a, c)


def test_training_lowers_the_mse(digits):
    model = tiny(channels=[16, 32], attention=False)
    batch_at = lambda idx: digits.train.get(idx)  # noqa: E731
    fixed = batch_at(torch.arange(64))

    def held_mse() -> float:
        model.eval()
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(11)  # same timesteps and noise every time
            return float(model.training_step(fixed, 0).loss)

    before = held_mse()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(60):
        out = model.training_step(batch_at(torch.randint(0, 1000, (32,))), step)
        assert set(out.metrics) == {"mse"}
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        model.train()
    after = held_mse()
    assert after < 0.8 * before, (before, after)


@pytest.mark.parametrize("hw,channels", [(8, [8, 16]), (28, [8, 16, 16]), (7, [8, 8, 8])])
def test_unet_keeps_the_image_size(hw, channels):
    net = UNet(1, 1, channels, attention=True, num_classes=3)
    out = net(torch.randn(2, 1, hw, hw), torch.tensor([0, 7]), torch.tensor([1, 3]))
    assert out.shape == (2, 1, hw, hw) and torch.isfinite(out).all()


def test_sample_returns_integer_levels_with_either_sampler():
    model = tiny(levels=5).eval()
    for kwargs in (dict(sampler="ddpm"), dict(sampler="ddim", steps=5, eta=0.0)):
        x = model.sample(4, generator=torch.Generator().manual_seed(0), **kwargs)
        assert x.dtype == torch.long and x.shape == (4, 1, 8, 8) and 0 <= int(x.min()) and int(x.max()) <= 4
    with pytest.raises(genlab.errors.ConfigError):
        model.sample(2, sampler="euler")


def test_estimated_bound_is_unbiased_for_the_full_bound(digits):
    """Sampling K timesteps per image estimates the sum over all T terms without bias."""
    model = tiny(timesteps=20).eval()
    x = digits.test.get(torch.arange(3))["x"]
    torch.manual_seed(0)
    full = torch.stack([model.bound_terms(x).double().sum(1) for _ in range(40)])  # [40, B]
    est = torch.stack([model.estimated_bound(x, timestep_samples=4).double() for _ in range(600)])
    # L_0 and L_T are exact in both; only the middle sum is sampled
    se = (est.std(0) ** 2 / len(est) + full.std(0) ** 2 / len(full)).sqrt()
    assert ((est.mean(0) - full.mean(0)).abs() < 4 * se + 1e-3).all()
    assert (est.std(0) > 0).all()  # a real estimate: it varies from draw to draw
    torch.manual_seed(1)
    a = model.log_prob(x, timestep_samples=4)
    torch.manual_seed(1)
    torch.testing.assert_close(a, -model.estimated_bound(x, timestep_samples=4))

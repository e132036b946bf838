"""WaveGAN: phase shuffle against numpy, network lengths, the data's dequantisation, the gradient
penalty against closed forms, conditioning, config errors, and a short training run on tones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import genlab
from conftest import fast_train_config
from genlab.data.modalities.audio import mu_law_decode, mu_law_encode
from genlab.nn import PhaseShuffle, WaveCritic, WaveGenerator, gradient_penalty, phase_shuffle

torch.set_num_threads(1)
TINY = dict(latent_dim=8, model_size=4)


def tiny(data=None, **overrides) -> genlab.GenerativeModel:
    return genlab.create_model("wavegan", data=data, **{**TINY, **overrides})


def numpy_phase_shuffle(x: np.ndarray, shift: int) -> np.ndarray:
    """WaveGAN's own recipe for one example ``[C, T]``: reflect-pad ``shift`` steps on the left (or
    ``-shift`` on the right) and take ``T`` steps from the start (or from ``-shift``)."""
    left, right = max(shift, 0), max(-shift, 0)
    padded = np.pad(x, [(0, 0), (left, right)], mode="reflect")
    return padded[:, right: right + x.shape[1]]


# ---- phase shuffle -----------------------------------------------------------------------------
def test_phase_shuffle_matches_numpy_reflection_padding():
    x = torch.randn(9, 3, 11, dtype=torch.float64)
    shifts = torch.tensor([-4, -3, -2, -1, 0, 1, 2, 3, 4])
    out = phase_shuffle(x, shifts)
    assert out.shape == x.shape
    for b, s in enumerate(shifts.tolist()):
        np.testing.assert_array_equal(out[b].numpy(), numpy_phase_shuffle(x[b].numpy(), s))
    # spelled out once: a right shift by 2 of [0 .. 5] mirrors 2, 1 into the gap
    row = phase_shuffle(torch.arange(6.0).view(1, 1, 6), torch.tensor([2]))
    assert row.flatten().tolist() == [2, 1, 0, 1, 2, 3]
    row = phase_shuffle(torch.arange(6.0).view(1, 1, 6), torch.tensor([-2]))
    assert row.flatten().tolist() == [2, 3, 4, 5, 4, 3]


def test_phase_shuffle_module_shifts_each_example_by_at_most_n():
    n, t = 2, 16
    x = torch.arange(t, dtype=torch.float32).repeat(400, 3, 1) + 100 * torch.arange(400.0)[:, None, None]
    layer = PhaseShuffle(n).train()
    out = layer(x)
    assert out.shape == x.shape
    found = []
    for b in range(len(x)):
        # the values of an example are distinct, so exactly one shift reproduces it
        matches = [s for s in range(-t + 1, t) if torch.equal(out[b], phase_shuffle(x[b: b + 1], torch.tensor([s]))[0])]
        assert len(matches) == 1
        found.append(matches[0])
    assert set(found) == set(range(-n, n + 1))  # every shift in [-n, n] drawn, per example, nothing beyond
    counts = np.bincount(np.array(found) + n)
    assert counts.min() > 40  # about 80 each: uniform


def test_phase_shuffle_draws_from_the_global_rng():
    """The shifts follow torch's global RNG, which the trainer checkpoints: a resume redraws them."""
    x = torch.randn(64, 2, 20)
    layer = PhaseShuffle(3).train()
    torch.manual_seed(5)
    a = layer(x)
    torch.manual_seed(5)
    assert torch.equal(a, layer(x))
    assert not torch.equal(a, layer(x))


def test_phase_shuffle_is_identity_for_n_zero_and_in_eval():
    x = torch.randn(8, 2, 20)
    assert torch.equal(PhaseShuffle(0).train()(x), x)
    assert torch.equal(PhaseShuffle(2).eval()(x), x)


def test_phase_shuffle_passes_gradients_through_the_gather():
    x = torch.randn(4, 2, 10, requires_grad=True)
    phase_shuffle(x, torch.tensor([0, 1, -1, 2])).sum().backward()
    # each output step reads one input step: the gradient counts how often each input is read
    assert float(x.grad.sum()) == 4 * 2 * 10
    assert torch.equal(x.grad[0], torch.ones(2, 10))
    assert x.grad[1, 0].tolist() == [1, 2] + [1] * 7 + [0]  # shift right by 1: x[1] read twice, x[9] never


# ---- networks and config -----------------------------------------------------------------------
@pytest.mark.parametrize("length,layers,base", [(64, 2, 4), (1024, 4, 4), (8192, 5, 8), (16384, 5, 16), (8000, 3, 125)])
def test_derived_layers_and_network_lengths(length, layers, base):
    config = genlab.create_model("wavegan", length=length, latent_dim=8, model_size=2).config
    assert (config.layers, config.base_length) == (layers, base)
    g = WaveGenerator(8, base, layers, 2, num_classes=3)
    d = WaveCritic(length, layers, 2, phase_shuffle=2, num_classes=3)
    y = torch.tensor([0, 2])
    x = g(torch.randn(2, 8) * 10, y)  # large z: the tanh output still lies in [-1, 1]
    assert tuple(x.shape) == (2, 1, length)
    assert x.abs().max() <= 1 and x.abs().max() > 0
    assert d(x, y).shape == (2,)


def test_paper_architecture_channels():
    g = WaveGenerator(100, 16, 5, 64)
    assert g.widths == [1024, 512, 256, 128, 64, 1]  # 16d .. d, then one channel
    assert g.project.out_features == 16 * 1024
    d = WaveCritic(16384, 5, 64)
    assert [m.out_channels for m in d.features if isinstance(m, nn.Conv1d)] == [64, 128, 256, 512, 1024]
    assert sum(isinstance(m, PhaseShuffle) for m in d.features) == 4  # after every convolution but the last
    assert d.out.in_features == 16 * 1024


@pytest.mark.parametrize("overrides,match", [
    (dict(length=4001), r"multiple of 4 .*--data-arg length=16384"),
    (dict(length=8192, num_layers=7), r"multiple of 4\^7 = 16384 .*--data-arg length=16384"),
    (dict(length=2000, num_layers=5), r"multiple of 4\^5 = 1024 .*--data-arg length=2048"),
    (dict(length=64, num_layers=2, phase_shuffle=16), r"phase_shuffle must be between 0 and 15"),
    (dict(conditional=True), "num_classes"),
])
def test_bad_configs_are_one_line_errors(overrides, match):
    with pytest.raises(genlab.ConfigError, match=match) as info:
        genlab.create_model("wavegan", **overrides)
    assert "\n" not in str(info.value)


def test_sampling_longer_than_the_clip_is_refused(tones):
    model = tiny(tones).eval()
    assert model.sample(2, length=10).shape == (2, 10)
    with pytest.raises(genlab.ConfigError, match="clips of 64 samples"):
        model.sample(2, length=65)


# ---- data <-> waveforms --------------------------------------------------------------------------
def test_dequantised_real_clips_reencode_to_their_codes(tones):
    model = tiny(tones)
    codes = torch.arange(256, dtype=torch.uint8).repeat(3, 1)
    for _ in range(3):
        wave = model.to_wave(codes)
        assert wave.shape == (3, 1, 256) and wave.abs().max() <= 1
        assert torch.equal(mu_law_encode(wave[:, 0]), codes)
    assert not torch.equal(wave[:, 0], mu_law_decode(codes))  # off the 256-value grid
    assert torch.equal(model.to_wave(codes, dequantize=False)[:, 0], mu_law_decode(codes))
    assert torch.equal(tiny(tones, dequantize=False).to_wave(codes)[:, 0], mu_law_decode(codes))


def test_samples_are_the_mu_law_codes_of_the_generator_output(tones):
    model = tiny(tones).eval()
    codes = model.sample(4, generator=torch.Generator().manual_seed(1))
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        wave = model.generator(z)[:, 0]
    assert codes.dtype == torch.long and codes.shape == (4, 64)
    assert torch.equal(codes, mu_law_encode(wave).long())


# ---- gradient penalty ---------------------------------------------------------------------------
def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one():
    """D(x) = <w, x> has the gradient w everywhere: the penalty is (||w|| - 1)^2 whatever the
    interpolates, and its gradient with respect to w is 2 (||w|| - 1) w / ||w|| (create_graph)."""
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1, bias=False))
    with torch.no_grad():
        critic[1].weight.copy_(torch.arange(12.0).view(1, 12) / 10)
    w = critic[1].weight.detach().clone()
    real, fake = torch.randn(5, 1, 12), torch.randn(5, 1, 12)
    gp = gradient_penalty(lambda h: critic(h).squeeze(1), real, fake)
    norm = float(w.norm())
    assert float(gp.detach()) == pytest.approx((norm - 1) ** 2, rel=1e-5)
    gp.backward()
    torch.testing.assert_close(critic[1].weight.grad, 2 * (norm - 1) * w / norm, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_is_taken_at_the_interpolates():
    """D(x) = ||x||^2 / 2 has the gradient x: the penalty is mean (||e r + (1 - e) f|| - 1)^2."""
    real, fake = torch.randn(6, 1, 10, dtype=torch.float64), torch.randn(6, 1, 10, dtype=torch.float64)
    eps = torch.rand(6, dtype=torch.float64)
    critic = lambda h: 0.5 * (h ** 2).flatten(1).sum(1)  # noqa: E731
    r, f, e = real.numpy().reshape(6, -1), fake.numpy().reshape(6, -1), eps.numpy()[:, None]
    expected = np.mean((np.linalg.norm(e * r + (1 - e) * f, axis=1) - 1) ** 2)
    assert float(gradient_penalty(critic, real, fake, eps).detach()) == pytest.approx(expected, rel=1e-5)
    # at the real clips (e = 1) or the fakes (e = 0) only
    at_real = np.mean((np.linalg.norm(r, axis=1) - 1) ** 2)
    assert float(gradient_penalty(critic, real, fake, torch.ones(6)).detach()) == pytest.approx(at_real, rel=1e-5)
    # by default e ~ U(0, 1) per example from the global RNG
    torch.manual_seed(3)
    drawn = torch.rand(6).double().numpy()[:, None]  # float32 draws, as the penalty makes them
    torch.manual_seed(3)
    expected = np.mean((np.linalg.norm(drawn * r + (1 - drawn) * f, axis=1) - 1) ** 2)
    assert float(gradient_penalty(critic, real, fake).detach()) == pytest.approx(expected, rel=1e-5)


def test_critic_loss_is_the_wgan_gp_loss(tones):
    model = tiny(tones).train()
    batch = tones.train.get(torch.arange(8))
    out = model.training_step(batch, 0, optimizer="discriminator")
    m = out.metrics
    assert float(out.loss.detach()) == pytest.approx(float(m["d_fake"] - m["d_real"] + 10 * m["gradient_penalty"]), abs=1e-5)
    assert float(m["wasserstein"]) == pytest.approx(float(m["d_real"] - m["d_fake"]), abs=1e-6)
    no_gp = tiny(tones, gradient_penalty=0.0).training_step(batch, 0, optimizer="discriminator")
    assert "gradient_penalty" not in no_gp.metrics
    assert model.optimizer_order() == [("discriminator", 5), ("generator", 1)]
    with pytest.raises(genlab.ConfigError, match="'discriminator' and 'generator'"):
        model.training_step(batch, 0, optimizer="model")


def test_each_step_trains_only_its_own_network(tones):
    model = tiny(tones, conditional=True).train()
    batch = tones.train.get(torch.arange(8))
    model.training_step(batch, 0, optimizer="discriminator").loss.backward()
    assert all(p.grad is None for p in model.generator.parameters())
    assert all(p.grad is not None for p in model.discriminator.parameters())
    # but the score's bias, which cancels in D(fake) - D(real), and the rows of absent labels
    assert all(p.grad.abs().sum() > 0 for k, p in model.discriminator.named_parameters() if k != "out.bias")
    assert float(model.discriminator.out.bias.grad.abs()) == 0
    model.zero_grad(set_to_none=True)
    model.training_step(batch, 0, optimizer="generator").loss.backward()
    assert all(p.grad is None for p in model.discriminator.parameters())
    assert all(p.grad is not None for p in model.generator.parameters())
    assert all(p.grad.abs().sum() > 0 for p in model.generator.parameters())


def test_train_defaults_are_the_papers():
    defaults = genlab.models.registry.get_model_class("wavegan").train_defaults
    assert defaults["lr"] == 1e-4 and defaults["betas"] == [0.5, 0.9]
    config = genlab.create_model("wavegan").config
    assert (config.latent_dim, config.model_size, config.phase_shuffle, config.gradient_penalty,
            config.discriminator_steps, config.layers) == (100, 64, 2, 10.0, 5, 5)


# ---- conditioning ------------------------------------------------------------------------------
def test_conditional_samples_follow_the_label_and_the_seed(tones):
    model = tiny(tones, conditional=True).eval()
    seeded = lambda **kw: model.sample(6, generator=torch.Generator().manual_seed(4), **kw)  # noqa: E731
    zeros, threes = seeded(condition=0), seeded(condition=3)
    assert torch.equal(zeros, seeded(condition=0))  # reproducible
    assert not torch.equal(zeros, threes)  # the same z, another class: another clip
    assert (zeros != threes).any(1).all()
    # no condition: the classes in turn
    assert torch.equal(seeded(), seeded(condition=torch.tensor([0, 1, 2, 3, 4, 5])))
    with pytest.raises(genlab.ConfigError, match=r"in \[0, 10\)"):
        model.sample(2, condition=10)
    with pytest.raises(genlab.ConfigError, match="unconditional"):
        tiny(tones).sample(2, condition=1)


# ---- a short training run ---------------------------------------------------------------------------
def dominant_frequency(codes: torch.Tensor, rate: int) -> torch.Tensor:
    """Hz of the largest bin of each clip's (Hann-windowed, mean-removed) magnitude spectrum."""
    wave = mu_law_decode(codes).double()
    wave = wave - wave.mean(1, keepdim=True)
    spectrum = torch.fft.rfft(wave * torch.hann_window(wave.shape[1], periodic=False, dtype=torch.float64), dim=1)
    return spectrum.abs().argmax(1).double() * rate / wave.shape[1]


def test_brief_training_on_tones_learns_each_class_pitch(tones):
    """200 steps (~6 s): the dominant frequency of class k's samples approaches the tone 220 * 2^(k/4) Hz.

    At 64 samples and 8 kHz a spectrum bin is 125 Hz wide. Untrained, the generator's clips are
    dominated by high-frequency artifacts (kHz away from the tones); trained, they are within about
    one bin of their class's tone, and the pitch rises with the class."""
    torch.manual_seed(0)
    model = genlab.create_model("wavegan", data=tones, latent_dim=16, model_size=8, conditional=True)
    labels = torch.arange(200) % 10
    tone = 220.0 * 2.0 ** (labels.double() / 4)

    def error() -> tuple[float, float]:
        model.eval()
        f = dominant_frequency(model.sample(200, condition=labels, generator=torch.Generator().manual_seed(0)), 8000)
        return float((f - tone).abs().mean()), float(torch.corrcoef(torch.stack([f, labels.double()]))[0, 1])

    before, _ = error()
    trainer = genlab.Trainer(model, tones, fast_train_config(steps=200, batch_size=32, lr=2e-3, ema_decay=0.0,
                                                             log_every=50))
    trainer.fit()
    after, correlation = error()
    assert before > 500
    assert after < 150 and after < before / 5, (before, after)
    assert correlation > 0.7
    rows = [r for r in trainer.history if r["split"] == "train"]
    assert all(math.isfinite(r["wasserstein"]) for r in rows)
    assert rows[-1]["wasserstein"] > 0  # the critic still tells real from fake apart, by a finite margin

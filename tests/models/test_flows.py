"""Normalizing flows: invertibility, log-determinants against autograd Jacobians, actnorm init,
the dequantisation bound, the odd-size checks and a short training run (RealNVP and Glow)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import jacobian

import genlab
from conftest import fast_train_config, tiny_overrides
from genlab.errors import ConfigError
from genlab.nn import ActNorm, AffineCoupling, FlowSequential, InvConv1x1, MultiScaleFlow, Squeeze

FLOWS = ["realnvp", "glow"]


def randomize(module: torch.nn.Module, scale: float = 0.3) -> torch.nn.Module:
    """Perturb every parameter so layers are far from their identity init (zero-init couplings
    would otherwise make logdet = 0 and the checks vacuous); actnorm counts as initialised."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
        for m in module.modules():
            if isinstance(m, ActNorm):
                m.initialized.fill_(1)
    return module


LAYERS = {
    "coupling-checkerboard-0": lambda: AffineCoupling(4, 8, "checkerboard", 0),
    "coupling-checkerboard-1": lambda: AffineCoupling(4, 8, "checkerboard", 1),
    "coupling-channel-0": lambda: AffineCoupling(4, 8, "channel", 0),
    "coupling-channel-1": lambda: AffineCoupling(4, 8, "channel", 1),
    "squeeze": Squeeze,
    "actnorm": lambda: ActNorm(4),
    "invconv-lu": lambda: InvConv1x1(4),
    "sequential": lambda: FlowSequential([ActNorm(4), InvConv1x1(4), AffineCoupling(4, 8, "channel", 1)]),
}


def jacobian_logdet(f, x: torch.Tensor) -> torch.Tensor:
    """log|det J| of ``f`` at a single input ``x`` ``[1, ...]`` by autograd, J is ``[D_out, D_in]``."""
    jac = jacobian(f, x)  # [1, *out, 1, *in]
    d = x.numel()
    sign, logabs = torch.linalg.slogdet(jac.reshape(-1, d))
    assert jac.reshape(-1, d).shape == (d, d) and sign != 0
    return logabs


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_inverts_and_logdet_matches_autograd(name):
    layer = randomize(LAYERS[name]().double()).eval()
    x = torch.randn(3, 4, 4, 4, dtype=torch.float64)
    y, logdet = layer(x)
    assert logdet.shape == (3,)
    assert torch.allclose(layer.inverse(y), x, atol=1e-5)
    # the log-determinant at two random inputs [1, 4, 2, 2] (D = 16) against the full 16 x 16 Jacobian
    for _ in range(2):
        xi = torch.randn(1, 4, 2, 2, dtype=torch.float64)
        expected = jacobian_logdet(lambda t: layer(t)[0], xi)
        assert torch.allclose(layer(xi)[1][0], expected, atol=1e-8), (name, float(expected))
        if name != "squeeze":  # a permutation: logdet 0 is right
            assert abs(float(expected)) > 1e-3, "randomised layer should not be volume preserving"


def test_channel_coupling_with_odd_channels_and_changes_only_one_half():
    layer = randomize(AffineCoupling(3, 8, "channel", 1).double())
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    y, _ = layer(x)
    assert torch.equal(y[:, 1:], x[:, 1:])  # parity 1 conditions on the last half (2 channels)
    assert not torch.allclose(y[:, :1], x[:, :1])
    assert torch.allclose(layer.inverse(y), x, atol=1e-10)


def test_checkerboard_coupling_keeps_masked_pixels():
    layer = randomize(AffineCoupling(2, 8, "checkerboard", 0).double())
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    y, _ = layer(x)
    i, j = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    kept = (i + j) % 2 == 0  # [4, 4]
    assert torch.equal(y[..., kept], x[..., kept])
    assert not torch.allclose(y[..., ~kept], x[..., ~kept])


def test_squeeze_is_space_to_depth():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y, _ = Squeeze()(x)
    assert y.shape == (1, 4, 2, 2)
    # channel k holds the (k // 2, k % 2) corner of each 2x2 patch
    assert y[0, :, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]
    with pytest.raises(ConfigError):
        Squeeze().output_shape((1, 7, 7))


def test_multiscale_flow_inverts_and_logdet_matches_autograd():
    stages = [FlowSequential([Squeeze(), AffineCoupling(4, 8, "channel", 0), InvConv1x1(4)]),
              FlowSequential([AffineCoupling(2, 8, "checkerboard", 1), ActNorm(2)])]
    flow = randomize(MultiScaleFlow(stages, (1, 4, 4)).double()).eval()
    assert flow.z_shapes == [(2, 2, 2), (2, 2, 2)]
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    z, logdet = flow(x)
    assert z.shape == (1, 16)
    assert torch.allclose(flow.inverse(z), x, atol=1e-10)
    assert torch.allclose(logdet[0], jacobian_logdet(lambda t: flow(t)[0], x), atol=1e-8)


def test_actnorm_initialises_from_first_batch():
    layer = ActNorm(3)
    assert int(layer.initialized) == 0
    x = 3.0 * torch.randn(32, 3, 4, 4) + torch.tensor([2.0, -1.0, 5.0]).view(1, 3, 1, 1)  # [B, C, H, W]
    y, _ = layer.train()(x)
    assert int(layer.initialized) == 1
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    before = [p.clone() for p in layer.parameters()]
    layer(torch.randn(8, 3, 4, 4))  # a second batch must not re-initialise
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))
    # eval mode on a fresh layer does not initialise (scoring must not change the model)
    fresh = ActNorm(3).eval()
    fresh(x)
    assert int(fresh.initialized) == 0


def test_actnorm_flag_survives_save_and_load(digits, tmp_path):
    model = genlab.create_model("glow", data=digits, **tiny_overrides("glow"))
    actnorms = [m for m in model.modules() if isinstance(m, ActNorm)]
    assert actnorms and all(int(m.initialized) == 0 for m in actnorms)
    batch = digits.train.get(torch.arange(32))
    model.train().training_step(batch, 0)
    assert all(int(m.initialized) == 1 for m in actnorms)
    model.save_pretrained(tmp_path / "glow")
    loaded = genlab.load(tmp_path / "glow")
    loaded_norms = [m for m in loaded.modules() if isinstance(m, ActNorm)]
    assert all(int(m.initialized) == 1 for m in loaded_norms)
    # a loaded model that trains on another batch keeps the saved actnorm statistics
    before = [m.bias.clone() for m in loaded_norms]
    loaded.train().training_step(digits.train.get(torch.arange(32, 40)), 0)
    assert all(torch.equal(b, m.bias) for b, m in zip(before, loaded_norms))


@pytest.mark.parametrize("name", FLOWS)
def test_full_model_inverts_and_logdet_matches_autograd(name, digits):
    model = genlab.create_model(name, data=digits, **tiny_overrides(name)).double()
    model.train().training_step(digits.train.get(torch.arange(16)), 0)  # actnorm init (Glow)
    randomize(model, 0.05).eval()
    x = digits.test.get(torch.arange(4))["x"]  # [4, 1, 8, 8] integer levels
    y = model.dequantize(x)
    z, logdet = model.encode(y)
    assert z.shape == (4, 64) and logdet.shape == (4,)
    assert torch.allclose(model.inverse(z), y, atol=1e-5)
    expected = jacobian_logdet(lambda t: model.encode(t)[0], y[:1])  # 64 x 64 Jacobian of y -> z
    assert torch.allclose(logdet[0], expected, atol=1e-6)
    # samples are floor(L * inverse(z)) of the same latents
    gen = torch.Generator().manual_seed(1)
    s = model.sample(3, generator=gen)
    z = torch.randn(3, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.equal(s, (model.inverse(z) * model.config.levels).floor().clamp(0, 16).long())


@pytest.mark.parametrize("name", FLOWS)
def test_dequantisation_bound_ties_out(name, digits):
    """For an untrained model every coupling is the identity, so log p(y) has a closed form."""
    model = genlab.create_model(name, data=digits, **tiny_overrides(name)).eval()
    x = digits.test.get(torch.arange(8))["x"]
    torch.manual_seed(3)
    logp = model.log_prob(x)
    torch.manual_seed(3)
    y = model.dequantize(x)  # the same u as log_prob drew
    levels, dims = model.config.levels, 64
    if model.config.logit:
        a = model.config.logit_alpha
        p = a + (1 - 2 * a) * y
        h = torch.log(p / (1 - p))
        log_jac = math.log(1 - 2 * a) - torch.log(p * (1 - p))
    else:  # untrained Glow: actnorm is the identity and the 1x1 convs are rotations (|det| = 1)
        h, log_jac = y - 0.5, torch.zeros_like(y)
    log_normal = -0.5 * h.pow(2) - 0.5 * math.log(2 * math.pi)
    expected = (log_normal + log_jac).flatten(1).sum(1) - dims * math.log(levels)
    assert torch.allclose(logp, expected, atol=1e-3)
    assert torch.isfinite(logp).all()
    per_dim = logp / dims
    assert (per_dim <= 0).all() and (per_dim > -2 * math.log(levels)).all(), per_dim
    # the K-sample bound is at least as large as the average of its K one-sample terms
    torch.manual_seed(4)
    k8 = model.log_prob(x, num_samples=8)
    torch.manual_seed(4)
    ones = torch.stack([model.log_prob(x) for _ in range(8)]).mean(0)
    assert (k8 >= ones - 1e-4).all()


def test_image_sizes_that_cannot_be_squeezed_fail_clearly():
    for name, ok, bad in (("glow", 2, 3), ("realnvp", 3, 4)):
        model = genlab.create_model(name, image_shape=[1, 28, 28], levels=256, num_scales=ok,
                                    steps_per_scale=1, hidden_channels=4)
        x = model.sample(2)
        assert x.shape == (2, 1, 28, 28)
        with pytest.raises(ConfigError, match="divisible"):
            genlab.create_model(name, image_shape=[1, 28, 28], levels=256, num_scales=bad,
                                steps_per_scale=1, hidden_channels=4)


@pytest.mark.parametrize("name", FLOWS)
def test_short_training_lowers_test_nll(name, digits):
    model = genlab.create_model(name, data=digits, **tiny_overrides(name))
    before = genlab.evaluate(model, digits, "test", max_examples=128)["nll_nats"]
    trainer = genlab.Trainer(model, digits, fast_train_config(steps=150, batch_size=64, lr=3e-3, log_every=50))
    trainer.fit()
    after = genlab.evaluate(model, digits, "test", max_examples=128)
    assert after["likelihood"] == "bound"
    assert after["nll_nats"] < before - 10, (before, after["nll_nats"])
    assert 0 < after["bits_per_dim"] < math.log2(17)


@pytest.mark.parametrize("couplings", [False, True], ids=["prior", "prior+couplings"])
@pytest.mark.parametrize("name", FLOWS)
def test_conditional_flow_scores_log_p_x_given_y(name, couplings, digits):
    """The class-conditional prior (and couplings) give log p(x | y): invertible given y, the
    log-determinant checked by autograd, the prior a Gaussian with the class's mean and std."""
    model = genlab.create_model(name, data=digits, **tiny_overrides(name), conditional=True,
                                conditional_couplings=couplings).double()
    assert (model.coupling_condition_dim > 0) == couplings
    model.train().training_step(digits.train.get(torch.arange(16)), 0)
    randomize(model, 0.05).eval()
    batch = digits.test.get(torch.arange(4))
    x, labels = batch["x"], batch["y"]
    y = model.dequantize(x)
    z, logdet = model.encode(y, labels)
    assert torch.allclose(model.inverse(z, labels), y, atol=1e-5)
    expected = jacobian_logdet(lambda t: model.encode(t, labels[:1])[0], y[:1])
    assert torch.allclose(logdet[0], expected, atol=1e-6)
    if couplings:  # the label changes the map itself, not only the prior
        assert not torch.allclose(model.encode(y, (labels + 1) % 10)[0], z)
    # log p(y | label) = log N(z; mean_label, std_label^2) + logdet, by hand
    mean, log_std = model.prior.weight[labels].chunk(2, dim=1)
    by_hand = torch.distributions.Normal(mean, log_std.exp()).log_prob(z).sum(1) + logdet
    assert torch.allclose(model.log_density(y, labels), by_hand, atol=1e-8)
    torch.manual_seed(5)
    given_y = model.log_prob(x, condition=labels)
    torch.manual_seed(5)
    other_y = model.log_prob(x, condition=(labels + 1) % 10)
    assert torch.isfinite(given_y).all() and not torch.allclose(given_y, other_y)
    # samples: z = mean_y + std_y * eps through the inverse of the same label
    s = model.sample(3, condition=7, generator=torch.Generator().manual_seed(1))
    eps = torch.randn(3, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sevens = torch.full((3,), 7)
    m7, s7 = model.prior.weight[sevens].chunk(2, dim=1)
    expected = (model.inverse(m7 + s7.exp() * eps, sevens) * model.config.levels).floor().clamp(0, 16).long()
    assert torch.equal(s, expected)


def test_unconditional_flows_have_no_conditional_weights(digits):
    """Saved unconditional flows keep their tensors (no prior table), and the couplings need labels."""
    for name in FLOWS:
        model = genlab.create_model(name, data=digits, **tiny_overrides(name))
        assert not any(k.startswith("prior") for k in model.state_dict())
    with pytest.raises(ConfigError, match="conditional_couplings=true needs conditional=true"):
        genlab.create_model("glow", data=digits, conditional_couplings=True)

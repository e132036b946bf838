"""Super-resolution models: sr-cnn, sr-gan, sr3, and their building blocks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import genlab
from conftest import fast_train_config, tiny_overrides
from genlab.evaluation.restoration import psnr
from genlab.nn import PatchDiscriminator, SRResNet


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_srresnet_enlarges_any_size_and_starts_as_bicubic(scale):
    torch.manual_seed(0)
    net = SRResNet(3, width=8, blocks=2, scale=scale)
    x = torch.rand(2, 3, 5, 7)
    y = net(x)
    assert y.shape == (2, 3, 5 * scale, 7 * scale)
    # the zero-initialised tail makes the untrained net exactly the bicubic enlargement
    assert torch.allclose(y, F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))


def test_patch_discriminator_gives_one_logit_per_patch():
    d = PatchDiscriminator(2, width=8, layers=3)
    assert d(torch.randn(1, 2, 64, 64)).shape == (1, 1, 6, 6)  # pix2pix's 70x70 receptive field on a 64x64 image
    assert d(torch.randn(1, 2, 96, 128)).shape[-2:] == (10, 14)
    with pytest.raises(ValueError, match="norm"):
        PatchDiscriminator(1, norm="layer")


def _psnr_of(model, data, n=64) -> tuple[float, float]:
    """Mean PSNR (all pixels, 0..255 scale) of the model and of bicubic on the first n test pairs."""
    from genlab.data.superres import bicubic_resize

    batch = data.test.get(torch.arange(n))
    to255 = lambda t: ((t.long() * 255 + 8) // 16).to(torch.uint8)  # noqa: E731  (17 levels -> 0..255)
    out = model.sample(n, condition=batch["lowres"])
    bic = torch.stack([bicubic_resize(to255(lr), (8, 8)) for lr in batch["lowres"]])
    ours = sum(psnr(to255(o), to255(t)) for o, t in zip(out, batch["x"])) / n
    base = sum(psnr(b, to255(t)) for b, t in zip(bic, batch["x"])) / n
    return ours, base


def test_sr_cnn_learns_to_beat_bicubic_on_digits(digits_sr):
    torch.manual_seed(0)
    model = genlab.create_model("sr-cnn", data=digits_sr, width=16, blocks=2)
    before, bicubic = _psnr_of(model.eval(), digits_sr)
    genlab.Trainer(model, digits_sr, fast_train_config(steps=300, batch_size=32, lr=3e-3)).fit()
    after, _ = _psnr_of(model.eval(), digits_sr)
    assert after > bicubic + 1.0 and after > before + 1.0, (before, after, bicubic)


def test_sr_cnn_validation_reports_l1_and_psnr(digits_sr):
    model = genlab.create_model("sr-cnn", data=digits_sr, **tiny_overrides("sr-cnn")).eval()
    batch = digits_sr.val.get(torch.arange(8))
    out = model.validation_step(batch)
    assert out["loss"] == out["l1"] > 0
    hr = batch["x"].float() / 16
    sr = model.sample(8, condition=batch["lowres"]).float() / 16
    expected = (-10 * torch.log10(((sr - hr) ** 2).flatten(1).mean(1))).mean()
    assert out["psnr"] == pytest.approx(float(expected), rel=1e-5)


def test_a_model_refuses_pairs_of_another_scale(digits_sr):
    model = genlab.create_model("sr-cnn", data=digits_sr, **tiny_overrides("sr-cnn"))
    other = genlab.load_dataset("digits-sr", scale=4)
    with pytest.raises(genlab.DataError, match="super-resolution scale 2 vs 4"):
        genlab.Trainer(model, other, fast_train_config())


def test_sr_gan_steps_touch_only_their_own_network(digits_sr):
    torch.manual_seed(0)
    model = genlab.create_model("sr-gan", data=digits_sr, **tiny_overrides("sr-gan"))
    batch = digits_sr.train.get(torch.arange(8))
    for name, own, other in (("discriminator", model.discriminator, model.net),
                             ("generator", model.net, model.discriminator)):
        model.zero_grad(set_to_none=True)
        model.training_step(batch, 0, optimizer=name).loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in own.parameters()), name
        assert all(p.grad is None for p in other.parameters()), name
    with pytest.raises(genlab.ConfigError, match="optimizers"):
        model.training_step(batch, 0, optimizer="model")


def test_sr3_is_conditioned_on_the_low_resolution_image(digits_sr):
    torch.manual_seed(0)
    model = genlab.create_model("sr3", data=digits_sr, **tiny_overrides("sr3")).eval()
    assert model.net.inp.in_channels == 2  # x_t and the enlarged low-res image
    xt, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 30])
    lr = digits_sr.test.get(torch.arange(2))["lowres"]
    assert not torch.allclose(model.predict_eps(xt, t, lr), model.predict_eps(xt, t, 16 - lr))
    # any input size: the output is scale times larger
    gen = torch.Generator().manual_seed(0)
    odd = torch.randint(0, 17, (3, 1, 3, 5), dtype=torch.uint8)
    assert model.sample(3, condition=odd, generator=gen, sampler="ddim", steps=3).shape == (3, 1, 6, 10)
    # the bound is of log p(x | low-res): another low-res image gives another figure
    x = digits_sr.test.get(torch.arange(2))["x"]
    torch.manual_seed(1)
    a = model.log_prob(x, condition=lr)
    torch.manual_seed(1)
    b = model.log_prob(x, condition=16 - lr)
    assert torch.isfinite(a).all() and not torch.allclose(a, b)
    with pytest.raises(genlab.ConfigError, match="no classifier-free guidance"):
        model.sample(1, condition=lr[:1], guidance_scale=2.0)


@pytest.mark.parametrize("side, norm, most", [(8, "instance", 1), (16, "instance", 2), (28, "instance", 3),
                                              (8, "none", 1), (256, "instance", 3)])
def test_patch_discriminator_depth_fits_the_image(side, norm, most):
    assert PatchDiscriminator.max_layers(side, side, norm) == most
    d = PatchDiscriminator(1, width=4, layers=most, norm=norm).train()
    assert d(torch.randn(2, 1, side, side)).shape[-1] >= 1  # trains: every normalised map has several pixels
    if most < 3:
        with pytest.raises((ValueError, RuntimeError)):  # one layer deeper breaks: what max_layers guards
            PatchDiscriminator(1, width=4, layers=most + 1, norm=norm).train()(torch.randn(2, 1, side, side))


@pytest.mark.parametrize("name, data_name", [("sr-gan", "digits-sr"), ("pix2pix", "digits-edges")])
def test_gan_discriminators_default_to_a_depth_the_data_allows(name, data_name):
    data = genlab.load_dataset(data_name)
    model = genlab.create_model(name, data=data)  # the default config on 8x8 digits
    genlab.Trainer(model, data, fast_train_config(steps=1)).fit()
    with pytest.raises(genlab.ConfigError, match="disc_layers=3 is too deep for 8x8 images: at most 1"):
        genlab.create_model(name, data=data, disc_layers=3)

"""GANs: losses and their gradients, the gradient penalty, spectral norm, update ratios, health logs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import genlab
from conftest import fast_train_config
from genlab.nn import ConvDiscriminator, ConvGenerator

torch.set_num_threads(1)
TINY = dict(latent_dim=8, generator_channels=[16, 8], discriminator_channels=[8, 16])


def tiny(name: str, data=None, **overrides) -> genlab.GenerativeModel:
    return genlab.create_model(name, data=data, **{**TINY, **overrides})


@pytest.mark.parametrize("shape", [[1, 8, 8], [1, 28, 28], [3, 32, 32], [1, 7, 9]])
def test_networks_fit_any_image_size(shape):
    g = ConvGenerator(8, shape, [16, 8, 4], num_classes=3)
    d = ConvDiscriminator(shape, [8, 16, 32], num_classes=3, norm="layer")
    y = torch.tensor([0, 2])
    x = g(torch.randn(2, 8), y)
    assert tuple(x.shape) == (2, *shape) and x.abs().max() <= 1
    assert d(x, y).shape == (2,)


def test_dequantised_levels_map_back_to_themselves(digits):
    model = tiny("dcgan", digits)
    x = torch.arange(17).repeat(4).view(4, 1, 1, 17).expand(4, 1, 8, 17)[..., :8].contiguous()
    for _ in range(3):
        unit = model.to_unit(x)
        assert unit.min() >= -1 and unit.max() <= 1
        assert torch.equal(model.to_levels(unit), x)


@pytest.mark.parametrize("name", ["dcgan", "wgan-gp", "sngan"])
def test_each_step_trains_only_its_own_network(name, digits):
    model = tiny(name, digits).train()
    batch = digits.train.get(torch.arange(8))
    model.training_step(batch, 0, optimizer="discriminator").loss.backward()
    assert all(p.grad is None for p in model.generator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.discriminator.parameters())
    model.zero_grad(set_to_none=True)
    model.training_step(batch, 0, optimizer="generator").loss.backward()
    assert all(p.grad is None for p in model.discriminator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())


class FixedScores(nn.Module):
    """A discriminator that scores real-looking (dequantised data) inputs ``a`` and others ``b``."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.a, self.b = a, b
        self.calls = 0

    def forward(self, x, y=None):
        self.calls += 1
        value = self.a if self.calls % 2 == 1 else self.b  # the step scores real first, then fake
        return torch.full((x.shape[0],), value) + 0 * x.sum((1, 2, 3))


@pytest.mark.parametrize("name, expected", [
    ("dcgan", lambda a, b: math.log1p(math.exp(-a)) + math.log1p(math.exp(b))),
    ("sngan", lambda a, b: max(0.0, 1 - a) + max(0.0, 1 + b)),
])
def test_discriminator_losses_follow_their_formulas(name, expected, digits):
    model = tiny(name, digits)
    batch = digits.train.get(torch.arange(4))
    for a, b in [(0.3, -0.2), (2.5, 1.5), (-1.7, 0.4)]:
        model.discriminator = FixedScores(a, b)
        loss = model.training_step(batch, 0, optimizer="discriminator").loss
        assert float(loss) == pytest.approx(expected(a, b), rel=1e-6)


class LinearCritic(nn.Module):
    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x, y=None):
        return (x.flatten(1) * self.w).sum(1)


def test_gradient_penalty_of_a_linear_critic_is_exact(digits):
    """For D(x) = w . x the gradient is w everywhere, so the critic step's penalty is (||w|| - 1)^2."""
    model = tiny("wgan-gp", digits)
    w = torch.randn(64)
    model.discriminator = LinearCritic(w.clone())
    out = model.training_step(digits.train.get(torch.arange(5)), 0, "discriminator")
    assert float(out.metrics["gradient_penalty"]) == pytest.approx((float(w.norm()) - 1) ** 2, rel=1e-5)
    # (its gradient in the critic's weights is tested with genlab.nn.gradient_penalty in test_wavegan.py)


def test_spectral_norm_keeps_each_layer_near_unit_gain(digits):
    model = tiny("sngan", digits).train()
    x = model.to_unit(digits.train.get(torch.arange(16))["x"])
    for _ in range(30):  # each training-mode forward runs one power iteration
        model.discriminator(x)
    model.eval()
    weights = [m.weight for m in model.discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert weights
    for w in weights:
        top = torch.linalg.matrix_norm(w.detach().flatten(1), ord=2)
        assert float(top) == pytest.approx(1.0, abs=0.02)


def test_update_ratio_and_schedule_follow_trainer_steps(digits):
    model = tiny("wgan-gp", digits)
    assert model.optimizer_order() == [("discriminator", 5), ("generator", 1)]
    trainer = genlab.Trainer(model, digits, fast_train_config(steps=3, batch_size=8, warmup_steps=2))
    trainer.fit()
    d_state = trainer.optimizers["discriminator"].state_dict()["state"]
    g_state = trainer.optimizers["generator"].state_dict()["state"]
    assert {float(s["step"]) for s in d_state.values()} == {15.0}  # 5 critic updates per step
    assert {float(s["step"]) for s in g_state.values()} == {3.0}
    # the warm-up counts trainer steps for both optimizers, not updates
    assert trainer.schedulers["discriminator"].last_epoch == trainer.schedulers["generator"].last_epoch == 3
    # five batches for the critic and one for the generator each step
    assert trainer.sampler.epoch * trainer.sampler.batches_per_epoch + trainer.sampler.offset // 8 == 18


def test_two_time_scale_learning_rates(digits):
    model = tiny("sngan", digits, discriminator_lr_ratio=4.0)
    opts = model.configure_optimizers(genlab.TrainConfig.for_model(model, lr=1e-4))
    assert opts["generator"].param_groups[0]["lr"] == pytest.approx(1e-4)
    assert opts["discriminator"].param_groups[0]["lr"] == pytest.approx(4e-4)
    assert opts["discriminator"].param_groups[0]["betas"] == (0.0, 0.9)


def test_family_training_defaults_and_user_overrides():
    config = genlab.TrainConfig.for_model(genlab.models.registry.get_model_class("wgan-gp"))
    assert config.lr == 1e-4 and config.betas == [0.0, 0.9] and config.grad_clip == 0
    assert genlab.TrainConfig.for_model(genlab.models.registry.get_model_class("wgan-gp"), lr=3e-4).lr == 3e-4
    assert genlab.TrainConfig.for_model(genlab.models.registry.get_model_class("vae")) == genlab.TrainConfig()


def test_conditional_sampling_and_projection(digits):
    model = tiny("dcgan", digits, conditional=True).eval()
    x = model.sample(4, condition=3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 8, 8)
    real = model.to_unit(digits.test.get(torch.arange(4))["x"], dequantize=False)
    with torch.no_grad():
        nn.init.normal_(model.discriminator.embed.weight)
        s0 = model.discriminator(real, torch.zeros(4, dtype=torch.long))
        s1 = model.discriminator(real, torch.ones(4, dtype=torch.long))
    assert not torch.allclose(s0, s1)  # the label changes the score through the projection
    with pytest.raises(genlab.ConfigError, match="class label"):
        model.sample(2, condition=torch.tensor([0, 10]))


def test_training_logs_health_and_warns_on_collapse(digits, tmp_path, capsys):
    model = tiny("dcgan", digits)
    trainer = genlab.Trainer(model, digits, fast_train_config(steps=2, eval_every=1, batch_size=8),
                             out_dir=tmp_path / "run")
    trainer.fit()
    train_rows = [r for r in trainer.history if r["split"] == "train"]
    assert {"loss_discriminator", "loss_generator", "d_real", "d_fake", "grad_norm_discriminator",
            "grad_norm_generator"} <= set(train_rows[0])
    val_rows = [r for r in trainer.history if r["split"] == "val"]
    assert val_rows and {"d_real_val", "d_fake_val", "diversity"} <= set(val_rows[0]) and "loss" not in val_rows[0]
    assert not (tmp_path / "run" / "best").exists()  # no validation objective: nothing ranked as best
    assert (tmp_path / "run" / "training_curve.png").is_file()
    # a generator that ignores z (last layer zeroed: every sample is the same image) is flagged
    last = [m for m in model.generator.modules() if isinstance(m, nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.zero_()
    metrics = trainer.validate()
    assert metrics["diversity"] < 1e-6
    warnings = model.health_warnings(metrics)
    assert warnings and "collaps" in warnings[0]
    trainer._validate_and_track()
    assert "collaps" in capsys.readouterr().err
    assert "warnings" in trainer.history[-1]


def test_dcgan_learns_digits(digits):
    """A few hundred steps move the samples' pixel statistics towards the data's."""
    torch.manual_seed(0)
    model = tiny("dcgan", digits, latent_dim=16, generator_channels=[32, 16], discriminator_channels=[16, 32])

    def gap() -> float:
        model.eval()
        x = model.sample(400, generator=torch.Generator(model.device).manual_seed(1)).float().flatten(1).cpu()
        real = digits.test.images.float().flatten(1)
        return float((x.mean(0) - real.mean(0)).norm() + (x.std(0) - real.std(0)).norm())

    before = gap()
    genlab.Trainer(model, digits, genlab.TrainConfig.for_model(model, steps=300, batch_size=32, progress=False,
                                                               eval_every=0, checkpoint_every=0, ema_decay=0.0)).fit()
    after = gap()
    assert after < 0.5 * before, (before, after)


def test_log_prob_is_refused_with_a_pointer_to_sample_metrics(digits):
    model = tiny("sngan", digits)
    with pytest.raises(genlab.GenlabError, match="sample quality"):
        genlab.evaluate(model, digits, "test")


def test_a_trained_gan_can_get_new_optimizers(digits):
    """The generator's step must leave every discriminator weight trainable afterwards."""
    model = tiny("sngan", digits)
    genlab.Trainer(model, digits, fast_train_config(steps=1, batch_size=8)).fit()
    assert all(p.requires_grad for p in model.parameters())
    genlab.Trainer(model, digits, fast_train_config(steps=1, batch_size=8)).fit()


def test_progress_bar_shows_the_gan_losses(digits, capsys):
    """The trainer's bar shows d_loss and g_loss, not the ``loss=nan`` a GAN has no value for."""
    from conftest import tiny_overrides

    model = genlab.create_model("dcgan", data=digits, **tiny_overrides("dcgan"))
    genlab.Trainer(model, digits, fast_train_config(steps=2, progress=True)).fit()
    err = capsys.readouterr().err
    assert "d_loss=" in err and "g_loss=" in err
    assert "nan" not in err

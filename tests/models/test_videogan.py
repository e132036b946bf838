"""video-gan: clip shapes and range, seeded sampling, a critic that sees the frames' order, a generator
whose frames move, the hinge loss by hand, the training step's wiring, previews, and a short run
on moving-digits that brings the generated pixels toward the data's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import genlab
from conftest import fast_train_config, tiny_overrides
from genlab.errors import ConfigError
from genlab.models.videogan import VideoGANConfig
from genlab.nn import VideoDiscriminator

TINY = dict(content_dim=6, motion_dim=4, generator_channels=[8, 4], discriminator_channels=[4, 8],
            frame_discriminator_channels=[4, 8])


def build(shape, **overrides):
    cls = genlab.models.registry.get_model_class("video-gan")
    config = VideoGANConfig(video_shape=list(shape), levels=overrides.pop("levels", 256)).replace(**{**TINY, **overrides})
    torch.manual_seed(0)
    return cls(config, cls.default_data_info(config)).eval()


@pytest.mark.parametrize("shape,levels", [((2, 1, 8, 8), 256), ((5, 3, 12, 20), 256), ((4, 1, 16, 16), 17),
                                          ((3, 1, 7, 9), 2)])
def test_sample_shapes_range_and_seeds(shape, levels):
    model = build(shape, levels=levels)
    x = model.sample(4, generator=torch.Generator().manual_seed(1))
    assert x.shape == (4, *shape) and x.dtype == torch.long
    assert int(x.min()) >= 0 and int(x.max()) <= levels - 1
    assert torch.equal(x, model.sample(4, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(x, model.sample(4, generator=torch.Generator().manual_seed(2)))
    scores = model.discriminator(model.to_unit(x), torch.zeros(4, dtype=torch.long))
    assert scores[0].shape == (4,) and scores[1].shape == (4,)


def test_levels_map_back_to_bins():
    model = build((2, 1, 8, 8), levels=4)
    u = torch.tensor([-1.0, -0.51, -0.49, 0.0, 0.49, 0.51, 1.0])
    assert model.to_levels(u).tolist() == [0, 0, 1, 2, 2, 3, 3]
    x = torch.randint(0, 4, (3, 2, 1, 8, 8))
    assert torch.equal(model.to_levels(model.to_unit(x)), x)  # dequantised values stay in their level's bin


def test_config_errors_name_the_fix():
    with pytest.raises(ConfigError, match="list at most 3 widths"):
        build((4, 1, 6, 6), generator_channels=[8, 8, 8, 8])  # 3 doublings need 8x8 frames
    with pytest.raises(ConfigError, match="at least 2 frames"):
        build((1, 1, 8, 8))
    with pytest.raises(ConfigError, match="content_dim and motion_dim"):
        build((4, 1, 8, 8), motion_dim=0)
    with pytest.raises(ConfigError, match="at least one width"):
        build((4, 1, 8, 8), discriminator_channels=[])
    model = build((4, 1, 8, 8))
    with pytest.raises(ConfigError, match=r"makes clips \[4, 1, 8, 8\]"):
        model.training_step({"x": torch.zeros(2, 5, 1, 8, 8, dtype=torch.uint8)}, 0, "discriminator")
    with pytest.raises(ConfigError, match="unconditional"):
        model.sample(2, condition=torch.zeros(2, 2, 1, 8, 8))


def test_the_critic_sees_the_order_of_frames(moving_digits):
    """The 3-D critic scores a real clip and the same frames shuffled differently; a per-frame critic could not."""
    torch.manual_seed(0)
    critic = VideoDiscriminator([10, 1, 16, 16], [4, 8], spectral_norm=True).eval()
    clips = moving_digits.test.get(torch.arange(4))["x"].float() / 127.5 - 1
    shuffled = clips[:, torch.tensor([3, 7, 0, 9, 1, 5, 2, 8, 6, 4])]
    reversed_ = clips.flip(1)
    with torch.no_grad():
        a, b, c = critic(clips), critic(shuffled), critic(reversed_)
    assert ((a - b).abs() > 1e-4).all() and ((a - c).abs() > 1e-4).all()
    # its first layer mixes neighbouring frames: a feature at time step 0 depends on frames 0 and 1, not 2
    x = clips.clone().requires_grad_(True)
    first = critic.features[0](x.transpose(1, 2))  # [N, C, T', H', W']
    (grad,) = torch.autograd.grad(first[:, :, 0].sum(), x)
    per_frame = grad.abs().flatten(2).sum(2).sum(0)
    assert per_frame[0] > 0 and per_frame[1] > 0 and (per_frame[2:] == 0).all()


def test_the_generator_moves_its_frames(moving_digits):
    """Frames of a generated clip differ from one another, and the motion codes follow the per-frame noise:
    changing the noise from frame 5 on leaves codes 0-4 alone and changes codes 5-9."""
    model = genlab.create_model("video-gan", data=moving_digits, **tiny_overrides("video-gan")).eval()
    clips = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert ((clips[:, 1:] != clips[:, :-1]).flatten(2).any(2)).all()
    g, c = model.generator, model.config
    z, h0 = torch.randn(2, c.content_dim), torch.randn(2, c.motion_dim)
    eps = torch.randn(2, 10, c.motion_dim)
    other = eps.clone()
    other[:, 5:] = torch.randn(2, 5, c.motion_dim)
    with torch.no_grad():
        a, b = g.motion_codes(h0, eps), g.motion_codes(h0, other)
        assert torch.equal(a[:, :5], b[:, :5]) and not torch.allclose(a[:, 5:], b[:, 5:])
        assert not torch.allclose(a[:, 0], a[:, 1])  # the motion code changes from frame to frame
        x = g(z, h0, eps)
    assert x.shape == (2, 10, 1, 16, 16) and float(x.abs().max()) <= 1


def test_losses_by_hand():
    model = build((2, 1, 8, 8))
    d_real, d_fake = torch.tensor([0.5, 2.0, -1.0]), torch.tensor([-2.0, 0.0, 0.5])
    # hinge: relu(1 - [0.5, 2, -1]) = [0.5, 0, 2]; relu(1 + [-2, 0, 0.5]) = [0, 1, 1.5]
    assert float(model.discriminator_loss(d_real, d_fake)) == pytest.approx(2.5 / 3 + 2.5 / 3)
    assert float(model.generator_loss(d_fake)) == pytest.approx(0.5)
    model = build((2, 1, 8, 8), loss="nonsaturating")
    sp = lambda v: float(torch.log1p(torch.exp(torch.tensor(v))))  # noqa: E731
    want = (sp(-0.5) + sp(-2.0) + sp(1.0)) / 3 + (sp(-2.0) + sp(0.0) + sp(0.5)) / 3
    assert float(model.discriminator_loss(d_real, d_fake)) == pytest.approx(want, rel=1e-6)
    assert float(model.generator_loss(d_fake)) == pytest.approx((sp(2.0) + sp(0.0) + sp(-0.5)) / 3, rel=1e-6)


def test_training_steps_sum_both_critics(moving_digits):
    """The discriminator's loss is the hinge of the video critic plus that of the frame critic on one frame
    per clip, from the same random draws the step makes; the generator's is -D_video - D_frame. (In eval mode,
    where spectral norm's power iteration and batch norm's statistics stand still between the two computations.)"""
    model = genlab.create_model("video-gan", data=moving_digits, **tiny_overrides("video-gan")).eval()
    x = moving_digits.train.get(torch.arange(5))["x"]
    torch.manual_seed(3)
    out = model.training_step({"x": x}, 0, "discriminator")
    torch.manual_seed(3)
    real = model.to_unit(x)
    with torch.no_grad():
        fake = model._fake(5, "cpu")
    which = torch.randint(10, (5,))
    d = model.discriminator
    hinge = lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean()  # noqa: E731
    frame = lambda clips: d.frame(clips[torch.arange(5), which])  # noqa: E731
    want = hinge(d.video(real), d.video(fake)) + hinge(frame(real), frame(fake))
    assert float(out.loss.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    assert set(out.metrics) == {"d_real", "d_fake", "d_frame_real", "d_frame_fake"}
    torch.manual_seed(4)
    out = model.training_step({"x": x}, 0, "generator")
    torch.manual_seed(4)
    fake = model._fake(5, "cpu")
    which = torch.randint(10, (5,))
    assert float(out.loss.detach()) == pytest.approx(float((-d.video(fake).mean() - frame(fake).mean()).detach()), rel=1e-5)
    out.loss.backward()
    assert all(p.grad is None for p in d.parameters())  # the generator's step leaves the critics alone
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())


def test_without_a_frame_critic(moving_digits):
    model = genlab.create_model("video-gan", data=moving_digits, **{**tiny_overrides("video-gan"),
                                                                      "frame_discriminator_channels": []})
    assert model.discriminator.frame is None
    out = model.training_step(moving_digits.train.get(torch.arange(3)), 0, "discriminator")
    assert set(out.metrics) == {"d_real", "d_fake"}


def test_preview_and_validation(moving_digits, tmp_path):
    """The trainer's preview of an unconditional video model drops the data's context frames and writes
    a filmstrip of whole generated clips; validation reports motion and diversity."""
    torch.manual_seed(0)
    model = genlab.create_model("video-gan", data=moving_digits, **tiny_overrides("video-gan"))
    trainer = genlab.Trainer(model, moving_digits, fast_train_config(steps=2, eval_every=2, eval_batches=1, batch_size=8),
                             out_dir=tmp_path / "run")
    trainer.fit()
    picture = tmp_path / "run" / "samples" / "step-000002.png"
    assert picture.is_file()
    from PIL import Image

    width = Image.open(picture).size[0]
    assert width > 10 * 32  # ten frames of 16x16 enlarged to 32x32 in a row
    val = [row for row in trainer.history if row["split"] == "val"][-1]
    assert {"d_real_val", "d_fake_val", "motion", "diversity"} <= set(val)
    assert val["motion"] > 0 and val["diversity"] > 0


def _pixel_w1(samples: torch.Tensor, real: torch.Tensor) -> float:
    """The 1-Wasserstein distance between the two sets' pixel intensities in [0, 1] (same sizes)."""
    return float((samples.flatten().float().sort().values - real.flatten().float().sort().values).abs().mean()) / 255


def test_training_brings_pixel_intensities_toward_the_data(moving_digits):
    """100 steps on moving-digits (about 7 s on one thread): the generated pixels' intensity distribution
    (mostly black, a few lit digit pixels) gets much closer to the data's than at initialisation."""
    real = moving_digits.val.get(torch.arange(64))["x"]
    torch.manual_seed(0)
    model = genlab.create_model("video-gan", data=moving_digits, content_dim=16, motion_dim=8,
                                generator_channels=[32, 16], discriminator_channels=[8, 16],
                                frame_discriminator_channels=[8, 16])
    draw = lambda: model.sample(64, generator=torch.Generator().manual_seed(0))  # noqa: E731
    before = _pixel_w1(draw(), real)
    config = genlab.TrainConfig.for_model(model, steps=100, batch_size=16, lr=1e-3, ema_decay=0.0, seed=0,
                                          progress=False, eval_every=0, checkpoint_every=0, device="cpu")
    genlab.Trainer(model, moving_digits, config).fit()
    after = _pixel_w1(draw(), real)
    assert after < 0.7 * before, (before, after)

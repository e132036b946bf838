"""pix2pix: the U-Net keeps the image size (padding what it cannot halve), dropout is seeded noise, the
discriminator sees source and target together, and training lowers the validation L1."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.errors import ConfigError
from genlab.nn import UNetGenerator

from conftest import fast_train_config, tiny_overrides


@pytest.mark.parametrize("size", [(8, 8), (28, 28), (5, 13), (32, 17), (1, 1)])
def test_unet_output_has_the_input_size(size):
    h, w = size
    depth = UNetGenerator.auto_depth(h, w)
    net = UNetGenerator(2, 3, depth, width=4)
    x = torch.randn(2, 2, h, w, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 3, h, w)
    assert y.abs().max() < 1  # tanh
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # a deeper net than the size allows still works: the input is padded, the output cropped
    assert UNetGenerator(2, 1, depth + 2, width=4)(x).shape == (2, 1, h, w)


def test_unet_depth_and_skips():
    assert [UNetGenerator.auto_depth(s, s) for s in (1, 8, 28, 32, 256)] == [1, 3, 4, 5, 8]
    net = UNetGenerator(1, 1, 8, width=64)  # the paper's unet_256: C64-C128-C256-C512-C512-C512-C512-C512
    assert [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d)] == [64, 128, 256] + [512] * 5
    assert net.dropped == [False] * 5 + [True] * 3  # dropout on the three innermost decoder layers
    # each decoder layer but the innermost takes its input concatenated with the encoder's of its size
    ins = [m.in_channels for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert ins == [128, 256, 512, 1024, 1024, 1024, 1024, 512]


def test_dropout_is_seeded_noise():
    torch.manual_seed(0)
    net = UNetGenerator(1, 1, 3, width=8).eval()  # eval mode: the dropout stays on (it is the noise)
    x = torch.randn(3, 1, 8, 8)
    a = net(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, net(x, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(a, net(x, generator=torch.Generator().manual_seed(2)))
    quiet = UNetGenerator(1, 1, 3, width=8, dropout=0.0)
    assert torch.equal(quiet(x), quiet(x))


def test_the_discriminator_judges_source_and_target_together(digits_edges):
    model = genlab.create_model("pix2pix", data=digits_edges, **tiny_overrides("pix2pix"))
    assert model.discriminator.net[0].in_channels == 2  # grey source + grey target
    assert model.condition_spec.field == "source" and model.condition_spec.size is None
    assert model.likelihood == "none" and model.family == "gan"
    cfg = genlab.TrainConfig.for_model(model)
    assert (cfg.lr, cfg.betas, cfg.grad_clip, cfg.schedule) == (2e-4, [0.5, 0.999], 0.0, "constant")
    assert [name for name, _ in model.optimizer_order()] == ["discriminator", "generator"]
    batch = digits_edges.train.get(torch.arange(4))
    swapped = dict(batch, source=batch["source"].flip(0))  # the same targets with other sources
    model.eval()
    torch.manual_seed(0)
    d1 = model.training_step(batch, 0, "discriminator").loss
    torch.manual_seed(0)
    d2 = model.training_step(swapped, 0, "discriminator").loss
    assert d1 != d2


def test_sampling_needs_the_sources_and_takes_any_size(digits_edges):
    model = genlab.create_model("pix2pix", data=digits_edges, **tiny_overrides("pix2pix")).eval()
    with pytest.raises(ConfigError, match="needs one"):
        model.sample(2)
    big = torch.zeros(2, 1, 20, 12, dtype=torch.uint8)
    out = model.sample(2, condition=big, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 1, 20, 12) and out.dtype == torch.long and 0 <= int(out.min()) <= int(out.max()) <= 16
    with pytest.raises(ConfigError, match="channel"):
        model.sample(1, condition=torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="class labels"):
        genlab.create_model("pix2pix", data=digits_edges, conditional=True)


def test_training_lowers_the_validation_l1(digits_edges):
    torch.manual_seed(0)
    model = genlab.create_model("pix2pix", data=digits_edges, width=16, disc_width=16, disc_layers=1)
    # the paper's optimizer settings but lr 1e-3, so that 300 steps (about 4 s) go far enough
    config = fast_train_config(steps=300, batch_size=32, eval_every=300, eval_batches=4,
                               **dict(model.train_defaults, lr=1e-3))
    trainer = genlab.Trainer(model, digits_edges, config)
    before = trainer.validate()["l1"]
    trainer.fit()
    after = [r for r in trainer.history if r["split"] == "val"][-1]["l1"]
    assert after < 0.5 * before, (before, after)
    black = float(digits_edges.val.images.float().mean()) / 16  # the L1 of an all-black answer, about 0.30
    assert after < 0.65 * black, (after, black)


def test_l1_only_trains_the_unet_alone(digits_edges):
    model = genlab.create_model("pix2pix", data=digits_edges, adversarial_weight=0, **tiny_overrides("pix2pix"))
    assert model.optimizer_order() == [("generator", 1)]
    before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    trainer = genlab.Trainer(model, digits_edges, fast_train_config(steps=3, **model.train_defaults))
    trainer.fit()
    assert all(torch.equal(v, model.discriminator.state_dict()[k]) for k, v in before.items())
    row = [r for r in trainer.history if r["split"] == "train"][-1]
    assert "adversarial" not in row and row["l1"] > 0

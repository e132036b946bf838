"""The gated PixelCNN: causality (no peeking, no blind spot), exact likelihood, sampling, training."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import genlab
from conftest import fast_train_config
from genlab.errors import ConfigError
from genlab.nn import HorizontalConv, VerticalConv


def make(**overrides) -> genlab.GenerativeModel:
    base = dict(channels=16, layers=2)
    base.update(overrides)
    return genlab.create_model("pixelcnn", **base).eval()


def input_gradient(model, r: int, c: int, seed: int = 0) -> torch.Tensor:
    """``[C, H, W]`` |d(random projection of the logits at pixel (r, c)) / d input|."""
    gen = torch.Generator().manual_seed(seed)
    shape = model.config.image_shape
    x = torch.randint(0, model.config.levels, (1, *shape), generator=gen).float().requires_grad_()
    logits = model(x)[0, :, r, c, :]  # [C, levels]: every channel's logits at pixel (r, c)
    # a random projection, so that no cancellation can hide a dependence
    (logits * torch.randn(logits.shape, generator=gen)).sum().backward()
    return x.grad[0].abs()  # [C, H, W]


@pytest.mark.parametrize("kernel_size,shape", [(3, [1, 8, 8]), (5, [2, 7, 9])])
def test_logits_depend_only_on_earlier_pixels(kernel_size, shape):
    model = make(layers=3, kernel_size=kernel_size, image_shape=shape)
    _, h, w = shape
    for r, c in [(0, 3), (2, 0), (3, 4), (4, w - 1), (h - 1, w - 1)]:
        grad = input_gradient(model, r, c).amax(0).flatten()  # [H * W], max over channels
        i = r * w + c  # raster index
        # pixel i itself (every channel) and everything after it must not influence pixel i
        assert (grad[i:] == 0).all(), (r, c, grad[i:].nonzero().flatten().tolist())
        assert (grad[:i] > 0).any(), (r, c)


def test_first_pixel_sees_nothing():
    model = make(layers=3)
    assert (input_gradient(model, 0, 0) == 0).all()


def test_no_blind_spot():
    # a plain masked-convolution PixelCNN never sees the pixels up and to the right of the
    # diagonal; the vertical stack does. With 4 layers of 3x3 the vertical stack reaches 5 rows up
    # and 4 columns either side, the horizontal stack 5 columns to the left.
    model = make(layers=4)
    r, c = 4, 3
    grad = input_gradient(model, r, c)[0]  # [H, W]
    for dr, dc in itertools.product((1, 2), range(-2, 5)):
        assert grad[r - dr, c + dc] > 0, (dr, dc)  # includes (r-1, c+1 .. c+4): up-right
    for dc in (1, 2, 3):
        assert grad[r, c - dc] > 0, dc  # left in the same row


def test_stack_convolutions_receptive_fields():
    # exact reach of each shifted convolution, from the gradient of one output position
    # at output (3, 3) with k = 3: strict vertical reads rows 1-2, non-strict rows 2-3 (cols 2-4);
    # type A horizontal reads cols 1-2 of row 3, type B cols 2-3
    x = torch.randn(1, 1, 7, 7, requires_grad=True)  # [B, C, H, W]
    for strict, rows in ((True, {1, 2}), (False, {2, 3})):
        conv = VerticalConv(1, 1, 3, strict=strict)
        torch.nn.init.constant_(conv.conv.weight, 1.0)
        x.grad = None
        conv(x)[0, 0, 3, 3].backward()
        seen = {tuple(p) for p in x.grad[0, 0].nonzero().tolist()}
        assert seen == {(a, b) for a in rows for b in (2, 3, 4)}, (strict, seen)
    for mask_type, cols in (("A", {1, 2}), ("B", {2, 3})):
        conv = HorizontalConv(1, 1, 3, mask_type)
        torch.nn.init.constant_(conv.conv.weight, 1.0)
        x.grad = None
        conv(x)[0, 0, 3, 3].backward()
        seen = {tuple(p) for p in x.grad[0, 0].nonzero().tolist()}
        assert seen == {(3, b) for b in cols}, (mask_type, seen)


def test_log_prob_is_minus_cross_entropy_of_logits():
    model = make(image_shape=[2, 5, 6], levels=5)
    x = torch.randint(0, 5, (4, 2, 5, 6))
    logits = model(x)  # [B, C, H, W, levels]
    by_hand = logits.log_softmax(-1).gather(-1, x.unsqueeze(-1)).squeeze(-1).sum((1, 2, 3))  # [B]
    assert torch.allclose(model.log_prob(x), by_hand, atol=1e-5)
    out = model.training_step({"x": x}, 0)
    assert torch.allclose(out.loss, -by_hand.mean(), atol=1e-5)
    assert torch.allclose(out.metrics["bits_per_dim"], -by_hand.mean() / (60 * torch.log(torch.tensor(2.0))))


def test_probabilities_sum_to_one_over_all_images():
    # only a causal model gives a normalised joint: 2 channels x 2 x 2 pixels, 2 levels = 256 images
    model = make(image_shape=[2, 2, 2], levels=2, layers=3)
    images = torch.tensor(list(itertools.product((0, 1), repeat=8))).view(-1, 2, 2, 2)
    total = model.log_prob(images).double().exp().sum()
    assert abs(float(total) - 1.0) < 1e-4


def test_sampling_with_forced_logits_returns_that_level(monkeypatch):
    model = make()

    def forced(x, condition=None):
        logits = torch.zeros(*x.shape, model.config.levels)
        logits[..., 5] = 50.0
        return logits

    monkeypatch.setattr(model, "forward", forced)
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.long and x.shape == (3, 1, 8, 8)
    assert (x == 5).all()


def test_sampling_feeds_back_pixels_in_raster_order(monkeypatch):
    # a fake model whose pixel i favours (pixel i-1) + 1: sampling must give i mod levels
    model = make(levels=7, image_shape=[1, 3, 4])

    def chain(x, condition=None):
        flat = x.flatten(1)  # [B, H * W]
        prev = torch.cat([torch.full_like(flat[:, :1], -1), flat[:, :-1]], 1)  # [B, H * W]
        logits = F.one_hot((prev.long() + 1) % 7, 7).float() * 50.0  # [B, H * W, levels]
        return logits.view(*x.shape, 7)

    monkeypatch.setattr(model, "forward", chain)
    x = model.sample(2, temperature=0.5, generator=torch.Generator().manual_seed(0))
    expected = (torch.arange(12) % 7).view(1, 1, 3, 4).expand(2, -1, -1, -1)
    assert torch.equal(x, expected)


def test_sample_temperature_zero_is_greedy():
    model = make(layers=1)
    a = model.sample(2, temperature=0.0, generator=torch.Generator().manual_seed(0))
    b = model.sample(2, temperature=0.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    # each greedy pixel is the argmax of the model's own logits given the greedy pixels before it
    assert torch.equal(model(a).argmax(-1), a)


def test_conditional_log_prob_depends_on_label():
    model = make(conditional=True, num_classes=3)
    x = torch.randint(0, 17, (4, 1, 8, 8))
    lp0 = model.log_prob(x, condition=torch.zeros(4, dtype=torch.long))
    lp1 = model.log_prob(x, condition=torch.ones(4, dtype=torch.long))
    assert (lp0 - lp1).abs().min() > 1e-3
    with pytest.raises(ConfigError):
        model.log_prob(x)
    with pytest.raises(ConfigError):
        make().log_prob(x, condition=torch.zeros(4, dtype=torch.long))
    s = model.sample(3, condition=torch.tensor(2), generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 1, 8, 8)


def test_config_validation():
    with pytest.raises(ConfigError):
        make(kernel_size=4)
    with pytest.raises(ConfigError):
        make(layers=0)


def test_short_training_lowers_test_nll(digits):
    torch.manual_seed(0)
    model = genlab.create_model("pixelcnn", data=digits, channels=16, layers=3)
    x = digits.test.images  # [447, 1, 8, 8]
    before = float(-model.eval().log_prob(x).mean())
    genlab.Trainer(model, digits, fast_train_config(steps=100, batch_size=32, lr=3e-3, log_every=50)).fit()
    after = float(-model.eval().log_prob(x).mean())
    # an untrained model is near uniform, 64 * ln 17 = 181 nats; 100 steps learn a lot
    assert before > 150
    assert after < before - 40, (before, after)

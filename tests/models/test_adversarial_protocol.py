"""The adversarial protocol every adversarial family uses (genlab.nn.adversarial), against the formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.nn import collapse_warnings, discriminator_loss, diversity, frozen, generator_loss


def test_losses_are_the_papers_formulas():
    real, fake = [0.5, -1.0, 2.0], [-0.3, 1.5]
    d_real, d_fake = torch.tensor(real), torch.tensor(fake)
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731  softplus
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert float(discriminator_loss("nonsaturating", d_real, d_fake)) == pytest.approx(
        mean([sp(-r) for r in real]) + mean([sp(f) for f in fake]))
    assert float(discriminator_loss("hinge", d_real, d_fake)) == pytest.approx(
        mean([max(0, 1 - r) for r in real]) + mean([max(0, 1 + f) for f in fake]))
    assert float(discriminator_loss("wasserstein", d_real, d_fake)) == pytest.approx(mean(fake) - mean(real))
    assert float(generator_loss("nonsaturating", d_fake)) == pytest.approx(mean([sp(-f) for f in fake]))
    assert float(generator_loss("hinge", d_fake)) == pytest.approx(-mean(fake))
    with pytest.raises(ValueError, match="unknown adversarial loss"):
        discriminator_loss("minimax", d_real, d_fake)


def test_frozen_keeps_gradients_from_the_discriminator_and_restores_them():
    disc = torch.nn.Linear(3, 1)
    gen = torch.nn.Linear(2, 3)
    with frozen(disc):
        loss = generator_loss("nonsaturating", disc(gen(torch.randn(4, 2))))
    loss.backward()
    assert disc.weight.grad is None and gen.weight.grad is not None
    assert all(p.requires_grad for p in disc.parameters())
    with pytest.raises(RuntimeError):
        with frozen(disc):
            raise RuntimeError("a failed step")
    assert all(p.requires_grad for p in disc.parameters())  # restored on an error too


def test_diversity_is_the_ratio_of_mean_pairwise_distances():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(6, 2, 3, generator=g), torch.randn(5, 2, 3, generator=g) * 0.1

    def mean_pairwise(x):
        x = x.reshape(len(x), -1).numpy()
        return np.mean([np.linalg.norm(x[i] - x[j]) for i in range(len(x)) for j in range(i + 1, len(x))])

    assert diversity(fake, real) == pytest.approx(mean_pairwise(fake) / mean_pairwise(real), rel=1e-5)
    assert collapse_warnings({"diversity": 0.1}, 0.5, "images")[0].startswith("samples are far less diverse")
    assert collapse_warnings({"diversity": 0.9}, 0.5) == [] and collapse_warnings({}, 0.5) == []

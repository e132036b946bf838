"""lstm-roll and rnn-nade: normalised frame distributions (by enumeration), causality over keys and
time, padding, sampling from the same distribution that is scored, and prompts."""

from __future__ import annotations

import itertools

import pytest
import torch

import genlab
from genlab.data.modalities.pianoroll import PAD

MODELS = ["lstm-roll", "rnn-nade"]


def tiny(name: str, keys: int = 4, **kw):
    torch.manual_seed(0)
    model = genlab.create_model(name, num_keys=keys, hidden_size=8, nade_hidden=6, seq_len=8, **kw)
    with torch.no_grad():  # larger weights than at initialisation, so the keys depend on each other
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return model.eval()


def all_frames(keys: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=keys)))  # [2^k, k]


@pytest.mark.parametrize("name", MODELS)
def test_frame_distribution_sums_to_one_over_all_configurations(name):
    model = tiny(name, keys=5)
    frames = all_frames(5)  # [32, 5]
    h = torch.randn(3, 8)
    with torch.no_grad():
        for i in range(3):
            lp = model.frame_log_prob(h[i].expand(len(frames), -1), frames)
            assert torch.exp(lp).sum().item() == pytest.approx(1.0, abs=1e-5)


def test_nade_keys_depend_only_on_lower_keys():
    model = tiny("rnn-nade", keys=6)
    h = torch.randn(1, 8)
    v = torch.bernoulli(torch.full((1, 6), 0.5)).requires_grad_(True)
    logits = model.key_logits(h, v)[0]
    for d in range(6):
        (grad,) = torch.autograd.grad(logits[d], v, retain_graph=True)
        assert (grad[0, d:] == 0).all(), f"key {d} reads keys at or above itself"
        if d > 0:
            assert (grad[0, :d] != 0).any(), f"key {d} ignores the keys below it"


def test_nade_models_chords_unlike_independent_keys():
    """The NADE's frame distribution is not a product of its marginals (for random weights)."""
    model = tiny("rnn-nade", keys=3)
    frames = all_frames(3)
    with torch.no_grad():
        p = torch.exp(model.frame_log_prob(torch.randn(1, 8).expand(8, -1), frames))
    marg = [(p * frames[:, k]).sum() for k in range(3)]
    product = torch.stack([torch.prod(torch.stack([m if f else 1 - m for m, f in zip(marg, row)])) for row in frames])
    assert (p - product).abs().max() > 1e-3


@pytest.mark.parametrize("name", MODELS)
def test_log_prob_is_causal_in_time_and_ignores_padding(name):
    model = tiny(name)
    x = torch.randint(0, 2, (2, 7, 4), dtype=torch.uint8)
    lp, mask = model.step_log_probs(x)
    y = x.clone()
    y[:, 4] = 1 - y[:, 4]  # change step 4: steps 0..4 keep their past
    lp2, _ = model.step_log_probs(y)
    assert torch.allclose(lp[:, :4], lp2[:, :4])
    assert not torch.allclose(lp[:, 5:], lp2[:, 5:])
    # padding a piece changes nothing; log_prob sums the steps
    padded = torch.cat([x, torch.full((2, 3, 4), PAD, dtype=torch.uint8)], dim=1)
    assert torch.allclose(model.log_prob(padded), model.log_prob(x))
    assert torch.allclose(model.log_prob(x), lp.sum(1))
    # one piece with padding scores as it does alone
    mixed = padded.clone()
    mixed[1, 7:] = x[1, :3]
    assert model.log_prob(mixed)[0] == pytest.approx(float(model.log_prob(x[:1])[0]), abs=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_samples_follow_the_scored_distribution(name):
    """Frequencies of sampled first frames match exp(log p) of the same frames (3 keys, 6000 draws)."""
    model = tiny(name, keys=3)
    n = 6000
    frames = model.sample(n, num_steps=1, generator=torch.Generator().manual_seed(0))[:, 0]  # [n, 3]
    codes = (frames.long() * torch.tensor([4, 2, 1])).sum(1)
    freq = torch.bincount(codes, minlength=8).float() / n
    with torch.no_grad():
        p = torch.exp(model.log_prob(all_frames(3)[:, None].to(torch.uint8)))  # one-step pieces
    assert p.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert (freq - p).abs().max() < 0.03, (freq, p)


@pytest.mark.parametrize("name", MODELS)
def test_sample_continues_a_prompt(name):
    model = tiny(name)
    prompt = torch.randint(0, 2, (5, 4), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(1)
    out = model.sample(3, prompt=prompt, num_steps=6, generator=gen)
    assert out.shape == (3, 11, 4) and out.dtype == torch.uint8
    assert torch.equal(out[:, :5], prompt.expand(3, -1, -1))
    # the continuation depends on the prompt: greedy decoding after two different prompts
    a = model.sample(1, prompt=prompt, num_steps=6, temperature=0)
    b = model.sample(1, prompt=1 - prompt, num_steps=6, temperature=0)
    assert torch.equal(a, model.sample(1, prompt=prompt, num_steps=6, temperature=0))
    assert not torch.equal(a[:, 5:], b[:, 5:]) or not torch.equal(a[:, :5], b[:, :5])
    with pytest.raises(genlab.errors.ConfigError):
        model.sample(2, prompt=torch.full((3, 4), 2, dtype=torch.uint8))
    with pytest.raises(genlab.errors.ConfigError):
        model.sample(2, prompt=torch.zeros(3, 5, dtype=torch.uint8))


def test_a_wrong_number_of_keys_is_refused():
    model = tiny("lstm-roll")
    with pytest.raises(genlab.errors.ConfigError, match=r"\[B, T, 4\]"):
        model.log_prob(torch.zeros(1, 3, 88, dtype=torch.uint8))

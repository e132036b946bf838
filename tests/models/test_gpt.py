"""GPT: causality, cached generation, the sampling rules and exact log-likelihoods."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import genlab
from genlab.models.gpt import sample_next

VOCAB = 11
BLOCK = 8


def make_gpt(n_layer: int = 2, block_size: int = BLOCK, sharp: bool = True, seed: int = 0):
    """A tiny GPT; with ``sharp`` its weights are large so logits differ clearly between positions.

    (At GPT's small initialisation every distribution is nearly uniform, which would let a
    broken cache or mask produce the same samples by luck.)
    """
    info = genlab.DataInfo("synthetic", "text", vocab=[chr(ord("a") + i) for i in range(VOCAB)])
    torch.manual_seed(seed)
    model = genlab.create_model("gpt", data=info, n_layer=n_layer, n_head=2, n_embd=16, block_size=block_size)
    if sharp:
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, 0.5)
    return model.eval()


def tokens(*shape, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, shape, generator=torch.Generator().manual_seed(seed))


# ---- causality ---------------------------------------------------------------------------------
@pytest.mark.parametrize("t", [0, 3, BLOCK - 1])
def test_changing_token_t_never_changes_earlier_logits(t):
    model = make_gpt()
    x = tokens(3, BLOCK)
    with torch.no_grad():
        base = model(x)
        y = x.clone()
        y[:, t] = (y[:, t] + 1) % VOCAB
        changed = model(y)
    assert torch.allclose(changed[:, :t], base[:, :t], atol=1e-6, rtol=0)
    # the test can fail: position t itself (and later ones) do see the change
    assert not torch.allclose(changed[:, t], base[:, t], atol=1e-3)
    if t + 1 < BLOCK:
        assert not torch.allclose(changed[:, t + 1:], base[:, t + 1:], atol=1e-3)


def test_gradients_flow_only_from_the_past():
    model = make_gpt()
    x = tokens(2, BLOCK, seed=1)
    store = {}

    def keep(module, inputs, output):
        output.retain_grad()
        store["emb"] = output

    handle = model.tok_emb.register_forward_hook(keep)
    try:
        for i in range(BLOCK):
            model.zero_grad()
            logits = model(x)
            logits[:, i].sum().backward()
            grad = store["emb"].grad.abs().sum(dim=(0, 2))  # [T]
            assert torch.all(grad[i + 1:] == 0), (i, grad)
            assert torch.all(grad[: i + 1] > 0), (i, grad)
    finally:
        handle.remove()


# ---- key/value cache ---------------------------------------------------------------------------
def test_incremental_forward_with_cache_matches_full_forward():
    model = make_gpt()
    x = tokens(2, BLOCK, seed=2)
    with torch.no_grad():
        full = model(x)
        caches = [{} for _ in model.blocks]
        parts = [model(x[:, :3], caches)]
        for t in range(3, BLOCK):
            parts.append(model(x[:, t:t + 1], caches, start=t))
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)
    assert caches[0]["k"].shape[2] == BLOCK


def reference_generate(model, prompt: torch.Tensor, new: int, generator, **kwargs) -> torch.Tensor:
    """The definition of generation: recompute from (at most) the last block_size tokens each time."""
    idx = prompt.clone()
    with torch.no_grad():
        for _ in range(new):
            logits = model(idx[:, -model.config.block_size:])[:, -1].float()
            idx = torch.cat([idx, sample_next(logits, generator=generator, **kwargs)], dim=1)
    return idx


@pytest.mark.parametrize("prompt_len", [1, 3, BLOCK, BLOCK + 4])
@pytest.mark.parametrize("kwargs", [{}, {"temperature": 0.7, "top_k": 4}, {"top_p": 0.9}, {"temperature": 0.0}])
def test_cached_generation_equals_uncached_and_reference(prompt_len, kwargs):
    model = make_gpt()
    prompt = tokens(3, prompt_len, seed=prompt_len)
    new = 2 * BLOCK + 3  # well past the context, so the window is cropped
    outs = {}
    for use_cache in (True, False):
        gen = torch.Generator().manual_seed(5)
        outs[use_cache] = model.sample(3, prompt=prompt, max_new_tokens=new, generator=gen, use_cache=use_cache,
                                       **kwargs)
    ref = reference_generate(model, prompt, new, torch.Generator().manual_seed(5), **kwargs)
    assert outs[True].shape == (3, prompt_len + new)
    assert torch.equal(outs[True][:, :prompt_len], prompt)
    assert torch.equal(outs[True], outs[False])
    assert torch.equal(outs[True], ref)


def test_sampling_is_random_but_seeded():
    model = make_gpt()
    a = model.sample(4, max_new_tokens=12, generator=torch.Generator().manual_seed(1))
    b = model.sample(4, max_new_tokens=12, generator=torch.Generator().manual_seed(1))
    c = model.sample(4, max_new_tokens=12, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.all(a[:, 0] == 0)  # no prompt: generation starts from id 0


# ---- the sampling rules ------------------------------------------------------------------------
def test_temperature_zero_is_greedy_argmax():
    logits = torch.randn(50, VOCAB, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample_next(logits, temperature=0.0), logits.argmax(-1, keepdim=True))
    model = make_gpt()
    prompt = tokens(2, 3)
    greedy = model.sample(2, prompt=prompt, max_new_tokens=BLOCK + 2, temperature=0.0)
    with torch.no_grad():
        idx = prompt
        for _ in range(BLOCK + 2):
            idx = torch.cat([idx, model(idx[:, -BLOCK:])[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(greedy, idx)


def test_top_k_one_is_greedy():
    logits = torch.randn(200, VOCAB, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(sample_next(logits, 1.0, top_k=1, generator=gen), logits.argmax(-1, keepdim=True))
    assert torch.equal(sample_next(logits, 5.0, top_k=1, generator=gen), logits.argmax(-1, keepdim=True))


def test_top_k_keeps_only_the_k_most_likely():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.5, -1.0, 2.0]]).expand(3000, -1)
    draws = sample_next(logits, 1.0, top_k=3, generator=torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) == {1, 3, 5}
    # top_k larger than the vocabulary keeps everything
    draws = sample_next(logits, 3.0, top_k=100, generator=torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) == set(range(6))


# probabilities 0.5, 0.3, 0.15, 0.05 placed in a shuffled order of token ids
PROBS = {4: 0.5, 0: 0.3, 5: 0.15, 2: 0.05}


def hand_logits(n: int) -> torch.Tensor:
    logits = torch.full((6,), float("-inf"))
    for token, p in PROBS.items():
        logits[token] = torch.log(torch.tensor(p))
    return (logits + 1.7).expand(n, -1)  # a shift changes nothing


@pytest.mark.parametrize("top_p, kept", [(0.3, {4}), (0.45, {4}), (0.79, {4, 0}), (0.81, {4, 0, 5}),
                                         (0.96, {4, 0, 5, 2}), (1.0, {4, 0, 5, 2})])
def test_top_p_keeps_the_smallest_set_with_mass_at_least_p(top_p, kept):
    draws = sample_next(hand_logits(4000), 1.0, top_p=top_p, generator=torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) == kept
    # the kept tokens keep their relative probabilities (renormalised)
    mass = sum(PROBS[t] for t in kept)
    for t in kept:
        freq = float((draws == t).double().mean())
        assert abs(freq - PROBS[t] / mass) < 0.04, (t, freq)


def test_top_p_per_row():
    a = torch.tensor([5.0, 0.0, 0.0, 0.0])  # one dominant token
    b = torch.zeros(4)  # uniform: p=0.6 needs 3 of 4 tokens
    logits = torch.stack([a, b]).repeat(1000, 1)
    draws = sample_next(logits, 1.0, top_p=0.6, generator=torch.Generator().manual_seed(0)).view(1000, 2)
    assert set(draws[:, 0].tolist()) == {0}
    assert len(set(draws[:, 1].tolist())) == 3


@pytest.mark.parametrize("kwargs", [dict(temperature=-1.0), dict(top_k=0), dict(top_p=0.0), dict(top_p=1.5)])
def test_bad_sampling_settings(kwargs):
    with pytest.raises(genlab.ConfigError):
        sample_next(torch.zeros(2, 4), **kwargs)


# ---- likelihood --------------------------------------------------------------------------------
def test_log_prob_equals_manual_sum_of_log_softmax():
    model = make_gpt()
    x = tokens(4, BLOCK + 1, seed=3)
    with torch.no_grad():
        logp = F.log_softmax(model(x[:, :-1]).double(), dim=-1)
    manual = logp.gather(-1, x[:, 1:, None]).squeeze(-1).sum(1)
    got = model.log_prob(x)
    assert got.shape == (4,)
    assert torch.allclose(got.double(), manual, atol=1e-4, rtol=1e-5)
    # the first token is context only: changing it changes the conditionals, not what is scored
    assert torch.all(got < 0)


def test_log_prob_of_a_uniform_model_is_length_times_log_vocab():
    model = make_gpt(sharp=False)
    with torch.no_grad():
        model.tok_emb.weight.zero_()  # tied head: all logits 0 -> uniform
    x = tokens(2, 6)
    expected = -5 * torch.log(torch.tensor(float(VOCAB)))
    assert torch.allclose(model.log_prob(x), expected.expand(2), atol=1e-5)


def test_log_prob_length_limits():
    model = make_gpt()
    assert model.log_prob(tokens(1, 2)).shape == (1,)
    with pytest.raises(genlab.ConfigError, match="at least 2"):
        model.log_prob(tokens(1, 1))
    with pytest.raises(genlab.ConfigError, match="longer than the context"):
        model.log_prob(tokens(1, BLOCK + 2))


def test_training_step_loss_is_mean_nll_per_token():
    model = make_gpt()
    x = tokens(3, BLOCK + 1, seed=4)
    out = model.training_step({"x": x}, step=0)
    expected = -model.log_prob(x).mean() / BLOCK
    assert torch.allclose(out.loss.detach(), expected, atol=1e-4)
    assert torch.allclose(out.metrics["nats_per_token"], out.loss.detach())


# ---- prompts -----------------------------------------------------------------------------------
def test_prompt_shapes():
    model = make_gpt()
    one = model.sample(3, prompt=torch.tensor([1, 2, 3]), max_new_tokens=4, temperature=0.0)
    assert one.shape == (3, 7) and torch.all(one[:, :3] == torch.tensor([1, 2, 3]))
    per_row = tokens(2, 2)
    two = model.sample(2, prompt=per_row, max_new_tokens=4)
    assert torch.equal(two[:, :2], per_row)
    assert model.sample(2, prompt=[4, 5], max_new_tokens=0).tolist() == [[4, 5], [4, 5]]


@pytest.mark.parametrize("prompt, match", [
    (torch.tensor([1, VOCAB]), r"prompt token ids must be in \[0, 11\)"),
    (torch.tensor([-1, 2]), "prompt token ids"),
    (torch.zeros(3, 2, dtype=torch.long), r"prompt must be \[T0\] or \[2, T0\]"),
    (torch.zeros(2, 0, dtype=torch.long), "T0 >= 1"),
])
def test_bad_prompts(prompt, match):
    model = make_gpt()
    with pytest.raises(genlab.ConfigError, match=match):
        model.sample(2, prompt=prompt, max_new_tokens=2)


def test_condition_is_refused():
    with pytest.raises(genlab.ConfigError, match="prompt="):
        make_gpt().sample(2, condition=torch.tensor([1, 2]))


def test_weights_are_tied_and_config_validated():
    model = make_gpt()
    assert model.head.weight is model.tok_emb.weight
    state = model.state_dict()
    assert model.num_parameters() == sum(v.numel() for k, v in state.items() if k != "head.weight")
    with pytest.raises(genlab.ConfigError, match="divisible"):
        genlab.create_model("gpt", n_embd=10, n_head=4)
    with pytest.raises(genlab.ConfigError):
        genlab.create_model("gpt", block_size=0)

"""WaveNet: causality, exact likelihood, cached (Fast WaveNet) sampling equal to the reference, conditioning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import genlab
from cli_helpers import run_cli

TINY = dict(channels=8, gate_channels=8, skip_channels=8, layers_per_stack=3, stacks=2)


@pytest.fixture
def model(tones):
    torch.manual_seed(0)
    return genlab.create_model("wavenet", data=tones, conditional=True, **TINY).double().eval()


def test_receptive_field_and_dilations(model):
    assert model.config.dilations == [1, 2, 4, 1, 2, 4]
    assert model.config.receptive_field == 15


def test_output_at_t_depends_only_on_earlier_samples(model, tones):
    x = tones.test.get(torch.arange(2))["x"].long()
    onehot = F.one_hot(x, 256).double().requires_grad_(True)
    logits = model(onehot, torch.tensor([0, 1]))
    assert torch.allclose(logits, model(x, torch.tensor([0, 1])))
    rf = model.config.receptive_field
    for t in (0, 1, 20, 63):
        (grad,) = torch.autograd.grad(logits[0, t].sum(), onehot, retain_graph=True)
        seen = grad[0].abs().sum(-1) > 0
        assert not seen[t:].any(), t  # nothing at or after t
        assert not grad[1].any()  # nor another clip
        if t >= 1:
            assert seen[t - 1]  # the previous sample matters
        assert not seen[: max(0, t - rf)].any()  # nor anything beyond the receptive field


def test_log_prob_is_the_sum_of_next_code_log_softmax(model, tones):
    x = tones.test.get(torch.arange(3))["x"]
    y = torch.tensor([3, 3, 7])
    lp = model.log_prob(x, condition=y)
    with torch.no_grad():
        by_hand = torch.tensor([
            sum(float(model(x[i:i + 1, : t + 1], y[i:i + 1])[0, t].log_softmax(-1)[int(x[i, t])])
                for t in range(x.shape[1]))
            for i in range(3)], dtype=torch.float64)
    assert torch.allclose(lp, by_hand.to(lp), atol=1e-8)
    with pytest.raises(genlab.errors.ConfigError, match="condition"):
        model.log_prob(x)


def test_cached_step_logits_equal_the_full_network(model, tones):
    x = tones.test.get(torch.arange(2))["x"].long()
    y = torch.tensor([4, 9])
    full = model(x, y)
    queues = model.new_queues(2)
    prev = torch.full((2,), 128)
    for t in range(x.shape[1]):
        step = model.step_logits(prev, queues, y)
        assert torch.allclose(step, full[:, t], atol=1e-10), t
        prev = x[:, t]


def test_cached_sampling_equals_the_uncached_reference(model):
    kwargs = dict(condition=[2, 5, 5], length=40, temperature=1.0)
    fast = model.sample(3, generator=torch.Generator().manual_seed(1), **kwargs)
    slow = model.sample(3, generator=torch.Generator().manual_seed(1), cache=False, **kwargs)
    assert fast.shape == (3, 40) and torch.equal(fast, slow)
    assert int(fast.min()) >= 0 and int(fast.max()) <= 255
    greedy = model.sample(2, length=10, temperature=0)
    assert torch.equal(greedy, model.sample(2, length=10, temperature=0, cache=False))


def test_sample_cli_writes_wavs(tmp_path):
    sf = pytest.importorskip("soundfile")
    run = tmp_path / "run"
    code, out, err = run_cli("train", "wavenet", "--data", "synthetic-tones", "--steps", "3", "--out", run,
                             "--set", "channels=8", "--set", "gate_channels=8", "--set", "skip_channels=8",
                             "--set", "layers_per_stack=2", "--set", "stacks=1", "--set", "conditional=true",
                             "--batch-size", "8", "--progress", "false", "--device", "cpu")
    assert code == 0, err
    (tmp_path / "wavs").mkdir()
    code, out, err = run_cli("sample", run, "--num", "3", "--out", tmp_path / "wavs", "--condition", "4")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "wavs").iterdir() if not p.name.endswith(".provenance.json"))
    assert names == ["sample-000.wav", "sample-001.wav", "sample-002.wav", "spectrograms.png"]
    assert all((tmp_path / "wavs" / f"{name}.provenance.json").is_file() for name in names)
    assert sf.info(str(tmp_path / "wavs" / "sample-000.wav")).frames == 64
    code, out, err = run_cli("eval", run, "--json")
    assert code == 0, err
    assert "bits_per_sample" in out


def test_channels_last_causal_conv_equals_conv1d():
    """The matrix-product path of the dilated causal convolution equals torch's conv1d on the same weights."""
    from genlab.nn import CausalConv1d

    torch.manual_seed(0)
    for k, d in ((2, 1), (2, 8), (3, 4)):
        conv = CausalConv1d(5, 7, k, d).double()
        x = torch.randn(3, 5, 40, dtype=torch.float64)
        expected = conv(x).transpose(1, 2)
        assert torch.allclose(conv.forward_last(x.transpose(1, 2)), expected, atol=1e-12), (k, d)


def test_training_on_crops_scores_whole_clips(tones):
    """train_window: the trainer's items are crops of that length; evaluation still scores whole clips."""
    model = genlab.create_model("wavenet", data=tones, conditional=True, train_window=16, **TINY)
    assert model.sequence_length == 16
    train = tones.train.windows(model.sequence_length)
    batch = train.get(torch.tensor([0, len(train) - 1]))
    assert batch["x"].shape == (2, 16)
    whole = train.get(train.eval_indices()[:2])
    assert torch.equal(whole["x"], tones.train.codes[:2])
    out = model.training_step(batch, 0)
    assert torch.isfinite(out.loss)
    with pytest.raises(genlab.ConfigError, match="train_window"):
        genlab.create_model("wavenet", data=tones, train_window=1, **TINY)

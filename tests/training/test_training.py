"""The trainer: exact resume, atomic checkpoints, divergence handling, logs, schedules, sampler."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

import genlab
import genlab.models.io
from conftest import fast_train_config, state_dicts_equal
from genlab.data import BatchSampler
from genlab.training.schedule import lr_factor
from genlab.training.trainer import STATE_FILE, Trainer

N = 10  # steps between checkpoints in the resume tests


def read_metrics(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# ---- exact resume --------------------------------------------------------------------------------
RESUME_CASES = {
    "vae-digits": ("vae", dict(hidden=[32], latent_dim=4, dropout=0.1), {}),
    "gpt-text": ("gpt", dict(n_layer=1, n_head=2, n_embd=32, block_size=16, dropout=0.1), {}),
    "vae-ema-accum": ("vae", dict(hidden=[32], latent_dim=4), dict(ema_decay=0.9, grad_accum=2)),
    # two optimizers, 5 critic updates a step, class conditioning, a gradient penalty and EMA
    "wgan-gp-conditional-ema": ("wgan-gp", dict(latent_dim=8, generator_channels=[16, 8], discriminator_channels=[8, 16],
                                                conditional=True), dict(ema_decay=0.9)),
    # spectral norm keeps power-iteration vectors in buffers: they must resume too
    "sngan": ("sngan", dict(latent_dim=8, generator_channels=[16, 8], discriminator_channels=[8, 16]), {}),
}


def resume_pair(tmp_path, name, model_over, train_over, data, kill_hook=None):
    """Run A: 2N steps straight. Run B: same settings, stopped at step N (as a kill), then resumed."""
    config = fast_train_config(steps=2 * N, checkpoint_every=N, eval_every=4, log_every=3, batch_size=8,
                               weight_decay=0.01, warmup_steps=3, **train_over)

    def make():
        torch.manual_seed(123)
        return genlab.create_model(name, data=data, **model_over)

    a = Trainer(make(), data, config, out_dir=tmp_path / "A")
    a.fit()
    b = Trainer(make(), data, config, out_dir=tmp_path / "B")
    b.fit(until=N)
    assert b.step == N
    if kill_hook is not None:
        kill_hook(tmp_path / "B")
    torch.manual_seed(999)  # the global RNG state at resume time must not matter
    r = genlab.resume(tmp_path / "B")
    assert r.step == N
    summary = r.fit()
    assert summary["steps"] == 2 * N
    return a, r


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resume_is_bitwise_exact(case, tmp_path, digits, text_data):
    name, model_over, train_over = RESUME_CASES[case]
    data = text_data if name == "gpt" else digits
    a, r = resume_pair(tmp_path, name, model_over, train_over, data)
    assert state_dicts_equal(a.model.state_dict(), r.model.state_dict()) == []
    if a.ema is not None:
        assert state_dicts_equal(a.ema.model.state_dict(), r.ema.model.state_dict()) == []
        # the EMA weights are what the checkpoint holds, and they differ from the raw weights
        assert state_dicts_equal(genlab.load(tmp_path / "A").state_dict(), a.ema.model.state_dict()) == []
        assert state_dicts_equal(a.model.state_dict(), a.ema.model.state_dict()) != []
    # both runs drew the same number of batches (grad_accum micro-batches per step)
    assert a.sampler.state_dict() == r.sampler.state_dict()
    if name == "vae":
        drawn = a.sampler.epoch * a.sampler.batches_per_epoch + a.sampler.offset // 8
        assert drawn == 2 * N * a.config.grad_accum
    for opt_name in a.optimizers:
        opt_a, opt_r = a.optimizers[opt_name].state_dict()["state"], r.optimizers[opt_name].state_dict()["state"]
        assert opt_a.keys() == opt_r.keys()
        for i in opt_a:  # Adam moments and step counts
            assert all(torch.equal(opt_a[i][k], opt_r[i][k]) for k in opt_a[i])
    # saved checkpoints agree too, and the resumed log reads like the uninterrupted one
    assert state_dicts_equal(genlab.load(tmp_path / "A").state_dict(), genlab.load(tmp_path / "B").state_dict()) == []
    rows_a, rows_b = read_metrics(tmp_path / "A"), read_metrics(tmp_path / "B")
    drop = ("items_per_s",)
    assert [{k: v for k, v in x.items() if k not in drop} for x in rows_a if x["split"] == "val"] == \
           [{k: v for k, v in x.items() if k not in drop} for x in rows_b if x["split"] == "val"]
    assert [x["step"] for x in rows_a] == [x["step"] for x in rows_b]
    # the training-loss rows too: the averaging window open at the kill (log_every 3 does not divide
    # N) continues on resume, so the row after it averages the same steps as the uninterrupted run's
    assert N % 3
    timing = ("items_per_s", "time_s")
    train_a = [{k: v for k, v in x.items() if k not in timing} for x in rows_a if x["split"] == "train"]
    train_b = [{k: v for k, v in x.items() if k not in timing} for x in rows_b if x["split"] == "train"]
    assert train_a == train_b and len(train_a) >= 2 * N // 3


def test_resume_needs_a_run_folder(tmp_path, digits):
    model = genlab.create_model("vae", data=digits, hidden=[8])
    model.save_pretrained(tmp_path / "saved")
    with pytest.raises(genlab.CheckpointError, match="run.json"):
        genlab.resume(tmp_path / "saved")
    with pytest.raises(genlab.CheckpointError):
        genlab.resume(tmp_path / "nothing")


def test_resume_refuses_changes_that_alter_the_run(tmp_path, digits):
    model = genlab.create_model("vae", data=digits, hidden=[8])
    Trainer(model, digits, fast_train_config(steps=2), out_dir=tmp_path / "run").fit()
    with pytest.raises(genlab.ConfigError, match="cannot change on resume"):
        genlab.resume(tmp_path / "run", overrides={"lr": 1.0})
    r = genlab.resume(tmp_path / "run", steps=4, overrides={"eval_every": 1})
    assert r.step == 2 and r.total_steps == 4
    assert r.fit()["steps"] == 4
    assert genlab.models.io.read_config(tmp_path / "run" / "checkpoint")["step"] == 4


# ---- checkpoint atomicity ------------------------------------------------------------------------
def test_only_checkpoint_old_left(tmp_path, digits):
    """A kill between the two renames leaves checkpoint.old only: loading and resuming still work."""

    def kill_between_renames(run):
        before = genlab.load(run).state_dict()
        os.replace(run / "checkpoint", run / "checkpoint.old")
        assert not (run / "checkpoint").exists()
        assert state_dicts_equal(genlab.load(run).state_dict(), before) == []
        assert genlab.models.io.read_config(genlab.models.io.resolve_checkpoint_dir(run))["step"] == N

    a, r = resume_pair(tmp_path, "vae", dict(hidden=[16], latent_dim=4), {}, digits, kill_hook=kill_between_renames)
    assert state_dicts_equal(a.model.state_dict(), r.model.state_dict()) == []
    assert (tmp_path / "B" / "checkpoint").is_dir() and not (tmp_path / "B" / "checkpoint.old").exists()


def test_failed_checkpoint_write_keeps_a_readable_checkpoint(tmp_path, digits, monkeypatch):
    """If the final rename of a new checkpoint fails, the previous checkpoint must survive."""
    model = genlab.create_model("vae", data=digits, hidden=[16], latent_dim=4)
    trainer = Trainer(model, digits, fast_train_config(steps=4, checkpoint_every=2), out_dir=tmp_path / "run")
    trainer.fit(until=2)
    run = tmp_path / "run"
    real_replace = os.replace

    def failing_replace(src, dst):
        if os.path.basename(str(src)) == ".checkpoint.tmp":
            raise OSError("disk full (simulated)")
        return real_replace(src, dst)

    def assert_step_2_readable():
        assert genlab.models.io.read_config(genlab.models.io.resolve_checkpoint_dir(run))["step"] == 2
        assert isinstance(genlab.load(run), type(model))
        assert genlab.resume(run).step == 2

    # 1. from the normal state (checkpoint/ only): the failure leaves checkpoint.old/ behind
    monkeypatch.setattr(genlab.models.io.os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        trainer.save_checkpoint()
    monkeypatch.setattr(genlab.models.io.os, "replace", real_replace)
    assert not (run / "checkpoint").exists() and (run / "checkpoint.old").is_dir()
    assert_step_2_readable()
    # 2. from that state (checkpoint.old/ only, as a kill between the renames leaves it): the
    # only readable copy must not be deleted before the new one is in place
    monkeypatch.setattr(genlab.models.io.os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        trainer.save_checkpoint()
    monkeypatch.setattr(genlab.models.io.os, "replace", real_replace)
    assert_step_2_readable()
    # 3. and a successful write afterwards cleans up
    trainer.save_checkpoint()
    assert (run / "checkpoint").is_dir() and not (run / "checkpoint.old").exists()


def test_checkpoint_folder_contents(tmp_path, digits):
    model = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)
    Trainer(model, digits, fast_train_config(steps=3, eval_every=1), out_dir=tmp_path / "run").fit()
    run = tmp_path / "run"
    for path in ("run.json", "metrics.jsonl", "checkpoint/config.json", "checkpoint/model.safetensors",
                 f"checkpoint/{STATE_FILE}", "best/config.json", "best/model.safetensors", "training_curve.png",
                 "samples/step-000003.png"):
        assert (run / path).is_file(), path
    assert not any(p.name.startswith(".") for p in run.rglob("*")), "temporary files left behind"
    run_info = json.loads((run / "run.json").read_text())
    assert run_info["model"] == "vae" and run_info["data"]["name"] == "digits" and run_info["total_steps"] == 3


# ---- non-finite losses ---------------------------------------------------------------------------
def test_huge_learning_rate_raises_training_diverged(digits):
    model = genlab.create_model("vae", data=digits, hidden=[32], latent_dim=4)
    trainer = Trainer(model, digits, fast_train_config(steps=50, lr=1e6, grad_clip=0))
    with pytest.raises(genlab.TrainingDiverged) as info:
        trainer.fit()
    msg = str(info.value)
    assert f"at step {trainer.step + 1}" in msg
    assert "--lr" in msg and "rollback" in msg
    assert trainer.step < 50


def nan_at(model, steps: set[int], once: bool = True):
    """Make ``model.training_step`` return a NaN loss at the given (0-based) steps."""
    original = model.training_step
    fired = set()

    def step_fn(batch, step, optimizer="model"):
        out = original(batch, step, optimizer)
        if step in steps and not (once and step in fired):
            fired.add(step)
            out.loss = out.loss * float("nan")
        return out

    model.training_step = step_fn
    return fired


def test_nan_loss_names_the_step(digits, monkeypatch):
    model = genlab.create_model("vae", data=digits, hidden=[16])
    nan_at(model, {4})
    trainer = Trainer(model, digits, fast_train_config(steps=10))
    with pytest.raises(genlab.TrainingDiverged, match="loss became nan at step 5; no checkpoint"):
        trainer.fit()
    assert trainer.step == 4


def test_rollback_halves_lr_and_continues(tmp_path, digits):
    model = genlab.create_model("vae", data=digits, hidden=[16])
    fired = nan_at(model, {4})
    config = fast_train_config(steps=8, lr=1e-3, checkpoint_every=3, on_nonfinite="rollback", schedule="constant")
    trainer = Trainer(model, digits, config, out_dir=tmp_path / "run")
    summary = trainer.fit()
    assert fired == {4}
    assert summary["steps"] == 8
    assert trainer.lr_scale == 0.5
    assert trainer.optimizers["model"].param_groups[0]["lr"] == pytest.approx(0.5e-3)
    rows = read_metrics(tmp_path / "run")
    events = [r for r in rows if r["split"] == "event"]
    assert events == [{"step": 3, "split": "event", "event": "rollback", "lr_scale": 0.5}]
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(1, 9))
    assert [r["lr"] for r in rows if r["split"] == "train" and r["step"] > 3] == [pytest.approx(0.5e-3)] * 5
    # the checkpoint keeps the halved scale for a later resume
    assert genlab.resume(tmp_path / "run").lr_scale == 0.5


def test_rollback_without_checkpoint_stops(digits):
    model = genlab.create_model("vae", data=digits, hidden=[16])
    nan_at(model, {1})
    trainer = Trainer(model, digits, fast_train_config(steps=4, on_nonfinite="rollback"))
    with pytest.raises(genlab.TrainingDiverged, match="step 2"):
        trainer.fit()


def test_rollback_gives_up_after_repeated_failures(tmp_path, digits):
    model = genlab.create_model("vae", data=digits, hidden=[16])
    nan_at(model, {2}, once=False)
    config = fast_train_config(steps=6, checkpoint_every=2, on_nonfinite="rollback")
    trainer = Trainer(model, digits, config, out_dir=tmp_path / "run")
    with pytest.raises(genlab.TrainingDiverged, match="step 3"):
        trainer.fit()
    assert trainer.lr_scale == 0.5 ** 5


# ---- logs ------------------------------------------------------------------------------------------
def test_metrics_jsonl_has_train_and_val_rows(tmp_path, digits):
    model = genlab.create_model("vae", data=digits, hidden=[16], latent_dim=4)
    summary = Trainer(model, digits, fast_train_config(steps=6, log_every=2, eval_every=3),
                      out_dir=tmp_path / "run").fit()
    rows = read_metrics(tmp_path / "run")
    train = [r for r in rows if r["split"] == "train"]
    val = [r for r in rows if r["split"] == "val"]
    assert [r["step"] for r in train] == [2, 4, 6]
    assert [r["step"] for r in val] == [3, 6]
    for r in train:
        assert {"loss", "nelbo", "recon", "kl", "lr", "items_per_s", "grad_norm_model"} <= set(r)
        assert all(math.isfinite(v) for v in r.values() if isinstance(v, float))
    for r in val:
        assert {"loss", "nelbo", "recon", "kl"} <= set(r) and math.isfinite(r["loss"])
    assert summary["val"] == val[-1]
    assert summary["best_val_loss"] == min(r["loss"] for r in val)


def test_validation_is_deterministic_and_leaves_training_rng_alone(digits):
    model = genlab.create_model("vae", data=digits, hidden=[16], latent_dim=4)
    trainer = Trainer(model, digits, fast_train_config(steps=1))
    state = torch.get_rng_state()
    first = trainer.validate()
    assert torch.equal(state, torch.get_rng_state())
    assert trainer.validate() == first
    assert model.training


# ---- learning-rate schedule -------------------------------------------------------------------------
def test_lr_factor_warmup_then_cosine():
    total, warm, ratio = 25, 5, 0.1
    f = [lr_factor(s, total, warm, "cosine", ratio) for s in range(total + 1)]
    assert f[:warm] == pytest.approx([(s + 1) / warm for s in range(warm)])
    assert f[warm] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[warm:], f[warm + 1:]))
    assert f[total] == pytest.approx(ratio)
    assert f[15] == pytest.approx(ratio + (1 - ratio) * 0.5)  # half way through the cosine
    assert lr_factor(total + 10, total, warm, "cosine", ratio) == pytest.approx(ratio)
    assert [lr_factor(s, total, warm, "constant", ratio) for s in range(warm, total)] == [1.0] * (total - warm)


def test_trainer_lr_warms_up_then_decays_to_min(digits):
    lr, ratio, warm, steps = 2e-3, 0.05, 4, 16
    model = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)
    trainer = Trainer(model, digits, fast_train_config(steps=steps, lr=lr, warmup_steps=warm, min_lr_ratio=ratio))
    seen = []
    opt = trainer.optimizers["model"]
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(o.param_groups[0]["lr"]))
    trainer.fit()
    assert len(seen) == steps
    assert seen[:warm] == pytest.approx([lr * (s + 1) / warm for s in range(warm)])
    assert max(seen) == pytest.approx(lr)
    assert all(a >= b for a, b in zip(seen[warm:], seen[warm + 1:]))
    assert seen[-1] > lr * ratio
    assert opt.param_groups[0]["lr"] == pytest.approx(lr * ratio)  # the end of the cosine
    last_train = [r for r in trainer.history if r["split"] == "train"][-1]
    assert last_train["step"] == steps and last_train["lr"] == pytest.approx(lr * ratio)


# ---- batch sampler ------------------------------------------------------------------------------------
def collect(sampler, n):
    return [sampler.next() for _ in range(n)]


def test_each_epoch_is_a_permutation():
    s = BatchSampler(23, 5, seed=3)
    assert s.batches_per_epoch == 5
    epochs = []
    for _ in range(3):
        batches = collect(s, 5)
        assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
        order = torch.cat(batches)
        assert sorted(order.tolist()) == list(range(23))
        epochs.append(order)
    assert s.epoch == 3 and s.offset == 0
    assert not torch.equal(epochs[0], epochs[1])
    assert not torch.equal(epochs[0], torch.arange(23))


def test_sampler_without_shuffle_goes_in_order():
    s = BatchSampler(7, 3, shuffle=False)
    assert [b.tolist() for b in collect(s, 4)] == [[0, 1, 2], [3, 4, 5], [6], [0, 1, 2]]


def test_sampler_state_dict_round_trip():
    a = BatchSampler(50, 8, seed=1)
    collect(a, 9)  # mid second epoch
    state = a.state_dict()
    expected = collect(a, 12)
    b = BatchSampler(50, 8, seed=1)
    b.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(expected, collect(b, 12)))
    c = BatchSampler(50, 8, seed=2)
    c.load_state_dict(state)
    assert not all(torch.equal(x, y) for x, y in zip(expected, collect(c, 12)))


def test_sampler_sharding_partitions_the_data():
    n = 31
    ranks = [BatchSampler(n, 4, seed=5, rank=r, world_size=2) for r in range(2)]
    assert [s.batches_per_epoch for s in ranks] == [4, 4]
    for _ in range(2):  # two epochs
        shards = [torch.cat(collect(s, s.batches_per_epoch)).tolist() for s in ranks]
        assert set(shards[0]).isdisjoint(shards[1])
        assert sorted(shards[0] + shards[1]) == list(range(n))
        assert abs(len(shards[0]) - len(shards[1])) <= 1
    with pytest.raises(ValueError):
        BatchSampler(1, 4, world_size=2)


# ---- precision, early stopping, epochs, accumulation -------------------------------------------------
@pytest.mark.parametrize("name", ["vae", "gpt"])
def test_bf16_trains(name, digits, text_data):
    data = text_data if name == "gpt" else digits
    over = dict(hidden=[16], latent_dim=4) if name == "vae" else dict(n_layer=1, n_head=2, n_embd=16, block_size=16)
    model = genlab.create_model(name, data=data, **over)
    trainer = Trainer(model, data, fast_train_config(steps=3, precision="bf16"))
    summary = trainer.fit()
    assert summary["steps"] == 3
    assert all(math.isfinite(r["loss"]) for r in trainer.history if r["split"] == "train")
    assert math.isfinite(summary["val"]["loss"])
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_early_stopping_stops(tmp_path, digits, monkeypatch):
    losses = iter([5.0, 4.0, 4.5, 4.2, 3.0, 2.0])
    monkeypatch.setattr(Trainer, "validate", lambda self: {"loss": next(losses)})
    model = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)
    trainer = Trainer(model, digits, fast_train_config(steps=50, eval_every=2, early_stopping=2),
                      out_dir=tmp_path / "run")
    summary = trainer.fit()
    assert summary["stopped_early"] is True
    assert summary["steps"] == 8  # evals at 2, 4 (best), 6, 8: two without improvement
    assert summary["best_val_loss"] == 4.0
    assert genlab.models.io.read_config(tmp_path / "run" / "best")["step"] == 4
    assert genlab.models.io.read_config(tmp_path / "run" / "checkpoint")["step"] == 8


def test_no_early_stopping_when_off(digits, monkeypatch):
    monkeypatch.setattr(Trainer, "validate", lambda self: {"loss": 1.0})
    model = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)
    summary = Trainer(model, digits, fast_train_config(steps=6, eval_every=1)).fit()
    assert summary["stopped_early"] is False and summary["steps"] == 6


def test_epochs_set_the_number_of_steps(digits):
    model = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)
    trainer = Trainer(model, digits, fast_train_config(epochs=1.5, batch_size=100, grad_accum=2))
    assert trainer.total_steps == math.ceil(1.5 * 10 / 2)
    trainer.fit()
    assert trainer.sampler.epoch == 1 and trainer.sampler.offset == 600


def test_grad_accum_equals_a_big_batch(digits):
    """Two accumulated micro-batches of 16 give the same update as one batch of 32 (same items)."""
    def run(batch_size, accum):
        torch.manual_seed(0)
        model = genlab.create_model("vae", data=digits, hidden=[16], latent_dim=2)
        # a deterministic model: no noise in the latent, so the two losses see the same numbers
        model.elbo_terms = lambda x, condition=None, m=model: (
            m.reconstruction_log_prob(x, m.decoder_params(m.encode(x)[0])), torch.zeros(len(x)))
        trainer = Trainer(model, digits, fast_train_config(steps=1, batch_size=batch_size, grad_accum=accum,
                                                            grad_clip=0))
        trainer.sampler.shuffle = False
        trainer.fit()
        return model.state_dict()

    big, accum = run(32, 1), run(16, 2)
    for k in big:
        assert torch.allclose(big[k], accum[k], atol=1e-6), k


def test_ema_is_the_normalised_average_of_the_visited_weights():
    """No share of the initial weights survives: after t updates the EMA is sum decay^(t-i) w_i / sum decay^(t-i)."""
    from genlab.training.ema import EMA

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    ema, seen = EMA(model, decay=0.9), []
    for t in range(6):
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
        ema.update(model)
        seen.append(model.weight.detach().clone())
        weights = [0.9 ** (t - i) for i in range(t + 1)]
        expected = sum(w * x for w, x in zip(weights, seen)) / sum(weights)
        assert torch.allclose(ema.model.weight, expected, atol=1e-6)
    assert torch.equal(EMA(model, 0.999).model.weight, model.weight)  # starts as a copy
    first = EMA(torch.nn.Linear(3, 2), 0.999)
    first.update(model)
    assert torch.allclose(first.model.weight, model.weight)  # one update: the weights themselves

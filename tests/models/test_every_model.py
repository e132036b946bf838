"""Every registered model, tiny: exact resume and bf16 training. A model registered later is covered
automatically (with its tests/fixtures/tiny/<name>.json config, or its defaults)."""

from __future__ import annotations

import json
import math

import pytest
import torch

import genlab
from conftest import fast_train_config, state_dicts_equal, tiny_overrides
from genlab.training.trainer import Trainer

MODELS = sorted(genlab.list_models())
STEPS = 6  # the resumed run stops at STEPS // 2
TIMING_KEYS = ("items_per_s", "wall_s", "time_s", "elapsed_s")  # depend on the machine, not the run


def make_model(name, data):
    torch.manual_seed(123)
    return genlab.create_model(name, data=data, **tiny_overrides(name))


def metrics_rows(run_dir) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def test_every_model_is_covered():
    assert {"vae", "gpt", "lstm", "gru", "pixelcnn", "realnvp", "glow", "ddpm", "dcgan", "wgan-gp", "sngan"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_resume_is_bitwise_exact_for_every_model(name, tmp_path, data_for_kind):
    """STEPS steps straight against STEPS // 2, a fresh process-like resume, then the rest."""
    data = data_for_kind(genlab.list_models()[name]["data"][0])
    config = fast_train_config(steps=STEPS, checkpoint_every=STEPS // 2, eval_every=2, log_every=1, batch_size=8,
                               eval_batches=1, warmup_steps=2, ema_decay=0.9)
    a = Trainer(make_model(name, data), data, config, out_dir=tmp_path / "A")
    a.fit()
    b = Trainer(make_model(name, data), data, config, out_dir=tmp_path / "B")
    b.fit(until=STEPS // 2)
    assert b.step == STEPS // 2
    torch.manual_seed(999)  # the global RNG state at resume time must not matter
    r = genlab.resume(tmp_path / "B")
    assert r.step == STEPS // 2
    assert r.fit()["steps"] == STEPS
    assert state_dicts_equal(a.model.state_dict(), r.model.state_dict()) == []
    assert state_dicts_equal(a.ema.model.state_dict(), r.ema.model.state_dict()) == []
    assert state_dicts_equal(genlab.load(tmp_path / "A").state_dict(), genlab.load(tmp_path / "B").state_dict()) == []
    rows_a, rows_b = metrics_rows(tmp_path / "A"), metrics_rows(tmp_path / "B")
    assert any(row["split"] == "val" for row in rows_a)
    assert rows_a == rows_b


def first_losses(name, data, precision) -> dict[str, float]:
    """The losses of the first training step (``loss``, or a GAN's ``loss_generator`` and ``loss_discriminator``)."""
    model = make_model(name, data)
    trainer = Trainer(model, data, fast_train_config(steps=1, batch_size=8, eval_batches=1, precision=precision))
    trainer.fit()
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: the weights stay fp32
    row = [row for row in trainer.history if row["split"] == "train"][0]
    losses = {k: v for k, v in row.items() if k.startswith("loss")}
    assert losses, row
    return losses


@pytest.mark.parametrize("name", MODELS)
def test_bf16_step_for_every_model(name, data_for_kind):
    """One bf16 step runs with a finite loss close to the fp32 loss of the same weights and batch."""
    data = data_for_kind(genlab.list_models()[name]["data"][0])
    bf16, fp32 = first_losses(name, data, "bf16"), first_losses(name, data, "fp32")
    assert bf16.keys() == fp32.keys()
    assert all(math.isfinite(v) for v in bf16.values()), bf16
    assert bf16 == pytest.approx(fp32, rel=0.05, abs=0.05)  # bf16 keeps ~3 significant digits

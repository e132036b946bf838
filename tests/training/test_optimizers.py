"""The training setting ``optimizer``: AdamW (default), Adam, SGD with momentum, RMSprop, for every family
through one function, checked against the update rules computed by hand, and resumed exactly."""

from __future__ import annotations

import pytest
import torch

import genlab
from conftest import fast_train_config, state_dicts_equal, tiny_overrides
from genlab.errors import ConfigError
from genlab.optim import make_optimizer
from genlab.training.trainer import Trainer

from cli_helpers import assert_one_line_error, last_json, run_cli


def two_tensors():
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(3, 4))
    bias = torch.nn.Parameter(torch.randn(4))
    return weight, bias


def one_step(name, **settings):
    weight, bias = two_tensors()
    config = genlab.TrainConfig().replace(optimizer=name, lr=0.1, weight_decay=0.5, **settings)
    opt = make_optimizer([weight, bias], config)
    w0, b0 = weight.detach().clone(), bias.detach().clone()
    (weight.square().sum() + bias.sum()).backward()
    grads = weight.grad.clone(), bias.grad.clone()
    opt.step()
    return opt, (w0, b0), grads, (weight.detach(), bias.detach())


def test_sgd_and_the_decay_rule_by_hand():
    opt, (w0, b0), (gw, gb), (w1, b1) = one_step("sgd", momentum=0.0)
    assert type(opt) is torch.optim.SGD
    torch.testing.assert_close(w1, w0 - 0.1 * (gw + 0.5 * w0))  # L2 decay on the matrix...
    torch.testing.assert_close(b1, b0 - 0.1 * gb)  # ...none on the bias


def test_adamw_decouples_the_decay_and_adam_does_not():
    _, (w0, _), (gw, _), (w1, _) = one_step("adamw")
    step = gw / (gw.abs() + 1e-8)  # Adam's first step: m / sqrt(v) = g / |g|
    torch.testing.assert_close(w1, w0 * (1 - 0.1 * 0.5) - 0.1 * step, rtol=1e-5, atol=1e-6)
    _, (w0, _), (gw, _), (w1, _) = one_step("adam")
    g = gw + 0.5 * w0
    torch.testing.assert_close(w1, w0 - 0.1 * g / (g.abs() + 1e-8), rtol=1e-5, atol=1e-6)


def test_rmsprop_and_the_kinds():
    opt, (w0, _), (gw, _), (w1, _) = one_step("rmsprop", momentum=0.0)
    g = gw + 0.5 * w0
    torch.testing.assert_close(w1, w0 - 0.1 * g / ((0.01 * g * g).sqrt() + 1e-8), rtol=1e-5, atol=1e-6)
    assert type(opt) is torch.optim.RMSprop
    with pytest.raises(ConfigError, match="momentum must be in"):
        genlab.TrainConfig().replace(optimizer="sgd", momentum=1.5).validate()


@pytest.mark.parametrize("name,model", [("sgd", "vae"), ("rmsprop", "dcgan")])
def test_a_run_with_another_optimizer_resumes_exactly(name, model, digits, tmp_path):
    config = fast_train_config(steps=4, checkpoint_every=2, batch_size=8, optimizer=name, momentum=0.8, lr=1e-3)

    def make():
        torch.manual_seed(7)
        return genlab.create_model(model, data=digits, **tiny_overrides(model))

    a = Trainer(make(), digits, config, out_dir=tmp_path / "A")
    a.fit()
    assert all(type(opt).__name__.lower() == name for opt in a.optimizers.values())
    b = Trainer(make(), digits, config, out_dir=tmp_path / "B")
    b.fit(until=2)
    r = genlab.resume(tmp_path / "B")
    r.fit()
    assert state_dicts_equal(a.model.state_dict(), r.model.state_dict()) == []


def test_cli_sets_the_optimizer_and_refuses_an_unknown_one(tmp_path):
    code, out, err = run_cli("train", "vae", "--steps", "2", "--set", "hidden=[8]", "--set", "optimizer=sgd",
                             "--set", "momentum=0.5", "--progress", "false", "--out", tmp_path / "run")
    assert code == 0, err
    import json

    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["train"]["optimizer"] == "sgd" and run["train"]["momentum"] == 0.5 and last_json(out)["steps"] == 2
    assert_one_line_error(*run_cli("train", "vae", "--set", "optimizer=lamb", "--out", tmp_path / "x"), "optimizer",
                          "adamw")
    assert_one_line_error(*run_cli("train", "--resume", tmp_path / "run", "--set", "optimizer=adam"), "optimizer")

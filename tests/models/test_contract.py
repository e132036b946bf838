"""The model contract, checked for every registered model (models added later are covered too)."""

from __future__ import annotations

import math

import pytest
import torch

import genlab
from conftest import fast_train_config, model_condition, state_dicts_equal, tiny_overrides
from genlab.data.modalities import list_modalities

MODEL_NAMES = sorted(genlab.list_models())
BATCH = 6


def build(name: str, data_for_kind):
    kind = genlab.list_models()[name]["data"][0]
    data = data_for_kind(kind)
    model = genlab.create_model(name, data=data, **tiny_overrides(name))
    return model, data


def scoring_batch(model, data) -> tuple[torch.Tensor, dict]:
    """A few examples from a held-out split, in the form log_prob takes, and the keyword arguments
    it needs with them (the input images of an image-conditioned model)."""
    split = data.test if data.test is not None else data.val
    part = split.windows(model.sequence_length)
    condition = model_condition(model, data, BATCH)
    return part.get(torch.arange(BATCH))["x"], ({} if condition is None else {"condition": condition})


def draw(model, n: int, seed: int = 0, data=None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    kwargs = {"max_new_tokens": 8} if model.data_info.kind == "text" else {}
    condition = model_condition(model, data, n) if data is not None else None
    if condition is not None:
        kwargs["condition"] = condition
    return model.sample(n, generator=gen, **kwargs)


def test_registry_lists_known_models():
    models = genlab.list_models()
    assert {"vae", "gpt"} <= set(models)
    for name, entry in models.items():
        assert set(entry) == {"family", "likelihood", "data", "description"}, name
        assert entry["data"] and set(entry["data"]) <= set(list_modalities()), name
        assert entry["description"], f"model '{name}' needs a docstring"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_likelihood_attribute(name):
    cls = genlab.models.registry.get_model_class(name)
    assert cls.likelihood in {"exact", "bound", "none"}
    assert cls.name == name
    assert issubclass(cls.config_class, genlab.ModelConfig)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_follows_its_data(name, data_for_kind):
    model, data = build(name, data_for_kind)
    assert model.data_info == data.info
    if data.info.kind == "audio":
        assert model.config.length == data.info.shape[0]
        assert model.config.levels == data.info.levels
    elif data.info.kind == "pianoroll":
        assert model.config.num_keys == 88
    elif data.info.kind == "video":
        assert tuple(model.config.video_shape) == data.info.shape
        assert model.config.levels == data.info.levels
    elif data.info.kind != "text":
        assert tuple(model.config.image_shape) == data.info.shape
        assert model.config.levels == data.info.levels
    else:
        assert model.config.vocab_size == data.info.vocab_size


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_training_steps_give_finite_loss_and_change_weights(name, data_for_kind):
    model, data = build(name, data_for_kind)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = genlab.Trainer(model, data, fast_train_config(steps=3))
    summary = trainer.fit()
    assert summary["steps"] == 3
    rows = [r for r in trainer.history if r["split"] == "train"]
    assert [r["step"] for r in rows] == [1, 2, 3]
    for row in rows:
        losses = [k for k in row if k == "loss" or k.startswith("loss_")]  # one per optimizer
        assert losses and all(math.isfinite(row[k]) for k in losses), row
        for key, value in row.items():
            if isinstance(value, float):
                assert math.isfinite(value), (key, row)
    after = model.state_dict()
    changed = state_dicts_equal(before, after)
    assert changed, "three optimizer steps changed no weight"
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_sample_shape_dtype_and_range(name, data_for_kind):
    model, data = build(name, data_for_kind)
    model.eval()
    x = draw(model, 5, data=data)
    assert not x.dtype.is_floating_point and x.dtype != torch.bool
    assert x.shape[0] == 5
    info = data.info
    if info.kind == "pianoroll":
        assert x.dim() == 3 and x.shape[2] == 88 and x.shape[1] > 1
        assert int(x.min()) >= 0 and int(x.max()) <= 1
    elif info.kind != "text":
        assert tuple(x.shape) == (5, *info.shape)
        assert int(x.min()) >= 0 and int(x.max()) < info.levels
    else:
        assert x.dim() == 2 and x.shape[1] > 1
        assert int(x.min()) >= 0 and int(x.max()) < info.vocab_size
    # the same generator seed gives the same samples
    assert torch.equal(x, draw(model, 5, data=data))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_log_prob_shape_and_finite(name, data_for_kind):
    model, data = build(name, data_for_kind)
    model.eval()
    x, kwargs = scoring_batch(model, data)
    if model.likelihood == "none":
        with pytest.raises(NotImplementedError):
            model.log_prob(x, **kwargs)
        return
    logp = model.log_prob(x, **kwargs)
    assert logp.shape == (BATCH,)
    assert logp.dtype.is_floating_point
    assert torch.isfinite(logp).all()
    assert (logp <= 1e-4).all(), "log-probabilities of discrete data cannot be positive"
    result = genlab.evaluate(model, data, "test" if data.test is not None else "val", max_examples=8)
    assert result["likelihood"] == model.likelihood
    assert math.isfinite(result["nll_nats"]) and result["nll_nats"] > 0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_round_trip(name, data_for_kind, tmp_path):
    model, data = build(name, data_for_kind)
    genlab.Trainer(model, data, fast_train_config(steps=1)).fit()
    model.eval()
    model.save_pretrained(tmp_path / "saved")
    loaded = genlab.load(tmp_path / "saved")
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    assert loaded.data_info == model.data_info
    assert not loaded.training
    assert state_dicts_equal(model.state_dict(), loaded.state_dict()) == []
    assert genlab.load(tmp_path / "saved", expected=name).name == name

    x, kwargs = scoring_batch(model, data)
    if model.likelihood != "none":
        torch.manual_seed(7)
        a = model.log_prob(x, **kwargs)
        torch.manual_seed(7)
        b = loaded.log_prob(x, **kwargs)
        assert torch.equal(a, b)
    assert torch.equal(draw(model, 3, seed=3, data=data), draw(loaded, 3, seed=3, data=data))

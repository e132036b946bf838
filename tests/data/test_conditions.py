"""The condition rule, over every registered model: see genlab.data.conditions."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.data.conditions import ClassLabel, ContextFrames
from genlab.models.registry import get_model_class
from conftest import tiny_overrides

MODELS = sorted(genlab.list_models())


def conditional_models() -> list[str]:
    """Registered models whose config has a ``conditional`` switch that builds on labelled digits."""
    names = []
    info = genlab.load_dataset("digits").info
    for name in MODELS:
        cls = get_model_class(name)
        if "conditional" not in cls.config_class.keys() or "image" not in cls.data_kinds:
            continue  # class labels condition image models; super-resolution models take images
        try:
            genlab.create_model(name, data=info, **tiny_overrides(name), conditional=True)
        except genlab.ConfigError:  # a family that cannot be conditioned on these labels
            continue
        names.append(name)
    return names


CONDITIONAL = conditional_models()


def test_the_families_that_can_be_conditional_are_found():
    assert {"vae", "pixelcnn", "ddpm", "dcgan", "wgan-gp", "sngan", "realnvp", "glow"} <= set(CONDITIONAL)


def small_sample_args(name: str) -> dict:
    return {"sampler": "ddim", "steps": 3} if name == "ddpm" else {}


@pytest.mark.parametrize("name", CONDITIONAL)
def test_sampling_without_a_condition_draws_the_classes_in_turn(name, digits):
    torch.manual_seed(0)
    model = genlab.create_model(name, data=digits, **tiny_overrides(name), conditional=True).eval()
    n = 12  # more than the 10 classes: the labels wrap around
    kw = small_sample_args(name)
    torch.manual_seed(1)
    default = model.sample(n, generator=torch.Generator().manual_seed(3), **kw)
    torch.manual_seed(1)
    in_turn = model.sample(n, condition=torch.arange(n) % 10, generator=torch.Generator().manual_seed(3), **kw)
    torch.manual_seed(1)
    all_threes = model.sample(n, condition=3, generator=torch.Generator().manual_seed(3), **kw)
    assert torch.equal(default, in_turn)
    assert not torch.equal(default, all_threes), "the label must change the samples for this test to mean anything"


@pytest.mark.parametrize("name", [n for n in CONDITIONAL if get_model_class(n).likelihood != "none"])
def test_scoring_a_conditional_model_needs_the_condition(name, digits):
    model = genlab.create_model(name, data=digits, **tiny_overrides(name), conditional=True).eval()
    batch = digits.test.get(torch.arange(3))
    kw = {"timestep_samples": 2} if name == "ddpm" else {}
    with pytest.raises(genlab.ConfigError, match="conditional: its likelihood is log p"):
        model.log_prob(batch["x"], **kw)
    assert torch.isfinite(model.log_prob(batch["x"], condition=batch["y"], **kw)).all()


IMAGE_INPUT = [n for n in MODELS if get_model_class(n).data_kinds[0] in ("superres", "image-pair")]


@pytest.mark.parametrize("name", IMAGE_INPUT)
def test_a_model_of_an_input_image_needs_one_and_refuses_labels(name, data_for_kind):
    """Super-resolution and translation models are conditioned on their input by construction."""
    cls = get_model_class(name)
    data = data_for_kind(cls.data_kinds[0])
    model = genlab.create_model(name, data=data, **tiny_overrides(name)).eval()
    assert model.condition_spec is not None and model.condition_spec.kind == "image"
    with pytest.raises(genlab.ConfigError, match="pass condition=IMAGES"):
        model.sample(2)
    with pytest.raises(genlab.ConfigError, match="condition images must be uint8"):
        model.sample(2, condition=1)


@pytest.mark.parametrize("name", [n for n in MODELS if n not in IMAGE_INPUT])
def test_an_unconditional_model_refuses_a_condition(name, data_for_kind):
    cls = get_model_class(name)
    data = data_for_kind(cls.data_kinds[0])
    model = genlab.create_model(name, data=data, **tiny_overrides(name)).eval()
    if isinstance(model.condition_spec, ContextFrames):  # a video predictor: conditioned on frames by construction
        with pytest.raises(genlab.ConfigError, match="pass condition=FRAMES"):
            model.sample(2)
        with pytest.raises(genlab.ConfigError, match="context frames must be uint8|condition must be context"):
            model.sample(2, condition=1)
        return
    assert model.condition_spec is None
    with pytest.raises(genlab.ConfigError, match="unconditional"):
        model.sample(2, condition=1)
    if cls.likelihood != "none":
        x = data.split("val").windows(model.sequence_length).get(torch.arange(2))["x"]
        with pytest.raises(genlab.ConfigError, match="unconditional"):
            model.log_prob(x, condition=torch.tensor([1, 2]))


def test_class_label_spec_validates_and_repeats_a_single_label():
    spec = ClassLabel(4)
    assert spec.validate(2, 3, torch.device("cpu")).tolist() == [2, 2, 2]
    assert spec.validate([0, 3, 1], 3, torch.device("cpu")).tolist() == [0, 3, 1]
    assert spec.default(6, torch.device("cpu")).tolist() == [0, 1, 2, 3, 0, 1]
    for bad in (4, -1, [0, 1], 1.5, "cat"):
        with pytest.raises(genlab.ConfigError):
            spec.validate(bad, 3, torch.device("cpu"))
    with pytest.raises(genlab.ConfigError, match="no 'y' field"):
        spec.from_batch({"x": torch.zeros(2)})

"""Class conditioning, checked for every registered image model with a ``conditional`` switch.

With ``conditional=true`` a model declares a class-label spec, checks the labels it is given
through that spec, and, trained briefly on digits, draws samples of the class it is asked for
more often than chance: a logistic regression on the training pixels (independent of genlab)
names the class of each sample.
"""

from __future__ import annotations

import pytest
import torch
from sklearn.linear_model import LogisticRegression

import genlab
from conftest import fast_train_config, tiny_overrides
from genlab.data.conditions import ClassLabel
from genlab.models.registry import get_model_class

CONDITIONAL_IMAGE_MODELS = sorted(
    name for name in genlab.list_models()
    if "image" in get_model_class(name).data_kinds and "conditional" in get_model_class(name).config_class.keys())

# The shortest training, per family, after which the tiny models' samples follow their labels.
# A high learning rate makes up for the few steps; the GANs learn the label fastest.
TRAINING = {
    "flow": dict(steps=150, lr=1e-2),
    "vae": dict(steps=150, lr=1e-2),
    "autoregressive": dict(steps=150, lr=1e-2),
    "diffusion": dict(steps=150, lr=5e-3),
    "gan": dict(steps=200, lr=2e-3),
}
MODEL_TRAINING = {"wgan-gp": dict(steps=100, lr=2e-3)}  # 5 critic steps per step: fewer steps suffice
NUM_SAMPLES = 200  # 20 per class
CHANCE = 0.1
# Above chance by a margin: 40 of 200 right is 4.7 standard deviations above the 20 chance gives.
MIN_ACCURACY = 0.2


def conditional(name: str, data) -> genlab.GenerativeModel:
    return genlab.create_model(name, data=data, **tiny_overrides(name), conditional=True)


def sample_args(name: str) -> dict:
    return {"sampler": "ddim", "steps": 10} if name == "ddpm" else {}


@pytest.fixture(scope="module")
def classifier(digits) -> LogisticRegression:
    """Logistic regression on the digits training pixels (about 90% right on the test split)."""
    train = digits.train.get(torch.arange(len(digits.train)))
    return LogisticRegression(max_iter=2000).fit(train["x"].flatten(1).numpy(), train["y"].numpy())


def test_every_conditional_image_family_is_covered():
    assert {"vae", "pixelcnn", "ddpm", "dcgan", "wgan-gp", "sngan", "realnvp", "glow"} <= set(CONDITIONAL_IMAGE_MODELS)


@pytest.mark.parametrize("name", CONDITIONAL_IMAGE_MODELS)
def test_conditional_model_declares_a_class_label_spec(name, digits):
    spec = conditional(name, digits).condition_spec
    assert isinstance(spec, ClassLabel) and spec.num_classes == 10
    assert genlab.create_model(name, data=digits, **tiny_overrides(name)).condition_spec is None


@pytest.mark.parametrize("name", CONDITIONAL_IMAGE_MODELS)
def test_sample_validates_the_condition_through_the_spec(name, digits):
    model = conditional(name, digits).eval()
    for bad in (10, -1, [0, 1, 2], [0, 10]):
        with pytest.raises(genlab.ConfigError, match=r"in \[0, 10\)"):
            model.sample(2, condition=bad, **sample_args(name))
    with pytest.raises(genlab.ConfigError, match="whole class labels"):
        model.sample(2, condition=1.5, **sample_args(name))


@pytest.mark.parametrize("name", CONDITIONAL_IMAGE_MODELS)
def test_briefly_trained_model_draws_the_asked_class(name, digits, classifier):
    cls = get_model_class(name)
    torch.manual_seed(0)
    model = conditional(name, digits)
    settings = MODEL_TRAINING.get(name, TRAINING.get(cls.family, dict(steps=150, lr=1e-2)))
    genlab.Trainer(model, digits, fast_train_config(batch_size=64, log_every=50, **settings)).fit()
    model.eval()
    asked = torch.arange(NUM_SAMPLES) % 10
    samples = model.sample(NUM_SAMPLES, condition=asked, generator=torch.Generator().manual_seed(0),
                           **sample_args(name))
    assert samples.shape == (NUM_SAMPLES, 1, 8, 8)
    accuracy = float((torch.as_tensor(classifier.predict(samples.flatten(1).numpy())) == asked).float().mean())
    assert accuracy >= MIN_ACCURACY > CHANCE, f"{name}: {accuracy:.2f} of the samples are of the asked class"

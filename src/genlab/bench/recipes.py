"""The recipes behind ``genlab demo``, ``genlab bench`` and BENCHMARKS.md: for each benchmark, the
model, the data and the model, training and evaluation settings, in one place.

:mod:`genlab.bench` runs them (and only adds what a run needs: the seed, quick versions, time
budgets); :mod:`genlab.demo` trains the digits VAE recipe. Changing a value here changes the
figures BENCHMARKS.md reports.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a benchmark trains and scores one model.

    Attributes:
        model: the registry name.
        data: the data set name; ``data_options`` are its options (e.g. ``val_size``).
        model_settings: config overrides for :func:`genlab.create_model`.
        train: :class:`~genlab.TrainConfig` settings (the family's defaults fill the rest).
        evaluation: keyword arguments of :func:`genlab.evaluate` for the reported figure.
        curve: keyword arguments of :func:`genlab.evaluate` for the points of a validation curve.
    """

    model: str
    data: str
    model_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    evaluation: dict[str, Any] = dataclasses.field(default_factory=dict)
    curve: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_options: dict[str, Any] = dataclasses.field(default_factory=dict)


# ---- digits (8x8, 17 levels) ---------------------------------------------------------------------
# The digits VAE, shared with `genlab demo`: MLP 64-256-256, latent 16, 17-level categorical
# decoder; dropout, weight EMA and early stopping on the validation ELBO.
VAE_DIGITS = Recipe("vae", "digits", dict(hidden=[256, 256], latent_dim=16, decoder="categorical", dropout=0.1),
                    dict(steps=2000, batch_size=64, lr=1e-3, weight_decay=0.01, ema_decay=0.998, eval_every=250,
                         early_stopping=4, checkpoint_every=0, log_every=50),
                    evaluation=dict(num_samples=1000))

_DIGITS_TRAIN = dict(batch_size=64, eval_every=250, checkpoint_every=0, log_every=100)
# The other likelihood families on digits.
DIGITS: dict[str, Recipe] = {
    "pixelcnn": Recipe("pixelcnn", "digits", dict(channels=32, layers=5),
                       dict(_DIGITS_TRAIN, steps=1200, lr=2e-3, early_stopping=3)),
    "realnvp": Recipe("realnvp", "digits", {}, dict(_DIGITS_TRAIN, steps=1200, lr=1e-3, early_stopping=3),
                      dict(num_samples=16)),
    "glow": Recipe("glow", "digits", {}, dict(_DIGITS_TRAIN, steps=1200, lr=1e-3, early_stopping=3),
                   dict(num_samples=16)),
    "ddpm": Recipe("ddpm", "digits", dict(timesteps=1000), dict(_DIGITS_TRAIN, steps=1500, lr=2e-3, ema_decay=0.995,
                                                                 eval_every=0)),
}

# GANs on digits: the families' training defaults (Adam betas, no clipping, EMA 0.999 of the weights).
GAN_DIGITS: dict[str, Recipe] = {
    name: Recipe(name, "digits", {}, dict(steps=steps, eval_every=500))
    for name, steps in {"dcgan": 2000, "wgan-gp": 600, "sngan": 1500}.items()
}

# ---- Tiny Shakespeare (characters) -----------------------------------------------------------------
# nanoGPT's small CPU settings; the warm-up is min(100, steps // 10) of the steps actually run.
GPT_SHAKESPEARE_CPU = Recipe("gpt", "tinyshakespeare", dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0),
                             dict(steps=2000, batch_size=12, lr=1e-3, min_lr_ratio=0.1, betas=[0.9, 0.99],
                                  weight_decay=0.1, grad_clip=1.0, eval_every=0, checkpoint_every=0, log_every=100))
# About the GPT's parameters (0.79M against 0.80M), trained for the GPT's wall time.
LSTM_SHAKESPEARE_CPU = Recipe("lstm", "tinyshakespeare",
                              dict(embedding_dim=128, hidden_size=232, num_layers=2, block_size=64, dropout=0.0),
                              dict(batch_size=32, lr=2e-3, min_lr_ratio=0.1, warmup_steps=50, betas=[0.9, 0.99],
                                   weight_decay=0.0, grad_clip=1.0, eval_every=0, checkpoint_every=0, log_every=100))

# ---- MNIST (28x28, 256 levels) -----------------------------------------------------------------------
# The PyTorch examples' VAE: 784-400-20, Bernoulli decoder on grey values, batch 128, Adam 1e-3, 10 epochs.
VAE_MNIST = Recipe("vae", "mnist", dict(hidden=[400], latent_dim=20, decoder="bernoulli"),
                   dict(epochs=10, batch_size=128, lr=1e-3, schedule="constant", weight_decay=0.0, grad_clip=0.0,
                        precision="auto", eval_every=0, checkpoint_every=0, log_every=469),
                   data_options=dict(val_size=0))

MNIST_BUDGET_S = 300.0  # each family trains for this many seconds of this machine
CURVE_POINTS, CURVE_EXAMPLES = 8, 1000  # curve points score the first CURVE_EXAMPLES validation images
# The likelihood families within a CPU budget (the steps follow from MNIST_BUDGET_S); their own
# settings, which the likelihood benchmarks put over MNIST_TRAIN and compare-mnist over its own.
MNIST_TRAIN = dict(batch_size=64, eval_every=0, eval_batches=1, checkpoint_every=0, sample_every=0, log_every=100)
MNIST: dict[str, Recipe] = {
    "vae": Recipe("vae", "mnist", dict(architecture="conv", decoder="logistic", latent_dim=32),
                  dict(lr=1e-3, precision="auto"), dict(num_samples=100), dict(num_samples=10)),
    "pixelcnn": Recipe("pixelcnn", "mnist", dict(channels=32, layers=5), dict(lr=2e-3, precision="auto")),
    "realnvp": Recipe("realnvp", "mnist", {}, dict(lr=1e-3)),
    "glow": Recipe("glow", "mnist", {}, dict(lr=1e-3)),
    "ddpm": Recipe("ddpm", "mnist", {}, dict(lr=2e-3, ema_decay=0.995, precision="auto"),
                   dict(timestep_samples=8), dict(timestep_samples=2)),
}
GAN_MNIST: dict[str, Recipe] = {name: Recipe(name, "mnist", {}, dict(eval_every=0, eval_batches=1)) for name in GAN_DIGITS}

# (label, model, sample() settings) of the sampling-speed benchmark; the models use the MNIST
# recipes' settings, untrained: the cost of sampling does not depend on the weights.
SAMPLING_CASES: list[tuple[str, str, dict]] = [
    ("vae", "vae", {}),
    ("realnvp", "realnvp", {}),
    ("glow", "glow", {}),
    ("pixelcnn (784 network passes)", "pixelcnn", {}),
    ("ddpm ancestral, 1000 steps", "ddpm", dict(sampler="ddpm")),
    *[(f"ddim, {n} steps", "ddpm", dict(sampler="ddim", steps=n, eta=0.0)) for n in (250, 100, 50, 20, 10)],
]

# ---- super-resolution (sr-x3, sr-x4, sr3-mnist) ----------------------------------------------------------
# sr-cnn on random BSD100 patches (90 training images, flips and rotations; LR patches 24x24), trained for
# SR_BUDGET_S seconds of this machine in bf16; Adam 5e-4 with a cosine decay. The GAN starts from the
# trained CNN's weights (as SRGAN starts from SRResNet) and trains SR_GAN_BUDGET_S more seconds.
SR_BUDGET_S, SR_GAN_BUDGET_S = 1200.0, 300.0
_SR_TRAIN = dict(batch_size=16, warmup_steps=100, precision="auto", grad_clip=0.0, eval_every=0, eval_batches=4,
                 checkpoint_every=0, sample_every=0, log_every=100)
SR_CNN: dict[int, Recipe] = {
    scale: Recipe("sr-cnn", "sr-patches", dict(width=64, blocks=8), dict(_SR_TRAIN, lr=5e-4),
                  data_options=dict(scale=scale, patch_size=24 * scale, patches_per_image=2000))
    for scale in (3, 4)
}
SR_GAN: dict[int, Recipe] = {
    scale: Recipe("sr-gan", "sr-patches", dict(width=64, blocks=8, disc_width=32, disc_layers=3,
                                               adversarial_weight=0.01),
                  dict(_SR_TRAIN, lr=1e-4, warmup_steps=0), data_options=SR_CNN[scale].data_options)
    for scale in (3, 4)
}
# SR3 on MNIST 7x7 -> 28x28 (diffusion on two CPU cores is slow, so small images), beside sr-cnn on the same data.
SR3_MNIST_BUDGET_S = 600.0
SR3_MNIST = Recipe("sr3", "mnist-sr", dict(channels=[32, 64], timesteps=1000),
                   dict(batch_size=64, lr=1e-3, ema_decay=0.995, precision="auto", warmup_steps=100, eval_every=0,
                        eval_batches=1, checkpoint_every=0, log_every=100),
                   evaluation=dict(sampler="ddim", steps=50, eta=0.0), data_options=dict(scale=4))
SR_CNN_MNIST = Recipe("sr-cnn", "mnist-sr", dict(width=32, blocks=4),
                      dict(batch_size=64, lr=1e-3, warmup_steps=100, precision="auto", eval_every=0, eval_batches=1,
                           checkpoint_every=0, log_every=100), data_options=dict(scale=4))

# ---- spoken digits (wavenet-fsdd, wavegan-fsdd) ---------------------------------------------------------
# Both models are class-conditional on the digit and trained on FSDD's training takes (10-49; takes 5-9
# validate) for a budget of this machine's seconds, then asked for 300 clips (30 of each digit) that the
# FSDD classifier (trained as `genlab features train --data fsdd` does: its audio defaults) judges. WaveNet trains
# on crops of 4,096 samples (half a clip; every crop holds speech) in bf16 and is scored on whole clips.
AUDIO_BUDGET_S = 3600.0
# WaveGAN: the paper's network narrowed to model_size 16 (2.5 M parameters; d = 64 is 36 M and 10x slower
# a step here), WGAN-GP with 5 critic updates per generator update, Adam 1e-4 (0.5, 0.9), batches of 16.
WAVEGAN_BUDGET_S = 1800.0
WAVEGAN_FSDD = Recipe("wavegan", "fsdd", dict(conditional=True, model_size=16),
                      dict(batch_size=16, precision="auto", eval_every=0, checkpoint_every=200, sample_every=0,
                           log_every=50))
WAVENET_FSDD = Recipe("wavenet", "fsdd", dict(conditional=True, train_window=4096),
                      dict(batch_size=8, lr=1e-3, warmup_steps=100, precision="auto", ema_decay=0.999, eval_every=0,
                           checkpoint_every=500, sample_every=0, log_every=50))

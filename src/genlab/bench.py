"""Benchmarks behind ``genlab bench`` and BENCHMARKS.md.

Each benchmark trains a model with a fixed recipe, evaluates it by the protocol in DESIGN.md
and returns a flat dict of figures (with the settings beside them). They run in-process on
whatever device ``device`` names; wall times include validation but not data loading.
"""

from __future__ import annotations

import functools
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .data import load_dataset
from .errors import ConfigError
from .evaluation import evaluate
from .io import load
from .registry import create_model
from .training import TrainConfig, Trainer

# The digits VAE recipe, shared with `genlab demo`: MLP 64-256-256, latent 16, 17-level
# categorical decoder; dropout, weight EMA and early stopping on the validation ELBO.
VAE_DIGITS_MODEL = dict(hidden=[256, 256], latent_dim=16, decoder="categorical", dropout=0.1)
VAE_DIGITS_TRAIN = dict(steps=2000, batch_size=64, lr=1e-3, weight_decay=0.01, ema_decay=0.998,
                        eval_every=250, early_stopping=4, checkpoint_every=0, log_every=50)


def _train(model, data, train: dict[str, Any], out_dir=None, data_spec=None) -> tuple[Trainer, dict[str, Any]]:
    trainer = Trainer(model, data, TrainConfig().replace(**train), out_dir=out_dir, data_spec=data_spec)
    summary = trainer.fit()
    return trainer, summary


def vae_digits(data_root=None, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """VAE on digits: test NLL bound (IWAE, K = 1000) and negative ELBO in nats per image."""
    data = load_dataset("digits")
    torch.manual_seed(seed)
    model = create_model("vae", data=data, **VAE_DIGITS_MODEL)
    train = dict(VAE_DIGITS_TRAIN, seed=seed, progress=False)
    if quick:
        train.update(steps=50, eval_every=25)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        _, summary = _train(model, data, train, out_dir=tmp)
        wall = time.perf_counter() - start
        best = load(f"{tmp}/best")
    iwae = evaluate(best, data, "test", num_samples=10 if quick else 1000)
    elbo = evaluate(best, data, "test", num_samples=1)
    return {"name": "vae-digits", "test_nll_nats": iwae["nll_nats"], "bound": True, "iw_samples": 10 if quick else 1000,
            "test_neg_elbo_nats": elbo["nll_nats"], "bits_per_dim": iwae["bits_per_dim"],
            "steps": summary["steps"], "wall_s": wall, "seed": seed}


def gpt_shakespeare_cpu(data_root=None, quick: bool = False, seed: int = 0, precision: str = "fp32") -> dict[str, Any]:
    """GPT on Tiny Shakespeare, nanoGPT's small CPU settings: validation loss (nats/char) and wall time.

    fp32 by default: at width 128 and 768 tokens a batch, bf16 autocast measured 6% slower on a
    2-core CPU (its casts cost more than the smaller matmuls save).
    """
    data = load_dataset("tinyshakespeare", root=data_root)
    torch.manual_seed(seed)
    model = create_model("gpt", data=data, n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0)
    steps = 20 if quick else 2000
    train = dict(steps=steps, batch_size=12, lr=1e-3, min_lr_ratio=0.1, warmup_steps=min(100, steps // 10),
                 betas=[0.9, 0.99], weight_decay=0.1, grad_clip=1.0, precision=precision, eval_every=0,
                 checkpoint_every=0, log_every=100, seed=seed, progress=False)
    start = time.perf_counter()
    _train(model, data, dict(train, eval_every=10**9))  # validation only at the end
    wall = time.perf_counter() - start
    result = evaluate(model, data, "val", max_examples=50 if quick else None)
    return {"name": "gpt-shakespeare-cpu", "val_loss_nats": result["nll_nats"], "val_bits_per_char": result["bits_per_token"],
            "exact": True, "val_tokens": result["num_tokens"], "steps": steps, "precision": precision,
            "parameters": model.num_parameters(), "wall_s": wall, "seed": seed}


def vae_mnist(data_root=None, quick: bool = False, seed: int = 0, precision: str = "bf16") -> dict[str, Any]:
    """VAE 784-400-20 with a Bernoulli decoder on grey MNIST, batch 128, Adam 1e-3, 10 epochs.

    The set-up of the PyTorch examples' VAE: reports seconds per epoch and the test negative
    ELBO with binary cross-entropy on grey values (not a likelihood of the 256-level data).
    """
    data = load_dataset("mnist", root=data_root, val_size=0)
    torch.manual_seed(seed)
    model = create_model("vae", data=data, hidden=[400], latent_dim=20, decoder="bernoulli")
    epochs = 0.05 if quick else 10
    train = dict(epochs=epochs, batch_size=128, lr=1e-3, schedule="constant", weight_decay=0.0, grad_clip=0.0,
                 precision=precision, eval_every=0, checkpoint_every=0, log_every=469, seed=seed, progress=False)
    trainer, summary = _train(model, data, train)
    wall = summary["wall_s"]
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        x = data.test.images
        recon, kl = model.elbo_terms(x)
        neg_elbo = float((kl - recon).mean())
    return {"name": "vae-mnist", "test_neg_elbo_nats": neg_elbo, "bound": True,
            "note": "BCE on grey pixels in [0,1], as the PyTorch example; not a likelihood of 256-level data",
            "epochs": epochs, "s_per_epoch": wall / epochs, "precision": precision, "wall_s": wall, "seed": seed}


# Digits recipes of the other likelihood families: (model settings, training settings, evaluation settings).
DIGITS_RECIPES: dict[str, tuple[dict, dict, dict]] = {
    "pixelcnn": (dict(channels=32, layers=5), dict(steps=1200, lr=2e-3, early_stopping=3), {}),
    "realnvp": ({}, dict(steps=1200, lr=1e-3, early_stopping=3), dict(num_samples=16)),
    "glow": ({}, dict(steps=1200, lr=1e-3, early_stopping=3), dict(num_samples=16)),
    "ddpm": (dict(timesteps=1000), dict(steps=1500, lr=2e-3, ema_decay=0.995, eval_every=0), {}),
}


def likelihood_digits(model_name: str, data_root=None, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Any likelihood model on digits with its recipe: test NLL in nats per image (exact or bound)."""
    model_kw, train_kw, eval_kw = DIGITS_RECIPES[model_name]
    data = load_dataset("digits")
    torch.manual_seed(seed)
    model = create_model(model_name, data=data, **model_kw)
    train = dict(dict(batch_size=64, eval_every=250, checkpoint_every=0, log_every=100), **train_kw,
                 seed=seed, progress=False)
    if quick:
        train.update(steps=20, eval_every=10)
    with tempfile.TemporaryDirectory() as tmp:
        _, summary = _train(model, data, train, out_dir=tmp)
        best = load(f"{tmp}/best") if (Path(tmp) / "best").is_dir() else model
    start = time.perf_counter()
    result = evaluate(best, data, "test", max_examples=8 if quick else None, **eval_kw)
    return {"name": f"{model_name}-digits", "test_nll_nats": result["nll_nats"], "bits_per_dim": result["bits_per_dim"],
            "likelihood": result["likelihood"], "steps": summary["steps"], "wall_s": summary["wall_s"],
            "eval_s": time.perf_counter() - start, "parameters": model.num_parameters(), "seed": seed}


BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "vae-digits": vae_digits,
    **{f"{name}-digits": functools.partial(likelihood_digits, name) for name in DIGITS_RECIPES},
    "gpt-shakespeare-cpu": gpt_shakespeare_cpu,
    "vae-mnist": vae_mnist,
}


def run_benchmark(name: str, data_root=None, quick: bool = False, **kwargs) -> dict[str, Any]:
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark '{name}'; known: {', '.join(BENCHMARKS)}")
    result = BENCHMARKS[name](data_root=data_root, quick=quick, **kwargs)
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in result.items()}

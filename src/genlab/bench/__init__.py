"""Benchmarks behind ``genlab bench`` and BENCHMARKS.md.

Each benchmark trains a model with its recipe (:mod:`genlab.recipes`), evaluates it by the protocol in DESIGN.md
and returns a flat dict of figures (with the settings beside them). They run in-process on
whatever device ``device`` names; wall times include validation but not data loading.

Given ``out``, a benchmark keeps each model it trains as a run folder ``out/runs/MODEL`` (a
finished run there is refused, not replaced), so that it can be sampled, evaluated, compared
and served afterwards; the wall times then include writing the checkpoint and samples.
"""

from __future__ import annotations

import contextlib
import functools
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..data import load_dataset
from ..devices import hardware, pick_device, resolve_precision
from ..errors import ConfigError
from ..evaluation import evaluate
from ..models.io import load
from .recipes import (CURVE_EXAMPLES, CURVE_POINTS, DIGITS, GAN_DIGITS, GAN_MNIST, GPT_SHAKESPEARE_CPU,
                      LSTM_SHAKESPEARE_CPU, MNIST, MNIST_BUDGET_S, MNIST_TRAIN, SAMPLING_CASES, VAE_DIGITS, VAE_MNIST)
from ..training import TrainConfig, Trainer

from .audio import wavegan_fsdd, wavenet_fsdd
from .superres import sr3_mnist, superres
from .common import _data_spec, _kept, _run_dir, _seeded, _train, steps_for_budget

VAE_DIGITS_MODEL, VAE_DIGITS_TRAIN = VAE_DIGITS.model_settings, VAE_DIGITS.train  # their old names


def vae_digits(data_root=None, quick: bool = False, seed: int = 0, out=None) -> dict[str, Any]:
    """VAE on digits: test NLL bound (IWAE, K = 1000) and negative ELBO in nats per image."""
    recipe = VAE_DIGITS
    data = load_dataset(recipe.data, **recipe.data_options)
    model = _seeded(recipe.model, data, seed, **recipe.model_settings)
    train = dict(recipe.train, seed=seed, progress=False)
    if quick:
        train.update(steps=50, eval_every=25)
    run_dir = _run_dir(out, recipe.model)
    with contextlib.nullcontext(run_dir) if run_dir else tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        _, summary = _train(model, data, train, out_dir=tmp, data_spec=_data_spec(recipe))
        wall = time.perf_counter() - start
        best = load(f"{tmp}/best")
    iw_samples = 10 if quick else recipe.evaluation["num_samples"]
    iwae = evaluate(best, data, "test", num_samples=iw_samples)
    elbo = evaluate(best, data, "test", num_samples=1)
    return _kept({"name": "vae-digits", "test_nll_nats": iwae["nll_nats"], "bound": True, "iw_samples": iw_samples,
                  "test_neg_elbo_nats": elbo["nll_nats"], "bits_per_dim": iwae["bits_per_dim"],
                  "steps": summary["steps"], "wall_s": wall, "seed": seed}, run_dir)


def gpt_shakespeare_cpu(data_root=None, quick: bool = False, seed: int = 0, precision: str = "fp32",
                        out=None) -> dict[str, Any]:
    """GPT on Tiny Shakespeare, nanoGPT's small CPU settings: validation loss (nats/char) and wall time.

    fp32 by default: at width 128 and 768 tokens a batch, bf16 autocast measured 6% slower on a
    2-core CPU (its casts cost more than the smaller matmuls save).
    """
    recipe = GPT_SHAKESPEARE_CPU
    data = load_dataset(recipe.data, root=data_root, **recipe.data_options)
    model = _seeded(recipe.model, data, seed, **recipe.model_settings)
    steps = 20 if quick else recipe.train["steps"]
    train = dict(recipe.train, steps=steps, warmup_steps=min(100, steps // 10), precision=precision, seed=seed,
                 progress=False)
    run_dir = _run_dir(out, recipe.model)
    start = time.perf_counter()
    _train(model, data, dict(train, eval_every=10**9), out_dir=run_dir,  # validation only at the end
           data_spec=_data_spec(recipe))
    wall = time.perf_counter() - start
    result = evaluate(model, data, "val", max_examples=50 if quick else None)
    return _kept({"name": "gpt-shakespeare-cpu", "val_loss_nats": result["nll_nats"],
                  "val_bits_per_char": result["bits_per_token"], "exact": True, "val_tokens": result["num_tokens"],
                  "steps": steps, "precision": precision, "parameters": model.num_parameters(), "wall_s": wall,
                  "seed": seed}, run_dir)


def vae_mnist(data_root=None, quick: bool = False, seed: int = 0, precision: str = "auto", out=None) -> dict[str, Any]:
    """VAE 784-400-20 with a Bernoulli decoder on grey MNIST, batch 128, Adam 1e-3, 10 epochs.

    The set-up of the PyTorch examples' VAE: reports seconds per epoch and the test negative
    ELBO with binary cross-entropy on grey values (not a likelihood of the 256-level data).
    """
    recipe = VAE_MNIST
    data = load_dataset(recipe.data, root=data_root, **recipe.data_options)
    model = _seeded(recipe.model, data, seed, **recipe.model_settings)
    epochs = 0.05 if quick else recipe.train["epochs"]
    train = dict(recipe.train, epochs=epochs, precision=precision, seed=seed, progress=False)
    run_dir = _run_dir(out, recipe.model)
    trainer, summary = _train(model, data, train, out_dir=run_dir, data_spec=_data_spec(recipe))
    wall = summary["wall_s"]
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        x = data.test.images
        recon, kl = model.elbo_terms(x)
        neg_elbo = float((kl - recon).mean())
    return _kept({"name": "vae-mnist", "test_neg_elbo_nats": neg_elbo, "bound": True,
                  "note": "BCE on grey pixels in [0,1], as the PyTorch example; not a likelihood of 256-level data",
                  "epochs": epochs, "s_per_epoch": wall / epochs, "precision": trainer.precision, "wall_s": wall,
                  "seed": seed}, run_dir)


def likelihood_digits(model_name: str, data_root=None, quick: bool = False, seed: int = 0, out=None) -> dict[str, Any]:
    """Any likelihood model on digits with its recipe: test NLL in nats per image (exact or bound)."""
    recipe = DIGITS[model_name]
    eval_kw = recipe.evaluation
    data = load_dataset(recipe.data, **recipe.data_options)
    model = _seeded(recipe.model, data, seed, **recipe.model_settings)
    train = dict(recipe.train, seed=seed, progress=False)
    if quick:
        train.update(steps=20, eval_every=10)
    run_dir = _run_dir(out, recipe.model)
    with contextlib.nullcontext(run_dir) if run_dir else tempfile.TemporaryDirectory() as tmp:
        _, summary = _train(model, data, train, out_dir=tmp, data_spec=_data_spec(recipe))
        best = load(f"{tmp}/best") if (Path(tmp) / "best").is_dir() else model
    start = time.perf_counter()
    result = evaluate(best, data, "test", max_examples=8 if quick else None, **eval_kw)
    return _kept({"name": f"{model_name}-digits", "test_nll_nats": result["nll_nats"],
                  "bits_per_dim": result["bits_per_dim"], "likelihood": result["likelihood"],
                  "steps": summary["steps"], "wall_s": summary["wall_s"], "eval_s": time.perf_counter() - start,
                  "parameters": model.num_parameters(), "seed": seed}, run_dir)


def likelihood_mnist(model_name: str, data_root=None, quick: bool = False, seed: int = 0,
                     budget_s: float = MNIST_BUDGET_S, name: str | None = None, out=None) -> dict[str, Any]:
    """A likelihood family on MNIST (256 levels) trained for ``budget_s`` seconds on this machine.

    Reports the test NLL (exact or bound) in bits per dimension over the whole test split and
    the curve of validation bits/dim against training wall time (evaluation time excluded).
    """
    recipe = MNIST[model_name]
    model_kw, eval_kw, curve_kw = recipe.model_settings, recipe.evaluation, recipe.curve
    data = load_dataset(recipe.data, root=data_root, **recipe.data_options)
    train = dict(MNIST_TRAIN, **recipe.train, seed=seed, progress=False)
    steps = 6 if quick else steps_for_budget(model_name, data, model_kw, train, budget_s, seed)
    model = _seeded(model_name, data, seed, **model_kw)
    run_dir = _run_dir(out, recipe.model)
    trainer = Trainer(model, data, TrainConfig.for_model(model, **dict(train, steps=steps)), out_dir=run_dir,
                      data_spec=_data_spec(recipe))
    curve, train_s = [], 0.0
    points = 2 if quick else CURVE_POINTS
    for k in range(1, points + 1):
        start = time.perf_counter()
        trainer.fit(until=round(steps * k / points))
        train_s += time.perf_counter() - start
        val = evaluate(trainer.eval_model(), data, "val", max_examples=8 if quick else CURVE_EXAMPLES, **curve_kw)
        curve.append({"step": trainer.step, "train_s": round(train_s, 2), "val_bits_per_dim": round(val["bits_per_dim"], 4)})
    start = time.perf_counter()
    result = evaluate(trainer.eval_model(), data, "test", max_examples=16 if quick else None, **eval_kw)
    return _kept({"name": name or f"{model_name}-mnist", "test_bits_per_dim": result["bits_per_dim"],
            "test_nll_nats": result["nll_nats"],
            "likelihood": result["likelihood"], "test_examples": result["num_examples"], "eval_settings": eval_kw,
            "budget_s": budget_s, "steps": steps, "batch_size": train["batch_size"],
            "precision": trainer.precision, "wall_s": train_s, "eval_s": time.perf_counter() - start,
            "parameters": model.num_parameters(), "curve": curve, "seed": seed}, run_dir)


def lstm_shakespeare_cpu(data_root=None, quick: bool = False, seed: int = 0, out=None) -> dict[str, Any]:
    """LSTM against GPT on Tiny Shakespeare at about equal parameters and equal wall time.

    Trains the gpt-shakespeare-cpu recipe, then an LSTM (2 layers, 232 units, 0.79M parameters
    against the GPT's 0.80M) for as many steps as fit in the GPT's wall time; both report the
    validation loss in nats per character over the whole split.
    """
    gpt = gpt_shakespeare_cpu(data_root, quick=quick, seed=seed, out=out)
    recipe = LSTM_SHAKESPEARE_CPU
    data = load_dataset(recipe.data, root=data_root, **recipe.data_options)
    model_kw = recipe.model_settings
    train = dict(recipe.train, seed=seed, progress=False)
    steps = 20 if quick else steps_for_budget("lstm", data, model_kw, train, gpt["wall_s"], seed)
    model = _seeded("lstm", data, seed, **model_kw)
    run_dir = _run_dir(out, recipe.model)
    start = time.perf_counter()
    _train(model, data, dict(train, steps=steps), out_dir=run_dir, data_spec=_data_spec(recipe))
    wall = time.perf_counter() - start
    result = evaluate(model, data, "val", max_examples=50 if quick else None)
    return {"name": "lstm-shakespeare-cpu", "lstm_val_loss_nats": result["nll_nats"], "lstm_parameters": model.num_parameters(),
            "lstm_steps": steps, "lstm_batch_size": train["batch_size"], "lstm_wall_s": wall,
            "gpt_val_loss_nats": gpt["val_loss_nats"], "gpt_parameters": gpt["parameters"], "gpt_steps": gpt["steps"],
            "gpt_batch_size": 12, "gpt_wall_s": gpt["wall_s"], "val_tokens": result["num_tokens"], "seed": seed,
            **({"runs": gpt["runs"] + [str(run_dir)]} if run_dir else {})}


def sampling_speed(data_root=None, quick: bool = False, seed: int = 0, num_samples: int = 16,
                   out=None) -> dict[str, Any]:
    """Images per second of ``sample(num_samples)`` for each family at MNIST size, fp32, after a warm-up.

    Its models are untrained (the cost of sampling does not depend on the weights): ``out`` keeps nothing.
    """
    data = load_dataset("digits" if quick else "mnist", root=data_root)
    rates: dict[str, float] = {}
    for label, model_name, kwargs in SAMPLING_CASES:
        model = _seeded(model_name, data, seed, **MNIST[model_name].model_settings).eval()
        warm = dict(kwargs, steps=2) if model_name == "ddpm" else kwargs
        if model_name != "pixelcnn":  # one pass of PixelCNN sampling is the whole cost; nothing to warm
            model.sample(2, generator=torch.Generator().manual_seed(seed), **warm)
        n = 2 if quick else num_samples
        start = time.perf_counter()
        model.sample(n, generator=torch.Generator().manual_seed(seed), **kwargs)
        rates[label] = n / (time.perf_counter() - start)
    return {"name": "sampling-speed", "images_per_s": {k: round(v, 3) for k, v in rates.items()},
            "num_samples": 2 if quick else num_samples, "data": data.info.name, "precision": "fp32",
            "threads": torch.get_num_threads(), "seed": seed}


def _train_run(name: str, data, model_kw: dict, train: dict, run_dir: Path, quick: bool, seed: int,
               budget_s: float | None, data_root=None) -> None:
    """Train one compare run into ``run_dir``; a run left there by a killed benchmark is resumed."""
    from ..models.io import read_config
    from ..runs import read_run_file
    from ..training.trainer import resume

    if (run_dir / "run.json").is_file() and (run_dir / "checkpoint").is_dir():
        run = read_run_file(run_dir)
        if run["train"].get("seed") != seed:
            raise ConfigError(f"'{run_dir}' holds a run of seed {run['train'].get('seed')}, not {seed}; "
                              "give the benchmark another --out folder")
        if read_config(run_dir / "checkpoint").get("step", 0) < run["total_steps"]:
            resume(run_dir, data_root=data_root, overrides={"progress": False}).fit()
        return
    if run_dir.exists():  # killed before its first checkpoint: nothing to keep
        shutil.rmtree(run_dir)
    train = dict(dict(batch_size=64, eval_every=250, checkpoint_every=0, log_every=100, num_samples=64),
                 **train, seed=seed, progress=False)
    if quick:
        train.update(steps=4, eval_every=2)
    elif budget_s is not None:
        train["steps"] = steps_for_budget(name, data, model_kw, train, budget_s, seed)
    model = _seeded(name, data, seed, **model_kw)
    _train(model, data, train, out_dir=run_dir, data_spec={"name": data.info.name, "options": {}})


def _compare(data, recipes: dict[str, tuple[dict, dict]], out, quick: bool, seed: int, feature_steps: int,
             num_samples: int | None, budget_s: float | None = None, data_root=None,
             train_only: bool = False) -> dict[str, Any]:
    """Train every recipe on ``data`` (in ``out/runs``), train the feature network, run ``compare``.

    Whatever a killed run of the benchmark left in ``out`` is kept: finished runs and the feature
    network are reused and unfinished runs resume, so ``train_only`` can train on one machine and
    a second call score the runs on another (the scoring runs on the GPU where there is one).
    """
    from ..compare import compare_runs
    from ..evaluation.features import load_feature_network, save_feature_network, train_feature_network

    out = Path(out)
    if (out / "features").is_dir():
        net = load_feature_network(out / "features")
    else:
        net = train_feature_network(data, steps=30 if quick else feature_steps, seed=seed, progress=False)
        save_feature_network(net, out / "features")
    runs = []
    for name, (model_kw, train_kw) in recipes.items():
        _train_run(name, data, model_kw, train_kw, out / "runs" / name, quick, seed, budget_s, data_root)
        runs.append(out / "runs" / name)
    if train_only:
        return {"runs": [str(r) for r in runs], "features": net.content_hash, "stage": "trained"}
    report = compare_runs(runs, out / "report", net, num_samples=16 if quick else num_samples, seed=seed,
                          data_root=data_root, progress=False, first_data=data, device="auto")
    keep = ("model", "likelihood", "parameters", "steps", "train_seconds", "bits_per_dim", "nll_nats", "fid", "kid",
            "precision", "recall", "coverage", "class_kl", "memorisation", "sampling_s_per_image")
    rows = [{k: r.get(k) for k in keep} for r in report["runs"]]
    ref = report["reference"]
    return {"features": report["features"], "feature_test_accuracy": net.test_accuracy, "num_samples": report["num_samples"],
            "rows": rows, "reference": {k: ref.get(k) for k in keep if k in ref},
            "memorisation_baseline": ref["memorisation_baseline"], "num_test": ref["num_test"],
            "report": str(out / "report"), "seed": seed, "eval_device": report["device"],
            "eval_device_name": torch.cuda.get_device_name(report["device"]) if report["device"].startswith("cuda")
            else "cpu"}


def compare_digits(data_root=None, quick: bool = False, seed: int = 0, out=None,
                   train_only: bool = False) -> dict[str, Any]:
    """Every family on digits with its digits recipe, then ``genlab compare`` over them all."""
    data = load_dataset("digits")
    recipes = {name: (r.model_settings, r.train) for name, r in {"vae": VAE_DIGITS, **DIGITS, **GAN_DIGITS}.items()}
    with tempfile.TemporaryDirectory() as tmp:
        result = _compare(data, recipes, out or tmp, quick, seed, feature_steps=600, num_samples=None,
                          train_only=train_only)
    return {"name": "compare-digits", **result}


def compare_mnist(data_root=None, quick: bool = False, seed: int = 0, out=None,
                  budget_s: float = MNIST_BUDGET_S, train_only: bool = False) -> dict[str, Any]:
    """Every family on MNIST, each trained for ``budget_s`` seconds, then ``genlab compare``.

    Scoring follows DESIGN.md's protocol: 10,000 samples per model. On a CPU, PixelCNN's and
    DDPM's samples take hours; train with ``train_only`` here and score with a second call on a
    GPU (minutes).
    """
    data = load_dataset("mnist", root=data_root)
    recipes = {name: (r.model_settings, dict(r.train, eval_every=0, eval_batches=1)) for name, r in MNIST.items()}
    recipes.update({name: (r.model_settings, r.train) for name, r in GAN_MNIST.items()})
    with tempfile.TemporaryDirectory() as tmp:
        result = _compare(data, recipes, out or tmp, quick, seed, feature_steps=3000, num_samples=None,
                          budget_s=budget_s, data_root=data_root, train_only=train_only)
    return {"name": "compare-mnist", "budget_s": budget_s, **result}


BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "vae-digits": vae_digits,
    **{f"{name}-digits": functools.partial(likelihood_digits, name) for name in DIGITS},
    "gpt-shakespeare-cpu": gpt_shakespeare_cpu,
    "vae-mnist": vae_mnist,
    **{f"{name}-mnist": functools.partial(likelihood_mnist, name) for name in MNIST if name != "vae"},
    "vae-mnist-likelihood": functools.partial(likelihood_mnist, "vae", name="vae-mnist-likelihood"),
    "lstm-shakespeare-cpu": lstm_shakespeare_cpu,
    "sampling-speed": sampling_speed,
    "compare-digits": compare_digits,
    "compare-mnist": compare_mnist,
    "sr-x3": functools.partial(superres, 3),
    "sr-x4": functools.partial(superres, 4),
    "sr3-mnist": sr3_mnist,
    "wavenet-fsdd": wavenet_fsdd,
    "wavegan-fsdd": wavegan_fsdd,
}


def run_benchmark(name: str, data_root=None, quick: bool = False, **kwargs) -> dict[str, Any]:
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark '{name}'; known: {', '.join(BENCHMARKS)}")
    result = BENCHMARKS[name](data_root=data_root, quick=quick, **kwargs)
    device = pick_device("auto")
    if result.get("precision") == "auto":  # what it meant on this machine
        result["precision"] = resolve_precision("auto", device)
    result["hardware"] = hardware(device)  # which CPU (and capability) or GPU produced the figures
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in result.items()}

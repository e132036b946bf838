"""The super-resolution benchmarks: ``sr-x3``, ``sr-x4`` (Set5 / Set14) and ``sr3-mnist`` (7x7 -> 28x28).

``sr-x3`` / ``sr-x4`` train sr-cnn on BSD100 patches for a budget of this machine's seconds, then
sr-gan from its weights, and score both beside bicubic on Set5 and Set14 as the field does (PSNR
and SSIM on Y, ``scale`` pixels of border cropped, the distributed low-resolution files as input).
``sr3-mnist`` trains SR3 and a small sr-cnn on MNIST pairs and scores them on the test split.
The settings are the recipes in :mod:`genlab.recipes`; :func:`crops_picture` draws the comparison.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .common import _data_spec, _kept, _run_dir, _seeded, _train, steps_for_budget
from ..data import load_dataset
from ..data.superres import SRPair, bicubic_resize
from ..errors import ConfigError
from ..evaluation.restoration import bicubic_baseline, psnr, ssim
from .recipes import SR3_MNIST, SR3_MNIST_BUDGET_S, SR_BUDGET_S, SR_CNN, SR_CNN_MNIST, SR_GAN, SR_GAN_BUDGET_S
from ..tasks.superres import evaluate_pairs, upscale

TEST_SETS = ("set5", "set14")


def _train_for(model, data, recipe, steps: int, seed: int, run_dir, quick: bool) -> tuple[Any, float]:
    """The trained model (EMA copy where kept) in eval mode, and the training wall time."""
    start = time.perf_counter()
    trainer, _ = _train(model, data, dict(recipe.train, steps=steps, seed=seed, progress=not quick), run_dir,
                        _data_spec(recipe))
    return trainer.eval_model().eval(), time.perf_counter() - start


def _scores(model, tests: dict[str, list[SRPair]]) -> dict[str, Any]:
    out = {}
    for name, pairs in tests.items():
        result = evaluate_pairs(model, pairs)
        out[name] = {"psnr": result["psnr"], "ssim": result["ssim"]}
        out["ms_per_megapixel"] = out.get("ms_per_megapixel", 0.0) + result["ms_per_megapixel"] / len(tests)
    return out


def superres(scale: int, data_root=None, quick: bool = False, seed: int = 0, out=None,
             budget_s: float = SR_BUDGET_S, gan_budget_s: float = SR_GAN_BUDGET_S) -> dict[str, Any]:
    """sr-cnn and sr-gan at ``scale`` against bicubic on Set5 and Set14 (PSNR / SSIM on Y).

    With ``out``, the runs are kept in ``out/runs/`` and the picture of crops is written to
    ``out/sr-x{scale}.png``.
    """
    if scale not in SR_CNN:
        raise ConfigError(f"the super-resolution benchmarks are at scale 3 and 4, not {scale}")
    cnn_recipe, gan_recipe = SR_CNN[scale], SR_GAN[scale]
    data = load_dataset(cnn_recipe.data, root=data_root, **cnn_recipe.data_options)
    tests = {name: list(load_dataset(name, root=data_root, scale=scale).test) for name in TEST_SETS}
    if quick:
        tests = {name: pairs[:1] for name, pairs in tests.items()}
    rows = [{"model": "bicubic", "parameters": 0, "train_s": 0.0,
             **{name: _pick(bicubic_baseline(pairs)) for name, pairs in tests.items()}}]

    cnn_dir, gan_dir = _run_dir(out, "sr-cnn"), _run_dir(out, "sr-gan")
    steps = 3 if quick else steps_for_budget("sr-cnn", data, cnn_recipe.model_settings, cnn_recipe.train, budget_s, seed)
    cnn = _seeded("sr-cnn", data, seed, **cnn_recipe.model_settings)
    cnn, cnn_s = _train_for(cnn, data, cnn_recipe, steps, seed, cnn_dir, quick)
    rows.append({"model": "sr-cnn", "parameters": cnn.num_parameters(), "train_s": cnn_s, "steps": steps,
                 **_scores(cnn, tests)})

    gan_steps = 3 if quick else steps_for_budget("sr-gan", data, gan_recipe.model_settings, gan_recipe.train,
                                                 gan_budget_s, seed)
    gan = _seeded("sr-gan", data, seed, **gan_recipe.model_settings)
    gan.net.load_state_dict(cnn.net.state_dict())  # SRGAN starts from the pixel-loss network
    gan, gan_s = _train_for(gan, data, gan_recipe, gan_steps, seed, gan_dir, quick)
    rows.append({"model": "sr-gan", "parameters": sum(p.numel() for p in gan.net.parameters()),  # the generator's
                 "train_s": cnn_s + gan_s, "steps": gan_steps,
                 **_scores(gan, tests)})
    result = {"name": f"sr-x{scale}", "scale": scale, "rows": rows, "budget_s": budget_s, "gan_budget_s": gan_budget_s,
              "batch_size": cnn_recipe.train["batch_size"], "precision": cnn_recipe.train["precision"],
              "data_options": cnn_recipe.data_options, "seed": seed, "threads": torch.get_num_threads(),
              "test_images": {name: len(pairs) for name, pairs in tests.items()}}
    if out is not None:
        pair = tests["set5"][2 if len(tests["set5"]) > 2 else 0]  # the butterfly: edges and texture
        result["picture"] = str(crops_picture(pair, {"sr-cnn": cnn, "sr-gan": gan}, Path(out) / f"sr-x{scale}.png"))
    return _kept(result, cnn_dir, gan_dir)


def _pick(scored: dict[str, Any]) -> dict[str, float]:
    return {"psnr": scored["psnr"], "ssim": scored["ssim"]}


def crops_picture(pair: SRPair, models: dict[str, Any], path: Path, crop: int = 96) -> Path:
    """One row of ``crop`` x ``crop`` crops of ``pair``'s centre: the input (nearest), bicubic, each
    model's output and the truth, each labelled; written to ``path`` (PNG)."""
    from PIL import Image, ImageDraw

    s = pair.scale
    _, H, W = pair.highres.shape
    c = min(crop, H, W) // s * s
    top, left = (H - c) // 2 // s * s, (W - c) // 2 // s * s
    panels = {"input": pair.lowres.repeat_interleave(s, 1).repeat_interleave(s, 2),
              "bicubic": bicubic_resize(pair.lowres, (H, W))}
    for name, model in models.items():
        panels[name] = upscale(model, pair.lowres).to(torch.uint8)
    panels["truth"] = pair.highres
    zoom, label_h, pad = 3, 18, 4
    size = c * zoom
    sheet = Image.new("RGB", (len(panels) * (size + pad) + pad, size + label_h + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, image) in enumerate(panels.items()):
        part = image[:, top:top + c, left:left + c].permute(1, 2, 0).numpy()
        tile = Image.fromarray(part).resize((size, size), Image.Resampling.NEAREST)
        x = pad + i * (size + pad)
        sheet.paste(tile, (x, pad + label_h))
        draw.text((x + 2, pad), name, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _score_batch(outputs: torch.Tensor, truths: torch.Tensor, scale: int) -> dict[str, float]:
    """Mean PSNR / SSIM (Y, border ``scale``) of uint8 ``[N, C, H, W]`` outputs against truths."""
    p = [psnr(o, t, scale) for o, t in zip(outputs, truths)]
    q = [ssim(o, t, scale) for o, t in zip(outputs, truths)]
    return {"psnr": sum(p) / len(p), "ssim": sum(q) / len(q)}


def sr3_mnist(data_root=None, quick: bool = False, seed: int = 0, out=None, budget_s: float = SR3_MNIST_BUDGET_S,
              test_images: int = 500) -> dict[str, Any]:
    """SR3 (trained ``budget_s`` seconds) and sr-cnn (a fifth of that) enlarging MNIST 7x7 -> 28x28, beside bicubic.

    PSNR / SSIM on the first ``test_images`` test digits (one SR3 sample each, DDIM 50 steps) and
    SR3's bound on ``-log p(x | low-res)`` in bits per dimension over the same images.
    """
    data = load_dataset(SR3_MNIST.data, root=data_root, **SR3_MNIST.data_options)
    n = 8 if quick else test_images
    batch = data.test.get(torch.arange(n))
    truth, lowres = batch["x"], batch["lowres"]
    scale = data.info.scale
    bicubic = torch.stack([bicubic_resize(im, tuple(truth.shape[-2:])) for im in lowres])
    rows = [{"model": "bicubic", "parameters": 0, "train_s": 0.0, **_score_batch(bicubic, truth, scale)}]
    dirs = []
    for recipe, seconds in ((SR_CNN_MNIST, budget_s / 5), (SR3_MNIST, budget_s)):
        run_dir = _run_dir(out, recipe.model)
        dirs.append(run_dir)
        steps = 3 if quick else steps_for_budget(recipe.model, data, recipe.model_settings, recipe.train, seconds, seed)
        model = _seeded(recipe.model, data, seed, **recipe.model_settings)
        model, train_s = _train_for(model, data, recipe, steps, seed, run_dir, quick)
        start = time.perf_counter()
        with torch.no_grad():
            if recipe.model == "sr3":
                gen = torch.Generator().manual_seed(seed)
                outputs = torch.cat([model.sample(len(part), condition=part, generator=gen,
                                                  **(dict(SR3_MNIST.evaluation, steps=2) if quick else
                                                     SR3_MNIST.evaluation))
                                     for part in lowres.split(100)])
            else:
                outputs = torch.cat([model.sample(len(part), condition=part) for part in lowres.split(100)])
        seconds = time.perf_counter() - start
        row = {"model": recipe.model, "parameters": model.num_parameters(), "train_s": train_s, "steps": steps,
               "ms_per_image": 1000 * seconds / n, **_score_batch(outputs.to(torch.uint8), truth, scale)}
        if model.likelihood == "bound":
            torch.manual_seed(seed)
            nll = torch.cat([-model.log_prob(x, condition=c, timestep_samples=8)
                             for x, c in zip(truth.split(100), lowres.split(100))])
            row["bits_per_dim"] = float(nll.mean()) / (truth[0].numel() * 0.6931471805599453)
        rows.append(row)
    return _kept({"name": "sr3-mnist", "scale": scale, "rows": rows, "budget_s": budget_s, "test_images": n,
                  "sampler": SR3_MNIST.evaluation, "seed": seed, "threads": torch.get_num_threads()}, *dirs)

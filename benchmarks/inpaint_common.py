"""What the inpainting benchmarks share (``inpaint_digits.py``, ``inpaint_mnist.py``).

The fixed set of masks, the models (trained here, or loaded from run folders), every method on
every mask with its time, the scores (MSE inside the mask; with a feature network, the share
classified as the original digit and the Fréchet distance) and the picture of masked inputs,
completions and truths.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

import genlab
from genlab.data.modalities.image import save_image_grid
from genlab.evaluation.quality import embed, predict
from genlab.evaluation.sample_quality import frechet_distance_features
from genlab.tasks import masks
from genlab.tasks.inpaint import inpaint

MASK_TITLES = {"bottom": "bottom half", "right": "right half", "box": "central box", "strokes": "strokes (seed 0)"}


def fixed_masks(height: int, width: int) -> dict[str, torch.Tensor]:
    """The benchmarks' masks (``[H, W]``, True = to fill): bottom half, right half, the central box, strokes (seed 0)."""
    return {"bottom": masks.bottom_half(height, width), "right": masks.right_half(height, width),
            "box": masks.center_box(height, width), "strokes": masks.strokes(height, width, seed=0)}


def trained_models(data, models: dict[str, tuple[dict, dict]], runs: Path | None = None) -> tuple[dict, dict]:
    """``({name: model in eval mode}, {name: training seconds})`` for ``models`` (``name: (model
    settings, TrainConfig settings)``).

    A folder ``runs/name`` that exists is loaded (a run of ``genlab train``, or one kept here
    before). A missing one is trained here on the CPU (torch seed 0), and kept as the run folder
    ``runs/name`` when ``runs`` is given; the model returned is the one sampling uses (the EMA
    copy when the settings turn EMA on). Training seconds are given for the models trained here.
    """
    out, seconds = {}, {}
    for name, (settings, train) in models.items():
        folder = None if runs is None else runs / name
        if folder is not None and folder.exists():
            out[name] = genlab.load(folder).eval()
            continue
        torch.manual_seed(0)
        model = genlab.create_model(name, data=data, **settings)
        config = genlab.TrainConfig(**{**dict(progress=False, eval_every=0, checkpoint_every=0, device="cpu"), **train})
        trainer = genlab.Trainer(model, data, config, out_dir=folder)
        start = time.perf_counter()
        trainer.fit()
        seconds[name] = time.perf_counter() - start
        out[name] = trainer.eval_model().eval()
    return out, seconds


def complete_all(models: dict, truth: torch.Tensor, mask_set: dict[str, torch.Tensor],
                 seed: int = 0) -> dict[tuple[str, str], tuple[torch.Tensor, float]]:
    """``{(mask name, model name): (completions, seconds per image)}``: each model fills each mask of
    ``truth`` once, with a generator seeded ``seed`` for every call."""
    out = {}
    for kind, mask in mask_set.items():
        for name, model in models.items():
            start = time.perf_counter()
            filled = inpaint(model, truth, mask, generator=torch.Generator().manual_seed(seed))
            out[kind, name] = filled, (time.perf_counter() - start) / len(truth)
    return out


def mse_in_mask(filled: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over the images and the masked pixels (``mask`` ``[H, W]``) of (filled - truth)^2, in levels squared."""
    return (filled.float() - truth.float())[:, :, mask].pow(2).mean().item()


def class_share(net, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of ``images`` that the feature network ``net`` classifies as ``labels``."""
    return (predict(net, images) == labels.long().cpu()).float().mean().item()


def frechet_distance_to(net, images: torch.Tensor, reference_features: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to ``net``'s features of ``images`` and ``reference_features``."""
    return frechet_distance_features(embed(net, images), reference_features)


def save_picture(truth: torch.Tensor, completions: dict, mask_set: dict[str, torch.Tensor], model_names,
                 levels: int, path: Path, per_row: int = 8) -> Path:
    """PNG: per mask, a row of masked inputs (the hole mid-grey), a row per model of its completions,
    and a row of the truths; the first ``per_row`` images."""
    truth = truth[:per_row]
    rows = []
    for kind, mask in mask_set.items():
        rows.append(torch.where(mask, torch.full_like(truth, levels // 2), truth))
        rows += [completions[kind, name][0][:per_row] for name in model_names]
        rows.append(truth)
    return save_image_grid(torch.cat(rows), levels, path, nrow=per_row, min_size=32)  # cells of 32 px: the published pictures

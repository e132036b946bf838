"""Video prediction scored against the true future frames, as the Moving MNIST literature reports it.

Given a test clip's first ``Tc`` frames, a prediction model makes the remaining ``T - Tc``; with
intensities in [0, 1]:

* **MSE per frame**: the squared error summed over a frame's pixels (and channels), averaged over
  the predicted frames and the clips (Srivastava et al. 2015; PredRNN's Table 1: ConvLSTM 103.3,
  PredRNN 56.8; SimVP 23.8);
* **MAE per frame**: the absolute error, summed and averaged the same way;
* **SSIM**: :func:`~genlab.evaluation.restoration.structural_similarity` (Wang et al. 2004,
  11x11 Gaussian window, data range 1) of each predicted frame against the truth (the mean over
  channels for RGB), averaged over the predicted frames and the clips;
* the same three figures for **copying the last context frame** into every future frame, the
  floor any model must beat; and the MSE and SSIM at each future step.

Predictions are rounded to the data's levels before scoring (what ``sample`` returns).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from ..errors import DataError
from .restoration import SSIM_WINDOW, structural_similarity


def frame_scores(predicted: torch.Tensor, truth: torch.Tensor, levels: int = 256) -> dict[str, torch.Tensor]:
    """Per clip and frame, for clips ``[N, T, C, H, W]`` of integer levels: ``se`` and ``ae`` (errors on
    [0, 1] intensities summed over a frame) and ``ssim`` (None where frames are under 11x11), each ``[N, T]``."""
    if predicted.shape != truth.shape or predicted.dim() != 5:
        raise DataError(f"predicted {tuple(predicted.shape)} and true clips {tuple(truth.shape)} must be one shape "
                        "[N, T, C, H, W]")
    top = levels - 1
    p, q = predicted.detach().cpu().to(torch.float64) / top, truth.detach().cpu().to(torch.float64) / top
    diff = p - q
    out = {"se": diff.pow(2).flatten(2).sum(2), "ae": diff.abs().flatten(2).sum(2), "ssim": None}
    if min(p.shape[-2:]) >= SSIM_WINDOW:
        out["ssim"] = structural_similarity(p, q, 1.0).mean(2)  # [N, T, C] -> mean over channels
    return out


def evaluate_prediction(model, split, *, context_frames: int | None = None, max_examples: int | None = None,
                        batch_size: int = 32, progress: bool = False, **sample_args: Any) -> dict[str, Any]:
    """Scores (see the module) of a prediction model on the clips of ``split``.

    ``context_frames``: frames given (default: the split's, else the model's data's). Returns
    ``mse_per_frame``, ``mae_per_frame``, ``ssim`` (None for frames under 11x11), the per-step
    ``mse_by_frame`` and ``ssim_by_frame``, ``copy_last`` (the same for the last context frame
    repeated), ``num_examples``, ``context_frames``, ``predicted_frames`` and ``ms_per_clip``.
    """
    info = model.data_info
    tc = context_frames or getattr(split, "context_frames", None) or info.context_frames
    n = len(split) if not max_examples else min(max_examples, len(split))
    if n < 1:
        raise DataError("no clips to score")
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="prediction", unit="batch")
    sums: dict[str, Any] = {}
    seconds = 0.0
    for start in starts:
        clips = split.get(torch.arange(start, min(start + batch_size, n)))["x"]
        t = clips.shape[1]
        if not tc or not 1 <= tc < t:
            raise DataError(f"context_frames must be between 1 and {t - 1} for {t}-frame clips, got {tc}")
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.sample(len(clips), condition=clips[:, :tc].to(model.device), **sample_args).cpu()
        seconds += time.perf_counter() - t0
        truth = clips[:, tc:]
        for name, guess in (("model", out[:, tc:]), ("copy_last", clips[:, tc - 1: tc].expand_as(truth))):
            scores = frame_scores(guess, truth, info.levels)
            for key, value in scores.items():
                if value is not None:
                    sums[(name, key)] = sums.get((name, key), 0) + value.sum(0)
    frames = t - tc

    def summary(name: str) -> dict[str, Any]:
        ssim = sums.get((name, "ssim"))
        return {"mse_per_frame": float(sums[(name, "se")].sum()) / (n * frames),
                "mae_per_frame": float(sums[(name, "ae")].sum()) / (n * frames),
                "ssim": None if ssim is None else float(ssim.sum()) / (n * frames),
                "mse_by_frame": [float(v) / n for v in sums[(name, "se")]],
                "ssim_by_frame": None if ssim is None else [float(v) / n for v in ssim]}

    model_scores = summary("model")
    baseline = summary("copy_last")
    return {**model_scores, "copy_last": {k: baseline[k] for k in ("mse_per_frame", "mae_per_frame", "ssim")},
            "num_examples": n, "context_frames": tc, "predicted_frames": frames, "ms_per_clip": 1000 * seconds / n}


def describe_prediction(result: dict[str, Any]) -> list[str]:
    """Lines for a person: the model's figures beside copying the last context frame."""
    base = result["copy_last"]

    def ssim(value):
        return "-" if value is None else f"{value:.4f}"

    return [f"{'':16s}{'model':>10s}{'copy last frame':>18s}",
            f"{'MSE per frame':16s}{result['mse_per_frame']:10.2f}{base['mse_per_frame']:18.2f}",
            f"{'MAE per frame':16s}{result['mae_per_frame']:10.2f}{base['mae_per_frame']:18.2f}",
            f"{'SSIM':16s}{ssim(result['ssim']):>10s}{ssim(base['ssim']):>18s}",
            "MSE by future frame: " + " ".join(f"{v:.1f}" for v in result["mse_by_frame"])]

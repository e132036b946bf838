"""Inpainting on the digits test split: MSE inside the mask against the truth, and seconds per image.

    python benchmarks/inpaint_digits.py [--images 32] [--steps 1500] [--out benchmarks]

Trains a small DDPM, PixelCNN and VAE on digits (or uses ``--runs DIR`` with folders ddpm/,
pixelcnn/, vae/ made by genlab train), fills a fixed set of masks (bottom half, right half, the
central box, seeded strokes) in the first ``--images`` test images with each method, prints a
Markdown table (MSE in grey levels squared, 0..16 scale) and writes ``inpaint-digits.png``: per
mask, rows of masked inputs, each method's completions and the truths.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import genlab
from genlab.data.modalities.image import save_image_grid
from genlab.tasks import masks
from genlab.tasks.inpaint import inpaint

MODELS = {  # small models that train in well under a minute each on 2 CPU cores
    "ddpm": dict(timesteps=200, channels=[32, 64]),
    "pixelcnn": dict(channels=32, layers=5),
    "vae": dict(latent_dim=16),
}
MASKS = {"bottom": masks.bottom_half(8, 8), "right": masks.right_half(8, 8), "box": masks.center_box(8, 8),
         "strokes": masks.strokes(8, 8, seed=0)}


def trained_models(data, steps: int, runs: Path | None) -> dict:
    out = {}
    for name, overrides in MODELS.items():
        if runs is not None:
            out[name] = genlab.load(runs / name).eval()
            continue
        torch.manual_seed(0)
        model = genlab.create_model(name, data=data, **overrides)
        genlab.Trainer(model, data, genlab.TrainConfig(steps=steps, batch_size=64, lr=2e-3, progress=False,
                                                       eval_every=0, checkpoint_every=0, device="cpu")).fit()
        out[name] = model.eval()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--steps", type=int, default=1500, help="training steps per model")
    p.add_argument("--runs", type=Path, help="use trained runs DIR/ddpm, DIR/pixelcnn, DIR/vae instead")
    p.add_argument("--out", type=Path, default=Path("benchmarks"))
    args = p.parse_args()
    torch.set_num_threads(2)
    data = genlab.load_dataset("digits")
    truth = data.test.images[:args.images].long()
    models = trained_models(data, args.steps, args.runs)
    rows, picture = [], []
    for kind, mask in MASKS.items():
        picture.append(torch.where(mask, torch.full_like(truth[:8], 8), truth[:8]))
        for name, model in models.items():
            start = time.perf_counter()
            filled = inpaint(model, truth, mask, generator=torch.Generator().manual_seed(0))
            seconds = (time.perf_counter() - start) / len(truth)
            mse = (filled.float() - truth.float())[:, :, mask].pow(2).mean().item()
            rows.append((kind, name, mse, seconds))
            picture.append(filled[:8])
        picture.append(truth[:8])
    print("| mask | method | MSE in the mask (levels^2) | s per image |\n|---|---|---|---|")
    for kind, name, mse, seconds in rows:
        print(f"| {kind} | {name} | {mse:.2f} | {seconds:.4f} |")
    path = save_image_grid(torch.cat(picture), data.info.levels, args.out / "inpaint-digits.png", nrow=8)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

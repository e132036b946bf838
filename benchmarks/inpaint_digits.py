"""Inpainting on the digits test split: MSE inside the mask against the truth, and seconds per image.

    python benchmarks/inpaint_digits.py [--images 32] [--steps 1500] [--out benchmarks]

Trains a small DDPM, PixelCNN and VAE on digits (or uses ``--runs DIR`` with folders ddpm/,
pixelcnn/, vae/ made by genlab train; a missing one is trained and kept there), fills a fixed set
of masks (bottom half, right half, the central box, seeded strokes) in the first ``--images``
test images with each method, prints a Markdown table (MSE in grey levels squared, 0..16 scale)
and writes ``inpaint-digits.png``: per mask, rows of masked inputs, each method's completions and
the truths. ``inpaint_common.py`` holds what this shares with ``inpaint_mnist.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genlab
from inpaint_common import complete_all, fixed_masks, mse_in_mask, save_picture, trained_models

MODELS = {  # small models that train in well under a minute each on 2 CPU cores
    "ddpm": dict(timesteps=200, channels=[32, 64]),
    "pixelcnn": dict(channels=32, layers=5),
    "vae": dict(latent_dim=16),
}
MASKS = fixed_masks(8, 8)


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
    train = dict(steps=args.steps, batch_size=64, lr=2e-3)
    models, _ = trained_models(data, {name: (settings, train) for name, settings in MODELS.items()}, args.runs)
    completions = complete_all(models, truth, MASKS)
    print("| mask | method | MSE in the mask (levels^2) | s per image |\n|---|---|---|---|")
    for (kind, name), (filled, seconds) in completions.items():
        print(f"| {kind} | {name} | {mse_in_mask(filled, truth, MASKS[kind]):.2f} | {seconds:.4f} |")
    path = save_picture(truth, completions, MASKS, list(models), data.info.levels, args.out / "inpaint-digits.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

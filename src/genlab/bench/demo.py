"""``genlab demo``: the default model (the VAE) on the built-in digits, with pictures."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch

from ..data import load_dataset
from ..evaluation import evaluate
from ..models.io import load
from .recipes import VAE_DIGITS
from ..models.registry import create_model
from ..training import TrainConfig, Trainer
from ..plots import save_image_grid


def run_demo(out: str | Path = "runs/demo", steps: int | None = None) -> dict:
    """Train the VAE on digits, then write samples, reconstructions and the curve under ``out``."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    data = load_dataset(VAE_DIGITS.data, **VAE_DIGITS.data_options)
    torch.manual_seed(0)  # the initial weights, like every other random choice of the demo, are seeded
    model = create_model(VAE_DIGITS.model, data=data, **VAE_DIGITS.model_settings)
    train = dict(VAE_DIGITS.train, checkpoint_every=1000, sample_every=1000)
    if steps is not None:
        train["steps"] = steps
    print(f"genlab demo: VAE ({model.num_parameters():,} parameters) on digits (1,000 train / 350 val / "
          f"447 test images, 17 levels) -> {out}", file=sys.stderr)
    trainer = Trainer(model, data, TrainConfig().replace(**train), out_dir=out,
                      data_spec={"name": "digits", "options": {}})
    summary = trainer.fit()
    best = load(out / "best")
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    shown = best.sample(64, generator=gen, **best.display_sample_args)  # the decoder mean, as genlab sample shows
    samples = save_image_grid(shown, 17, out / "samples.png")
    x = data.test.images[:32]
    pairs = torch.stack([x, best.reconstruct(x)], dim=1).flatten(0, 1)  # input, reconstruction, ...
    recon = save_image_grid(pairs, 17, out / "reconstructions.png", nrow=8)
    result = evaluate(best, data, "test", num_samples=1000, progress=True)  # about 30 s: a bar with the time left
    print(f"\ntrained {summary['steps']} steps in {summary['wall_s']:.1f} s "
          f"(best validation at step {best_step(out)})")
    print(f"test NLL: {result['nll_nats']:.2f} nats per image ({result['bits_per_dim']:.3f} bits/dim), "
          "an upper bound (importance-weighted, K=1000) on 447 test images")
    print(f"samples:         {samples}")
    print(f"reconstructions: {recon}  (columns in pairs: input, reconstruction)")
    print(f"training curve:  {out / 'training_curve.png'}")
    print(f"saved model:     {out / 'best'}  (try: genlab sample {out} --num 16)")
    return result


def best_step(out: Path) -> int:
    from ..models.io import read_config

    return read_config(out / "best").get("step", -1)

"""Inpainting on the MNIST test split: MSE inside the mask, share classified as the original digit,
Fréchet distance of the completed images, and seconds per image.

    GENLAB_DATA=DIR python benchmarks/inpaint_mnist.py [--images 100] [--runs DIR] [--features DIR]
                                                       [--out benchmarks] [--no-write] [--quick]

Trains a small DDPM, PixelCNN and VAE on MNIST on one CPU thread (or uses ``--runs DIR`` with
folders ddpm/, pixelcnn/, vae/ made by genlab train; a missing one is trained and kept there) and
a feature network (or loads ``--features DIR``, e.g. one of ``genlab features train --data
mnist``; a missing folder is trained and kept there). Each method fills a fixed set of masks
(bottom half, right half, the central box, seeded strokes) in the first ``--images`` test
images, once each (seed 0). Scores per mask and method: the MSE inside the mask against the truth
(pixel values in [0, 1]), the share of completions the feature network classifies as the
original digit, the Fréchet distance between the completions' features and those of the 10,000
test images, and seconds per image; reference rows score the truths themselves and the hole left
black. Prints the table, writes ``inpaint-mnist.png`` (per mask: masked inputs, each method's
completions, the truths) and, unless ``--no-write``, the section of BENCHMARKS.md between its
markers (``write_benchmarks.py`` keeps it). ``--quick`` checks the script in a minute (a few
training steps, 4 images; figures meaningless; BENCHMARKS.md left alone).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

import torch

import genlab
from genlab.data.core import DataSet
from genlab.evaluation.features import load_feature_network, save_feature_network, train_feature_network
from genlab.evaluation.quality import embed
from inpaint_common import (MASK_TITLES, class_share, complete_all, fixed_masks, frechet_distance_to, mse_in_mask,
                            save_picture, trained_models)
from write_benchmarks import machine, write_kept_section

NAME = "inpaint_mnist"
# Small models that train in a few minutes each on one CPU thread: (model settings, training settings).
_TRAIN = dict(batch_size=64, eval_batches=1, num_samples=4)
MODELS = {
    "ddpm": (dict(timesteps=200, channels=[16, 32]), dict(_TRAIN, steps=800, lr=2e-3, ema_decay=0.995, precision="bf16")),
    "pixelcnn": (dict(channels=24, layers=4), dict(_TRAIN, steps=300, lr=2e-3, precision="bf16")),
    "vae": (dict(architecture="mlp", hidden=[400], latent_dim=16, decoder="logistic"), dict(_TRAIN, steps=2000, lr=1e-3)),
}
FEATURE_STEPS = 600
TITLES = {"ddpm": "DDPM", "pixelcnn": "PixelCNN", "vae": "VAE"}


def feature_network(data: DataSet, folder: Path | None, steps: int, quick: bool):
    """``(net, training seconds or None)``: the network in ``folder`` if there is one, else one trained here
    (seed 0; kept in ``folder`` when given)."""
    if folder is not None and folder.exists():
        net = load_feature_network(folder)
        net.check_data(data.info)
        return net, None
    if quick:  # no validation passes over 5,000 images
        data = DataSet(data.info, data.train, None, data.test)
    start = time.perf_counter()
    net = train_feature_network(data, steps=steps, seed=0, progress=False)
    seconds = time.perf_counter() - start
    if folder is not None:
        save_feature_network(net, folder)
    return net, seconds


def measure(args) -> dict:
    data = genlab.load_dataset("mnist")
    truth, labels = data.test.images[:args.images].long(), data.test.labels[:args.images]
    _, _, h, w = truth.shape
    mask_set = fixed_masks(h, w)
    settings = {name: (model, dict(train, steps=3) if args.quick else train) for name, (model, train) in MODELS.items()}
    models, train_s = trained_models(data, settings, args.runs)
    net, feature_s = feature_network(data, args.features, 20 if args.quick else FEATURE_STEPS, args.quick)
    reference = embed(net, data.test.images)  # all 10,000 test images
    scale = float(data.info.levels - 1) ** 2  # levels^2 -> pixel values in [0, 1], squared

    def scores(images: torch.Tensor, mask=None) -> dict:
        return {"mse": None if mask is None else mse_in_mask(images, truth, mask) / scale,
                "class_share": class_share(net, images, labels), "fd": frechet_distance_to(net, images, reference)}

    completions = complete_all(models, truth, mask_set)
    load = os.getloadavg()[1]  # the machine's 5-minute load average as the inpainting ends
    rows = [{"mask": None, "method": "truth", **scores(truth), "s_per_image": None}]
    for kind, mask in mask_set.items():
        rows.append({"mask": kind, "method": "black", **scores(torch.where(mask, 0, truth), mask), "s_per_image": None})
        for name in models:
            filled, seconds = completions[kind, name]
            rows.append({"mask": kind, "method": name, **scores(filled, mask), "s_per_image": seconds})
    picture = save_picture(truth, completions, mask_set, list(models), data.info.levels, args.out / "inpaint-mnist.png")
    return {"rows": rows, "images": len(truth), "pixels": {k: int(m.sum()) for k, m in mask_set.items()},
            "features": net.content_hash, "feature_test_accuracy": net.test_accuracy, "feature_train_s": feature_s,
            "feature_steps": FEATURE_STEPS if feature_s is not None and not args.quick else None,
            "train_s": train_s, "settings": {n: models[n].config.to_dict() for n in models},
            "picture": str(picture), "date": datetime.date.today().isoformat(), "threads": torch.get_num_threads(),
            "load_average_5min": load, "cpus": os.cpu_count()}


def table(result: dict) -> list[str]:
    lines = ["| mask, pixels filled | method | MSE in the mask | classified as the original digit | "
             "Fréchet distance | s per image |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        mask = "none" if r["mask"] is None else f"{MASK_TITLES[r['mask']]}, {result['pixels'][r['mask']]}"
        method = {"truth": "truth (reference)", "black": "hole left black (reference)"}.get(r["method"],
                                                                                          TITLES.get(r["method"]))
        mse = "-" if r["mse"] is None else f"{r['mse']:.4f}"
        seconds = "-" if r["s_per_image"] is None else f"{r['s_per_image']:.3f}"
        lines.append(f"| {mask} | {method} | {mse} | {r['class_share']:.3f} | {r['fd']:.2f} | {seconds} |")
    return lines


def section(result: dict, wall_s: float) -> str:
    ddpm, pixelcnn, vae = (MODELS[n][0] for n in ("ddpm", "pixelcnn", "vae"))
    steps = {n: MODELS[n][1]["steps"] for n in MODELS}
    trained = ", ".join(f"{TITLES[n]} {result['train_s'][n]:.0f} s" if n in result["train_s"]
                        else f"{TITLES[n]} none (its run given with --runs)" for n in MODELS)
    features = (f"trained by the script: {result['feature_steps']} steps, batch 128, seed 0, "
                f"{result['feature_train_s']:.0f} s, to fit the CPU budget; `--features DIR` takes another, e.g. one "
                "made by `genlab features train --data mnist`" if result["feature_train_s"] is not None
                else "given with --features")
    return "\n".join([
        f"<!-- begin: {NAME} -->",
        "## Inpainting on MNIST (MSE inside the mask, class kept, Fréchet distance, seconds per image)",
        "",
        f"Command: `GENLAB_DATA=DIR python benchmarks/inpaint_mnist.py` (defaults: the first {result['images']} test "
        f"images), on {result['date']}. Machine: {machine()} (2-core CPU, shared), {result['threads']} thread; "
        f"{wall_s:.0f} s in all.",
        "",
        f"Models trained by the script on the 55,000 training images, torch seed 0, batch 64: DDPM (T = "
        f"{ddpm['timesteps']}, U-Net {ddpm['channels']}, {steps['ddpm']} steps, lr 2e-3, EMA 0.995, bf16), PixelCNN "
        f"(width {pixelcnn['channels']}, {pixelcnn['layers']} layers, {steps['pixelcnn']} steps, lr 2e-3, bf16), VAE "
        f"(MLP {vae['hidden']}, latent {vae['latent_dim']}, discretized logistic decoder, {steps['vae']} steps, lr 1e-3); "
        f"training took {trained}. They are small and briefly trained, to fit a CPU budget. Then "
        "`genlab.tasks.inpaint.inpaint` with each family's defaults (DDPM RePaint without resampling; PixelCNN "
        "temperature 1; VAE 300 Adam steps, 4 restarts, decoder mean), one completion per image (seed 0), fp32; the "
        "known pixels are unchanged by every method. MSE: pixel values in [0, 1], squared, inside the mask only. "
        f"Class and Fréchet distance: genlab's MNIST feature network `{result['features']}` ({features}; test "
        f"accuracy {result['feature_test_accuracy']:.3f}), which classifies each completed image (against the "
        "digit's label) and whose features of the completed images are compared with those of all 10,000 test "
        f"images. With {result['images']} images per row the Fréchet distance carries a large small-sample bias: "
        "read it against the truth row, which is that floor (the truths are among the 10,000). The 'hole left "
        "black' rows fill the mask with 0 (MNIST's background), what doing nothing scores. One run. Seconds per "
        "image: the wall time of one `inpaint` call over all the images, divided by their number, on a shared "
        f"machine whose 5-minute load average was {result['load_average_5min']:.1f} on its {result['cpus']} cores "
        "as the inpainting ended: other jobs ran beside this one, so the times are slower than on an idle machine "
        "and vary from run to run; compare them with one another.",
        "",
        *table(result),
        "",
        "The VAE's completions are the decoder's mean (a point estimate), which favours a low MSE; the DDPM and "
        "PixelCNN draw samples, whose MSE includes the spread of plausible digits. PixelCNN is exact only for the "
        "bottom half; for the others it cannot see the known pixels below and right of the hole.",
        "",
        "![masked inputs, DDPM, PixelCNN and VAE completions, truths, per mask](benchmarks/inpaint-mnist.png)",
        "",
        "Picture `benchmarks/inpaint-mnist.png`: per mask (bottom half, right half, central box, strokes), rows of "
        "the masked inputs (the hole mid-grey), the DDPM, PixelCNN and VAE completions and the truths; the first 8 "
        "test images.",
        "",
        f"<!-- end: {NAME} -->",
    ])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100, help="the first N test images (default 100)")
    p.add_argument("--runs", type=Path, help="trained runs DIR/ddpm, DIR/pixelcnn, DIR/vae (a missing one is trained there)")
    p.add_argument("--features", type=Path, help="a feature network folder (a missing one is trained there)")
    p.add_argument("--out", type=Path, default=Path("benchmarks"), help="where inpaint-mnist.png goes")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print the table only; leave BENCHMARKS.md alone")
    p.add_argument("--json", type=Path, help="also write the raw figures to this file")
    p.add_argument("--quick", action="store_true", help="a few training steps and 4 images: checks the script only")
    args = p.parse_args()
    if args.quick:
        args.images, args.no_write = min(args.images, 4), True
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = measure(args)
    wall = time.perf_counter() - start
    print("\n".join(table(result)))
    print(f"wrote {result['picture']}")
    if args.json:
        args.json.write_text(json.dumps({**result, "wall_s": wall}, indent=2))
    if not args.no_write:
        print(f"wrote {write_kept_section(NAME, section(result, wall), after='inpaint_digits')}")


if __name__ == "__main__":
    main()

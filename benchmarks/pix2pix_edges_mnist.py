"""pix2pix on MNIST edge maps: draw the digit from its outline, within a CPU budget.

    GENLAB_DATA=DIR python benchmarks/pix2pix_edges_mnist.py [--budget-s 480] [--images 1000] [--threads 1]
                                                            [--seed 0] [--features DIR] [--out DIR] [--no-write]

Trains ``pix2pix`` on ``mnist-edges`` (each MNIST digit the target of its Sobel edge map) for as
many steps as fit in ``--budget-s`` seconds on this machine (timed first, as ``genlab bench``'s
MNIST benchmarks do), then the same U-Net on L1 alone (``adversarial_weight=0``, the paper's
ablation) for the same number of steps. Both translate the edge maps of the first ``--images``
MNIST test digits, which are scored against the truth:

* L1: mean absolute difference to the true digit, pixels in [0, 1];
* Fréchet distance between genlab's MNIST feature network's features of the outputs and of the
  other test digits (test images ``--images`` onwards), the sample-quality protocol's distance;
* the share of outputs the feature network classifies as the source digit's label.

Reference rows score the true digits themselves (the floor of the distance at this sample size)
and the edge maps as they are. The feature network is trained here (or loaded from / saved to
``--features DIR``). Prints one JSON line, writes ``benchmarks/pix2pix-edges-mnist.png`` (rows of
edge maps, pix2pix outputs, L1-only outputs and truths) and, unless ``--no-write``, the section
of BENCHMARKS.md between its markers (``write_benchmarks.py`` keeps it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from pathlib import Path

import torch

import genlab
from genlab.bench import steps_for_budget
from genlab.data.modalities.image import save_image_grid
from genlab.evaluation.features import load_feature_network, save_feature_network, train_feature_network
from genlab.evaluation.quality import embed, predict
from genlab.evaluation.sample_quality import frechet_distance_features
from genlab.tasks.translate import translate_images

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- begin: pix2pix_edges_mnist -->", "<!-- end: pix2pix_edges_mnist -->"
PICTURE = "pix2pix-edges-mnist.png"
MODEL = dict(width=32, max_width=256, disc_width=32, disc_layers=2)  # U-Net 32-64-128-256 (depth 4), 34x34 patches
TRAIN = dict(batch_size=64, eval_every=0, checkpoint_every=0, sample_every=0, log_every=100, progress=False,
             device="cpu")  # the rest is pix2pix's own: Adam 2e-4, betas (0.5, 0.999), constant, no clipping
FEATURE_STEPS = 2000


def train(data, steps: int, seed: int, out: Path | None, **model_kw) -> tuple:
    torch.manual_seed(seed)
    model = genlab.create_model("pix2pix", data=data, **MODEL, **model_kw)
    config = genlab.TrainConfig.for_model(model, **TRAIN, steps=steps, seed=seed)
    trainer = genlab.Trainer(model, data, config, out_dir=out)
    summary = trainer.fit()
    return trainer.eval_model().eval(), summary


def feature_network(root: Path, folder: Path | None, steps: int, seed: int):
    if folder is not None and (folder / "config.json").is_file():
        return load_feature_network(folder)
    net = train_feature_network(genlab.load_dataset("mnist", root=root), steps=steps, seed=seed, progress=False)
    if folder is not None:
        save_feature_network(net, folder)
    return net


def scores(images: torch.Tensor, truth: torch.Tensor, labels: torch.Tensor, net, reference: torch.Tensor) -> dict:
    return {"l1": float((images.float() - truth.float()).abs().mean() / 255),
            "fid": frechet_distance_features(embed(net, images), reference),
            "class_agreement": float((predict(net, images) == labels).float().mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget-s", type=float, default=480.0, help="pix2pix's training budget in seconds (default 8 min)")
    p.add_argument("--images", type=int, default=1000, help="the first N test digits are translated and scored")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="the data root (default $GENLAB_DATA, else ./data)")
    p.add_argument("--features", type=Path, help="the MNIST feature network: loaded if there, else trained and saved")
    p.add_argument("--feature-steps", type=int, default=FEATURE_STEPS, help="training steps of the feature network")
    p.add_argument("--out", type=Path, help="keep the two runs as DIR/pix2pix and DIR/l1-only")
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md and the picture alone")
    p.add_argument("--from-json", type=Path, help="rewrite the BENCHMARKS.md section from the JSON line a run printed "
                                                  "(no training)")
    args = p.parse_args()
    if args.from_json:
        write_section(json.loads(args.from_json.read_text().strip().splitlines()[-1]))
        return
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    root = genlab.data.default_data_root(args.data_root)
    data = genlab.load_dataset("mnist-edges", root=root)
    n = args.images
    test = data.test.get(torch.arange(len(data.test)))
    sources, truth, labels = test["source"][:n], test["x"][:n], test["y"][:n]

    net = feature_network(root, args.features, args.feature_steps, args.seed)
    reference = embed(net, test["x"][n:])
    steps = steps_for_budget("pix2pix", data, MODEL, TRAIN, args.budget_s, args.seed)
    rows = {}
    outputs = {}
    for name, kw in (("pix2pix", {}), ("l1-only", {"adversarial_weight": 0.0})):
        model, summary = train(data, steps, args.seed, args.out / name if args.out else None, **kw)
        begin = time.perf_counter()
        out = translate_images(model, sources, generator=torch.Generator().manual_seed(args.seed))
        seconds = time.perf_counter() - begin
        again = translate_images(model, sources, generator=torch.Generator().manual_seed(args.seed + 1))
        outputs[name] = out
        rows[name] = {**scores(out, truth, labels, net, reference), "steps": summary["steps"],
                      "wall_s": round(summary["wall_s"], 1), "parameters": sum(p.numel() for p in model.generator.parameters()),
                      "ms_per_image": 1000 * seconds / n,
                      "noise_l1": float((again.float() - out.float()).abs().mean() / 255)}
        print(json.dumps({name: rows[name]}), file=sys.stderr, flush=True)
    rows["truth"] = scores(truth, truth, labels, net, reference)
    rows["edge map"] = scores(sources, truth, labels, net, reference)
    row = {"name": "pix2pix-edges-mnist", "date": datetime.date.today().isoformat(), "images": n,
           "reference_images": len(reference), "budget_s": args.budget_s, "feature_steps": args.feature_steps,
           "threads": args.threads, "seed": args.seed,
           "features": net.content_hash, "feature_test_accuracy": net.test_accuracy, "torch": torch.__version__,
           "model": MODEL, "batch_size": TRAIN["batch_size"], "rows": rows,
           "total_wall_s": round(time.perf_counter() - start, 1)}
    print(json.dumps(row))
    if not args.no_write:
        k = 12
        picture = torch.cat([sources[:k], outputs["pix2pix"][:k], outputs["l1-only"][:k], truth[:k]])
        save_image_grid(picture, 256, HERE / PICTURE, nrow=k)
        write_section(row)


def section(row: dict) -> str:
    sys.path.insert(0, str(HERE))
    from write_benchmarks import machine

    r = row["rows"]
    p2p, l1 = r["pix2pix"], r["l1-only"]
    command = (f"GENLAB_DATA=DIR python benchmarks/pix2pix_edges_mnist.py --budget-s {row['budget_s']:g} "
               f"--images {row['images']} --threads {row['threads']} --seed {row['seed']} "
               f"--feature-steps {row['feature_steps']}")

    def line(name, values, extra="- | - | - | -"):
        return (f"| {name} | {values['l1']:.4f} | {values['fid']:.2f} | {values['class_agreement']:.3f} | {extra} |")

    def trained(name):
        v = r[name]
        return line(name, v, f"{v['steps']:,} | {v['wall_s']:.0f} | {v['noise_l1']:.4f} | {v['ms_per_image']:.2f}")

    return "\n".join([
        BEGIN,
        "## Image-to-image translation: pix2pix on MNIST edge maps",
        "",
        f"Command: `{command}`, on {row['date']}. Machine: {machine()} (2-core CPU, shared), {row['threads']} "
        f"thread; {row['total_wall_s']:.0f} s in all.",
        "",
        "Data `mnist-edges`: each MNIST digit (55,000 train) is the target of its edge map (Sobel gradient "
        "magnitude of the digit in [0, 1], thresholded at 2, half a full step's; `genlab.data.pairs.sobel_edges`). "
        f"pix2pix: U-Net generator (widths 32-64-128-256, depth 4 on the 28x28 digits padded to 32, dropout 0.5 on "
        f"the three inner decoder layers as its noise, instance norm, {p2p['parameters']:,} parameters), PatchGAN "
        "discriminator on (edge map, digit) (width 32, 2 stride-2 layers), L1 x 100 + non-saturating loss, Adam 2e-4, "
        f"betas (0.5, 0.999), constant rate, batch {row['batch_size']}, fp32, as many steps as a timing probe fits "
        f"in {row['budget_s']:g} s; the L1-only row is the same U-Net with `adversarial_weight=0` for the same "
        "number of steps (no discriminator, so less time). Scored on the first "
        f"{row['images']:,} MNIST test digits (their edge maps translated once, seed {row['seed']}): L1 to the true "
        "digit on pixels in [0, 1]; the Fréchet distance between genlab's MNIST feature network's features "
        f"(`{row['features']}`, trained here, test accuracy {row['feature_test_accuracy']:.3f}) of the "
        f"{row['images']:,} images and of the other {row['reference_images']:,} test digits; and the share of images "
        "that network classifies as the source digit's label. 'noise L1': the mean change of the outputs when the "
        "dropout seed changes. The reference rows score the true digits (the distance's floor at this sample size) "
        "and the edge maps themselves.",
        "",
        "| images | L1 to the truth | Fréchet distance | class agreement | steps | training (s) | noise L1 | "
        "ms per image |",
        "|---|---|---|---|---|---|---|---|",
        trained("pix2pix"),
        trained("l1-only"),
        line("true digits", r["truth"]),
        line("edge maps (input)", r["edge map"]),
        "",
        f"Against the L1-only U-Net of the same steps, the adversarial term changes L1 by {p2p['l1'] - l1['l1']:+.4f}, "
        f"the Fréchet distance by {p2p['fid'] - l1['fid']:+.2f} and the class agreement by "
        f"{p2p['class_agreement'] - l1['class_agreement']:+.3f}, for {p2p['wall_s'] / l1['wall_s']:.1f}x the training "
        "time (one run, one seed: differences this small may be noise). Likely because an outline fixes a digit "
        "almost entirely, little is left for the discriminator to decide; the paper's gains from the adversarial "
        "term are on photographs (facades, maps), where L1 alone averages many plausible textures into blur.",
        "",
        f"Picture `benchmarks/{PICTURE}`: rows of edge maps, pix2pix outputs, L1-only outputs and the true digits "
        "(the first 12 test digits).",
        "",
        f"![edge maps, pix2pix, L1 only, truth](benchmarks/{PICTURE})",
        "",
        END,
    ])


def write_section(row: dict) -> None:
    """Put the section into BENCHMARKS.md, replacing the one between the markers (else appended)."""
    path = HERE.parent / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    new = section(row)
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: new, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + new + "\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

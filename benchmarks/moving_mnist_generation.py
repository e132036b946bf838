"""Unconditional video generation: video-gan on Moving MNIST, the Fréchet distance of frames.

    GENLAB_DATA=DIR python benchmarks/moving_mnist_generation.py [--budget-s 1200] [--num-samples 256]
        [--num-test 1000] [--features features/mnist] [--threads 1] [--seed 0] [--out DIR] [--write-dir benchmarks]

Trains ``video-gan`` (MoCoGAN's content + GRU-motion generator, a 3-D convolutional and a frame
critic, hinge loss with spectral norm) on ``moving-mnist`` (two MNIST digits bouncing in 64x64,
20 frames) for as many steps as a timing probe fits in ``--budget-s`` seconds on this machine's
CPU, then draws ``--num-samples`` clips with the EMA generator and scores their frames
(:mod:`genlab.evaluation.video_quality`): every frame is resized to 28x28 with antialiasing and
embedded by genlab's MNIST feature network, and the Fréchet distance to the frames of the first
``--num-test`` fixed test clips is reported beside the floor, the same distance for as many real
training clips. The feature network is read from ``--features`` (a folder from ``genlab features
train --data mnist``) or, when the folder does not exist, trained on ``mnist`` and kept there.
Writes ``moving-mnist-generation.json``, the filmstrip ``moving-mnist-generation.png`` (8 clips,
a row each) and ``moving-mnist-generation.gif`` (16 clips) into ``--write-dir``; prints a table and
one JSON line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

import genlab
from genlab.bench import steps_for_budget
from genlab.data.modalities.video import save_filmstrip, save_gif
from genlab.evaluation.features import load_feature_network, save_feature_network, train_feature_network
from genlab.evaluation.quality import draw_samples
from genlab.evaluation.video_quality import score_clips

HERE = Path(__file__).resolve().parent
NAME = "moving-mnist-generation"
MODEL: dict = {}  # video-gan's defaults: content 48, motion 16, generator [64, 32, 16, 8], critics [16..128], [16..64]
TRAIN = dict(batch_size=8, eval_every=250, eval_batches=2, checkpoint_every=0, sample_every=0, log_every=50,
             progress=False, device="cpu")


def feature_network(folder: Path, root, steps: int, seed: int):
    """The MNIST feature network at ``folder``, trained on ``mnist`` and saved there when it is missing."""
    if folder.exists():
        return load_feature_network(folder)
    print(f"training an MNIST feature network ({steps} steps) into {folder}", file=sys.stderr)
    mnist = genlab.load_dataset("mnist", root=root)
    net = train_feature_network(mnist, steps=steps, seed=seed, progress=False)
    save_feature_network(net, folder)
    return load_feature_network(folder)


def table(row: dict) -> list[str]:
    r = row["video_gan"]
    return ["| clips | frame Fréchet distance (MNIST features, 28x28) | training (s) | steps | parameters |",
            "|---|---|---|---|---|",
            f"| `video-gan` samples ({r['num_samples']}) | **{r['frame_fid']:.2f}** | {r['train_s']:.0f} | "
            f"{r['steps']:,} | {r['parameters']:,} |",
            f"| real training clips ({r['num_train']}), the floor | {r['frame_fid_train']:.2f} | - | - | - |"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget-s", type=float, default=1200.0, help="training budget in seconds (default 20 minutes)")
    p.add_argument("--num-samples", type=int, default=256, help="generated clips scored")
    p.add_argument("--num-test", type=int, default=1000, help="test clips compared with (the first N of the fixed 10,000)")
    p.add_argument("--num-train", type=int, default=10000, help="distinct training clips (generated per index)")
    p.add_argument("--features", type=Path, default=Path("features/mnist"),
                   help="the MNIST feature network's folder (trained and kept there if missing)")
    p.add_argument("--feature-steps", type=int, default=2000, help="steps when the feature network is trained here")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="the data root (default $GENLAB_DATA, else ./data)")
    p.add_argument("--out", type=Path, help="keep the run as DIR/video-gan")
    p.add_argument("--write-dir", type=Path, default=HERE, help="where the .json, .png and .gif go (default benchmarks/)")
    p.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    p.add_argument("--rewrite", action="store_true",
                   help="no training: write the BENCHMARKS.md section from --write-dir's moving-mnist-generation.json")
    args = p.parse_args()
    if args.rewrite:
        write_section(json.loads((args.write_dir / f"{NAME}.json").read_text(encoding="utf-8")))
        return
    torch.set_num_threads(args.threads)
    start, date = time.perf_counter(), datetime.date.today().isoformat()
    root = genlab.data.default_data_root(args.data_root)
    net = feature_network(args.features, root, args.feature_steps, args.seed)
    data = genlab.load_dataset("moving-mnist", root=root, num_train=args.num_train, num_test=args.num_test,
                               seed=args.seed)
    steps = steps_for_budget("video-gan", data, MODEL, TRAIN, args.budget_s, args.seed, probe=3)
    with tempfile.TemporaryDirectory() as tmp:
        out = (args.out or Path(tmp)) / "video-gan"
        torch.manual_seed(args.seed)
        model = genlab.create_model("video-gan", data=data, **MODEL)
        config = genlab.TrainConfig.for_model(model, **TRAIN, steps=steps, seed=args.seed)
        trainer = genlab.Trainer(model, data, config, out_dir=out, data_spec={"name": "moving-mnist", "options": {
            "num_train": args.num_train, "num_test": args.num_test, "seed": args.seed}})
        summary = trainer.fit()
        generator = trainer.eval_model().eval()  # the EMA weights
    begin = time.perf_counter()
    samples, _ = draw_samples(generator, args.num_samples, batch_size=32, seed=args.seed)
    test = data.test.get(torch.arange(args.num_test))["x"]
    train = data.train.get(torch.arange(args.num_samples))["x"]
    scores = score_clips(samples, test, train, net, levels=data.info.levels)
    result = {**scores, "steps": steps, "train_s": round(summary["wall_s"], 1),
              "eval_s": round(time.perf_counter() - begin, 1), "parameters": generator.num_parameters(),
              "feature_network_accuracy": net.test_accuracy}
    row = {"name": NAME, "date": date, "budget_s": args.budget_s, "num_train": args.num_train, "threads": args.threads,
           "seed": args.seed, "torch": torch.__version__, "model": dict(generator.config.to_dict()),
           "train": {k: v for k, v in config.to_dict().items() if k in ("batch_size", "lr", "betas", "ema_decay")},
           "video_gan": result, "total_wall_s": round(time.perf_counter() - start, 1)}
    print("\n".join(table(row)), file=sys.stderr)
    print(json.dumps(row))
    args.write_dir.mkdir(parents=True, exist_ok=True)
    (args.write_dir / f"{NAME}.json").write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    save_filmstrip(samples[:8], args.write_dir / f"{NAME}.png", data.info.levels)
    save_gif(samples[:16], args.write_dir / f"{NAME}.gif", data.info.levels)
    if not args.no_write:
        write_section(row)


def write_section(row: dict) -> None:
    """The BENCHMARKS.md section (between its markers, after the moving_mnist section)."""
    sys.path.insert(0, str(HERE))
    from write_benchmarks import machine, write_kept_section

    r, t = row["video_gan"], row["train"]
    command = (f"GENLAB_DATA=DIR python benchmarks/moving_mnist_generation.py --budget-s {row['budget_s']:g} "
               f"--num-samples {r['num_samples']} --num-test {r['num_test']} --threads {row['threads']} "
               f"--seed {row['seed']}")
    lines = [f"<!-- begin: {NAME.replace('-', '_')} -->", "## Video generation: Moving MNIST, Fréchet distance of frames",
             "", f"Command: `{command}`, on {row['date']}. Machine: {machine()}, {row['threads']} thread(s); "
             f"{row['total_wall_s']:.0f} s in all, the MNIST feature network's training included.", "",
             f"`video-gan` (MoCoGAN's content + GRU-motion generator, a 3-D convolutional and a frame critic, hinge "
             f"loss with spectral norm; {r['parameters']:,} parameters, critics included) trains on `moving-mnist` for as "
             f"many steps as a timing probe fits in {row['budget_s']:g} s (batch {t['batch_size']}, Adam "
             f"{t.get('lr', 2e-4):g}), then {r['num_samples']} clips of its EMA generator are scored: every frame "
             f"({r['resize']}) embedded by genlab's MNIST feature network (test accuracy "
             f"{r['feature_network_accuracy']:.3f}, hash `{r['feature_network']}`), the Fréchet distance to the frames "
             f"of the first {r['num_test']:,} test clips, beside the floor: as many real training clips scored the "
             "same way. The distance judges the frames, not the motion; it is not comparable with image FIDs.", "",
             *table(row), "",
             f"Generated clips (8, a row each; the script also writes `{NAME}.gif`, 16 clips animated, which the "
             "repository does not keep):", "",
             f"![video-gan samples](benchmarks/{NAME}.png)", "", f"<!-- end: {NAME.replace('-', '_')} -->"]
    write_kept_section(NAME.replace("-", "_"), "\n".join(lines), after="moving_mnist")
    print("wrote BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()

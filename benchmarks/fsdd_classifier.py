"""The FSDD spoken-digit classifier (the audio feature network) and the real-data reference row.

    python benchmarks/fsdd_classifier.py [--steps 600] [--batch-size 64] [--threads 1] [--out features/fsdd] [--no-write]

Trains the log-mel CNN exactly as ``genlab features train --data fsdd`` does (the same function
and defaults), saves it to ``--out``, and scores the real recordings with it: the test set's
accuracy (= the classifier's test accuracy), its inception score, and two Fréchet distances that
real data reaches: train recordings against test recordings, and the test set's even-indexed
clips against its odd-indexed ones. Prints a JSON row and, unless ``--no-write``, puts a table
into BENCHMARKS.md between the ``fsdd_classifier`` markers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import time
from pathlib import Path

import torch

import genlab
from genlab.evaluation.audio_quality import real_reference
from genlab.evaluation.features import save_feature_network, train_feature_network

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- begin: fsdd_classifier -->", "<!-- end: fsdd_classifier -->"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="features/fsdd")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = genlab.load_dataset("fsdd")
    start = time.perf_counter()
    net = train_feature_network(data, steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=True)
    train_s = time.perf_counter() - start
    save_feature_network(net, args.out)
    ref = real_reference(data, net)
    c = net.config
    row = {"test_accuracy": net.test_accuracy, "hash": net.content_hash, "train_s": train_s,
           "parameters": sum(t.numel() for t in net.parameters()), "config": c.to_dict(),
           "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
           "inception_score_test": ref["inception_score"], "inception_score_train": ref["inception_score_train"],
           "fd_train_test": ref["fd_train_test"], "fd_test_halves": ref["fd_test_halves"],
           "num_train": ref["num_train"], "num_test": ref["num_test"],
           "date": datetime.date.today().isoformat(), "machine": f"{cpu_name()}, 2 cores, {args.threads} thread(s)",
           "torch": torch.__version__}
    print(json.dumps(row))
    section = "\n".join([
        BEGIN, "## FSDD spoken-digit classifier (the audio feature network)", "",
        f"Command: `python benchmarks/fsdd_classifier.py --steps {args.steps} --batch-size {args.batch_size} "
        f"--threads {args.threads}` (the same training as `genlab features train --data fsdd`), on {row['date']}, "
        f"{row['machine']}, torch {row['torch']}, fp32. Data: `fsdd` (8 kHz, clips of {c.length} samples; "
        f"{row['num_train']:,} train clips, takes 5-9 as validation, takes 0-4 = {row['num_test']} test clips). "
        f"Front end: mu-law decode, power STFT (Hann, n_fft {c.n_fft}, hop {c.hop}), {c.n_mels} triangular "
        f"HTK-mel filters 0-{c.rate // 2} Hz built by genlab, log, per-clip standardisation. CNN: conv blocks of "
        f"{c.channels} channels (two 3x3 conv + GroupNorm + ReLU, 2x2 max pool), mean over time, "
        f"{c.feature_dim}-d features, dropout {c.dropout}; {row['parameters']:,} parameters. AdamW, lr 2e-3 cosine, "
        f"{args.steps} steps of {args.batch_size} clips, random time shifts up to {max(c.hop, c.length // 16)} "
        f"samples; the weights with the best validation accuracy are kept. Training took {train_s:.0f} s.", "",
        "| figure | value |", "|---|---|",
        f"| classifier test accuracy (300 test clips) | **{net.test_accuracy:.3f}** |",
        f"| content hash | `{net.content_hash}` |",
        f"| inception score, real test recordings (max 10) | {ref['inception_score']:.2f} |",
        f"| inception score, real train recordings | {ref['inception_score_train']:.2f} |",
        f"| Fréchet distance, train recordings vs test recordings | {ref['fd_train_test']:.2f} |",
        f"| Fréchet distance, test clips even vs odd index (150 vs 150) | {ref['fd_test_halves']:.2f} |", "",
        "These are the real-data reference row for judging audio models with this classifier "
        "(`genlab.evaluation.audio_quality`): the accuracy of class-conditional samples against the asked digit, "
        "the Fréchet distance of their features against the test recordings (compare equally many clips: the "
        "distance is biased by the set sizes, so the halves' figure is a floor for sets of 150), and the inception "
        "score. The figures hold only for this classifier (its hash); they are not comparable with WaveGAN's SC09 "
        "figures (real 9.18, WaveGAN 4.67, SpecGAN 6.03), which used another classifier on another, larger data set. "
        "FSDD's test takes come from the same six speakers as the training takes.", "", END])
    if not args.no_write:
        path = HERE.parent / "BENCHMARKS.md"
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

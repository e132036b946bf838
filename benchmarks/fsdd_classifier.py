"""The FSDD spoken-digit classifier (the audio feature network) and the real-data reference row.

    python benchmarks/fsdd_classifier.py [--steps 600] [--batch-size 64] [--threads 1] [--out features/fsdd] [--no-write]
    python benchmarks/fsdd_classifier.py --rewrite    # the section from benchmarks/fsdd_classifier.json, no training

Trains the log-mel CNN exactly as ``genlab features train --data fsdd`` does (the same function
and defaults), saves it to ``--out``, and scores the real recordings with it: the test set's
accuracy (= the classifier's test accuracy), its inception score, and two Fréchet distances that
real data reaches: train recordings against test recordings, and the test set's even-indexed
clips against its odd-indexed ones. Prints a JSON row and, unless ``--no-write``, keeps it in
benchmarks/fsdd_classifier.json and puts a table into BENCHMARKS.md between the ``fsdd_classifier`` markers.
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
RESULT = HERE / "fsdd_classifier.json"  # the last run's figures (``--rewrite`` rebuilds the section from them)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def section(row: dict) -> str:
    """The BENCHMARKS.md section of a result row."""
    c = row["config"]
    shift = max(c["hop"], c["length"] // 16)
    return "\n".join([
        BEGIN, "## FSDD spoken-digit classifier (the audio feature network)", "",
        f"Command: `python benchmarks/fsdd_classifier.py --steps {row['steps']} --batch-size {row['batch_size']} "
        f"--threads {row['threads']}` (the same training and defaults as `genlab features train --data fsdd`), on "
        f"{row['date']}, {row['machine']}, torch {row['torch']}, fp32. Data: `fsdd` (8 kHz, clips of {c['length']} "
        f"samples; {row['num_train']:,} train clips (takes 10-49), 300 validation clips (takes 5-9), "
        f"{row['num_test']} test clips (takes 0-4)). Front end: mu-law decode, power STFT (Hann, n_fft "
        f"{c['n_fft']}, hop {c['hop']}), {c['n_mels']} triangular HTK-mel filters 0-{c['rate'] // 2} Hz built by "
        f"genlab (no torchaudio), log, per-clip standardisation. CNN: conv blocks of {c['channels']} channels "
        f"(two 3x3 conv + GroupNorm + ReLU, 2x2 max pool), mean over time, {c['feature_dim']}-d features, dropout "
        f"{c['dropout']}; {row['parameters']:,} parameters. AdamW, lr 2e-3 cosine, {row['steps']} steps of "
        f"{row['batch_size']} clips (seed {row['seed']}), random time shifts of up to {shift} samples; the weights "
        f"with the best validation accuracy (measured 10 times) are kept. Training took {row['train_s']:.0f} s.", "",
        "| figure | value |", "|---|---|",
        f"| classifier test accuracy ({row['num_test']} test clips) | **{row['test_accuracy']:.3f}** |",
        f"| content hash | `{row['hash']}` |",
        f"| inception score, real test recordings (of at most 10) | {row['inception_score_test']:.2f} |",
        f"| inception score, real train recordings | {row['inception_score_train']:.2f} |",
        f"| Fréchet distance, train recordings ({row['num_train']:,}) vs test recordings ({row['num_test']}) "
        f"| {row['fd_train_test']:.2f} |",
        f"| Fréchet distance, test clips of even vs odd index ({row['num_test'] // 2} vs {row['num_test'] // 2}) "
        f"| {row['fd_test_halves']:.2f} |", "",
        "This is the real-data reference row for judging audio models with this classifier "
        "(`genlab.evaluation.audio_quality`: the share of class-conditional samples heard as the asked digit, the "
        "Fréchet distance of the samples' features against the test recordings, and the inception score). The "
        "Fréchet distance is biased by the set sizes, so compare equally many clips: the halves' figure is what "
        "real data scores with sets of 150. FSDD's test takes come from the same six speakers as the training "
        "takes, so the test accuracy measures recognising these speakers' digits, not unseen voices. The figures "
        "hold for this classifier only (its hash); they are not comparable with WaveGAN's inception scores on SC09 "
        "(real 9.18, WaveGAN 4.67, SpecGAN 6.03, as given in the issue), made with another classifier on another, "
        "larger data set.", "", END])


def write(row: dict) -> None:
    path = HERE.parent / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    block = section(row)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="features/fsdd")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--rewrite", action="store_true", help=f"only rewrite the section from {RESULT.name}")
    args = p.parse_args()
    if args.rewrite:
        write(json.loads(RESULT.read_text(encoding="utf-8")))
        return
    torch.set_num_threads(args.threads)
    data = genlab.load_dataset("fsdd")
    start = time.perf_counter()
    net = train_feature_network(data, steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=True)
    train_s = time.perf_counter() - start
    save_feature_network(net, args.out)
    ref = real_reference(data, net)
    row = {"test_accuracy": net.test_accuracy, "hash": net.content_hash, "train_s": train_s,
           "parameters": sum(t.numel() for t in net.parameters()), "config": net.config.to_dict(),
           "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed, "threads": args.threads,
           "inception_score_test": ref["inception_score"], "inception_score_train": ref["inception_score_train"],
           "fd_train_test": ref["fd_train_test"], "fd_test_halves": ref["fd_test_halves"],
           "num_train": ref["num_train"], "num_test": ref["num_test"],
           "date": datetime.date.today().isoformat(), "machine": f"{cpu_name()}, 2 cores, {args.threads} thread(s)",
           "torch": torch.__version__}
    print(json.dumps(row))
    if not args.no_write:
        RESULT.write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
        write(row)


if __name__ == "__main__":
    main()

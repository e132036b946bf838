"""WaveNet generation speed: Fast WaveNet's cached generation against rerunning the whole network.

    python benchmarks/wavenet_sampling.py [--length 2000] [--num 4] [--threads 2] [--no-write]

The default WaveNet (2 stacks of 10 dilated layers, receptive field 2,047 samples, 64 residual /
64 gate / 128 skip channels), untrained: the cost of generating does not depend on the weights.
Each method draws ``--num`` clips of ``--length`` audio samples (8 kHz) with the same seed, after
a short warm-up; the cached and uncached clips are checked to be identical. Prints a table and,
unless ``--no-write``, puts it into BENCHMARKS.md between the ``wavenet_sampling`` markers.
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

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- begin: wavenet_sampling -->", "<!-- end: wavenet_sampling -->"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def timed(model, num: int, length: int, cache: bool) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    x = model.sample(num, generator=torch.Generator().manual_seed(0), length=length, cache=cache)
    return x, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=2000, help="audio samples per clip")
    p.add_argument("--num", type=int, default=4, help="clips per call (a batch)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = genlab.create_model("wavenet").eval()
    timed(model, args.num, 64, True), timed(model, args.num, 64, False)  # warm-up
    cached, t_cached = timed(model, args.num, args.length, True)
    uncached, t_uncached = timed(model, args.num, args.length, False)
    same = bool(torch.equal(cached, uncached))
    row = {"length": args.length, "num": args.num, "threads": args.threads, "parameters": model.num_parameters(),
           "cached_samples_per_s": args.num * args.length / t_cached,
           "uncached_samples_per_s": args.num * args.length / t_uncached, "identical": same,
           "date": datetime.date.today().isoformat(), "machine": f"{cpu_name()}, {torch.get_num_threads()} threads",
           "torch": torch.__version__}
    print(json.dumps(row))
    section = "\n".join([
        BEGIN, "## WaveNet generation speed (audio samples per second)", "",
        f"Command: `python benchmarks/wavenet_sampling.py --length {args.length} --num {args.num} --threads "
        f"{args.threads}`, on {row['date']}, {row['machine']}, torch {row['torch']}. The default `wavenet` "
        f"({row['parameters']:,} parameters; 2 stacks of 10 dilated layers, receptive field 2,047 samples), "
        f"untrained, fp32; {args.num} clips of {args.length} samples per call, the same seed for both methods. "
        f"Cached (Fast WaveNet: each layer keeps a queue of its past inputs, one step per layer per sample) "
        f"and uncached (the whole network rerun over the clip so far for every sample) drew "
        f"{'identical' if same else 'DIFFERENT'} clips.", "",
        "| method | audio samples per second | seconds of 8 kHz audio per second |", "|---|---|---|",
        f"| cached (Fast WaveNet) | {row['cached_samples_per_s']:.0f} | {row['cached_samples_per_s'] / 8000:.3f} |",
        f"| uncached | {row['uncached_samples_per_s']:.0f} | {row['uncached_samples_per_s'] / 8000:.4f} |", "",
        f"Speed-up: {row['cached_samples_per_s'] / row['uncached_samples_per_s']:.1f}x at this length. The uncached "
        "network's work per sample grows with the clip so far and the cached one's does not; at clips this short "
        "the uncached rate is set mostly by the per-call overhead of its 20 layers, so it changes little with length.", "", END])
    if not args.no_write:
        path = HERE.parent / "BENCHMARKS.md"
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

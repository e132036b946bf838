"""How fast `genlab eval` scores the default VAE's importance-weighted bound (K = 1000) on MNIST.

    GENLAB_DATA=DIR python benchmarks/vae_eval_speed.py [--images 128] [--k 1000] [--threads 2]
    GENLAB_DATA=DIR python benchmarks/vae_eval_speed.py --record OLD.json NEW.json   # the section

The default VAE of `genlab train vae --data mnist` (MLP, 256-level categorical decoder, its output
layer narrowed to 8.4 M weights) with seeded untrained weights (the cost does not depend on the
weights) scores the first ``--images`` test images with ``genlab.evaluate(..., num_samples=K)``;
prints one JSON line with images per second. ``--record`` writes the BENCHMARKS.md section from two
such lines: genlab before and after a change, each run by this script with that version first on
``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "vae_eval_speed"


def measure(images: int, k: int, threads: int) -> dict:
    import torch

    import genlab

    torch.set_num_threads(threads)
    data = genlab.load_dataset("mnist", val_size=0)
    torch.manual_seed(0)
    model = genlab.create_model("vae", data=data)
    genlab.evaluate(model, data, "test", num_samples=k, max_examples=8)  # warm-up
    start = time.perf_counter()
    result = genlab.evaluate(model, data, "test", num_samples=k, max_examples=images)
    seconds = time.perf_counter() - start
    return {"images": images, "k": k, "threads": threads, "seconds": seconds, "images_per_s": images / seconds,
            "nll_nats": result["nll_nats"], "parameters": model.num_parameters(), "genlab": genlab.__file__}


def section(old: dict, new: dict) -> str:
    sys.path.insert(0, str(HERE))
    from write_benchmarks import machine, write_kept_section

    text = "\n".join([
        f"<!-- begin: {NAME} -->", "## VAE evaluation speed (importance-weighted bound, K = 1000)", "",
        f"Command: `GENLAB_DATA=DIR python benchmarks/vae_eval_speed.py --images {new['images']} --k {new['k']} "
        f"--threads {new['threads']}`, once with the code before the change and once after, on "
        f"{datetime.date.today().isoformat()}, {machine()}, fp32. The default MNIST VAE ({new['parameters']:,} "
        f"parameters; 256-level categorical decoder) scores the first {new['images']} test images.", "",
        "| code | images per second | seconds | test NLL bound (nats, same noise) |", "|---|---|---|---|",
        f"| before (one decoder pass per chunk; cross-entropy over a permuted tensor) | {old['images_per_s']:.2f} | "
        f"{old['seconds']:.1f} | {old['nll_nats']:.4f} |",
        f"| after (decoder blocks that stay in cache; log-softmax over the last axis) | {new['images_per_s']:.2f} | "
        f"{new['seconds']:.1f} | {new['nll_nats']:.4f} |", "",
        f"Speed-up: {new['images_per_s'] / old['images_per_s']:.2f}x; the bound agrees to "
        f"{abs(new['nll_nats'] - old['nll_nats']):.1e} nats (float rounding). `genlab eval` now prints the "
        "standard error over the images beside the figure.", f"<!-- end: {NAME} -->"])
    write_kept_section(NAME, text)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=128)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--record", nargs=2, metavar=("OLD", "NEW"))
    args = p.parse_args()
    if args.record:
        old, new = (json.loads(Path(f).read_text().strip().splitlines()[-1]) for f in args.record)
        print(section(old, new))
        return
    print(json.dumps(measure(args.images, args.k, args.threads)))


if __name__ == "__main__":
    main()

"""Peak memory and time of a VAE likelihood evaluation, before and after chunking by a memory budget.

    python benchmarks/eval_memory.py [--examples 512] [--iw-samples 1000] [--threads 2]

An untrained MLP VAE (widths [256, 256], latent 16, logistic decoder) at MNIST size (28x28,
256 levels) scores the first N MNIST-shaped images with K importance samples: the cost of the
evaluation does not depend on the weights. The images are random levels (no data files needed).
"before" decodes a fixed 64 importance samples per pass for the whole batch of 256 images (the
former behaviour, ``chunk=64``); "after" uses the default chunk, sized so that one pass decodes
at most ``CHUNK_ROWS`` latents. Each case runs in a fresh process, whose peak RSS is reported.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def one_case(examples: int, iw_samples: int, chunk: int | None, threads: int) -> dict:
    """Runs in the child process: build, evaluate, report wall time and the NLL."""
    import torch

    import genlab
    from genlab.data import DataInfo, DataSet, ImageSplit

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    info = DataInfo(name="mnist-shaped", kind="image", shape=(1, 28, 28), levels=256, num_classes=0)
    images = torch.randint(0, 256, (examples, 1, 28, 28), dtype=torch.uint8)
    data = DataSet(info, ImageSplit(images), None, ImageSplit(images))
    model = genlab.create_model("vae", data=info, hidden=[256, 256], latent_dim=16, decoder="logistic")
    kwargs = {} if chunk is None else {"chunk": chunk}
    start = time.perf_counter()
    result = genlab.evaluate(model, data, "test", num_samples=iw_samples, **kwargs)
    return {"wall_s": round(time.perf_counter() - start, 2), "nll_nats": round(result["nll_nats"], 3)}


def measure(examples: int, iw_samples: int, chunk: int | None, threads: int) -> dict:
    """One case in a fresh interpreter; its peak RSS from the kernel's accounting of children."""
    code = (f"import json, sys; sys.path.insert(0, {repr(sys.path[0])}); import eval_memory; "
            f"print(json.dumps(eval_memory.one_case({examples}, {iw_samples}, {chunk!r}, {threads})))")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kib < before:  # ru_maxrss is the maximum over children: run the larger case last
        peak_kib = before
    return {**json.loads(out.strip().splitlines()[-1]), "peak_rss_mib": round(peak_kib / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--iw-samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    # "after" first: RUSAGE_CHILDREN keeps the maximum over all children, so the smaller runs first
    after = measure(args.examples, args.iw_samples, None, args.threads)
    before = measure(args.examples, args.iw_samples, 64, args.threads)
    print(json.dumps({"name": "eval-memory", "examples": args.examples, "iw_samples": args.iw_samples,
                      "threads": args.threads, "before_chunk_64": before, "after_default_chunk": after}))


if __name__ == "__main__":
    main()

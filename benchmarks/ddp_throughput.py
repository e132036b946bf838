"""Training throughput (examples/s) with one and with several processes (data-parallel).

    python benchmarks/ddp_throughput.py [--device cpu|cuda] [--steps 200] [--batch-size 64]

A VAE on the built-in digits, trained by genlab's trainer, started once per setting as a process
group of N processes on this machine (gloo on the CPU, NCCL on CUDA, as torchrun would). The
per-process batch is --batch-size, the global batch N times that. Throughput is the trainer's own
``items_per_s`` (examples over all processes per second) over the logged windows after the
first (warm-up). Prints one JSON line; --record also stores it in benchmarks/results.json for
write_benchmarks.py.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 20  # steps per logged window


def _worker(rank: int, world: int, port: int, args: argparse.Namespace, out: str) -> None:
    import genlab
    from genlab.training import Trainer, distributed

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(args.threads)
    try:
        data = genlab.load_dataset("digits")
        torch.manual_seed(0)
        model = genlab.create_model("vae", data=data, hidden=[256, 256], latent_dim=16)
        config = genlab.TrainConfig().replace(steps=args.steps, batch_size=args.batch_size, device=args.device,
                                              progress=False, eval_every=0, checkpoint_every=0, log_every=WINDOW,
                                              eval_batches=1)
        trainer = Trainer(model, data, config)
        trainer.fit()
        rates = [row["items_per_s"] for row in trainer.history if row["split"] == "train"][1:]
        if rank == 0:
            Path(out).write_text(json.dumps({"examples_per_s": statistics.median(rates), "windows": len(rates)}))
    finally:
        distributed.shutdown()


def measure(nproc: int, threads: int, args: argparse.Namespace) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "result.json")
        args.threads = threads
        start = time.perf_counter()
        mp.spawn(_worker, args=(nproc, port, args, out), nprocs=nproc, join=True)
        result = json.loads(Path(out).read_text())
    return {"processes": nproc, "threads_per_process": threads, **result,
            "wall_s": round(time.perf_counter() - start, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (one GPU per process)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--record", action="store_true", help="store the result in benchmarks/results.json")
    args = p.parse_args()
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: CUDA is not available")
        counts = sorted({1, min(2, torch.cuda.device_count())})
        settings = [(n, 1) for n in counts]
        machine = torch.cuda.get_device_name(0)
    else:
        cores = os.cpu_count() or 1
        settings = [(1, 1), (1, 2), (2, 1)] if cores >= 2 else [(1, 1), (2, 1)]
        machine = f"{cores}-core CPU"
    rows = [measure(n, t, args) for n, t in settings]
    result = {"date": time.strftime("%Y-%m-%d"), "device": args.device, "machine": machine, "model": "vae",
              "hidden": [256, 256], "latent_dim": 16, "batch_size_per_process": args.batch_size,
              "steps": args.steps, "torch": torch.__version__, "rows": rows}
    print(json.dumps(result))
    if args.record:
        path = ROOT / "benchmarks" / "results.json"
        results = json.loads(path.read_text())
        results.setdefault("benchmarks", {}).setdefault("ddp-throughput", {})[args.device] = result
        path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

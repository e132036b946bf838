"""fp32 against bf16: one training step of each family's benchmark recipe, on this CPU.

    GENLAB_DATA=DIR python benchmarks/precision_steps.py [--threads 2] [--steps 5] [--only NAME ...]

For each recipe (its model, data, batch size and optimizer, as `genlab bench` trains it) the
seconds per optimizer step in fp32 and in bf16 autocast: 3 warm-up steps, then the fastest of three
windows of ``--steps`` steps (the fastest, so that a moment of contention from another process does
not count). Each precision runs twice in its own process:

- as the CPU is (``native``);
- with oneDNN and ATen capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``, ``ATEN_CPU_CAPABILITY=avx2``),
  which is how an AVX2-only CPU (no AVX-512, no AMX) computes: bf16 emulated, no oneDNN bf16 LSTM.
  On a CPU that is AVX2-only already, the two rows are the same machine state.

Writes ``benchmarks/precision-steps.json`` and its section of BENCHMARKS.md; prints one JSON line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "precision_steps"
CAPPED = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def cases() -> dict:
    """label -> the recipe it times (the families whose recipes train in bf16 where it is native,
    and the two text models, whose recipes keep fp32)."""
    from genlab.bench import recipes

    return {
        "vae (MLP, MNIST)": recipes.VAE_MNIST,
        "vae (conv, MNIST)": recipes.MNIST["vae"],
        "pixelcnn (MNIST)": recipes.MNIST["pixelcnn"],
        "ddpm (MNIST)": recipes.MNIST["ddpm"],
        "sr-cnn (MNIST 7->28)": recipes.SR_CNN_MNIST,
        "sr3 (MNIST 7->28)": recipes.SR3_MNIST,
        "wavenet (FSDD)": recipes.WAVENET_FSDD,
        "wavegan (FSDD)": recipes.WAVEGAN_FSDD,
        "gpt (Tiny Shakespeare)": recipes.GPT_SHAKESPEARE_CPU,
        "lstm (Tiny Shakespeare)": recipes.LSTM_SHAKESPEARE_CPU,
    }


def time_case(label: str, precision: str, steps: int) -> dict:
    """Seconds per optimizer step of ``label``'s recipe in ``precision`` (this process's CPU state)."""
    import torch

    import genlab
    from genlab import devices
    from genlab.training import TrainConfig, Trainer

    recipe = cases()[label]
    data = genlab.load_dataset(recipe.data, **recipe.data_options)
    torch.manual_seed(0)
    model = genlab.create_model(recipe.model, data=data, **recipe.model_settings)
    train = dict(recipe.train, precision=precision, steps=10**9, epochs=0, eval_every=0, checkpoint_every=0,
                 sample_every=0, progress=False)
    trainer = Trainer(model, data, TrainConfig.for_model(model, **train))
    trainer.fit(until=3)
    windows = []
    for _ in range(3):
        start = time.perf_counter()
        trainer.fit(until=trainer.step + steps)
        windows.append((time.perf_counter() - start) / steps)
    return {"label": label, "precision": trainer.precision, "s_per_step": min(windows),
            "batch_size": trainer.config.batch_size, "cpu_capability": devices.cpu_capability(),
            "native_bf16": devices.cpu_native_bf16()}


def run_in_process(label: str, precision: str, steps: int, threads: int, capped: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), **(CAPPED if capped else {})}
    out = subprocess.run([sys.executable, __file__, "--one", label, precision, str(steps), str(threads)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def section(result: dict) -> str:
    lines = [f"<!-- begin: {NAME} -->", "## Precision: fp32 against bf16, one training step", "",
             f"Command: `GENLAB_DATA=DIR python benchmarks/precision_steps.py --threads {result['threads']} --steps "
             f"{result['steps']}`, on {result['date']}, {result['machine']}, {result['threads']} threads. "
             "Seconds per optimizer step of each benchmark recipe (its model, data and "
             "batch size), the fastest of three windows after 3 warm-up steps, each precision in a process of its own. "
             "**Native**: the CPU as it is (bf16 on its "
             f"{result['native_capability']} units). **AVX2**: the same CPU with oneDNN and ATen capped at AVX2 "
             "(`ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`), which computes as an AVX2-only CPU does (bf16 "
             "emulated; the LSTM runs in fp32 inside bf16 autocast); a stand-in for such a CPU, not a measurement of "
             "one. `--precision auto` picks the bf16 column where the capability is native and the fp32 column "
             "elsewhere.", "",
             "| recipe | batch | native fp32 (s) | native bf16 (s) | bf16 speed-up | AVX2 fp32 (s) | AVX2 bf16 (s) | "
             "bf16 speed-up |", "|---|---|---|---|---|---|---|---|"]
    for label, row in result["rows"].items():
        n32, n16, a32, a16 = (row[k]["s_per_step"] for k in ("native-fp32", "native-bf16", "avx2-fp32", "avx2-bf16"))
        lines.append(f"| {label} | {row['native-fp32']['batch_size']} | {n32:.4f} | {n16:.4f} | {n32 / n16:.2f}x | "
                     f"{a32:.4f} | {a16:.4f} | {a32 / a16:.2f}x |")
    slower = [label for label, row in result["rows"].items()
              if row["native-bf16"]["s_per_step"] > row["native-fp32"]["s_per_step"]]
    lines += ["", "A speed-up below 1 means bf16 is slower there: emulated bf16 (AVX2) is slower for every recipe, "
              "which is why `auto` keeps fp32 on such CPUs. Where bf16 is native it is faster for most recipes but "
              f"slower for {', '.join(slower) or 'none'}: the small matrices of these gain less than the casts cost. "
              "The recipes set `precision=\"auto\"`, except the GPT and LSTM on Tiny Shakespeare, which keep fp32 "
              "(their published figures were measured so; the LSTM would gain from bf16 where it is native).",
              f"<!-- end: {NAME} -->"]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--only", nargs="*")
    p.add_argument("--one", nargs=4, help=argparse.SUPPRESS)  # LABEL PRECISION STEPS THREADS, in a child process
    p.add_argument("--rewrite", action="store_true", help="only rewrite the section from precision-steps.json")
    args = p.parse_args()
    if args.rewrite:
        sys.path.insert(0, str(HERE))
        from write_benchmarks import write_kept_section

        write_kept_section(NAME, section(json.loads((HERE / "precision-steps.json").read_text())))
        return
    if args.one:
        import torch

        torch.set_num_threads(int(args.one[3]))
        print(json.dumps(time_case(args.one[0], args.one[1], int(args.one[2]))))
        return
    import torch

    from genlab import devices

    sys.path.insert(0, str(HERE))
    from write_benchmarks import machine, write_kept_section

    rows = {}
    for label in args.only or list(cases()):
        rows[label] = {}
        for capped in (False, True):
            for precision in ("fp32", "bf16"):
                key = f"{'avx2' if capped else 'native'}-{precision}"
                rows[label][key] = run_in_process(label, precision, args.steps, args.threads, capped)
                print(f"{label:26s} {key:12s} {rows[label][key]['s_per_step']:.4f} s/step", file=sys.stderr)
    result = {"name": "precision-steps", "date": datetime.date.today().isoformat(), "machine": machine(),
              "torch": torch.__version__, "threads": args.threads, "steps": args.steps,
              "native_capability": devices.cpu_capability(), "rows": rows}
    (HERE / "precision-steps.json").write_text(json.dumps(result, indent=2) + "\n")
    write_kept_section(NAME, section(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

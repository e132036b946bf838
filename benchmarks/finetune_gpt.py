"""Pre-train a small GPT on Tiny Shakespeare, fine-tune it on a small corpus of another kind of
English, and compare it with the same model trained from scratch on that corpus alone.

    GENLAB_DATA=DIR python benchmarks/finetune_gpt.py [--pretrain-steps 1000] [--steps 300] [--seed 0]
                                                      [--out DIR] [--no-write]

The small corpus is the first 20,000 characters of Multi30k's English training captions
(``<data root>/multi30k/train.en.gz``, image descriptions such as "Two men are at the stove
preparing food."), keeping only the lines whose characters are all in the pre-training
vocabulary (Tiny Shakespeare's 65 characters: a few hundred of the 29,000 lines hold digits,
brackets, quotes or other characters it lacks). It is split 90/10 like any ``text:PATH`` data. Both
models read it with Tiny Shakespeare's vocabulary, so their losses count the same characters
with the same output size.

Prints one JSON line and, unless ``--no-write``, replaces the fine-tuning section of
BENCHMARKS.md (between its markers; ``write_benchmarks.py`` keeps that section).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

import genlab

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- begin: finetune_gpt -->", "<!-- end: finetune_gpt -->"
CORPUS_CHARS = 20_000
MODEL = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0)
TRAIN = dict(batch_size=12, lr=1e-3, min_lr_ratio=0.1, betas=[0.9, 0.99], weight_decay=0.1, grad_clip=1.0,
             checkpoint_every=0, log_every=50, progress=False, device="cpu")


def small_corpus(root: Path, vocab: list[str], out: Path) -> dict:
    """Write the fine-tuning text (clean Multi30k English lines) to ``out``; returns what was kept."""
    path = root / "multi30k" / "train.en.gz"
    if not path.is_file():
        sys.exit(f"finetune_gpt: {path} is missing; point GENLAB_DATA (or --data-root) at a data root with multi30k/")
    lines = gzip.open(path, "rt", encoding="utf-8").read().splitlines()
    known = set(vocab)
    clean = [line for line in lines if set(line) <= known]
    text, used = "", 0
    for line in clean:
        if len(text) + len(line) + 1 > CORPUS_CHARS:
            break
        text += line + "\n"
        used += 1
    out.write_text(text, encoding="utf-8")
    return {"lines_total": len(lines), "lines_dropped_for_characters": len(lines) - len(clean), "lines_used": used,
            "chars": len(text)}


def train(model, data, out: Path, seed: int, init_from: dict | None = None, **settings) -> dict:
    """Train ``model`` in the run folder ``out``; the best validation loss and the final one."""
    config = genlab.TrainConfig().replace(**TRAIN, seed=seed, **settings)
    summary = genlab.Trainer(model, data, config, out_dir=out, init_from=init_from).fit()
    final = genlab.evaluate(model.eval(), data, split="val")["nll_nats"]
    return {"best_val": summary["best_val_loss"], "final_val": final, "wall_s": round(summary["wall_s"], 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root")
    p.add_argument("--pretrain-steps", type=int, default=1000)
    p.add_argument("--steps", type=int, default=300, help="fine-tuning and from-scratch steps (the same)")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="keep the three runs here (default: a temporary folder)")
    p.add_argument("--no-write", action="store_true", help="print the JSON line only; leave BENCHMARKS.md alone")
    args = p.parse_args()
    torch.set_num_threads(2)
    root = genlab.data.default_data_root(args.data_root)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        shakespeare = genlab.load_dataset("tinyshakespeare", root=root)
        torch.manual_seed(args.seed)
        pre = genlab.create_model("gpt", data=shakespeare, **MODEL)
        pretrain = train(pre, shakespeare, out / "pretrain", args.seed, steps=args.pretrain_steps, warmup_steps=100,
                         eval_every=args.pretrain_steps)
        corpus = small_corpus(root, shakespeare.info.vocab, out / "multi30k-en.txt")
        small = genlab.load_dataset(f"text:{out / 'multi30k-en.txt'}", tokenizer=pre)
        zero_shot = genlab.evaluate(genlab.load(out / "pretrain" / "best"), small, split="val")["nll_nats"]
        settings = dict(steps=args.steps, warmup_steps=20, eval_every=args.eval_every)
        model, init = genlab.load_for_finetuning(out / "pretrain", small)
        tuned = train(model, small, out / "finetune", args.seed, init_from=init, **settings)
        torch.manual_seed(args.seed)
        scratch = train(genlab.create_model("gpt", data=small, **MODEL), small, out / "scratch", args.seed, **settings)
        row = {"name": "finetune-gpt", "date": datetime.date.today().isoformat(), "seed": args.seed,
               "pretrain_steps": args.pretrain_steps, "steps": args.steps, "parameters": pre.num_parameters(),
               "pretrain": pretrain, "zero_shot_val": zero_shot, "finetune": tuned, "scratch": scratch,
               "corpus": corpus, "val_chars": len(small.val.tokens) - 1, "total_wall_s": round(time.perf_counter()
                                                                                               - start, 1)}
    print(json.dumps(row))
    if not args.no_write:
        write_section(row, args)


def section(row: dict, args) -> str:
    """The BENCHMARKS.md section for ``row``."""
    from write_benchmarks import machine

    c = row["corpus"]
    command = (f"GENLAB_DATA=DIR python benchmarks/finetune_gpt.py --pretrain-steps {row['pretrain_steps']} "
               f"--steps {row['steps']} --seed {row['seed']}")
    f, s = row["finetune"], row["scratch"]
    return "\n".join([
        BEGIN,
        "## Fine-tuning a GPT on a small corpus (validation loss, nats per character)",
        "",
        f"Command: `{command}`, on {row['date']}. Machine: {machine()} (2-core CPU, shared). One run (seed "
        f"{row['seed']}), {row['total_wall_s']:.0f} s in all.",
        "",
        f"GPT {MODEL['n_layer']} layers, {MODEL['n_head']} heads, width {MODEL['n_embd']}, context "
        f"{MODEL['block_size']} ({row['parameters']:,} parameters), batch 12, AdamW (betas 0.9, 0.99; weight decay "
        "0.1), clip 1.0, cosine to a tenth of the rate, fp32. Pre-trained on Tiny Shakespeare for "
        f"{row['pretrain_steps']:,} steps at 1e-3 (validation loss there {row['pretrain']['final_val']:.3f}). The "
        f"small corpus: the first {c['chars']:,} characters ({c['lines_used']} lines) of Multi30k's English training "
        f"captions, after dropping the {c['lines_dropped_for_characters']} of its {c['lines_total']:,} lines with "
        "characters outside Tiny Shakespeare's vocabulary; 90% train, 10% validation "
        f"({row['val_chars']:,} predicted characters). Fine-tuning (`genlab.load_for_finetuning`, what `genlab train "
        f"--init-from` does) and training from scratch use the same settings: {row['steps']} steps at 1e-3 "
        "after 20 warm-up steps, validation every "
        f"{args.eval_every} steps; both read the corpus with Tiny Shakespeare's vocabulary. Multi30k is distributed "
        "for research use by its authors; Tiny Shakespeare is public domain.",
        "",
        "| model | best validation loss | final validation loss | training wall (s) |",
        "|---|---|---|---|",
        f"| pre-trained only (zero-shot) | {row['zero_shot_val']:.3f} | - | {row['pretrain']['wall_s']} (pre-training) |",
        f"| fine-tuned from the pre-trained model | {f['best_val']:.3f} | {f['final_val']:.3f} | {f['wall_s']} |",
        f"| same model from scratch | {s['best_val']:.3f} | {s['final_val']:.3f} | {s['wall_s']} |",
        "",
        "Wall times are of a shared machine (the pre-training alone takes about a third as long unloaded). Run with "
        "`--out DIR` to keep the three run folders.",
        "",
        END,
    ])


def write_section(row: dict, args) -> None:
    """Put the section into BENCHMARKS.md, replacing the one between the markers (else appended)."""
    sys.path.insert(0, str(HERE))
    path = HERE.parent / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    new = section(row, args)
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: new, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + new + "\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Run genlab's benchmarks and write BENCHMARKS.md.

    python benchmarks/write_benchmarks.py [--runs 3] [--only NAME ...] [--nanogpt PATH]
    python benchmarks/write_benchmarks.py --rewrite    # BENCHMARKS.md and PNGs from results.json, no runs

Each benchmark runs as `genlab bench NAME --json --seed S` in its own process, one after the
other, ``--runs`` times with seeds 0, 1, 2...; the table shows the mean and the range. With
``--nanogpt PATH`` (a nanoGPT checkout) the side-by-side script also runs nanoGPT's README CPU
command on the same machine. Raw results are kept in benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GENLAB = ROOT / ".venv" / "bin" / "genlab"
NAMES = ["vae-digits", "gpt-shakespeare-cpu", "vae-mnist", "pixelcnn-digits", "realnvp-digits", "glow-digits",
         "ddpm-digits", "vae-mnist-likelihood", "pixelcnn-mnist", "realnvp-mnist", "glow-mnist", "ddpm-mnist",
         "lstm-shakespeare-cpu", "sampling-speed", "compare-digits", "compare-mnist", "sr-x3", "sr-x4", "sr3-mnist",
         "wavenet-fsdd", "wavegan-fsdd"]
MNIST_FAMILIES = ["vae-mnist-likelihood", "pixelcnn-mnist", "realnvp-mnist", "glow-mnist", "ddpm-mnist"]
CURVE_PNG = "benchmarks/mnist_bits_per_dim.png"

# Figures given for other implementations (measured by their authors' commands on a 2-core machine).
REFERENCES = {
    "vae-digits": "textbook VAE (MLP 64-256-256, latent 16, categorical decoder, early stopping): "
                  "test negative ELBO 96.4 nats per image in 20 s (mean of 3)",
    "gpt-shakespeare-cpu": "nanoGPT, README CPU command: validation loss 1.886 in 73 s",
    "vae-mnist": "PyTorch examples VAE, same set-up: 2.85 s per epoch (preloaded tensors), test loss 105.56 nats",
}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"{platform.system()} {platform.release()}")


def run_one(name: str, seed: int, data_root: str | None) -> dict:
    cmd = [str(GENLAB), "bench", name, "--json", "--seed", str(seed)]
    if data_root:
        cmd += ["--data-root", data_root]
    with tempfile.TemporaryDirectory() as tmp:
        if name.startswith("compare-"):
            cmd += ["--out", tmp]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        if name.startswith("compare-") and seed == 0:
            write_montage(Path(tmp) / "report", HERE / f"{name}.png", row)
    return row


def write_montage(report_dir: Path, path: Path, row: dict) -> None:
    """One PNG with every run's sample grid (and the training images') side by side, labelled."""
    from PIL import Image, ImageDraw

    report = json.loads((report_dir / "results.json").read_text())
    entries = [report["reference"], *report["runs"]]
    grids = [Image.open(report_dir / e["grid"]).convert("RGB") for e in entries]
    scale = max(1, 160 // grids[0].width)
    grids = [g.resize((g.width * scale, g.height * scale), Image.NEAREST) for g in grids]
    w, h = grids[0].width, grids[0].height
    cols = min(5, len(grids))
    rows = (len(grids) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (w + 10) + 10, rows * (h + 30) + 10), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (entry, grid) in enumerate(zip(entries, grids)):
        x, y = 10 + (i % cols) * (w + 10), 10 + (i // cols) * (h + 30)
        draw.text((x, y), "training images" if entry["model"] == "data" else entry["model"], fill="black")
        sheet.paste(grid, (x, y + 18))
    sheet.save(path)


def run_plain_vae(seed: int, data_root: str | None) -> dict:
    cmd = [str(ROOT / ".venv" / "bin" / "python"), str(HERE / "plain_vae_mnist.py"), "--seed", str(seed)]
    if data_root:
        cmd += ["--data-root", data_root]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_nanogpt(path: str, data_root: str | None) -> dict:
    cmd = [str(HERE / "nanogpt_side_by_side.sh"), path] + ([data_root] if data_root else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    val = re.findall(r"step 2000: train loss [\d.]+, val loss ([\d.]+)", out)
    wall = re.findall(r"nanoGPT wall_s ([\d.]+)", out)
    process = re.findall(r"genlab process wall_s ([\d.]+)", out)
    full = re.findall(r"nanoGPT whole-validation loss ([\d.]+)", out)
    genlab = json.loads(out.strip().splitlines()[-1])
    return {"nanogpt_val_loss": float(val[-1]) if val else None, "nanogpt_wall_s": float(wall[-1]) if wall else None,
            "nanogpt_full_val_loss": float(full[-1]) if full else None,
            "genlab_process_wall_s": float(process[-1]) if process else None, "genlab": genlab}


def summarise(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.4g}"
    return f"{mean:.4g} ({min(values):.4g}-{max(values):.4g})"


def mean(rows: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in rows)


def verdict(name: str, rows: list[dict], nanogpt: list[dict]) -> str:
    """The issue's target for each benchmark, and whether the mean figures meet it."""
    def met(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    if name == "vae-digits":
        nll, wall = mean(rows, "test_nll_nats"), mean(rows, "wall_s")
        return (f"a lower bound value than 96.4 nats in no more than 20 s: {nll:.2f} nats in {wall:.1f} s, "
                f"{met(nll < 96.4 and wall <= 20)} (the negative ELBO alone, {mean(rows, 'test_neg_elbo_nats'):.2f}, "
                "is also below 96.4).")
    if name == "gpt-shakespeare-cpu":
        loss = mean(rows, "val_loss_nats")
        text = f"validation loss <= 1.88 in less wall time than nanoGPT: {loss:.3f}, {met(loss <= 1.88)} on the loss"
        if nanogpt:
            r = nanogpt[-1]
            text += (f"; measured the same way, nanoGPT's final model scores {r['nanogpt_full_val_loss']} on the whole "
                     f"split, and the side-by-side wall times are {r['nanogpt_wall_s']} s (nanoGPT) and "
                     f"{r['genlab_process_wall_s']} s (genlab), whole processes")
        return text + "."
    if name == "vae-mnist":
        loss, spe = mean(rows, "test_neg_elbo_nats"), mean(rows, "s_per_epoch")
        return (f"the same loss or lower (105.56) at twice the speed or better (<= 1.43 s per epoch): {loss:.2f} "
                f"nats ({met(loss <= 105.56)}), {spe:.2f} s per epoch ({met(spe <= 1.43)}); against the plain loop "
                f"run beside it, {mean(rows, 'speedup_vs_plain'):.2f}x.")
    return "-"


def run_on(results: dict, rows: list[dict], precision: str | None = None) -> str:
    """The line naming the machine, date and precision that produced a section's figures.

    ``precision`` is what the rows ran in when they do not record it themselves. A row that records
    its hardware says whether bf16 was native there; older rows name only the machine, and the AMD
    EPYC that measured them had AVX2 and no AVX-512 (issue 20's review), so bf16 was emulated.
    """
    first = rows[0]
    where = first.get("machine", results["machine"])
    date = first.get("date", results["date"])
    used = sorted({row.get("precision") or precision or "fp32" for row in rows})
    text = f"Run on: {where}, {date}; precision: {', '.join(used)}"
    if "bf16" in used:
        native = first.get("hardware", {}).get("native_bf16")
        if native is None:
            native = False if "AMD EPYC" in where else None
        if native is not None:
            text += " (native on this CPU)" if native else " (emulated: this CPU has no native bf16, see the precision table)"
    return text + "."


def write_markdown(results: dict, nanogpt: list[dict], runs: int) -> str:
    date = results["date"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python benchmarks/write_benchmarks.py` (`--runs N` seeds 0..N-1, `--only NAME ...`) on {date}.",
        f"Machine: {results['machine']}. Figures are means over the runs each table states, range in brackets;",
        "each run is its own process, one after another. Wall times include validation during training",
        "and exclude data loading and the final evaluation. This machine is shared: its timings vary",
        "by about 20% from run to run.",
        "",
    ]
    sections = {
        "vae-digits": ("VAE on digits (test NLL, nats per image)",
                       "MLP 64-256-256, latent 16, 17-level categorical decoder, dropout 0.1, AdamW 1e-3, "
                       "weight decay 0.01, batch 64, EMA 0.998, 2,000 steps (cosine to 1e-4), early stopping on the "
                       "validation ELBO (patience 4 x 250 steps); DESIGN.md's split (1,000 train / 350 val / 447 test).",
                       [("test NLL bound (IWAE, K=1000)", "test_nll_nats"), ("test negative ELBO", "test_neg_elbo_nats"),
                        ("bits/dim (from the bound)", "bits_per_dim"), ("steps", "steps"), ("wall time (s)", "wall_s")]),
        "gpt-shakespeare-cpu": ("GPT on Tiny Shakespeare (validation loss, nats per character)",
                                "4 layers, 4 heads, width 128, context 64, batch 12, 2,000 iterations, AdamW "
                                "1e-3 -> 1e-4 cosine after 100 warm-up steps, betas (0.9, 0.99), weight decay 0.1, "
                                "clip 1.0, no dropout, fp32. Validation loss is exact, "
                                "over the whole validation split (111,488 predicted characters).",
                                [("validation loss (nats/char)", "val_loss_nats"), ("bits/char", "val_bits_per_char"),
                                 ("parameters", "parameters"), ("wall time (s)", "wall_s")]),
        "vae-mnist": ("VAE on MNIST, the PyTorch examples' set-up",
                      "MLP 784-400-20, Bernoulli decoder on grey pixels in [0, 1], batch 128, Adam 1e-3 constant "
                      "(AdamW with weight decay 0, fused), "
                      "no clipping, 10 epochs over all 60,000 training images, bf16 autocast. The loss is binary "
                      "cross-entropy on grey values plus KL (one-sample negative ELBO on the 10,000 test "
                      "images): the example's metric, not a likelihood of the 256-level data.",
                      [("test negative ELBO (BCE, nats)", "test_neg_elbo_nats"), ("seconds per epoch", "s_per_epoch"),
                       ("wall time (s)", "wall_s"),
                       ("plain-PyTorch loop, same set-up, fp32 (`benchmarks/plain_vae_mnist.py`): s per epoch",
                        "plain_s_per_epoch"),
                       ("plain-PyTorch loop: test negative ELBO", "plain_test_neg_elbo_nats"),
                       ("speed-up over the plain loop, run by run", "speedup_vs_plain")]),
    }
    for name, (title, settings, keys) in sections.items():
        rows = results["benchmarks"].get(name)
        if not rows:
            continue
        lines += [f"## {title}", "", f"Command: `genlab bench {name} --json --seed S`. {settings}", "",
                  run_on(results, rows), "", "| figure | genlab |", "|---|---|"]
        lines += [f"| {label} | {summarise(rows, key)} |" for label, key in keys]
        lines.append(f"| runs (seeds) | {len(rows)} |")
        lines += ["", f"Reference: {REFERENCES[name]}.", "", f"Target: {verdict(name, rows, nanogpt)}", ""]
        if name == "gpt-shakespeare-cpu" and nanogpt:
            lines += ["Side by side on this machine (`benchmarks/nanogpt_side_by_side.sh PATH`), one after the other:",
                      "", "| | its printed validation loss (20 random batches of 12) | validation loss, whole split | "
                      "wall time (s) |", "|---|---|---|---|"]
            for k, r in enumerate(nanogpt):
                lines.append(f"| nanoGPT, run {k + 1} | {r['nanogpt_val_loss']} | {r['nanogpt_full_val_loss']} | "
                             f"{r['nanogpt_wall_s']} (whole process, fp32) |")
                lines.append(f"| genlab, run {k + 1} | - | {r['genlab']['val_loss_nats']} | "
                             f"{r['genlab_process_wall_s']} (whole process; training alone "
                             f"{r['genlab']['wall_s']:.1f}) |")
            lines.append("")
    family_rows = [(n, results["benchmarks"][n]) for n in
                   ("vae-digits", "pixelcnn-digits", "realnvp-digits", "glow-digits", "ddpm-digits")
                   if n in results["benchmarks"]]
    if family_rows:
        lines += ["## Likelihood families on digits (test NLL, nats per image, DESIGN.md's split)", "",
                  "Command: `genlab bench NAME --json --seed S`; recipes in `genlab/bench/recipes.py` (`DIGITS`). "
                  "The VAE, the flows (uniform dequantisation, importance-weighted with K=16) and DDPM (the full "
                  "1,000-term variational bound with a discretized decoder) report upper bounds on the NLL; "
                  "PixelCNN's is exact. Lower is better; bounds and exact values are not ranked together.", "",
                  run_on(results, [r for _, rows in family_rows for r in rows]), "",
                  "| model | test NLL (nats) | kind | bits/dim | training wall (s) | test evaluation (s) | runs |",
                  "|---|---|---|---|---|---|---|"]
        for n, rows in family_rows:
            kind = "exact" if rows[0].get("likelihood") == "exact" else "bound"
            lines.append(f"| {n} | {summarise(rows, 'test_nll_nats')} | {kind} | {summarise(rows, 'bits_per_dim')} | "
                         f"{summarise(rows, 'wall_s')} | {summarise(rows, 'eval_s')} | {len(rows)} |")
        lines += ["", "References (public textbook implementations, same split and metric, 2-core machine, mean of 3): "
                  "autoregressive model (causal 1-D convolutions over the 64 pixels) 86.7 nats in 158 s; RealNVP "
                  "(8 MLP couplings, uniform dequantisation) 120.1 nats in 58 s; VAE negative ELBO 96.4 nats in 20 s.", ""]
        targets = {"pixelcnn-digits": ("the autoregressive reference", 86.7, 158), "realnvp-digits": ("RealNVP", 120.1, 58),
                   "vae-digits": ("the VAE", 96.4, 20)}
        found = dict(family_rows)
        verdicts = []
        for n, (ref, nll_ref, wall_ref) in targets.items():
            if n in found:
                nll, wall = mean(found[n], "test_nll_nats"), mean(found[n], "wall_s")
                ok = nll < nll_ref and wall <= wall_ref
                verdicts.append(f"{n} {nll:.2f} nats in {wall:.0f} s against {ref}'s {nll_ref} in {wall_ref} s: "
                                f"{'**met**' if ok else '**not met**'}")
        lines += ["Target (better than the reference of the same family in no more wall time): " + "; ".join(verdicts)
                  + ". Glow and DDPM have no reference.", ""]
    lines += compare_section(results, "compare-digits")
    lines += mnist_section(results)
    lines += compare_section(results, "compare-mnist")
    lines += lstm_section(results)
    lines += sampling_section(results)
    lines += ddp_section(results)
    lines += eval_memory_section(results)
    lines += kept_sections(before=["inpaint_digits"])
    lines += superres_section(results)
    lines += sr3_mnist_section(results)
    lines += kept_sections(after=["inpaint_digits"])
    lines += fsdd_section(results)
    return "\n".join(lines) + "\n"


def kept_sections(before: list[str] | None = None, after: list[str] | None = None) -> list[str]:
    """Sections other scripts write into BENCHMARKS.md between markers (``<!-- begin: NAME -->`` ...
    ``<!-- end: NAME -->``: benchmarks/finetune_gpt.py's, sr_bicubic.py's, inpaint_*.py's,
    pix2pix_edges_mnist.py's), carried over unchanged: those up to the first name in ``before``
    (excluded), or from the first name in ``after`` on, or all of them."""
    path = ROOT / "BENCHMARKS.md"
    if not path.is_file():
        return []
    found = re.findall(r"<!-- begin: ([\w-]+) -->.*?<!-- end: \1 -->", path.read_text(encoding="utf-8"), re.S)
    text = path.read_text(encoding="utf-8")
    if before and before[0] in found:
        found = found[:found.index(before[0])]
    if after:
        found = found[found.index(after[0]):] if after[0] in found else []
    out = []
    for name in found:
        block = re.search(rf"<!-- begin: {name} -->.*?<!-- end: {name} -->", text, re.S).group(0)
        out += [block, ""]
    return out


def write_kept_section(name: str, block: str, after: str | None = None) -> Path:
    """Put ``block`` (``<!-- begin: name -->`` ... ``<!-- end: name -->``) into BENCHMARKS.md, for a
    script that writes its own section (e.g. benchmarks/inpaint_mnist.py): in place of the section of
    that name, else right after the section ``after``, else at the end. :func:`kept_sections` then
    carries it over, in that place, whenever this script rewrites the file."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    marked = lambda n: re.compile(rf"<!-- begin: {re.escape(n)} -->.*?<!-- end: {re.escape(n)} -->", re.S)  # noqa: E731
    if marked(name).search(text):
        text = marked(name).sub(lambda _: block, text)
    elif after is not None and marked(after).search(text):
        end = marked(after).search(text).end()
        text = text[:end] + "\n\n" + block + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def compare_section(results: dict, name: str) -> list[str]:
    rows = results["benchmarks"].get(name)
    if not rows:
        return []
    r = rows[0]
    if name == "compare-digits":
        command = (f"Command: `genlab bench {name} --json --seed 0` (`--out DIR` keeps the runs and the full "
                   "`genlab compare` report). Each family trains with its digits recipe (`genlab/bench/recipes.py`: the "
                   "likelihood recipes above, GAN steps {dcgan: 2000, wgan-gp: 600, sngan: 1500}, batch 64).")
    else:
        device = r.get("eval_device_name", r.get("eval_device", "cpu"))
        command = (f"Commands: `genlab bench {name} --out DIR --train-only` on this machine, then `genlab bench {name} "
                   f"--out DIR --json` on a machine with a GPU ({device}), which found the runs finished and scored "
                   "them there; the sampling times are that device's. Each family trains for a CPU budget of "
                   f"{r['budget_s']:.0f} s: the step count comes from a timing probe, with the MNIST recipes above and "
                   "the GANs' defaults, batch 64.")
    lines = [f"## Every family side by side ({name})", "",
             f"{command} Then {r['num_samples']} samples per model are scored against the "
             f"{r.get('num_test', 447)} test images. The distances use genlab's own feature network "
             f"(`{r['features']}`, a small classifier trained on this data, test accuracy "
             f"{r['feature_test_accuracy']:.3f}); they are not comparable with Inception-based FIDs from papers. Test "
             "NLL: exact and bound values are not ranked against each other (DDPM's is an unbiased estimate of its "
             "bound over 50 timesteps per image).", "",
             run_on(results, rows, "each family in its recipe's precision: " +
                    ("bf16 for vae, pixelcnn and ddpm, fp32 for the others" if name == "compare-mnist" else "fp32")),
             "", "| model | test bits/dim | parameters | steps | training (s) | Fréchet distance | KID | precision | "
             "recall | class coverage | class KL | memorised | ms per sample |", "|---" * 13 + "|"]

    def cell(value, digits=3):
        return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))

    ref = r["reference"]
    lines.append(f"| training images (floor) | - | - | - | - | {cell(ref.get('fid'), 2)} | {cell(ref.get('kid'))} | "
                 f"{cell(ref.get('precision'))} | {cell(ref.get('recall'))} | {cell(ref.get('coverage'), 2)} | "
                 f"{cell(ref.get('class_kl'))} | {cell(r['memorisation_baseline'])} (test images) | - |")
    for row in r["rows"]:
        nll = "none" if row["likelihood"] == "none" else f"{row['bits_per_dim']:.3f} ({row['likelihood']})"
        ms = row["sampling_s_per_image"] * 1000
        lines.append(f"| {row['model']} | {nll} | {row['parameters']} | {row['steps']} | {cell(row['train_seconds'], 1)} | "
                     f"{cell(row['fid'], 2)} | {cell(row['kid'])} | {cell(row['precision'])} | {cell(row['recall'])} | "
                     f"{cell(row['coverage'], 2)} | {cell(row['class_kl'])} | {cell(row['memorisation'])} | {ms:.3g} |")
    steps = {row["model"]: row["steps"] for row in r["rows"]}
    if name != "compare-digits" and "wgan-gp" in steps and "dcgan" in steps:  # equal time only there
        lines += ["", f"WGAN-GP updates its critic 5 times per generator step, so in the same time it made {steps['wgan-gp']} "
                  f"generator steps against DCGAN's {steps['dcgan']}; at this budget it trails the other two GANs."]
    return lines + ["", f"![samples of every family](benchmarks/{name}.png)", ""]


def mnist_section(results: dict) -> list[str]:
    found = [(n, results["benchmarks"][n]) for n in MNIST_FAMILIES if n in results["benchmarks"]]
    if not found:
        return []
    budget = found[0][1][0]["budget_s"]
    lines = [f"## Likelihood families on MNIST within a CPU budget ({budget / 60:g} minutes of training each)", "",
             "Command: `genlab bench NAME --json --seed S`; recipes in `genlab/bench/recipes.py` (`MNIST`). Each run "
             "first times a few training steps on this machine and then trains as many steps as fit in the budget, "
             "with the whole cosine schedule over them (the step count is in the table, so the run can be repeated "
             "exactly anywhere); the wall time shown is what the training took, which this machine's timing noise "
             "puts up to about 25% either side of the budget. Batch 64, 256 levels, 55,000 training / 5,000 "
             "validation / 10,000 test images. "
             "Test bits/dim is over the whole test split: exact for PixelCNN; for the VAE the IWAE bound with K=100; "
             "for the flows the uniform-dequantisation bound (K=1); for DDPM an unbiased estimate of the full "
             "1,000-term variational bound (L_0 and L_T exact, 8 random timesteps per image for the rest). The VAE's "
             "entry is `vae-mnist-likelihood` (conv encoder/decoder, discretized logistic decoder over the 256 levels), "
             "because `vae-mnist` is the PyTorch-example speed benchmark above.", "",
             run_on(results, [r for _, rows in found for r in rows]), "",
             "| model | test bits/dim | kind | steps | training wall (s) | test evaluation (s) | parameters | precision |",
             "|---|---|---|---|---|---|---|---|"]
    for n, rows in found:
        lines.append(f"| {n} | {summarise(rows, 'test_bits_per_dim')} | {rows[0]['likelihood']} | {summarise(rows, 'steps')} | "
                     f"{summarise(rows, 'wall_s')} | {summarise(rows, 'eval_s')} | {rows[0]['parameters']} | "
                     f"{rows[0]['precision']} |")
    lines += ["", f"![validation bits/dim against training wall time]({CURVE_PNG})", "",
              "The curve scores the first 1,000 validation images after each eighth of training (evaluation time is "
              "not counted); its VAE points use K=10 and its DDPM points 2 timesteps per image, so they sit slightly "
              "above the test figures' estimators. The literature's MNIST figures (RealNVP 1.06, Glow 1.05 bits/dim) "
              "come from days of GPU training with much larger networks; they are the bar for long runs, not for "
              "this budget.", ""]
    return lines


def write_curve_png(results: dict) -> None:
    found = [(n, results["benchmarks"][n][0]) for n in MNIST_FAMILIES if n in results["benchmarks"]]
    if not found:
        return
    sys.path.insert(0, str(ROOT / "src"))
    from genlab.plots import save_curve

    series = {n.replace("-mnist-likelihood", "").replace("-mnist", ""): [(p["train_s"], p["val_bits_per_dim"])
                                                                         for p in r["curve"]] for n, r in found}
    save_curve(series, ROOT / CURVE_PNG, title="MNIST validation bits/dim (lower is better)",
               xlabel="training wall time (s)", ylabel="bits/dim")


def lstm_section(results: dict) -> list[str]:
    rows = results["benchmarks"].get("lstm-shakespeare-cpu")
    if not rows:
        return []
    r0 = rows[0]
    return ["## LSTM against GPT on Tiny Shakespeare (equal parameters, equal wall time)", "",
            "Command: `genlab bench lstm-shakespeare-cpu --json --seed S`. The GPT is the gpt-shakespeare-cpu recipe; "
            "the LSTM (embedding 128, 2 layers of 232 units, context 64, batch 32, AdamW 2e-3 cosine to 2e-4 after 50 "
            "warm-up steps, clip 1.0, fp32) trains for as many steps as fit in the GPT's wall time of the same run. "
            "Validation loss is exact, over the whole validation split.", "", run_on(results, rows), "",
            "| model | parameters | steps | wall time (s) | validation loss (nats/char) |", "|---|---|---|---|---|",
            f"| GPT | {r0['gpt_parameters']} | {summarise(rows, 'gpt_steps')} | {summarise(rows, 'gpt_wall_s')} | "
            f"{summarise(rows, 'gpt_val_loss_nats')} |",
            f"| LSTM | {r0['lstm_parameters']} | {summarise(rows, 'lstm_steps')} | {summarise(rows, 'lstm_wall_s')} | "
            f"{summarise(rows, 'lstm_val_loss_nats')} |", "", f"Runs (seeds): {len(rows)}.", ""]


def ddp_section(results: dict) -> list[str]:
    """Training throughput with one and two processes (``benchmarks/ddp_throughput.py --record``)."""
    runs = results["benchmarks"].get("ddp-throughput")
    if not runs:
        return []
    lines = ["## Multi-process training throughput (examples per second)", ""]
    for device, r in runs.items():
        lines += [f"Command: `python benchmarks/ddp_throughput.py --device {device} --record` on {r['date']}, "
                  f"{r['machine']}, torch {r['torch']}. VAE on digits (MLP {'-'.join(map(str, r['hidden']))}, latent "
                  f"{r['latent_dim']}), batch {r['batch_size_per_process']} per process, {r['steps']} steps; "
                  "the trainer's own examples/s over all processes, median of the 20-step windows after the first.",
                  "", "| processes | threads each | examples/s |", "|---|---|---|"]
        lines += [f"| {row['processes']} | {row['threads_per_process']} | {row['examples_per_s']:.0f} |"
                  for row in r["rows"]]
        lines.append("")
        if device == "cpu":
            lines += ["On 2 cores two processes compete with each other (and with the machine's other work) and add a "
                      "gradient all-reduce per step, so they are slower than one: the CPU figures check that "
                      "multi-process training runs, not that it scales. A GPU run needs `--device cuda`.", ""]
    return lines


def eval_memory_section(results: dict) -> list[str]:
    """Peak memory and time of a VAE evaluation (``benchmarks/eval_memory.py``, run by hand)."""
    entry = results.get("eval_memory")
    if not entry:
        return []
    r = entry["result"]
    before, after = r["before_chunk_64"], r["after_default_chunk"]
    return ["## Memory of a VAE likelihood evaluation", "",
            f"Command: `{entry['command']}`, on {entry['date']}, {entry['machine']} (run by hand, not by "
            f"write_benchmarks.py). An untrained MLP VAE at MNIST size (widths [256, 256], logistic decoder) scores "
            f"{r['examples']} images with K = {r['iw_samples']} importance samples, batches of 256, "
            f"{r['threads']} threads, each case in a fresh process. Before: 64 importance samples decoded per pass "
            "for the whole batch (the former fixed chunk); after: the default chunk, at most 1,024 latents per pass.",
            "", "| | peak RSS (MiB) | wall (s) | NLL (nats/image) |", "|---|---|---|---|",
            f"| before (chunk = 64) | {before['peak_rss_mib']} | {before['wall_s']} | {before['nll_nats']} |",
            f"| after (default) | {after['peak_rss_mib']} | {after['wall_s']} | {after['nll_nats']} |", ""]


# Published PSNR (dB), Set5 / Set14, as the issue that asked for these benchmarks gives them:
# SRCNN (Dong et al., TPAMI 2016), FSRCNN (Dong et al., ECCV 2016), EDSR (Lim et al., CVPRW 2017, Table 6).
SR_PUBLISHED = {3: [("SRCNN", 32.75, 29.30), ("FSRCNN", 33.06, 29.37), ("EDSR", 34.65, 30.52)],
                4: [("SRCNN", 30.48, 27.50)]}
SR_TARGET = {3: 33.0, 4: 30.6}  # sr-cnn on Set5 within 30 minutes of this CPU


def superres_section(results: dict) -> list[str]:
    """sr-x3 and sr-x4: bicubic, sr-cnn, sr-gan on Set5 / Set14 beside the published rows."""
    entries = [results["benchmarks"][n][0] for n in ("sr-x3", "sr-x4") if results["benchmarks"].get(n)]
    if not entries:
        return []
    lines = ["## Super-resolution on Set5 and Set14 (sr-x3, sr-x4)", ""]
    for r in entries:
        s = r["scale"]
        cnn = next(row for row in r["rows"] if row["model"] == "sr-cnn")
        gan = next(row for row in r["rows"] if row["model"] == "sr-gan")
        opts = r["data_options"]
        lines += [f"### x{s}", "",
                  f"Command: `genlab bench sr-x{s} --out DIR --json` with `OMP_NUM_THREADS={r.get('threads', 1)}`, on "
                  f"{r['date']}, {r['machine']}. sr-cnn (`genlab/bench/recipes.py`: width 64, 8 residual blocks, bicubic skip, "
                  f"L1) trains on random {opts['patch_size']}x{opts['patch_size']} patches of 90 BSD100 images "
                  f"(flips and rotations; low-resolution patches by genlab's stated bicubic) for {cnn['steps']} steps of "
                  f"batch {r['batch_size']} in {r['precision']}, the steps that fit {r['budget_s']:.0f} s by a timing "
                  f"probe; sr-gan starts from its weights and trains {gan['steps']} more steps "
                  f"({r['gan_budget_s']:.0f} s; L1 + 0.01 x adversarial, spectral-norm PatchGAN). Scored on the "
                  "distributed low-resolution files, PSNR/SSIM on Y with the scale cropped, fp32. "
                  "Training wall times are of this shared 2-core machine (the two scales trained side by side, one "
                  "thread each); sr-gan's includes the sr-cnn it starts from. ms per megapixel: enlarging whole test "
                  "images, one thread.", "",
                  "| model | Set5 PSNR | Set5 SSIM | Set14 PSNR | Set14 SSIM | training (s) | parameters | "
                  "ms per megapixel |", "|---|---|---|---|---|---|---|---|"]
        for row in r["rows"]:
            ms = f"{row['ms_per_megapixel']:.0f}" if "ms_per_megapixel" in row else "-"
            lines.append(f"| {row['model']} | {row['set5']['psnr']:.2f} | {row['set5']['ssim']:.4f} | "
                         f"{row['set14']['psnr']:.2f} | {row['set14']['ssim']:.4f} | {row['train_s']:.0f} | "
                         f"{row['parameters']:,} | {ms} |")
        for name, set5, set14 in SR_PUBLISHED.get(s, []):
            lines.append(f"| {name} (published) | {set5:.2f} | - | {set14:.2f} | - | - | - | - |")
        target = SR_TARGET[s]
        met = "met" if cnn["set5"]["psnr"] >= target and cnn["train_s"] <= 1800 else "not met"
        lines += ["", f"Target (sr-cnn at least {target} dB on Set5 x{s} within 30 minutes of training): {met} "
                  f"({cnn['set5']['psnr']:.2f} dB in {cnn['train_s'] / 60:.1f} minutes).", ""]
        if r.get("picture"):
            lines += [f"![x{s} crops: input, bicubic, sr-cnn, sr-gan, truth](benchmarks/sr-x{s}.png)", ""]
    lines += ["The published rows were trained for days on GPUs (SRCNN: 91 images or ImageNet; EDSR: DIV2K, 300 "
              "epochs); they are quoted as the issue that asked for this benchmark gives them (papers named above), "
              "not re-read from the papers here. The bicubic rows are genlab's, which reproduce the published "
              "bicubic figures (see the bicubic section). sr-gan trades PSNR for texture: judge it by the picture.", ""]
    return lines


def sr3_mnist_section(results: dict) -> list[str]:
    rows = results["benchmarks"].get("sr3-mnist")
    if not rows:
        return []
    r = rows[0]
    sampler = r["sampler"]
    lines = ["## Diffusion super-resolution on MNIST (sr3-mnist, 7x7 -> 28x28)", "",
             f"Command: `genlab bench sr3-mnist --out DIR --json`, on {r['date']}, {r['machine']}. SR3 (the DDPM U-Net "
             "[32, 64] with the bicubic-enlarged 7x7 input as extra channels, T = 1000) trains for the steps that fit "
             f"{r['budget_s']:.0f} s, a small sr-cnn (width 32, 4 blocks) for a fifth of that; scored on the first "
             f"{r['test_images']} MNIST test digits: one SR3 sample each ({sampler['sampler']}, {sampler['steps']} "
             "steps, eta 0), PSNR/SSIM on the grey values with a 4-pixel border cropped, and SR3's bound on "
             "-log p(x | low-res) (8 timesteps per image, an unbiased estimate of the full bound).", "",
             "| model | PSNR | SSIM | bits/dim (bound) | steps | training (s) | parameters | ms per image |",
             "|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        bpd = f"{row['bits_per_dim']:.3f}" if "bits_per_dim" in row else "-"
        ms = f"{row['ms_per_image']:.1f}" if "ms_per_image" in row else "-"
        lines.append(f"| {row['model']} | {row['psnr']:.2f} | {row['ssim']:.4f} | {bpd} | {row.get('steps', '-')} | "
                     f"{row['train_s']:.0f} | {row['parameters']:,} | {ms} |")
    return lines + ["", f"One thread (`OMP_NUM_THREADS={r.get('threads', 1)}`) on this 2-core machine while other "
                    "jobs ran, so the timing probe granted SR3 few steps: it is undertrained, its samples are "
                    "plausible digits with grey speckle in the background. A sample of SR3 is one plausible digit "
                    "for the input, not the mean of all of them, so its PSNR sits below the regression model's "
                    "even where it looks as sharp. Picture (`python benchmarks/sr3_mnist_picture.py --runs "
                    "DIR/runs`; rows: input, bicubic, sr-cnn, SR3, truth):", "",
                    "![sr3-mnist: input, bicubic, sr-cnn, SR3, truth](benchmarks/sr3-mnist.png)", ""]


def fsdd_section(results: dict) -> list[str]:
    """wavenet-fsdd and wavegan-fsdd: class-conditional spoken digits judged by the FSDD classifier."""
    found = {n: results["benchmarks"][n][0] for n in ("wavenet-fsdd", "wavegan-fsdd") if results["benchmarks"].get(n)}
    if not found:
        return []
    first = next(iter(found.values()))
    lines = ["## Spoken digits: WaveNet and WaveGAN on FSDD (wavenet-fsdd, wavegan-fsdd)", ""]
    for name, r in found.items():
        lines.append(f"Command: `OMP_NUM_THREADS=1 genlab bench {name} --out DIR --json` (both with the same DIR, so "
                     f"they share one classifier), on {r['date']}, {r['machine']}, {r['threads']} thread. Model "
                     f"settings {r['model_settings']}, training {r['train']}; the steps are what a timing probe of "
                     f"this machine fitted into {r['budget_s'] / 60:.0f} minutes.")
        lines.append("")
    lines += ["", f"Each model is asked for {first['num_samples']} clips, 30 of every digit (8,192 samples = 1.024 s at "
              "8 kHz, temperature 1), scored against the 300 test recordings (takes 0-4) by the FSDD classifier (hash "
              f"`{first['features']}`, test accuracy {first['feature_test_accuracy']:.3f}; see the classifier section "
              "above). The first row scores the test recordings themselves with their own labels.", "",
              "| row | parameters | steps | training (s) | test bits/sample | asked digit heard | Fréchet distance | "
              "inception score | class coverage | generation (audio samples/s) |", "|---|---|---|---|---|---|---|---|---|---|"]

    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    rows = [first["rows"][0]] + [r["rows"][1] for r in found.values()]
    for row in rows:
        lines.append(f"| {row['model']} | {cell(row.get('parameters'), ',')} | {cell(row.get('steps'), ',')} | "
                     f"{cell(row.get('train_s'), '.0f')} | {cell(row.get('test_bits_per_sample'), '.3f')} | "
                     f"{cell(row.get('accuracy'), '.3f')} | {cell(row.get('fd'), '.2f')} | "
                     f"{cell(row.get('inception_score'), '.2f')} | {cell(row.get('coverage'), '.2f')} | "
                     f"{cell(row.get('samples_per_s'), ',.0f')} |")
    if "wavenet-fsdd" in found:
        w = found["wavenet-fsdd"]["rows"][1]
        ok = w["accuracy"] >= 0.8
        lines += ["", f"WaveNet generation, 4 clips of 1,000 samples: cached (Fast WaveNet) "
                  f"{w['cached_samples_per_s']:,.0f} audio samples/s, uncached {w['uncached_samples_per_s']:,.0f} "
                  f"(receptive field {w['receptive_field']:,} samples); the table's generation column is the 300 "
                  "clips in batches of 50, cached.",
                  "", f"Target (the classifier hears the asked digit in at least 80% of WaveNet's clips after at most "
                  f"60 minutes of CPU training): {w['accuracy']:.1%} after {w['steps']:,} steps, "
                  f"{'**met**' if ok else '**not met**'}. The steps are 60 minutes of one thread at the timing "
                  f"probe's speed; the run itself took {w['train_s'] / 60:.0f} minutes because other benchmarks "
                  "shared the two cores."]
    lines += ["", "The WaveGAN paper's inception scores (SC09, another classifier on a larger data set: real 9.18, "
              "WaveGAN 4.67, SpecGAN 6.03) are not comparable with these figures; the real row here is the ceiling "
              "this classifier gives. Training wall times come from a 2-core machine shared with other jobs.", "",
              "Spectrograms of two clips per digit (a column per digit, 0 to 9; `genlab bench NAME --out DIR` keeps "
              "them as WAV files in `DIR/NAME-samples/`):", ""]
    for name in found:
        lines += [f"![{name}: spectrograms of two clips per digit](benchmarks/{name}.png)", ""]
    return lines


def sampling_section(results: dict) -> list[str]:
    rows = results["benchmarks"].get("sampling-speed")
    if not rows:
        return []
    r0 = rows[0]
    lines = ["## Sampling speed (images per second)", "",
             f"Command: `genlab bench sampling-speed --json`. One call of `sample({r0['num_samples']})` per row after a "
             f"warm-up, MNIST size (28x28), the MNIST recipes' networks, fp32, {r0['threads']} threads. "
             "PixelCNN runs its network once per pixel (no cache); DDIM uses eta = 0.", "", run_on(results, rows), "",
             "| model / sampler | images/s |", "|---|---|"]
    for label in r0["images_per_s"]:
        values = [r["images_per_s"][label] for r in rows]
        lines.append(f"| {label} | {statistics.fmean(values):.4g} |")
    return lines + [""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", nargs="*", default=NAMES)
    p.add_argument("--data-root", default=os.environ.get("GENLAB_DATA"))
    p.add_argument("--nanogpt", help="path of a nanoGPT checkout for the side-by-side run")
    p.add_argument("--rewrite", action="store_true", help="only rewrite BENCHMARKS.md and the curve from results.json")
    p.add_argument("--record", nargs="+", metavar="JSON", help="record benchmark results run by hand: files holding the "
                   "JSON line `genlab bench NAME --json` printed (machine and date added), then rewrite BENCHMARKS.md")
    p.add_argument("--import-result", nargs=2, metavar=("JSON", "REPORT_DIR"),
                   help="record a compare benchmark run elsewhere: the JSON line `genlab bench NAME --json --out DIR` "
                        "printed, and DIR/report (for the montage)")
    args = p.parse_args()
    results_path = HERE / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {"benchmarks": {}}
    if args.import_result:
        row = json.loads(Path(args.import_result[0]).read_text().strip().splitlines()[-1])
        row.setdefault("date", datetime.date.today().isoformat())
        results["benchmarks"][row["name"]] = [row]
        write_montage(Path(args.import_result[1]), HERE / f"{row['name']}.png", row)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        args.rewrite = True
    if args.record:
        for file in args.record:
            row = json.loads(Path(file).read_text().strip().splitlines()[-1])
            row.setdefault("date", datetime.date.today().isoformat())
            row.setdefault("machine", machine())
            results["benchmarks"][row["name"]] = [row]
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        args.rewrite = True
    if args.rewrite:
        (ROOT / "BENCHMARKS.md").write_text(write_markdown(results, results.get("nanogpt", []), args.runs))
        write_curve_png(results)
        return
    results["machine"] = machine()
    results["date"] = datetime.date.today().isoformat()
    for name in args.only:
        rows = []
        for seed in range(args.runs):
            row = run_one(name, seed, args.data_root)
            if name == "vae-mnist":  # the plain-PyTorch baseline right after, for a same-conditions ratio
                plain = run_plain_vae(seed, args.data_root)
                row.update(plain_s_per_epoch=plain["s_per_epoch"], plain_test_neg_elbo_nats=plain["test_neg_elbo_nats"],
                           speedup_vs_plain=round(plain["s_per_epoch"] / row["s_per_epoch"], 3))
            row["date"] = results["date"]
            print(json.dumps(row), flush=True)
            rows.append(row)
        results["benchmarks"][name] = rows
    nanogpt = results.get("nanogpt", [])
    if args.nanogpt:
        nanogpt = [run_nanogpt(args.nanogpt, args.data_root)]
        print(json.dumps(nanogpt[0]), flush=True)
        results["nanogpt"] = nanogpt
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "BENCHMARKS.md").write_text(write_markdown(results, nanogpt, args.runs))
    write_curve_png(results)
    print(f"wrote {ROOT / 'BENCHMARKS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The bicubic super-resolution baseline on Set5, Set14 (x2, x3, x4) and BSD100 (x4): PSNR and SSIM.

    GENLAB_DATA=DIR python benchmarks/sr_bicubic.py [--data-root DIR] [--no-write]

Each distributed LR file is upscaled by its scale with MATLAB-style bicubic (a = -0.5,
``genlab.data.superres.bicubic_resize``) and scored against its HR file on BT.601 Y with a border
of ``scale`` pixels cropped (``genlab.evaluation.restoration``). Prints a table and, unless
``--no-write``, replaces the bicubic section of BENCHMARKS.md (between its markers;
``write_benchmarks.py`` keeps that section).
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import time
from pathlib import Path

import genlab
from genlab.evaluation.restoration import bicubic_baseline

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- begin: sr_bicubic -->", "<!-- end: sr_bicubic -->"
ROWS = [("set5", 2), ("set5", 3), ("set5", 4), ("set14", 2), ("set14", 3), ("set14", 4), ("bsd100", 4)]
NAMES = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100"}
# Published bicubic PSNR (dB): SRCNN (Dong et al., TPAMI 2016, Tables 3-4) and EDSR (Lim et al., CVPRW 2017, Table 6)
PUBLISHED = {("set5", 2): 33.66, ("set5", 3): 30.39, ("set5", 4): 28.42, ("set14", 3): 27.54, ("set14", 4): 26.00}


def measure(root: Path | None) -> list[dict]:
    rows = []
    for name, scale in ROWS:
        start = time.perf_counter()
        result = bicubic_baseline(genlab.load_dataset(name, root=root, scale=scale).test)
        rows.append({"set": name, "scale": scale, "images": len(result["images"]), "psnr": result["psnr"],
                     "ssim": result["ssim"], "published_psnr": PUBLISHED.get((name, scale)),
                     "wall_s": round(time.perf_counter() - start, 2)})
    return rows


def table(rows: list[dict]) -> list[str]:
    lines = ["| test set | scale | images | genlab PSNR (dB) | published PSNR (dB) | genlab SSIM |", "|---|---|---|---|---|---|"]
    for r in rows:
        pub = "-" if r["published_psnr"] is None else f"{r['published_psnr']:.2f}"
        lines.append(f"| {NAMES[r['set']]} | x{r['scale']} | {r['images']} | {r['psnr']:.2f} | {pub} | {r['ssim']:.4f} |")
    return lines


def section(rows: list[dict], date: str) -> str:
    sys.path.insert(0, str(HERE))
    from write_benchmarks import machine

    return "\n".join([
        BEGIN,
        "## Bicubic super-resolution baseline (PSNR and SSIM on Y)",
        "",
        f"Command: `GENLAB_DATA=DIR python benchmarks/sr_bicubic.py`, on {date}. Machine: {machine()} (2-core CPU, "
        f"shared); {sum(r['wall_s'] for r in rows):.0f} s in all.",
        "",
        "Each distributed LR file (SelfExSR's Set5, Set14, BSD100, `<data root>/sr/`) upscaled by its scale with "
        "MATLAB-style bicubic (cubic kernel a = -0.5, through PIL), scored against its HR file on ITU-R BT.601 Y "
        "(MATLAB `rgb2ycbcr`: Y = 16 + 65.481 R + 128.553 G + 24.966 B, RGB in [0, 1], kept in floating point) "
        "with a border of `scale` pixels cropped; SSIM after Wang et al. 2004 (Gaussian window 11, sigma 1.5, "
        "K1 0.01, K2 0.03, range 255). Set14's one grey image (img_003) is scored as R = G = B, whose Y is the grey "
        "scaled by 219/255: that raises its PSNR by 20 log10(255/219) = 1.32 dB, which is 0.09 dB of Set14's "
        "mean, the gap to the published Set14 figures (scoring the grey values themselves gives 27.54 at x3 and 25.99 at x4). "
        "Published figures: the "
        "bicubic rows of SRCNN (Dong et al., TPAMI 2016, Tables 3 and 4) and EDSR (Lim et al., CVPRW 2017, "
        "Table 6); '-' where the brief for this benchmark gave none.",
        "",
        *table(rows),
        "",
        "Set5's three rows are a test (`tests/evaluation/test_restoration.py`, within 0.1 dB).",
        "",
        END,
    ])


def write_section(text_section: str) -> None:
    path = HERE.parent / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = (pattern.sub(lambda _: text_section, text) if pattern.search(text)
            else text.rstrip("\n") + "\n\n" + text_section + "\n")
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None, help="the data root (default $GENLAB_DATA, else ./data)")
    p.add_argument("--no-write", action="store_true", help="print the table only; leave BENCHMARKS.md alone")
    args = p.parse_args()
    try:
        rows = measure(args.data_root)
    except genlab.errors.GenlabError as e:
        sys.exit(f"sr_bicubic: {e}")
    print("\n".join(table(rows)))
    if not args.no_write:
        write_section(section(rows, datetime.date.today().isoformat()))


if __name__ == "__main__":
    main()

"""The picture of the sr3-mnist benchmark: MNIST test digits enlarged 7x7 -> 28x28.

    python benchmarks/sr3_mnist_picture.py --runs DIR/runs [--out benchmarks/sr3-mnist.png]

``DIR`` is the ``--out`` of ``genlab bench sr3-mnist --out DIR``, which keeps its runs (sr-cnn,
sr3). Rows: the 7x7 inputs (nearest), bicubic, sr-cnn, one SR3 sample each (DDIM, 50 steps,
eta 0, seed 0), the truths; the first 12 test digits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genlab
from genlab.data.modalities.image import save_image_grid
from genlab.data.superres import bicubic_resize
from genlab.bench.recipes import SR3_MNIST


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, required=True, help="the runs folder of genlab bench sr3-mnist --out DIR")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "sr3-mnist.png")
    p.add_argument("--data-root")
    p.add_argument("--num", type=int, default=12)
    args = p.parse_args()
    data = genlab.load_dataset(SR3_MNIST.data, root=args.data_root, **SR3_MNIST.data_options)
    batch = data.test.get(torch.arange(args.num))
    lowres, truth = batch["lowres"], batch["x"]
    scale = data.info.scale
    cnn, sr3 = genlab.load(args.runs / "sr-cnn"), genlab.load(args.runs / "sr3")
    rows = [lowres.repeat_interleave(scale, 2).repeat_interleave(scale, 3).long(),
            torch.stack([bicubic_resize(x, tuple(truth.shape[-2:])) for x in lowres]).long(),
            cnn.sample(args.num, condition=lowres),
            sr3.sample(args.num, condition=lowres, generator=torch.Generator().manual_seed(0), **SR3_MNIST.evaluation),
            truth.long()]
    print(save_image_grid(torch.cat(rows), data.info.levels, args.out, nrow=args.num))


if __name__ == "__main__":
    main()

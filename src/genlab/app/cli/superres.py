"""``genlab superres RUN IMAGE... --out DIR``: enlarge pictures with a trained sr-cnn, sr-gan or sr3."""

from __future__ import annotations

import sys

from ...runs.catalog import check_tags
from ...errors import ConfigError
from .. import service
from .arguments import parse_sample_args
from .sample import add_registry_args, add_weights, record

TINY_SIDE = 8  # a picture with a side under this many pixels holds too little to enlarge faithfully


def add_parser(sub) -> None:
    s = sub.add_parser("superres", help="enlarge pictures with a super-resolution model (sr-cnn, sr-gan, sr3)")
    add_weights(s)
    s.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG pictures of any size")
    s.add_argument("--out", required=True, help="folder for NAME_xS.png, one per picture")
    s.add_argument("--tile", type=int, help="enlarge in tiles of this many input pixels (for large pictures)")
    s.add_argument("--overlap", type=int, default=16, help="context pixels around each tile (default 16)")
    s.add_argument("--seed", type=int, default=0, help="the noise of a diffusion model (sr3)")
    s.add_argument("--sample-arg", action="append", metavar="KEY=VALUE",
                   help="sampler setting of a diffusion model, e.g. sampler=ddim, steps=50 (repeatable)")
    add_registry_args(s)
    s.set_defaults(func=run)


def run(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    check_tags(args.tag)
    written = service.superres(args.run, args.images, args.out, weights=args.weights, device=args.device,
                               tile=args.tile, overlap=args.overlap, seed=args.seed,
                               sample_args=parse_sample_args(args.sample_arg))
    for source, path, (w, h), (W, H) in written:
        print(f"{source} ({w}x{h}) -> {path} ({W}x{H})")
        if min(w, h) < TINY_SIDE:  # said, not done silently: there is almost nothing to enlarge from
            print(f"note: {source} is only {w}x{h} pixels; its {W}x{H} enlargement is the model's guess from "
                  f"{w * h} pixel(s), not detail recovered", file=sys.stderr)
    record(args, [path for _, path, _, _ in written])
    return 0

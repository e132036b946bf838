"""``genlab inpaint RUN IMAGE``: fill the masked part of a picture with a trained DDPM, PixelCNN or VAE."""

from __future__ import annotations

from pathlib import Path

from ...runs.catalog import check_tags
from ...errors import ConfigError
from ...tasks import masks
from .. import service
from .arguments import key_values, parse_sample_args
from .sample import add_registry_args, add_weights, record


def add_parser(sub) -> None:
    s = sub.add_parser("inpaint", help="fill the masked part of an image (DDPM, PixelCNN, VAE)")
    add_weights(s)
    s.add_argument("image", help="the picture to complete (resized to the model's size)")
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--mask", help="a mask picture of the image's size: white = to fill, black = keep")
    which.add_argument("--box", metavar="X,Y,W,H", help="fill this rectangle (pixels of the model's size)")
    which.add_argument("--mask-kind", choices=masks.MASK_KINDS,
                       help="bottom or right half, the central box, or random strokes (from --seed)")
    s.add_argument("--out", required=True, help="folder for masked.png, mask.png and inpainted.png")
    s.add_argument("--num", type=int, default=4, help="how many completions (default 4)")
    s.add_argument("--condition", type=int, help="class label for conditional models")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--inpaint-arg", action="append", metavar="KEY=VALUE",
                   help="the method's setting, e.g. resample=5 (DDPM), restarts=8 (VAE) (repeatable)")
    add_registry_args(s)
    s.set_defaults(func=run)


def run(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    check_tags(args.tag)
    service.check_count("--num", args.num, 1, 1024)
    key_values(args.inpaint_arg, "--inpaint-arg")  # a malformed pair is refused before the model loads
    service.inpaint_outputs(args.out)  # refused before the model loads if any output is there already
    model, folder = service.load_model(args.run, args.weights, args.device)
    paths, mask = service.inpaint_picture(model, args.image, args.out, mask=args.mask, box=args.box,
                                          mask_kind=args.mask_kind, num=args.num, condition=args.condition,
                                          seed=args.seed, settings=parse_sample_args(args.inpaint_arg))
    rec = service.provenance_record(model, folder, args.run, "inpaint", args.seed,
                                    {**parse_sample_args(args.inpaint_arg), "num": args.num,
                                     "condition": args.condition, "mask": args.mask, "box": args.box,
                                     "mask_kind": args.mask_kind})
    rec = {**rec, "source": str(Path(args.image).resolve())}
    written = service.stamp_files(paths, rec)
    print(f"inpainted {int(mask.sum())} of {mask.numel()} pixels of {args.image} with {folder} "
          f"({args.num} completions): {paths[2]}")
    record(args, written, rec)
    return 0

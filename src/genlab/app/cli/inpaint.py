"""``genlab inpaint RUN IMAGE``: fill the masked part of a picture with a trained DDPM, PixelCNN or VAE."""

from __future__ import annotations

from pathlib import Path

import torch

from ...catalog import check_tags
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
    add_registry_args(s, tags=True)
    s.set_defaults(func=run)


def run(args, extra) -> int:
    from ...provenance import stamp
    from ...tasks.inpaint import check_settings, inpaint, inpaint_method

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    check_tags(args.tag)
    service.check_count("--num", args.num, 1, 1024)
    key_values(args.inpaint_arg, "--inpaint-arg")  # a malformed pair is refused before the model loads
    masked_png, mask_png, inpainted_png = service.inpaint_outputs(args.out)
    model, folder = service.load_model(args.run, args.weights, args.device)
    inpaint_method(model)  # a family that cannot inpaint is refused before reading files
    settings = check_settings(model, parse_sample_args(args.inpaint_arg))
    x, size = service.read_image(model, args.image)
    mask = service.inpaint_mask(model, args.mask, args.box, args.mask_kind, size, seed=args.seed)
    gen = torch.Generator(device=model.device).manual_seed(args.seed)
    torch.manual_seed(args.seed)
    filled = inpaint(model, x.repeat(args.num, 1, 1, 1), mask, condition=args.condition, generator=gen, **settings)
    levels = model.data_info.levels
    shown = torch.where(mask, torch.full_like(x.long(), levels // 2), x.long())  # the unknown part in mid-grey
    write = model.data_info.modality.render
    write(model.data_info, shown, masked_png)
    write(model.data_info, (mask.long() * (levels - 1))[None, None].expand(1, x.shape[1], -1, -1), mask_png)
    write(model.data_info, filled, inpainted_png)
    rec = service.provenance_record(model, folder, args.run, "inpaint", args.seed,
                                    {**settings, "num": args.num, "condition": args.condition, "mask": args.mask,
                                     "box": args.box, "mask_kind": args.mask_kind})
    rec = {**rec, "source": str(Path(args.image).resolve())}
    written = stamp([masked_png, mask_png, inpainted_png], rec)
    print(f"inpainted {int(mask.sum())} of {mask.numel()} pixels of {args.image} with {folder} "
          f"({args.num} completions): {inpainted_png}")
    record(args, written, rec)
    return 0

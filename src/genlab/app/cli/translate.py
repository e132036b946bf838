"""``genlab translate-image RUN IMAGE... --out DIR``: translate pictures with a trained pix2pix."""

from __future__ import annotations

from pathlib import Path

import torch

from ...catalog import check_tags
from ...errors import ConfigError
from .. import service
from .sample import add_registry_args, add_weights, record

MAX_IMAGES = 10_000  # one command; beyond this a mistake (a glob gone wide) is likelier than a wish


def add_parser(sub) -> None:
    s = sub.add_parser("translate-image", help="translate pictures (an edge map into a digit...) with pix2pix")
    add_weights(s)
    s.add_argument("images", nargs="+", metavar="IMAGE",
                   help="source pictures (PNG/JPEG, grey or RGB: converted to the model's channels)")
    s.add_argument("--out", required=True, help="folder for the translations, DIR/<name>.png each")
    s.add_argument("--overwrite", action="store_true", help="replace translations already in --out")
    s.add_argument("--keep-size", action="store_true",
                   help="translate each picture at its own size (default: resized and centre-cropped to the "
                        "training images' size)")
    s.add_argument("--seed", type=int, default=0, help="seeds the model's noise (pix2pix's dropout), per picture")
    add_registry_args(s, tags=True)
    s.set_defaults(func=run)


def run(args, extra) -> int:
    from ...provenance import embed
    from ...tasks.translate import check_translator, model_size, training_size, translate_images

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    check_tags(args.tag)
    service.check_count("the number of pictures", len(args.images), 1, MAX_IMAGES)
    outputs = service.picture_outputs(args.out, args.images, overwrite=args.overwrite)  # before the model loads
    model, folder = service.load_model(args.run, args.weights, args.device)
    check_translator(model)  # a model that does not translate is refused before reading pictures
    fixed = model_size(model)
    if args.keep_size and fixed is not None:
        raise ConfigError(f"model '{model.name}' takes {fixed[1]}x{fixed[0]} pictures only; leave out --keep-size")
    size = None if args.keep_size else (fixed or training_size(model))
    sources = [service.read_source_image(model, image, size) for image in args.images]  # all read before writing
    levels = model.data_info.levels
    rec = service.provenance_record(model, folder, args.run, "translate-image", args.seed,
                                    {"keep_size": args.keep_size})
    for image, source, path in zip(args.images, sources, outputs):
        gen = torch.Generator(device=model.device).manual_seed(args.seed)  # an output does not depend on the others
        out = translate_images(model, source, generator=gen)
        path.parent.mkdir(parents=True, exist_ok=True)
        service.write_picture(levels, out[0], path)
        embed(path, {**rec, "source": str(Path(image).resolve())})
    shown = ", ".join(str(p) for p in outputs[:3]) + (f" and {len(outputs) - 3} more" if len(outputs) > 3 else "")
    print(f"translated {len(outputs)} picture(s) with {folder}: {shown}")
    record(args, outputs)
    return 0

"""``genlab translate-image RUN IMAGE... --out DIR``: translate pictures with a trained pix2pix."""

from __future__ import annotations

from pathlib import Path

from ...runs.catalog import check_tags
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
    add_registry_args(s)
    s.set_defaults(func=run)


def run(args, extra) -> int:
    from ...provenance import embed

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    check_tags(args.tag)
    service.check_count("the number of pictures", len(args.images), 1, MAX_IMAGES)
    outputs = service.picture_outputs(args.out, args.images, overwrite=args.overwrite)  # before the model loads
    model, folder = service.load_model(args.run, args.weights, args.device)
    size = service.translation_size(model, args.keep_size)  # a model that does not translate is refused here
    sources = [service.read_source_image(model, image, size) for image in args.images]  # all read before writing
    rec = service.provenance_record(model, folder, args.run, "translate-image", args.seed,
                                    {"keep_size": args.keep_size})
    for image, source, path in zip(args.images, sources, outputs):
        service.translate_levels(model, source, path, args.seed)
        embed(path, {**rec, "source": str(Path(image).resolve())})
    shown = ", ".join(str(p) for p in outputs[:3]) + (f" and {len(outputs) - 3} more" if len(outputs) > 3 else "")
    print(f"translated {len(outputs)} picture(s) with {folder}: {shown}")
    record(args, outputs)
    return 0

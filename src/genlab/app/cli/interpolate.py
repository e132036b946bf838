"""``genlab interpolate RUN A.png B.png --steps 8 --out DIR``: the pictures between two pictures."""

from __future__ import annotations

from pathlib import Path

from ...runs.catalog import check_tags
from ...errors import ConfigError
from .. import service
from .sample import add_registry_args, add_weights, record


def add_parser(sub) -> None:
    s = sub.add_parser("interpolate", help="the pictures between two pictures, through a VAE's latent space")
    add_weights(s)
    s.add_argument("a", metavar="A", help="the first picture (PNG or JPEG; resized to the model's size)")
    s.add_argument("b", metavar="B", help="the second picture")
    s.add_argument("--steps", type=int, default=8, help="pictures on the line, both ends included (default 8)")
    s.add_argument("--condition", type=int, help="the class, for a class-conditional model")
    s.add_argument("--out", required=True, help="a new folder: step-00.png ... at the model's size, and grid.png")
    add_registry_args(s)
    s.set_defaults(func=run)


def run(args, extra) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    check_tags(args.tag)
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):  # before the model loads
        raise ConfigError(f"--out '{out}' already exists; give a new folder for the pictures")
    model, folder = service.load_model(args.run, args.weights, args.device)
    rec = {**service.provenance_record(model, folder, args.run, "interpolate", None,
                                       {"steps": args.steps, "condition": args.condition}),
           "source": f"{Path(args.a).resolve()} -> {Path(args.b).resolve()}"}
    written = service.interpolate_pictures(model, args.a, args.b, out, steps=args.steps, condition=args.condition,
                                           rec=rec)
    print(f"wrote {len(written) - 1} pictures from {Path(args.a).name} to {Path(args.b).name} and their row: "
          f"{out / 'grid.png'}")
    record(args, written, rec)
    return 0

"""``genlab features train --data NAME``: the feature network the sample-quality metrics use."""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError


def add_parser(sub) -> None:
    f = sub.add_parser("features", help="train the feature network the sample-quality metrics use "
                       "(a small CNN classifier; for audio data a log-mel spectrogram CNN)")
    f.add_argument("action", choices=["train"])
    f.add_argument("--data", default="digits", help="a labelled image or audio data set (default digits)")
    f.add_argument("--data-root")
    f.add_argument("--out", help="folder (default features/DATA)")
    f.add_argument("--steps", type=int, help="optimizer steps (default 2000; audio 600)")
    f.add_argument("--batch-size", type=int, help="examples per step (default 128; audio 64)")
    f.add_argument("--seed", type=int, default=0)
    f.set_defaults(func=run)


def run(args, extra) -> int:
    from ...data import load_dataset
    from ...evaluation.features import default_feature_dir, save_feature_network, train_feature_network

    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    data = load_dataset(args.data, root=args.data_root)
    out = Path(args.out) if args.out else default_feature_dir(data.info.name)
    net = train_feature_network(data, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                                progress=True)
    save_feature_network(net, out)
    print(f"feature network for {data.info.name}: test accuracy {net.test_accuracy:.4f}, hash {net.content_hash}, "
          f"saved to {out}")
    return 0

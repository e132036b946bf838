"""The spoken-digit benchmarks: ``wavenet-fsdd`` and ``wavegan-fsdd``.

Each trains a class-conditional model on FSDD's training takes for a budget of this machine's
seconds (the recipes in :mod:`genlab.recipes`), asks it for 30 clips of every digit and judges
them with the FSDD classifier (:mod:`genlab.evaluation.audio_quality`): the share heard as the
asked digit, the Fréchet distance of the classifier's features against the 300 test recordings,
and the inception score. The real test recordings are the reference row, scored the same way.
WaveNet adds its exact test NLL (bits per audio sample) and its generation speed, cached (Fast
WaveNet) against uncached. With ``out``, the run, the classifier, the clips (WAV) and a
spectrogram picture are kept there.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .common import _data_spec, _kept, _run_dir, _seeded, _train, steps_for_budget
from ..data import load_dataset
from ..evaluation import evaluate
from ..evaluation.audio_quality import AudioScorer, real_reference
from ..evaluation.features import load_feature_network, save_feature_network, train_feature_network
from .recipes import AUDIO_BUDGET_S, WAVEGAN_BUDGET_S, WAVEGAN_FSDD, WAVENET_FSDD, Recipe

PER_DIGIT = 30  # clips asked of each digit: 300, as many as the test recordings
KEEP = ("accuracy", "fd", "inception_score", "coverage", "class_kl", "missing_classes")


def _classifier(data, out, quick: bool, seed: int):
    """The FSDD classifier: ``out/features`` if a previous call left one there, else trained and kept."""
    folder = Path(out) / "features" if out is not None else None
    if folder is not None and folder.is_dir():
        return load_feature_network(folder)
    net = train_feature_network(data, steps=20 if quick else None, seed=seed, progress=not quick)
    if folder is not None:
        save_feature_network(net, folder)
    return net


def _keep_clips(data, clips: torch.Tensor, asked: torch.Tensor, folder: Path, per_digit: int = 2) -> str:
    """The first ``per_digit`` clips of every digit as WAV files (``folder``) and a picture of their
    spectrograms beside it (``folder.png``: one column per digit 0-9, ``per_digit`` rows)."""
    from PIL import Image

    from ..data.modalities.audio import mu_law_decode, spectrogram_grid

    order = torch.cat([torch.nonzero(asked == d)[:per_digit, 0] for d in range(10)]).view(10, -1).T.flatten()
    data.info.modality.render(data.info, clips[order], folder)
    picture = folder.with_suffix(".png")
    Image.fromarray(spectrogram_grid(mu_law_decode(clips[order].long()), columns=10)).save(picture)
    return str(picture)


def _reference_row(data, net) -> dict[str, Any]:
    ref = real_reference(data, net)
    return {"model": "real test recordings", **{k: ref.get(k) for k in KEEP}, "fd_test_halves": ref["fd_test_halves"],
            "inception_score_train": ref["inception_score_train"]}


def _audio_benchmark(name: str, recipe: Recipe, data_root, quick: bool, seed: int, out, budget_s: float,
                     extra_row=None) -> dict[str, Any]:
    # the quick version checks the pipeline: short clips, few steps, 20 clips asked
    data = load_dataset(recipe.data, root=data_root, **dict(recipe.data_options, **({"length": 512} if quick else {})))
    net = _classifier(data, out, quick, seed)
    run_dir = _run_dir(out, recipe.model)
    steps = 3 if quick else steps_for_budget(recipe.model, data, recipe.model_settings, recipe.train, budget_s, seed,
                                             probe=5)
    model = _seeded(recipe.model, data, seed, **recipe.model_settings)
    start = time.perf_counter()
    trainer, _ = _train(model, data, dict(recipe.train, steps=steps, seed=seed, progress=not quick), run_dir,
                        _data_spec(recipe))
    train_s = time.perf_counter() - start
    model = trainer.eval_model().eval()
    num = 20 if quick else PER_DIGIT * 10
    # the digits asked in turn (0, 1, ..., 9, 0, ...), drawn and judged as `genlab compare` does
    scores = AudioScorer(data, net).score_model(model, num_samples=num, seed=seed)
    clips, asked = scores["_samples"], torch.arange(num) % net.config.num_classes
    row = {"model": recipe.model, "parameters": model.num_parameters(), "steps": steps, "train_s": train_s,
           **{k: scores[k] for k in KEEP}, "sample_s_per_clip": scores["sampling_s_per_image"],
           "samples_per_s": clips.shape[1] / scores["sampling_s_per_image"]}
    if extra_row is not None:
        row.update(extra_row(model, data, quick))
    result = {"name": name, "rows": [_reference_row(data, net), row], "budget_s": budget_s, "seed": seed,
              "features": net.content_hash, "feature_test_accuracy": net.test_accuracy, "num_samples": num,
              "num_test": len(data.test.codes), "model_settings": recipe.model_settings,
              "train": {k: v for k, v in recipe.train.items() if k in ("batch_size", "lr", "precision", "ema_decay")},
              "threads": torch.get_num_threads()}
    if out is not None:
        result["picture"] = _keep_clips(data, clips, asked, Path(out) / f"{name}-samples")
    return _kept(result, run_dir)


def _wavenet_extras(model, data, quick: bool) -> dict[str, Any]:
    """The exact test NLL and generation speed, cached against uncached (4 clips of 1,000 samples, or 64 when quick)."""
    nll = evaluate(model, data, "test", max_examples=4 if quick else None, progress=not quick)
    length = 64 if quick else 1000
    speeds = {}
    for cache in (True, False):
        start = time.perf_counter()
        model.sample(4, condition=torch.arange(4), generator=torch.Generator().manual_seed(0), length=length,
                     cache=cache)
        speeds[cache] = 4 * length / (time.perf_counter() - start)
    return {"test_bits_per_sample": nll["bits_per_sample"], "test_nll_nats": nll["nll_nats"],
            "cached_samples_per_s": speeds[True], "uncached_samples_per_s": speeds[False],
            "receptive_field": model.config.receptive_field}


def wavenet_fsdd(data_root=None, quick: bool = False, seed: int = 0, out=None,
                 budget_s: float = AUDIO_BUDGET_S) -> dict[str, Any]:
    """Class-conditional WaveNet on FSDD: test bits per sample, the classifier's verdict on 300 clips, speed."""
    return _audio_benchmark("wavenet-fsdd", WAVENET_FSDD, data_root, quick, seed, out, budget_s, _wavenet_extras)



def wavegan_fsdd(data_root=None, quick: bool = False, seed: int = 0, out=None,
                 budget_s: float = WAVEGAN_BUDGET_S) -> dict[str, Any]:
    """Class-conditional WaveGAN on FSDD: the classifier's verdict on 300 clips, sampling speed."""
    return _audio_benchmark("wavegan-fsdd", WAVEGAN_FSDD, data_root, quick, seed, out, budget_s)

"""Sample quality of any image model: draw samples, embed them with a feature network, score them.

:func:`sample_quality` is what ``genlab eval RUN --metrics ...`` and ``genlab compare`` run.
Samples are compared with the data's **test** split (Fréchet distance, KID, precision and recall
on feature vectors, class coverage from the feature network's predictions) and with the
**train** split (memorisation, on pixels). Every result names the feature extractor's content
hash: scores computed with different feature networks are not comparable, and only those from
the standard Inception weights file (:mod:`.inception`) are comparable with FIDs from papers.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import torch

from ..data.core import DataSet
from ..errors import ConfigError
from .features import FeatureNet, check_feature_network
from .sample_quality import (class_coverage, frechet_distance_features, kernel_inception_distance, memorisation,
                             precision_recall)

METRICS = ("fid", "kid", "precision", "recall", "coverage", "memorisation")


def parse_metrics(text: str | list[str] | None) -> list[str]:
    """``"fid,kid"`` or ``["fid", "kid"]`` or ``"all"`` -> checked metric names."""
    if text is None:
        return []
    names = text.split(",") if isinstance(text, str) else list(text)
    names = [n.strip().lower() for n in names if n.strip()]
    if names == ["all"]:
        return list(METRICS)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)} or 'all'")
    return names


@torch.no_grad()
def draw_samples(model, num_samples: int, batch_size: int = 250, seed: int = 0,
                 **sample_kwargs: Any) -> tuple[torch.Tensor, float]:
    """``num_samples`` images from ``model`` (in batches, seeded) and the seconds it took per image.

    A conditional model draws the classes in turn (its ``sample`` default), so every class is
    asked for equally often.
    """
    model.eval()
    gen = torch.Generator(device=model.device).manual_seed(seed)
    chunks = []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for first in range(0, num_samples, batch_size):
            chunks.append(model.sample(min(batch_size, num_samples - first), generator=gen, **sample_kwargs).cpu())
    seconds = time.perf_counter() - start
    return torch.cat(chunks), seconds / max(num_samples, 1)


@torch.no_grad()
def _batched(fn, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    return torch.cat([fn(images[i:i + batch_size]).cpu() for i in range(0, len(images), batch_size)])


def embed(net: FeatureNet, images: torch.Tensor) -> torch.Tensor:
    """Feature vectors ``[N, feature_dim]`` of pixel-level images."""
    return _batched(net.eval().features, images, net.batch_size)


def predict(net: FeatureNet, images: torch.Tensor) -> torch.Tensor:
    """The feature network's class for each pixel-level image (``[N]``)."""
    return _batched(net.eval().predict, images)


class Reference:
    """What every sample set of one data set is compared with, computed once and kept.

    Scoring several models (``genlab compare``) then embeds the test split and computes the
    test images' memorisation share once, not once per model.
    """

    def __init__(self, data: DataSet, net: FeatureNet):
        info = data.info
        check_feature_network(net, info)
        if data.test is None:
            raise ConfigError(f"data set '{info.name}' has no test split to compare samples with")
        self.data, self.net = data, net
        self.scale = float(info.levels - 1)  # pixels to [0, 1] for the memorisation distances

    @functools.cached_property
    def test_features(self) -> torch.Tensor:
        return embed(self.net, self.data.test.images)

    @functools.cached_property
    def train_pixels(self) -> torch.Tensor:
        return self.data.train.images.flatten(1).float() / self.scale

    @functools.cached_property
    def memorisation_baseline(self) -> float:
        """The memorisation share of the held-out test images: what memorising nothing scores."""
        return memorisation(self.data.test.images.flatten(1).float() / self.scale, self.train_pixels)["share"]


def score_images(images: torch.Tensor, data: DataSet, net: FeatureNet, metrics: list[str] | None = None,
                 kid_subsets: int = 100, seed: int = 0, reference: Reference | None = None) -> dict[str, Any]:
    """Score pixel-level images ``[N, C, H, W]`` against ``data`` with the feature network ``net``.

    Returns a flat dict: ``fid``, ``kid`` and ``kid_std``, ``precision``, ``recall``,
    ``coverage``, ``class_kl`` and ``missing_classes``, ``memorisation`` and
    ``memorisation_baseline`` (the same share for the test images, which memorise nothing), as
    asked by ``metrics`` (default: all), plus what they were computed with. Pass the same
    ``reference`` (a :class:`Reference` of ``data`` and ``net``) to score several image sets.
    """
    metrics = list(METRICS) if metrics is None else metrics
    info = data.info
    reference = reference or Reference(data, net)
    if tuple(images.shape[1:]) != tuple(info.shape):
        raise ConfigError(f"images of shape {tuple(images.shape[1:])} cannot be scored against "
                          f"'{info.name}' ({tuple(info.shape)})")
    out: dict[str, Any] = {"features": net.content_hash, "feature_test_accuracy": net.test_accuracy,
                           "feature_description": net.description,
                           "num_samples": len(images), "num_test": len(data.test.images)}
    if {"fid", "kid", "precision", "recall"} & set(metrics):
        fake_f, real_f = embed(net, images), reference.test_features
        if "fid" in metrics:
            out["fid"] = frechet_distance_features(fake_f, real_f)
        if "kid" in metrics:
            size = min(1000, len(fake_f), len(real_f))
            out["kid"], out["kid_std"] = kernel_inception_distance(fake_f, real_f, num_subsets=kid_subsets,
                                                                   subset_size=size, seed=seed)
        if {"precision", "recall"} & set(metrics):
            pr = precision_recall(real_f, fake_f, k=3)
            out.update(precision=pr["precision"], recall=pr["recall"])
    if "coverage" in metrics and not net.has_data_classes:
        out["coverage_unavailable"] = ("class coverage needs a classifier of the data's classes; Inception predicts "
                                       "ImageNet classes: score coverage with genlab's feature network")
    elif "coverage" in metrics:
        if data.test.labels is None:
            raise ConfigError(f"class coverage needs labelled test data; '{info.name}' has none")
        cov = class_coverage(predict(net, images), data.test.labels, net.config.num_classes)
        out.update(coverage=cov["coverage"], class_kl=cov["kl"], missing_classes=cov["missing"],
                   collapsed=cov["collapsed"])
    if "memorisation" in metrics:
        mem = memorisation(images.flatten(1).float() / reference.scale, reference.train_pixels)
        out.update(memorisation=mem["share"], memorisation_baseline=reference.memorisation_baseline)
        out["_nearest_index"] = mem["nearest_index"]  # for the nearest-neighbour picture; not reported
    return out


def protocol_num_samples(data: DataSet) -> int:
    """DESIGN.md's sample count: 10,000, or the size of the test split where that is smaller."""
    return min(10_000, len(data.test.images)) if data.test is not None else 10_000


def sample_quality(model, data: DataSet, net: FeatureNet, metrics: list[str] | None = None,
                   num_samples: int | None = None, seed: int = 0, batch_size: int = 250,
                   reference: Reference | None = None, **sample_kwargs: Any) -> dict[str, Any]:
    """Draw ``num_samples`` samples (default :func:`protocol_num_samples`) and score them with :func:`score_images`."""
    if model.data_info.kind == "audio":  # the audio classifier's metrics (all of them, whatever ``metrics`` names)
        import time

        from .audio_quality import audio_sample_quality

        start = time.perf_counter()
        out = audio_sample_quality(model, data, net, num_samples=num_samples, seed=seed, **sample_kwargs)
        out.update(sampling_s_per_image=(time.perf_counter() - start) / out["num_samples"], sample_settings=sample_kwargs)
        return out
    if not model.data_info.modality.sample_quality:
        raise ConfigError(f"sample-quality metrics are for image and audio models; '{model.name}' models "
                          f"{model.data_info.kind}")
    num_samples = num_samples or protocol_num_samples(data)
    images, per_image = draw_samples(model, num_samples, batch_size=batch_size, seed=seed, **sample_kwargs)
    out = score_images(images, data, net, metrics, seed=seed, reference=reference)
    out.update(sampling_s_per_image=per_image, sample_settings=sample_kwargs)
    out["_images"] = images
    return out


def nearest_neighbour_grid(images: torch.Tensor, nearest_index: torch.Tensor, train: torch.Tensor, levels: int,
                           path: str | Path, rows: int = 8) -> Path:
    """PNG: each row pairs up to 8 samples (top) with their nearest training images (bottom)."""
    from ..data.modalities import save_image_grid

    n = min(rows, len(images))
    pairs = torch.cat([images[:n], train[nearest_index[:n]]])
    return save_image_grid(pairs, levels, path, nrow=n)


def public(result: dict[str, Any]) -> dict[str, Any]:
    """The result without its private tensors (keys starting with ``_``): what goes into JSON."""
    return {k: v for k, v in result.items() if not k.startswith("_")}

"""Sample quality of any image model: draw samples, embed them with a feature network, score them.

:func:`sample_quality` is what ``genlab eval RUN --metrics ...`` and ``genlab compare`` run; for
images it is :class:`ImageScorer` (the scorer of other kinds lives in their own modules).
Samples are compared with the data's **test** split (Fréchet distance, KID, precision and recall
on feature vectors, class coverage from the feature network's predictions) and with the
**train** split (memorisation, on pixels). Every result names the feature extractor's content
hash: scores computed with different feature networks are not comparable, and only those from
the standard Inception weights file (:mod:`.inception`) are comparable with FIDs from papers.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

from ..data.core import DataSet
from ..errors import ConfigError
from .features import FeatureNet, check_feature_network
from .scorers import Scorer, draw, get_scorer, register_scorer
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


def draw_samples(model, num_samples: int, batch_size: int = 250, seed: int = 0,
                 **sample_kwargs: Any) -> tuple[torch.Tensor, float]:
    """``num_samples`` images from ``model`` (in batches, seeded) and the seconds it took per image.

    A conditional model draws the classes in turn (its ``sample`` default), so every class is
    asked for equally often.
    """
    return draw(model, num_samples, batch_size, seed, **sample_kwargs)


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


def sample_quality(model, data: DataSet, net, metrics: list[str] | None = None,
                   num_samples: int | None = None, seed: int = 0, reference: "Scorer | None" = None,
                   batch_size: int | None = None, **sample_kwargs: Any) -> dict[str, Any]:
    """Draw ``num_samples`` samples (default: the scorer's protocol count) and score them with the
    scorer of the data's kind (:mod:`genlab.evaluation.scorers`): :func:`score_images` for images,
    the spoken-digit classifier for audio, ... Pass the same ``reference`` (a scorer of ``data`` and
    ``net``) to score several models against what it computed once."""
    scorer = reference if reference is not None else get_scorer(data, net)
    return scorer.score_model(model, num_samples=num_samples, seed=seed, metrics=metrics, batch_size=batch_size,
                              **sample_kwargs)


@register_scorer
class ImageScorer(Scorer):
    """Images: Fréchet distance, KID, precision and recall of feature vectors against the test split,
    class coverage from the feature network's predictions, memorisation against the training pixels."""

    kind = "image"
    floor_label = "training images"
    columns = [("Fréchet distance", "fid", 2), ("KID", "kid", 3), ("precision", "precision", 3),
               ("recall", "recall", 3), ("class coverage", "coverage", 2), ("class KL", "class_kl", 3),
               ("memorised", "memorisation", 3)]

    def __init__(self, data: DataSet, net):
        super().__init__(data, net)
        self.reference = Reference(data, net)

    def score_model(self, model, num_samples=None, seed=0, metrics=None, batch_size=None, **sample_kwargs):
        num_samples = num_samples or self.default_num_samples()
        images, per_image = draw(model, num_samples, batch_size or self.batch_size, seed, **sample_kwargs)
        out = score_images(images, self.data, self.net, metrics, seed=seed, reference=self.reference)
        out.update(sampling_s_per_image=per_image, sample_settings=sample_kwargs, _samples=images)
        return out

    def score_samples(self, samples, seed=0, metrics=None):
        out = score_images(samples, self.data, self.net, metrics, seed=seed, reference=self.reference)
        out.pop("_nearest_index", None)
        return out

    def score_data(self, num_samples, seed=0):
        train = self.data.train.images
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:num_samples]
        out = score_images(train[pick], self.data, self.net, None, seed=seed, reference=self.reference)
        # a training image is its own nearest training image: show the held-out test images' share instead
        out["memorisation"] = out["memorisation_baseline"]
        out.pop("_nearest_index")
        out["_samples"] = train[pick]
        return out

    def pictures(self, result, stem):
        from ..data.modalities import save_image_grid

        levels = self.data.info.levels
        grid = save_image_grid(result["_samples"][:64], levels, stem.with_suffix(".png"))
        names = {"grid": grid.name}
        if "_nearest_index" in result:  # samples over their nearest training images, to judge copying by eye
            nearest = stem.with_name(stem.name.replace("samples-", "nearest-", 1) + ".png")
            nearest_neighbour_grid(result["_samples"], result["_nearest_index"], self.data.train.images, levels, nearest)
            names["nearest_grid"] = nearest.name
        return names

    def notes(self, report):
        ref = report["reference"]
        if report.get("feature_kind") == "inception":
            caveat = ("images upsampled to 299x299; these distances are comparable with others from the same weights, "
                      "and with FIDs from papers only with the standard weights, the same data and as many samples "
                      "(FID is biased upward at small sample counts). No class coverage: Inception has no classifier "
                      "of this data's classes.")
        else:
            caveat = ("these distances are not comparable with Inception-based FIDs from papers, nor with scores from "
                      "another feature network.")
        return [
            f"Samples: {report['num_samples']} per run (seed {report['seed']}), against the {ref['num_test']} test "
            f"images of '{report['data']}', sampled and scored on {report.get('device', 'cpu')}. "
            f"Features: {report['feature_description']}; {caveat}",
            f"Memorised: share of samples closer to a training image than that image is to any other training image. "
            f"Held-out test images score {ref['memorisation_baseline']:.3f}; only a share clearly above that suggests "
            "copying.",
            "The first row scores training images exactly as the samples are scored: the floor each metric can reach "
            "with this many examples (its 'memorised' is the test images' share).",
        ]


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

"""Sample quality of audio models, judged by the audio feature network (a spoken-digit classifier).

For clips ``[N, T]`` of mu-law codes, :func:`score_audio` reports, against the data's **test** split:

``accuracy``
    the share of class-conditional samples that the classifier hears as the class they were asked
    for (only when the asked classes are given);
``fd``
    the Fréchet distance between the classifier's features of the samples and of the test
    recordings (:func:`~genlab.evaluation.sample_quality.frechet_distance_features`; biased by the
    number of clips, so compare equally many);
``inception_score``
    ``exp(E_x KL(p(y|x) || p(y)))`` of the classifier's probabilities
    (:func:`~genlab.evaluation.sample_quality.inception_score`; 1 .. number of classes);
``coverage``, ``class_kl``, ``missing_classes``
    class coverage of the predicted classes against the test labels
    (:func:`~genlab.evaluation.sample_quality.class_coverage`).

Every result names the classifier's content hash (``features``): scores are comparable only when
it matches. :func:`real_reference` gives the same figures for real recordings, the row to read the
models' rows against.
"""

from __future__ import annotations

from typing import Any

import torch

from ..data.core import DataSet
from ..errors import ConfigError
from .features import check_feature_network
from .sample_quality import class_coverage, frechet_distance_features, inception_score


@torch.no_grad()
def classify(net, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``[N, D]`` and class probabilities ``[N, C]`` of clips ``[N, T]`` (eval mode, batched)."""
    net.eval()
    features, probs = [], []
    for start in range(0, len(clips), net.batch_size):
        f = net.features(clips[start:start + net.batch_size])
        features.append(f.cpu())
        probs.append(net.classifier(f).softmax(dim=1).double().cpu())
    return torch.cat(features), torch.cat(probs)


def score_audio(clips: torch.Tensor, data: DataSet, net, asked: torch.Tensor | None = None,
                test_features: torch.Tensor | None = None) -> dict[str, Any]:
    """Score clips ``[N, T]`` against ``data``'s test split with the audio feature network ``net``.

    ``asked`` ([N] class ids) are the classes the clips were asked for, if any; ``test_features``
    (the net's features of the test clips) may be passed to score several sets without
    recomputing them.
    """
    info = data.info
    check_feature_network(net, info)
    if data.test is None or data.test.labels is None:
        raise ConfigError(f"data set '{info.name}' has no labelled test split to compare samples with")
    if clips.dim() != 2 or clips.shape[1] != info.shape[0]:
        raise ConfigError(f"clips of shape {tuple(clips.shape)} cannot be scored against '{info.name}' "
                          f"(clips of {info.shape[0]} samples)")
    if test_features is None:
        test_features, _ = classify(net, data.test.codes)
    features, probs = classify(net, clips)
    predicted = probs.argmax(dim=1)
    num_classes = net.config.num_classes
    cov = class_coverage(predicted, data.test.labels, num_classes)
    out: dict[str, Any] = {"features": net.content_hash, "feature_test_accuracy": net.test_accuracy,
                           "feature_description": net.description, "num_samples": len(clips),
                           "num_test": len(data.test.codes),
                           "fd": frechet_distance_features(features, test_features),
                           "inception_score": inception_score(probs)[0],
                           "coverage": cov["coverage"], "class_kl": cov["kl"], "missing_classes": cov["missing"]}
    if asked is not None:
        asked = torch.as_tensor(asked).long().cpu()
        if asked.shape != predicted.shape:
            raise ConfigError(f"{len(asked)} asked classes for {len(clips)} clips")
        out["accuracy"] = float((predicted == asked).double().mean())
    return out


def real_reference(data: DataSet, net) -> dict[str, Any]:
    """The reference row: the same figures for real recordings.

    ``test``: :func:`score_audio` of the test recordings with their own labels as the asked classes
    (so ``accuracy`` is the classifier's test accuracy, and ``fd`` is 0 by construction);
    ``fd_train_test``: the Fréchet distance of the train recordings' features against the test
    recordings'; ``fd_test_halves``: that of the test set's even-indexed clips against its
    odd-indexed ones (a floor for sets of half the test size); ``inception_score_train``.
    """
    test_features, _ = classify(net, data.test.codes)
    out = score_audio(data.test.codes, data, net, asked=data.test.labels, test_features=test_features)
    train_features, train_probs = classify(net, data.train.codes)
    out["fd_train_test"] = frechet_distance_features(train_features, test_features)
    out["fd_test_halves"] = frechet_distance_features(test_features[0::2], test_features[1::2])
    out["inception_score_train"] = inception_score(train_probs)[0]
    out["num_train"] = len(data.train.codes)
    return out


@torch.no_grad()
def audio_sample_quality(model, data: DataSet, net, num_samples: int | None = None, seed: int = 0,
                         batch_size: int = 50, **sample_kwargs: Any) -> dict[str, Any]:
    """Draw ``num_samples`` clips (default: as many as the test split holds) from an audio model and
    score them with :func:`score_audio`. A class-conditional model is asked for the classes in turn
    (``i % num_classes``), and ``accuracy`` says how many it delivered."""
    num_samples = num_samples or len(data.test.codes)
    conditional = getattr(model, "condition_spec", None) is not None
    asked = torch.arange(num_samples) % net.config.num_classes if conditional else None
    model.eval()
    gen = torch.Generator(device=model.device).manual_seed(seed)
    chunks = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for first in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - first)
            condition = None if asked is None else asked[first:first + n].to(model.device)
            chunks.append(model.sample(n, condition=condition, generator=gen, **sample_kwargs).cpu())
    clips = torch.cat(chunks)
    return score_audio(clips, data, net, asked=asked)

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

import functools
from typing import Any

import torch

from ..data.core import DataSet
from ..errors import ConfigError
from .features import check_feature_network
from .scorers import Scorer, draw, register_scorer
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
                test_features: torch.Tensor | None = None,
                classified: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, Any]:
    """Score clips ``[N, T]`` against ``data``'s test split with the audio feature network ``net``.

    ``asked`` ([N] class ids) are the classes the clips were asked for, if any; ``test_features``
    (the net's features of the test clips) may be passed to score several sets without
    recomputing them, and ``classified`` (:func:`classify` of ``clips``) when the caller has it.
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
    features, probs = classified if classified is not None else classify(net, clips)
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
    test = classify(net, data.test.codes)
    out = score_audio(data.test.codes, data, net, asked=data.test.labels, test_features=test[0], classified=test)
    train_features, train_probs = classify(net, data.train.codes)
    out["fd_train_test"] = frechet_distance_features(train_features, test[0])
    out["fd_test_halves"] = frechet_distance_features(test[0][0::2], test[0][1::2])
    out["inception_score_train"] = inception_score(train_probs)[0]
    out["num_train"] = len(data.train.codes)
    return out


@register_scorer
class AudioScorer(Scorer):
    """Audio clips judged by the spoken-digit classifier: the share heard as the asked class
    (class-conditional models), Fréchet distance of its features against the test recordings,
    inception score, class coverage. Pictures: WAV files and a spectrogram PNG."""

    kind = "audio"
    nll_key = "bits_per_sample"
    nll_header = "test NLL (bits/sample)"
    floor_label = "training recordings"
    columns = [("asked class heard", "accuracy", 3), ("Fréchet distance", "fd", 2),
               ("inception score", "inception_score", 2), ("class coverage", "coverage", 2), ("class KL", "class_kl", 3)]
    batch_size = 50
    listen = 10  # clips per run written as WAV files (and drawn as spectrograms) in a report

    def __init__(self, data: DataSet, net):
        check_feature_network(net, data.info)
        super().__init__(data, net)
        if data.test.labels is None:
            raise ConfigError(f"data set '{data.info.name}' has no labelled test split to compare samples with")

    @functools.cached_property
    def test_features(self) -> torch.Tensor:
        return classify(self.net, self.data.test.codes)[0]

    def score_model(self, model, num_samples=None, seed=0, metrics=None, batch_size=None, **sample_kwargs):
        """``num_samples`` clips (default: as many as the test split holds); a class-conditional
        model is asked for the classes in turn (``i % num_classes``) and ``accuracy`` says how many
        it delivered. ``metrics`` is ignored: the classifier's figures come together."""
        num_samples = num_samples or len(self.data.test)
        asked = None
        if getattr(model, "condition_spec", None) is not None:
            asked = torch.arange(num_samples) % self.net.config.num_classes
        clips, per_clip = draw(model, num_samples, batch_size or self.batch_size, seed,
                               None if asked is None else (lambda first, n: asked[first:first + n]), **sample_kwargs)
        out = score_audio(clips, self.data, self.net, asked=asked, test_features=self.test_features)
        out.update(sampling_s_per_image=per_clip, sample_settings=sample_kwargs, _samples=clips)
        return out

    def check_sample_kwargs(self, sample_kwargs):
        length = self.data.info.shape[0]
        if "length" in sample_kwargs and sample_kwargs["length"] != length:
            raise ConfigError(f"--sample-arg length={sample_kwargs['length']}: the classifier judges clips of the "
                              f"data's {length:,} samples; leave length out")

    def score_samples(self, samples, seed=0, metrics=None):
        return score_audio(samples, self.data, self.net, test_features=self.test_features)

    def score_data(self, num_samples, seed=0):
        """Training recordings (their labels as the asked classes), scored as samples are."""
        train = self.data.train
        pick = torch.randperm(len(train.codes), generator=torch.Generator().manual_seed(seed))[:num_samples]
        out = score_audio(train.codes[pick], self.data, self.net, asked=train.labels[pick] if train.labels is not None
                          else None, test_features=self.test_features)
        out["_samples"] = train.codes[pick]
        return out

    def pictures(self, result, stem):
        info = self.data.info
        folder = info.modality.render(info, result["_samples"][: self.listen], stem)
        return {"grid": f"{folder.name}/spectrograms.png", "listen": folder.name}

    def notes(self, report):
        ref = report["reference"]
        return [
            f"Samples: {report['num_samples']} clips per run (seed {report['seed']}), against the {ref['num_test']} "
            f"test recordings of '{report['data']}'. Judge: {report['feature_description']} (hash "
            f"{report['features']}, test accuracy {report['feature_test_accuracy']:.3f}); the figures are comparable "
            "only with scores from the same classifier.",
            "Asked class heard: the share of a class-conditional model's clips that the classifier hears as the class "
            "they were asked for (classes asked in turn). The Fréchet distance is biased by the number of clips: "
            "compare equally many.",
            "The first row scores training recordings exactly as the samples are scored (their own labels as the "
            "asked classes). Each run's first clips are in its folder as WAV files.",
        ]

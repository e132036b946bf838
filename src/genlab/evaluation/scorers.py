"""Sample scorers: how the samples of each kind of data are judged, one scorer per data kind.

``genlab compare`` and ``genlab eval --metrics`` ask :func:`get_scorer` for the scorer of the
data's kind and never branch on the kind themselves. A scorer is built once per data set (and
feature network, for kinds judged by one) and keeps what every model's samples are compared with
(e.g. the test split's features), so that scoring several models computes it once.

A scorer says:

- ``needs_features``: whether it judges with a feature network (images: the image CNN or
  Inception; audio: the spoken-digit classifier) or from the samples alone (piano rolls);
- ``nll_key`` / ``nll_header``: which figure of the likelihood report is the table's test NLL
  (bits per dimension for images, per audio sample for audio, nats per time step for music);
- ``columns``: its metric columns, ``(header, key, decimals)``;
- :meth:`Scorer.score_model`: draw ``num_samples`` samples from a model and score them (the
  samples are returned under the private key ``_samples``, with the sampling time per sample);
- :meth:`Scorer.score_data`: score training examples exactly like samples (the floor row);
- :meth:`Scorer.score_samples`: score samples already drawn (``genlab sample --score``);
- :meth:`Scorer.pictures`: write what a person looks at or listens to for a set of samples;
- :meth:`Scorer.notes`: the caveats the report prints under its table.

A new kind registers its scorer with :func:`register_scorer` in its own evaluation module.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..errors import ConfigError
from ..lookup import Lookup
from ..progress import bar, current, reporting

_SCORERS: "Lookup[type[Scorer]]" = Lookup("scorer")


def register_scorer(cls: type["Scorer"]) -> type["Scorer"]:
    """Class decorator: the scorer of the data kind ``cls.kind``."""
    return _SCORERS.add(cls.kind, cls)


def scorer_class(kind: str) -> type["Scorer"]:
    """The scorer class of data kind ``kind``; a one-line error for a kind no scorer judges."""
    if kind not in _SCORERS:
        raise ConfigError(f"no sample-quality metrics for {kind} data; they exist for {', '.join(sorted(_SCORERS))}")
    return _SCORERS.get(kind)


def load_checked_features(path, info):
    """The feature extractor at ``path`` (a feature-network folder or Inception weights), checked by the
    scorer of ``info``'s kind (video frames, for one, are judged by an image network)."""
    from .features import load_feature_extractor

    net = load_feature_extractor(path, info)
    scorer_class(info.kind).check_features(net, info)
    return net


def features_for(data, features: str | None):
    """The feature extractor that judges samples of ``data``: the one at ``features`` (a feature-network
    folder or an Inception weights file), else ``features/<data name>``, checked by the kind's scorer; None
    for a kind scored without one (piano rolls). A one-line error where there is none."""
    from .features import default_feature_dir

    scorer = scorer_class(data.info.kind)
    if not scorer.needs_features:
        if features:
            raise ConfigError(f"{data.info.kind} samples are scored without a feature network; leave out --features")
        return None
    path = Path(features) if features else default_feature_dir(data.info.name)
    if not features and not path.is_dir():
        raise ConfigError(f"no feature network for '{data.info.name}' at {path}; {scorer.features_hint(data.info)}")
    return load_checked_features(path, data.info)


def check_sample_kwargs(model, sample_kwargs: dict[str, Any]) -> None:
    """Refuse, before any sampling, a setting of the wrong type for ``model.sample`` (the type of its
    default). A setting the model does not take is ignored here: a comparison gives every model the
    same settings; see :func:`check_taken`."""
    import inspect

    params = inspect.signature(model.sample).parameters
    for key, value in sample_kwargs.items():
        default = params[key].default if key in params else inspect.Parameter.empty
        if default is inspect.Parameter.empty or default is None:
            continue
        kind = type(default)
        ok = (isinstance(value, bool) if kind is bool else
              isinstance(value, int) and not isinstance(value, bool) if kind is int else
              isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else
              isinstance(value, kind))
        if not ok:
            raise ConfigError(f"--sample-arg {key}={value!r}: model '{model.name}' takes {key} as a "
                              f"{kind.__name__} (default {default!r})")


def check_taken(models, sample_kwargs: dict[str, Any]) -> None:
    """Refuse a setting that none of ``models`` takes (a misspelling), naming those they take."""
    import inspect

    params = [inspect.signature(m.sample).parameters for m in models]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for ps in params for p in ps.values()):
        return  # a model that takes any setting
    taken = {name for ps in params for name in ps}
    unknown = [k for k in sample_kwargs if k not in taken]
    if unknown:
        names = sorted(taken - {"num_samples", "condition", "generator"})
        raise ConfigError(f"no model here takes the sample argument(s) {', '.join(unknown)}; they take: "
                          f"{', '.join(names) or 'none'}")


def get_scorer(data, net=None) -> "Scorer":
    """The scorer of ``data``'s kind, built for ``data`` and the feature network ``net``."""
    cls = scorer_class(data.info.kind)
    if cls.needs_features and net is None:
        raise ConfigError(f"{data.info.kind} samples are judged with a feature network: pass one "
                          f"(`genlab features train --data {data.info.name}`)")
    return cls(data, net)


@torch.no_grad()
def draw(model, num_samples: int, batch_size: int, seed: int, condition_for=None,
         **sample_kwargs: Any) -> tuple[torch.Tensor, float]:
    """``num_samples`` samples from ``model`` in batches (seeded) and the seconds per sample.

    ``condition_for(first, n)`` gives the condition of samples ``first .. first + n - 1`` (None:
    the model's default, which asks a conditional model for the classes in turn).

    Inside :func:`genlab.progress.reporting`, a bar over the samples drawn shows the time left, and
    one within each batch over the sampler's steps (silent otherwise)."""
    model.eval()
    gen = torch.Generator(device=model.device).manual_seed(seed)
    chunks = []
    desc = current()
    batches = -(-num_samples // batch_size)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]), bar(num_samples, f"{desc} drawn", desc is not None, "sample") as drawn:
        torch.manual_seed(seed)
        for k, first in enumerate(range(0, num_samples, batch_size)):
            n = min(batch_size, num_samples - first)
            kwargs = dict(sample_kwargs)
            if condition_for is not None:
                kwargs["condition"] = condition_for(first, n).to(model.device)
            with reporting(f"{desc} batch {k + 1}/{batches}", desc is not None):
                chunks.append(model.sample(n, generator=gen, **kwargs).cpu())
            drawn.update(n)
    return torch.cat(chunks), (time.perf_counter() - start) / max(num_samples, 1)


class Scorer:
    """The sample scorer of one data kind (see the module docstring)."""

    kind: ClassVar[str] = ""
    needs_features: ClassVar[bool] = True
    nll_key: ClassVar[str] = "bits_per_dim"
    nll_header: ClassVar[str] = "test NLL (bits/dim)"
    columns: ClassVar[list[tuple[str, str, int]]] = []
    batch_size: ClassVar[int] = 250
    floor_label: ClassVar[str] = "training data"  # the reference row's name in a report
    nll_split: ClassVar[str] = "test"  # the split a report's NLL is measured on

    def __init__(self, data, net=None):
        if data.test is None:
            raise ConfigError(f"data set '{data.info.name}' has no test split to compare samples with")
        self.data, self.net = data, net

    def default_num_samples(self) -> int:
        """DESIGN.md's sample count: 10,000, or the size of the test split where that is smaller."""
        return min(10_000, len(self.data.test))

    def score_model(self, model, num_samples: int | None = None, seed: int = 0, metrics: list[str] | None = None,
                    batch_size: int | None = None, **sample_kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError

    def score_data(self, num_samples: int, seed: int = 0) -> dict[str, Any]:
        raise NotImplementedError

    def check_sample_kwargs(self, sample_kwargs: dict[str, Any]) -> None:
        """Refuse, before any sampling, a sampler setting whose samples this scorer cannot judge."""

    def score_samples(self, samples: torch.Tensor, seed: int = 0, metrics: list[str] | None = None) -> dict[str, Any]:
        """Score samples already drawn (a batch a command generated) as :meth:`score_model` scores its own;
        a few samples give noisy figures, and ``num_samples`` in the result says how many there were."""
        raise ConfigError(f"scoring a batch of {self.kind} samples is not built; use `genlab eval RUN --metrics all`")

    def pictures(self, result: dict[str, Any], stem: Path) -> dict[str, str]:
        """Write the pictures of ``result``'s samples beside ``stem`` (a path without suffix);
        returns ``{"grid": file name, ...}`` (names relative to ``stem``'s folder)."""
        raise NotImplementedError

    def notes(self, report: dict[str, Any]) -> list[str]:
        return []

    @classmethod
    def check_features(cls, net, info) -> None:
        """Raise ConfigError unless the feature extractor ``net`` can judge samples of ``info``."""
        from .features import check_feature_network

        check_feature_network(net, info)

    @classmethod
    def features_hint(cls, info) -> str:
        """How to get a feature network for ``info``'s data (said when none is found)."""
        return (f"train one with `genlab features train --data {info.name}` or pass --features DIR "
                "(or an Inception weights file)")

    def features_text(self) -> dict[str, Any]:
        """What the report says about the feature network (nothing for a kind judged without one)."""
        if self.net is None:
            return {"features": None, "feature_description": "none (scored from the samples themselves)"}
        return {"features": self.net.content_hash, "feature_test_accuracy": self.net.test_accuracy,
                "feature_description": self.net.description}

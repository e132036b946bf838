"""Evaluation: the likelihood, sample quality, and the scores of models judged against the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any


from ...errors import CheckpointError, ConfigError
from ...progress import reporting
from ...runs import RUN_FILE, is_run_folder
from .models import MAX_IW_SAMPLES, MAX_SAMPLES, check_count, check_sample_args, run_data


# ---- evaluation ---------------------------------------------------------------------------------
def evaluate_likelihood(model, data, split: str | None = None, iw_samples: int | None = None,
                        max_examples: int | None = None, progress: bool = False) -> dict[str, Any]:
    """The NLL of ``model`` on ``split`` (default test, else val), exact or bound, in the modality's units;
    ``progress`` shows a bar over the examples with the time left."""
    from ...evaluation import evaluate

    check_count("the number of importance samples", iw_samples, 1, MAX_IW_SAMPLES)
    check_count("the number of examples", max_examples)
    if model.likelihood == "none":
        raise ConfigError(f"model '{model.name}' has no likelihood; judge it by its samples (--metrics all)")
    split = split or ("test" if data.test is not None else "val")
    kwargs = {"num_samples": iw_samples} if iw_samples else {}
    return evaluate(model, data, split=split, max_examples=max_examples, progress=progress, **kwargs)


def load_features(data, features: str | None):
    """The feature extractor of ``features`` (a folder or Inception weights file), else ``features/<data
    name>``; None for data scored without one (:func:`genlab.evaluation.scorers.features_for`)."""
    from ...evaluation.scorers import features_for

    return features_for(data, features)


def evaluate_quality(model, data, net, metrics: list[str], num_samples: int | None = None, seed: int = 0,
                     nearest_png: str | Path | None = None, progress: bool = False,
                     **sample_args: Any) -> dict[str, Any]:
    """Sample-quality metrics of ``model``'s samples against ``data``'s test split (JSON-ready);
    with ``nearest_png``, the memorisation picture is written there. ``progress`` shows bars with
    the time left on stderr: over the samples drawn, and within a batch over the sampler's steps."""
    from ...evaluation.quality import nearest_neighbour_grid, public, sample_quality

    check_count("the number of samples", num_samples, 1, MAX_SAMPLES)
    sample_args = check_sample_args(model, sample_args)
    with reporting("samples", progress):
        quality = sample_quality(model, data, net, metrics, num_samples=num_samples, seed=seed, **sample_args)
    result = public(quality)
    if "_nearest_index" in quality and nearest_png is not None:
        nearest_neighbour_grid(quality["_samples"], quality["_nearest_index"], data.train.images, data.info.levels,
                               nearest_png)
        result["nearest_neighbours_png"] = str(nearest_png)
    return result


def require_run_folder(run: str | Path) -> Path:
    """``run`` if it is a training run folder (has run.json); else a one-line error."""
    if not is_run_folder(run):
        raise CheckpointError(f"'{run}' is not a training run folder (no {RUN_FILE}); give folders made by genlab train")
    return Path(run)


def paired_eval_data(run: str | Path, model, data_name: str | None, data_root: str | None = None,
                     options: dict[str, Any] | None = None):
    """The data to score a model of an input image on: its run's own, or any data set of its kind,
    levels, channels (and scale) named by ``data_name``, since such a model is fully convolutional
    (e.g. an sr-cnn trained on sr-patches, scored on ``set5`` with ``scale=4``)."""
    from ...data import load_dataset

    if data_name is None:
        if options:
            raise ConfigError("--data-arg sets options of the data named by --data; give --data too")
        return run_data(run, model, None, data_root)
    data = load_dataset(data_name, root=data_root, **(options or {}))
    ours, theirs = model.data_info, data.info
    problems = [f"{what} {a} vs {b}" for what, a, b in (("kind", ours.kind, theirs.kind),
                                                          ("levels", ours.levels, theirs.levels),
                                                          ("scale", ours.scale, theirs.scale)) if a != b]
    if theirs.shape is not None and ours.shape is not None:
        if len(ours.shape) == 3 and theirs.shape[0] != ours.shape[0]:  # images: any size, the same channels
            problems.append(f"channels {ours.shape[0]} vs {theirs.shape[0]}")
        elif len(ours.shape) != 3 and theirs.shape != ours.shape:  # clips: the model's frames, size and channels
            problems.append(f"shape {list(ours.shape)} vs {list(theirs.shape)}")
    if problems:
        hint = f" (e.g. --data-arg scale={ours.scale})" if ours.scale != theirs.scale else ""
        raise ConfigError(f"model '{model.name}' cannot be scored on '{theirs.name}': {'; '.join(problems)} "
                          f"(model vs data){hint}")
    return data


def evaluate_restoration(model, data, split: str | None = None, max_examples: int | None = None,
                         progress: bool = False, **sample_args: Any) -> dict[str, Any]:
    """A model judged against the truth, scored on ``split`` (default test, else val) by its modality's
    :attr:`~genlab.data.Modality.truth_scorer`: PSNR / SSIM on Y and L1 for a model of an input image
    ("restoration"), MSE / MAE per frame and SSIM for a video prediction model ("prediction")."""
    split = split or ("test" if data.test is not None else "val")
    from ...compare import truth_scorer

    score = truth_scorer(model)
    result = score(model, data.split(split), max_examples=max_examples, progress=progress,
                   **check_sample_args(model, sample_args))
    return {"split": split, "scorer": model.data_info.modality.truth_scorer, **result}

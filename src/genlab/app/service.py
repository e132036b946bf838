"""The work behind every command, shared by the CLI and the server: find a run's weights, load
its model and data, sample with checked arguments, render, and evaluate.

Every function here raises a :class:`~genlab.errors.GenlabError` with a one-line message for a
user's mistake, so a caller can show it as it is.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError
from ..progress import reporting
from ..runs import RUN_FILE, check_data_matches, is_run_folder, load_run_data, resolve_weights

__all__ = ["check_data_matches", "resolve_weights"]  # re-exported: the service is where callers find them

MAX_SAMPLES = 100_000  # one request; beyond this a mistake is likelier than a wish
MAX_NEW_TOKENS = 1_000_000  # tokens one text sample may generate (likewise)
MAX_IW_SAMPLES = 100_000  # importance samples per example for a bound (K = 1000 is the protocol's)
RESERVED_SAMPLE_ARGS = ("num_samples", "condition", "generator")  # given by name, not as sample arguments


# ---- runs and models ----------------------------------------------------------------------------
def load_model(run: str | Path, weights: str = "best", device: str | None = None):
    """``(model, folder)``: the model of a run (or saved-model folder) in eval mode on ``device``.

    ``weights`` is ``best`` (the best on validation, falling back to the last checkpoint) or ``last``."""
    from ..io import load
    from ..training.trainer import pick_device

    where = pick_device(device or "cpu")  # a misspelt or absent device is refused before any loading
    folder = resolve_weights(run, weights)
    return load(folder, map_location=where), folder


def run_data(run: str | Path, model=None, data_name: str | None = None, data_root: str | None = None,
             **options: Any):
    """The data set of a run (from its ``run.json``), or ``data_name`` for a bare saved model;
    checked against ``model`` when given."""
    from ..data import load_dataset

    if data_name is None and is_run_folder(run):
        data = load_run_data(run, data_root)
    elif data_name is None:
        raise ConfigError(f"'{run}' is not a training run; name its data with --data")
    else:
        data = load_dataset(data_name, root=data_root, **options)
    if model is not None:
        check_data_matches(model.data_info, data.info, run)
    return data


# ---- sampling -----------------------------------------------------------------------------------
def sample_parameters(model) -> dict[str, inspect.Parameter] | None:
    """The keyword arguments ``model.sample`` takes beyond the contract's; None if it takes any."""
    params = inspect.signature(model.sample).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {k: p for k, p in params.items() if k not in RESERVED_SAMPLE_ARGS}


def check_sample_args(model, sample_args: dict[str, Any]) -> dict[str, Any]:
    """``sample_args`` if ``model.sample`` takes every one of them; else a one-line error listing what it takes."""
    for key in sample_args:
        if key in RESERVED_SAMPLE_ARGS:
            raise ConfigError(f"'{key}' is not a sample argument; give it by its own option")
    accepted = sample_parameters(model)
    if accepted is None:
        return dict(sample_args)
    unknown = [k for k in sample_args if k not in accepted]
    if unknown:
        takes = ", ".join(accepted) or "none"
        raise ConfigError(f"model '{model.name}' does not take the sample argument(s) {', '.join(unknown)}; "
                          f"it takes: {takes}")
    return dict(sample_args)


def check_count(name: str, value: int | None, low: int = 1, high: int | None = None) -> None:
    """Refuse a count outside ``[low, high]`` with a one-line error naming it."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
        raise ConfigError(f"{name} must be {bound}, got {value:,}")


def draw_samples(model, num: int | None = None, *, condition: Any = None, prompt: str | None = None, seed: int = 0,
                 progress: bool = False, **sample_args: Any) -> torch.Tensor:
    """Samples of ``model`` in data space, reproducible from ``seed``.

    Args:
        num: how many (default: the modality's, e.g. 64 images or 4 texts).
        condition: what a conditional model conditions on (e.g. a class label); see
            :mod:`genlab.data.conditions` for the rule when None.
        prompt: text a sequence model continues, parsed by the data's modality.
        progress: show a bar over the sampler's steps (denoising steps, pixels, tokens...) with the
            time left, on stderr.
        sample_args: the model's own sampling settings (``temperature``, ``steps``...), checked
            against its ``sample`` signature.
    """
    modality = model.data_info.modality
    if modality.task_command and condition is None:
        raise ConfigError(f"model '{model.name}' makes an image from an input image; run it on your pictures with "
                          f"`{modality.task_command}`")
    num = modality.default_num_samples if num is None else num
    check_count("the number of samples", num, 1, MAX_SAMPLES)
    sample_args = check_sample_args(model, sample_args)
    if prompt is not None:
        check_sample_args(model, {"prompt": None})
        sample_args["prompt"] = modality.parse(model.data_info, prompt)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    torch.manual_seed(seed)
    with torch.no_grad(), reporting("sample", progress):
        return model.sample(num, condition=condition, generator=gen, **sample_args)


def data_condition(model, run: str | Path, condition: Any, clip: str | Path | None, num: int | None
                   ) -> tuple[Any, int | None]:
    """The condition and count ``genlab sample`` uses: as given, or for a model whose condition comes from
    data (a video predictor's context frames) the first frames of ``clip`` (a GIF or frame folder), else
    the first ``num`` clips of the run's test split (as the trainer's previews do)."""
    spec = model.condition_spec
    from_data = spec is not None and getattr(spec, "from_data", False)
    if clip is not None and not from_data:
        raise ConfigError(f"--context is for video prediction models; model '{model.name}' takes none")
    if not from_data or condition is not None:
        return condition, num
    info = model.data_info
    if clip is not None:
        return info.modality.parse(info, clip)[: spec.context], num or 1  # a shorter clip: all its frames
    if not is_run_folder(run):
        raise ConfigError(f"'{run}' is a saved model, not a training run, so it has no test clips: give the clip to "
                          "continue with --context CLIP")
    data = run_data(run, model, None, None)
    split = data.test if data.test is not None else data.split("val")
    count = min(num or info.modality.default_num_samples, len(split))
    return split.get(torch.arange(count))["x"][:, : spec.context], count


def render_stamped(model, samples: torch.Tensor, out: str | Path, rec: dict[str, Any]) -> Path:
    """Render ``samples`` to ``out`` with the modality's ``render`` and stamp every file it wrote with
    the provenance record ``rec`` (:func:`genlab.provenance.stamp_written`)."""
    return render_stamped_files(model, samples, out, rec)[0]


def render_stamped_files(model, samples: torch.Tensor, out: str | Path, rec: dict[str, Any]
                         ) -> tuple[Path, list[Path]]:
    """:func:`render_stamped`, and the files it wrote and stamped."""
    from ..provenance import file_states, stamp_written

    before = file_states(out)
    path = model.data_info.modality.render(model.data_info, samples, out)
    return path, stamp_written(out, before, rec)


def check_sample_out(model, out: str | Path) -> Path:
    """``out`` as a Path; a one-line error for a folder where the modality writes one file."""
    out = Path(out)
    if out.is_dir() and not model.data_info.modality.writes_folder:
        suffix = model.data_info.modality.sample_suffix
        raise ConfigError(f"--out '{out}' is a folder; give a file name such as {out / ('samples' + suffix)}")
    return out


def write_samples(model, samples: torch.Tensor, out: str | Path, rec: dict[str, Any] | None = None) -> Path:
    """Render ``samples`` for a person into the file ``out`` (a PNG grid, a text file...), or the
    folder ``out`` for a modality that writes several files (piano rolls: .mid files and a picture);
    with ``rec``, every file written carries that provenance record."""
    out = check_sample_out(model, out)
    if rec is None:
        return model.data_info.modality.render(model.data_info, samples, out)
    return render_stamped(model, samples, out, rec)


# ---- the registry of samples ---------------------------------------------------------------------
def record_samples(run: str | Path, paths: list[Path], rec: dict[str, Any] | list[dict[str, Any]], tags: list[str] | tuple = (),
                   scores: dict[str, Any] | None = None, score_info: dict[str, Any] | None = None,
                   registry: str | Path | None = None) -> tuple[list[str], list[str]]:
    """Record the generated files ``paths`` of ``run`` (made with provenance record ``rec``, or a list of
    records, one per file): a line each in the run's log ``samples.jsonl`` (the source of truth), then in
    the registry's index (:mod:`genlab.catalog`). Returns ``(ids, warnings)``: a log or index that cannot
    be written is a one-line warning, not an error, since the files are already written."""
    from .. import catalog
    from ..errors import GenlabError

    catalog.check_tags(tags)
    home = catalog.run_home(run, rec)
    entries = catalog.sample_entries(home, paths, rec, tags, scores, score_info)
    try:
        catalog.append_log(home, entries)
    except GenlabError as e:
        return [], [f"the samples were not recorded: {e}"]
    warnings = []
    try:
        catalog.open_registry(registry).index(home, entries)
    except GenlabError as e:
        warnings.append(f"the samples are in {home / catalog.LOG_FILE} but not in the registry index ({e})")
    return [e["id"] for e in entries], warnings


def rescore_sample(registry, sample_id: str, features: str | None = None, device: str | None = None
                   ) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """Score a recorded batch of ``genlab sample`` images again and record the scores: the batch is drawn
    again from its record (the same weights, seed and sampling arguments) and must render to the very
    pixels of the recorded file, else it is refused (a batch drawn on another device may differ).
    Returns ``(sample, scores, info)`` as :func:`score_batch`."""
    import tempfile

    import numpy as np
    from PIL import Image

    from ..provenance import read

    s = registry.get_sample(sample_id)
    sid = s["id"]
    if s["command"] != "sample" or s["kind"] != "image":
        raise ConfigError(f"sample {sid} was not drawn by `genlab sample` from an image model; only those are scored "
                          "again (score a batch as it is drawn: genlab sample --score)")
    if not s["exists"] or not s["sha256_ok"]:
        state = "has gone" if not s["exists"] else "changed since it was recorded"
        raise ConfigError(f"the file of sample {sid} ({s['path']}) {state}; it cannot be scored")
    sampling = dict(s["sampling"] or {})
    num, condition = sampling.pop("num", None), sampling.pop("condition", None)
    if sampling.pop("prompt", None) is not None or sampling.pop("context", None) is not None or num is None:
        raise ConfigError(f"sample {sid} was drawn from a prompt or context; it cannot be drawn again here")
    if not is_run_folder(s["run"]):
        raise ConfigError(f"sample {sid} comes from a bare saved model ({s['run']}), which names no test data")
    found = read(s["path"])
    weights = ((found.record if found else {}).get("generator") or {}).get("weights")
    if not weights or not Path(weights).is_dir():
        raise ConfigError(f"the weights folder that drew sample {sid} ({weights}) is gone; it cannot be drawn again")
    model, folder = load_model(weights, "best", device)
    if provenance_record(model, folder, s["run"], "sample", None)["generator"]["weights_sha256"] != s["weights_sha256"]:
        raise ConfigError(f"the weights in {folder} changed since sample {sid} was drawn; it cannot be drawn again")
    scorer = batch_scorer(model, s["run"], features)
    samples = draw_samples(model, num, condition=condition, seed=s["seed"] or 0, progress=True, **sampling)
    with tempfile.TemporaryDirectory() as tmp:
        again = model.data_info.modality.render(model.data_info, samples, Path(tmp) / Path(s["path"]).name)
        with Image.open(again) as a, Image.open(s["path"]) as b:
            same = np.array_equal(np.asarray(a), np.asarray(b))
    if not same:
        raise ConfigError(f"drawing sample {sid} again did not give the pixels of {s['path']} (another device or "
                          "genlab version?); score batches as they are drawn: genlab sample --score")
    scores, info = score_batch(scorer, samples, s["seed"] or 0)
    registry.record_scores([sid], scores, info.pop("feature_net"), **info)
    return s, scores, registry.get_sample(sid, check_file=False)["score_info"]


def batch_scorer(model, run: str | Path, features: str | None = None):
    """The scorer (:mod:`genlab.evaluation.scorers`) of ``model``'s samples against its run's test split,
    with the feature network ``features`` (else ``features/<data>``); checked before any sampling."""
    from ..evaluation.scorers import get_scorer

    if model.data_info.modality.scored_against_truth(model):
        raise ConfigError(f"model '{model.name}' is scored against the truth, not by its samples' quality; "
                          f"leave out --score and run `genlab eval {run}`")
    data = run_data(run, model)
    return get_scorer(data, load_features(data, features))


def score_batch(scorer, samples: torch.Tensor, seed: int = 0) -> tuple[dict[str, float], dict[str, Any]]:
    """Sample-quality scores of the batch ``samples`` with ``scorer`` (:func:`batch_scorer`). Returns
    ``(scores, info)``: the numeric scores, and the feature network's hash, the scorer and the numbers
    of samples and test examples (a small batch gives noisy scores)."""
    data = scorer.data
    result = scorer.score_samples(samples.cpu(), seed=seed)
    scores = {k: float(v) for k, v in result.items()
              if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("num_samples", "num_test")
              and not k.startswith("feature")}
    info = {"feature_net": result.get("features"), "scorer": data.info.kind, "num_samples": result.get("num_samples"),
            "num_test": result.get("num_test"), "seed": seed}
    return scores, info


# ---- provenance ---------------------------------------------------------------------------------
def provenance_record(model, folder: str | Path, run: str | Path, command: str, seed: int | None,
                      sampling: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance record of what ``model`` (loaded from the saved-model ``folder`` of ``run``)
    generates: its run, registry name, weights hash and step, the seed and sampling arguments."""
    import hashlib

    from ..files import WEIGHTS_FILE
    from ..pretrained import read_config
    from ..provenance import record

    folder = Path(folder)
    meta = read_config(folder)
    digest = meta.get("weights_sha256")  # load() checked the weights against it; older saves lack one
    if digest is None:
        digest = hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()
    return record(model=model.name, weights_sha256=digest,
                  run=str(Path(run).resolve()) if is_run_folder(run) else None, weights=str(folder.resolve()),
                  step=meta.get("step"), seed=seed, sampling=sampling, command=command, kind=model.data_info.kind)


def samples_as_text(model, samples: torch.Tensor) -> str | None:
    """The samples as text for a terminal where the modality reads that way (text); else None."""
    return model.data_info.modality.to_text(model.data_info, samples)


# ---- inpainting ---------------------------------------------------------------------------------
INPAINT_FILES = ("masked.png", "mask.png", "inpainted.png")  # what `genlab inpaint --out DIR` writes
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # PIL modes of one-channel pictures


def read_image(model, path: str | Path) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(levels [1, C, H, W], (width, height) of the file)``: a picture read for ``model``.

    The picture is resized to the model's size and mapped to its levels; a grey picture for an
    RGB model and a file that is not a picture are refused with one line.
    """

    from ..tasks.masks import image_size

    size = image_size(path)  # refuses a missing file or one that is not an image
    refuse_grey_for_rgb(model, path, model.data_info.shape[0])
    return model.data_info.modality.parse(model.data_info, path)[None], size


def refuse_grey_for_rgb(model, path: str | Path, channels: int) -> None:
    """A one-line error when ``path`` is a grey picture and the model takes RGB (``channels`` 3)."""
    from PIL import Image

    with Image.open(path) as im:
        mode = im.mode
    if channels == 3 and mode in GREY_MODES:
        raise ConfigError(f"'{path}' is a grey picture but model '{model.name}' takes RGB images; "
                          "give a colour picture")


def inpaint_mask(model, mask_file: str | None, box: str | None, kind: str | None, image_size: tuple[int, int],
                 seed: int = 0) -> torch.Tensor:
    """``[H, W]`` bool mask (True = to fill) at the model's size from exactly one of a mask picture
    (white = to fill, of the image's size), a ``x,y,w,h`` box (model pixels) or a mask kind."""
    from ..tasks import masks

    _, h, w = model.data_info.shape
    if sum(v is not None for v in (mask_file, box, kind)) != 1:
        raise ConfigError("give one of --mask FILE, --box x,y,w,h or --mask-kind "
                          f"{'|'.join(masks.MASK_KINDS)}")
    if mask_file is not None:
        return masks.read_mask(mask_file, h, w, size=image_size)
    if box is not None:
        return masks.box(h, w, *masks.parse_box(box))
    return masks.make_mask(kind, h, w, seed=seed)


def inpaint_outputs(out: str | Path) -> list[Path]:
    """The files ``genlab inpaint`` writes into ``out``; refused if any is there already or ``out`` is a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is a file; give a folder for the pictures")
    paths = [out / name for name in INPAINT_FILES]
    taken = [p for p in paths if p.exists()]
    if taken:
        raise ConfigError(f"'{taken[0]}' already exists; give another --out folder or remove it")
    return paths


def inpaint_picture(model, image: str | Path, out: str | Path, *, mask: str | Path | None = None,
                    box: str | None = None, mask_kind: str | None = None, num: int = 4, condition: Any = None,
                    seed: int = 0, settings: dict[str, Any] | None = None) -> tuple[list[Path], torch.Tensor]:
    """Fill the masked part of the picture ``image`` ``num`` times with ``model``, into the folder ``out``
    (:data:`INPAINT_FILES`: the masked input, the mask, the completions). Exactly one of ``mask`` (a
    picture, white = to fill), ``box`` (``x,y,w,h``) and ``mask_kind``. Returns the files and the mask."""
    from ..tasks.inpaint import check_settings, inpaint, inpaint_method

    masked_png, mask_png, inpainted_png = paths = inpaint_outputs(out)
    inpaint_method(model)  # a family that cannot inpaint is refused before reading files
    settings = check_settings(model, settings or {})
    x, size = read_image(model, image)
    hole = inpaint_mask(model, None if mask is None else str(mask), box, mask_kind, size, seed=seed)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    torch.manual_seed(seed)
    filled = inpaint(model, x.repeat(num, 1, 1, 1), hole, condition=condition, generator=gen, **settings)
    levels = model.data_info.levels
    shown = torch.where(hole, torch.full_like(x.long(), levels // 2), x.long())  # the unknown part in mid-grey
    write = model.data_info.modality.render
    write(model.data_info, shown, masked_png)
    write(model.data_info, (hole.long() * (levels - 1))[None, None].expand(1, x.shape[1], -1, -1), mask_png)
    write(model.data_info, filled, inpainted_png)
    return paths, hole


def stamp_files(paths: list[Path], rec: dict[str, Any], source: str | Path | None = None) -> list[Path]:
    """Stamp generated ``paths`` with the provenance ``rec`` (and the input picture they were made from)."""
    from ..provenance import stamp

    return stamp(paths, rec if source is None else {**rec, "source": str(source)})


# ---- super-resolution ---------------------------------------------------------------------------
def read_picture(model, path: str | Path) -> torch.Tensor:
    """A picture of any size as levels ``[C, h, w]`` in the model's channels: a grey picture for an
    RGB model, a missing file and a file that is not a picture are refused with one line."""

    from ..data.modalities import read_image_levels
    from ..tasks.masks import image_size

    image_size(path)  # refuses a missing file or one that is not an image
    c = model.config.image_shape[0]
    refuse_grey_for_rgb(model, path, c)
    return read_image_levels(path, c, model.config.levels)


def superres(run: str | Path, images: list[str | Path], out: str | Path, *, weights: str = "best",
             device: str | None = None, tile: int | None = None, overlap: int = 16, seed: int = 0,
             sample_args: dict[str, Any] | None = None) -> list[tuple[str, Path, tuple[int, int], tuple[int, int]]]:
    """Enlarge each picture with the super-resolution model of ``run`` into ``out/STEM_xS.png``.

    Every picture is read and checked before the first is written. Returns ``(picture, written
    file, (w, h), (W, H))`` per picture.
    """
    from ..provenance import embed
    from ..tasks.superres import check_superres_model

    model, folder = load_model(run, weights, device)
    check_superres_model(model)
    sample_args = check_sample_args(model, sample_args or {})
    rec = provenance_record(model, folder, run, "superres", seed, {**sample_args, "tile": tile, "overlap": overlap})
    if tile is not None and tile < 1 or overlap < 0:
        raise ConfigError(f"--tile must be >= 1 and --overlap >= 0, got {tile} and {overlap}")
    paths = picture_outputs(out, images, suffix=f"_x{model.config.scale}")
    pictures = [read_picture(model, p) for p in images]
    written = []
    for source, path, x in zip(images, paths, pictures):
        big = upscale_levels(model, x, path, tile=tile, overlap=overlap, seed=seed, sample_args=sample_args)
        embed(path, {**rec, "source": str(Path(source).resolve())})
        written.append((str(source), path, (x.shape[2], x.shape[1]), (big.shape[2], big.shape[1])))
    return written


def upscale_levels(model, x: torch.Tensor, path: str | Path, *, tile: int | None = None, overlap: int = 16,
                   seed: int = 0, sample_args: dict[str, Any] | None = None) -> torch.Tensor:
    """Enlarge one picture of levels ``x`` ``[C, h, w]`` with ``model`` into the PNG ``path``; the enlargement."""
    from ..files import storage_errors
    from ..tasks.superres import upscale

    gen = torch.Generator(device=model.device).manual_seed(seed)  # an output does not depend on the others
    big = upscale(model, x, tile=tile, overlap=overlap, generator=gen, **(sample_args or {}))
    with storage_errors(Path(path).parent):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_picture(model.config.levels, big, path)
    return big


def upscale_picture(model, image: str | Path, path: str | Path, *, tile: int | None = None, seed: int = 0
                    ) -> torch.Tensor:
    """Enlarge the picture file ``image`` with the super-resolution ``model`` into the PNG ``path``."""
    from ..tasks.superres import check_superres_model

    check_superres_model(model)
    return upscale_levels(model, read_picture(model, image), path, tile=tile, seed=seed)


def paired_eval_data(run: str | Path, model, data_name: str | None, data_root: str | None = None,
                     options: dict[str, Any] | None = None):
    """The data to score a model of an input image on: its run's own, or any data set of its kind,
    levels, channels (and scale) named by ``data_name``, since such a model is fully convolutional
    (e.g. an sr-cnn trained on sr-patches, scored on ``set5`` with ``scale=4``)."""
    from ..data import load_dataset

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
    score = truth_scorer(model)
    result = score(model, data.split(split), max_examples=max_examples, progress=progress,
                   **check_sample_args(model, sample_args))
    return {"split": split, "scorer": model.data_info.modality.truth_scorer, **result}


def truth_scorer(model):
    """The function that scores ``model`` against the truth, by its modality's ``truth_scorer``."""
    from ..evaluation.prediction import evaluate_prediction
    from ..tasks.superres import evaluate_restoration as restoration

    modality = model.data_info.modality
    scorers = {"restoration": restoration, "prediction": evaluate_prediction}
    if not modality.scored_against_truth(model) or modality.truth_scorer not in scorers:
        raise ConfigError(f"model '{model.name}' is not scored against the truth; judge it by likelihood or samples")
    return scorers[modality.truth_scorer]


# ---- image-to-image translation ----------------------------------------------------------------
def picture_outputs(out: str | Path, images: list[str | Path], suffix: str = "", overwrite: bool = False) -> list[Path]:
    """``out/<name><suffix>.png`` for each input picture (translate-image, superres), the same rule as
    :func:`inpaint_outputs`: refused if ``out`` is a file or an output is there already (unless
    ``overwrite``); two inputs of one name, and an output that would replace one of the inputs, are
    refused even with ``overwrite``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is a file; give a folder for the pictures")
    paths = [out / f"{Path(image).stem}{suffix}.png" for image in images]
    seen: dict[Path, str | Path] = {}
    for image, path in zip(images, paths):
        if path in seen:
            raise ConfigError(f"'{seen[path]}' and '{image}' would both be written to '{path}'; rename one of them "
                              "or write them into different --out folders")
        seen[path] = image
    inputs = {Path(image).resolve() for image in images}
    for path in paths:
        if path.resolve() in inputs:
            raise ConfigError(f"'{path}' is one of the input pictures; give another --out folder")
    taken = [p for p in paths if p.exists()]
    if taken and not overwrite:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise ConfigError(f"'{taken[0]}' already exists{more}; give another --out folder, remove it, or pass "
                          "--overwrite")
    if any(p.exists() and not p.is_file() for p in paths):
        folder = next(p for p in paths if p.exists() and not p.is_file())
        raise ConfigError(f"'{folder}' is a folder, so the picture cannot be written there; give another --out folder")
    return paths


def read_source_image(model, path: str | Path, size: tuple[int, int] | None) -> torch.Tensor:
    """A picture file as the model's source levels ``[1, C, H, W]``.

    It is converted to the model's channels by PIL (a grey picture for an RGB model has its grey
    value on all three channels; a colour picture for a grey model becomes its luma), resized
    (shorter side) and centre-cropped to ``size`` = (height, width) when given, as the data sets
    prepare their pictures, else kept at its own size, and mapped to the model's levels. A
    missing file, a folder, a file that is not a picture and a picture over 64 megapixels are
    refused with one line.
    """
    import numpy as np
    from PIL import Image

    from ..data.images import MAX_PIXELS, _read_image
    from ..tasks.masks import image_size

    image_size(path)  # refuses a missing file, a folder or a file that is not a picture
    c = model.data_info.shape[0]
    try:
        picture = _read_image(Path(path), MAX_PIXELS, raise_hint=None).convert("L" if c == 1 else "RGB")
    except (OSError, SyntaxError, ValueError) as e:
        raise ConfigError(f"'{path}' is not a readable picture ({e}); give a PNG or JPEG file") from e
    if size is not None:
        h, w = size
        scale = max(h / picture.height, w / picture.width)  # cover the size, then crop the centre
        nw, nh = max(w, round(picture.width * scale)), max(h, round(picture.height * scale))
        picture = picture.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - w) // 2, (nh - h) // 2
        picture = picture.crop((left, top, left + w, top + h))
    x = torch.from_numpy(np.asarray(picture, dtype=np.uint8).copy())
    x = x[None] if c == 1 else x.permute(2, 0, 1).contiguous()
    levels = model.data_info.levels
    x = ((x.long() * (levels - 1) + 127) // 255) if levels != 256 else x.long()
    return x[None]


def translation_size(model, keep_size: bool = False) -> tuple[int, int] | None:
    """The (height, width) pictures are brought to before ``model`` translates them: the model's fixed
    size, else the training pictures' (None with ``keep_size``: each at its own size)."""
    from ..tasks.translate import check_translator, model_size, training_size

    check_translator(model)
    fixed = model_size(model)
    if keep_size and fixed is not None:
        raise ConfigError(f"model '{model.name}' takes {fixed[1]}x{fixed[0]} pictures only; leave out --keep-size")
    return None if keep_size else (fixed or training_size(model))


def translate_levels(model, source: torch.Tensor, path: str | Path, seed: int = 0) -> Path:
    """Translate one source picture (levels ``[1, C, H, W]``) with ``model`` into the PNG ``path``."""
    from ..tasks.translate import translate_images

    gen = torch.Generator(device=model.device).manual_seed(seed)  # an output does not depend on the others
    out = translate_images(model, source, generator=gen)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_picture(model.data_info.levels, out[0], path)


def translate_picture(model, image: str | Path, path: str | Path, seed: int = 0, keep_size: bool = False) -> Path:
    """Translate the picture file ``image`` with the pix2pix ``model`` into the PNG ``path``."""
    size = translation_size(model, keep_size)
    return translate_levels(model, read_source_image(model, image, size), path, seed)


def write_picture(levels: int, image: torch.Tensor, path: str | Path) -> Path:
    """One image of levels ``[C, H, W]`` as a PNG of its own size (grey or RGB), written atomically."""
    import io

    from PIL import Image

    from ..files import atomic_write_bytes

    from ..data.modalities.image import levels_to_uint8

    x = levels_to_uint8(image.detach().cpu(), levels)
    arr = x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


# ---- evaluation ---------------------------------------------------------------------------------
def evaluate_likelihood(model, data, split: str | None = None, iw_samples: int | None = None,
                        max_examples: int | None = None, progress: bool = False) -> dict[str, Any]:
    """The NLL of ``model`` on ``split`` (default test, else val), exact or bound, in the modality's units;
    ``progress`` shows a bar over the examples with the time left."""
    from ..evaluation import evaluate

    check_count("the number of importance samples", iw_samples, 1, MAX_IW_SAMPLES)
    check_count("the number of examples", max_examples)
    if model.likelihood == "none":
        raise ConfigError(f"model '{model.name}' has no likelihood; judge it by its samples (--metrics all)")
    split = split or ("test" if data.test is not None else "val")
    kwargs = {"num_samples": iw_samples} if iw_samples else {}
    return evaluate(model, data, split=split, max_examples=max_examples, progress=progress, **kwargs)


def load_features(data, features: str | None):
    """The feature extractor of ``features`` (a feature-network folder or an Inception weights
    file), else ``features/<data name>``; a one-line error if there is none. None for data whose
    samples are scored without one (piano rolls)."""
    from ..evaluation.features import default_feature_dir, load_feature_extractor
    from ..evaluation.scorers import scorer_class

    scorer = scorer_class(data.info.kind)
    if not scorer.needs_features:
        if features:
            raise ConfigError(f"{data.info.kind} samples are scored without a feature network; leave out --features")
        return None
    path = Path(features) if features else default_feature_dir(data.info.name)
    if not features and not path.is_dir():
        raise ConfigError(f"no feature network for '{data.info.name}' at {path}; {scorer.features_hint(data.info)}")
    net = load_feature_extractor(path, data.info, check=False)
    scorer.check_features(net, data.info)
    return net


def evaluate_quality(model, data, net, metrics: list[str], num_samples: int | None = None, seed: int = 0,
                     nearest_png: str | Path | None = None, progress: bool = False,
                     **sample_args: Any) -> dict[str, Any]:
    """Sample-quality metrics of ``model``'s samples against ``data``'s test split (JSON-ready);
    with ``nearest_png``, the memorisation picture is written there. ``progress`` shows bars with
    the time left on stderr: over the samples drawn, and within a batch over the sampler's steps."""
    from ..evaluation.quality import nearest_neighbour_grid, public, sample_quality

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


# ---- de-duplication and nearest-neighbour search ------------------------------------------------------
# what `genlab data dedup` writes
DEDUP_FILES = ("report.json", "report.md", "exclude.txt", "exclude-overlap.txt", "duplicates.png", "overlap.png")
MAX_GROUPS_SHOWN = 16  # rows of duplicates.png and groups listed in report.md
MAX_K = 1000


def indexed_data(run_or_data: str | Path, data_root: str | None = None, options: dict[str, Any] | None = None):
    """The data set searched for ``run_or_data``: a run's data (from its run.json, with every training
    example, so indices are the data set's own even when the run left some out), else a data set name
    or spec (``mnist``, ``images:DIR``) loaded with ``options``."""
    from ..data import load_dataset
    from ..runs import read_run_file

    if is_run_folder(run_or_data):
        if options:
            raise ConfigError("--data-arg is for a data set name; a run's data comes from its run.json")
        spec = read_run_file(run_or_data)["data"]
        return load_dataset(spec["name"], root=data_root, tokenizer=spec.get("vocab"), **spec.get("options", {}))
    if Path(run_or_data).is_dir() and ":" not in str(run_or_data):
        raise ConfigError(f"'{run_or_data}' is a folder but not a training run (no {RUN_FILE}), so it names no data; "
                          "give a run folder, a data set name, or images:DIR for a folder of pictures")
    return load_dataset(str(run_or_data), root=data_root, **(options or {}))


def _embedding_net(data, features: str | None):
    """The feature network for ``--features`` (images only), else None: the perceptual embedding."""
    return load_features(data, features) if features else None


def dedup(data_name: str | Path, out: str | Path, *, split: str = "train", threshold: float | None = None,
          features: str | None = None, against: str | None = "auto", data_root: str | None = None,
          options: dict[str, Any] | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Find the exact and near duplicates within ``split`` of a data set (or a run's data) and how many
    held-out examples have a duplicate in it (:func:`genlab.evaluation.dedup.find_duplicates`); write
    ``out/report.json``, ``report.md``, ``exclude.txt`` (for ``genlab train --exclude``: the duplicates
    within ``split``), ``exclude-overlap.txt`` (the ``split`` twins of held-out examples, against leakage)
    and, for images, ``duplicates.png`` and ``overlap.png``. Returns the report (with ``files`` and ``seconds``)."""
    import time

    from ..evaluation.dedup import find_duplicates
    from ..files import atomic_write_text, storage_errors

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is a file; give a folder for the report")
    taken = [out / f for f in DEDUP_FILES if (out / f).exists()]
    if taken and not overwrite:
        raise ConfigError(f"'{taken[0]}' already exists; give another --out folder, remove it, or pass --overwrite")
    start = time.perf_counter()
    data = indexed_data(data_name, data_root, options)
    net = _embedding_net(data, features)
    report = find_duplicates(data, net, split=split, threshold=threshold, against=against)
    report["seconds"] = round(time.perf_counter() - start, 1)
    with storage_errors(out):
        out.mkdir(parents=True, exist_ok=True)
    files = [out / "report.json", out / "report.md", out / "exclude.txt"]
    for stale in (out / "duplicates.png", out / "overlap.png", out / "exclude-overlap.txt"):
        if overwrite and stale.exists():
            stale.unlink()
    if hasattr(data.split(split), "images"):
        files += _dedup_pictures(data, report, out)
    header = (f"# genlab data dedup {data.info.name}: {len(report['exclude'])} {split} examples to leave out "
              f"(one kept per group), threshold {report['threshold']}\n")
    atomic_write_text(out / "exclude.txt", header + "".join(f"{line}\n" for line in report["exclude"]))
    if "overlap" in report:
        o = report["overlap"]
        files.append(out / "exclude-overlap.txt")
        atomic_write_text(out / "exclude-overlap.txt",
                          f"# genlab data dedup {data.info.name}: the {len(o['train_twins'])} {split} examples nearest "
                          f"to the {o['near']} {o['split']} examples with a near duplicate in {split} (threshold "
                          f"{report['threshold']})\n" + "".join(f"{split}:{i}\n" for i in o["train_twins"]))
    report["files"] = [str(f) for f in files]
    atomic_write_text(out / "report.md", dedup_markdown(report))
    import json

    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    return report


def _dedup_pictures(data, report: dict[str, Any], out: Path) -> list[Path]:
    """``duplicates.png`` (a row per group, up to 8 members) and ``overlap.png`` (held-out example, then its
    nearest training example) when there is something to show."""
    from ..data.modalities import save_image_grid

    written = []
    split = data.split(report["split"])
    groups = report["near"]["groups"][:MAX_GROUPS_SHOWN]
    if groups:
        blank = torch.zeros_like(split.images[0])
        rows = [split.images[g["indices"][i]] if i < len(g["indices"]) else blank for g in groups for i in range(8)]
        written.append(save_image_grid(torch.stack(rows), data.info.levels, out / "duplicates.png", nrow=8))
    pairs = report.get("overlap", {}).get("pairs", [])[:MAX_GROUPS_SHOWN]
    if pairs:
        held = data.split(report["overlap"]["split"])
        rows = [img for p in pairs for img in (held.images[p["example"]], split.images[p["train"]])]
        written.append(save_image_grid(torch.stack(rows), data.info.levels, out / "overlap.png", nrow=2))
    return written


def dedup_markdown(report: dict[str, Any]) -> str:
    """The report of :func:`dedup` for a person."""
    split, near, exact = report["split"], report["near"], report["exact"]
    lines = [f"# Duplicates in {report['data']} ({split})", "",
             f"- examples: {report['examples']:,} ({report['example']} each)",
             f"- embedding: {report['embedding']}; distance: {report['distance']}; threshold {report['threshold']}",
             f"- exact duplicates (same SHA-256): {len(exact['groups']):,} groups, {exact['duplicates']:,} copies "
             "beyond the first",
             f"- near duplicates (exact included): {len(near['groups']):,} groups, {near['duplicates']:,} examples "
             "beyond the first of each: listed in exclude.txt",
             f"- nearest other example, distance quantiles: {report['nearest_distance_quantiles']}"]
    if "overlap" in report:
        o = report["overlap"]
        lines += [f"- {o['split']} examples with a duplicate in {split}: exact {o['exact']:,}, near {o['near']:,} "
                  f"of {o['examples']:,}"]
    lines += ["", f"Took {report.get('seconds', 0)} s.", "", "## Groups", ""]
    if not near["groups"]:
        lines.append("none")
    for g in near["groups"][:MAX_GROUPS_SHOWN]:
        shown = ", ".join(map(str, g["indices"][:20])) + (" ..." if len(g["indices"]) > 20 else "")
        lines.append(f"- {split} {shown} (largest distance {g['max_distance']})")
    if len(near["groups"]) > MAX_GROUPS_SHOWN:
        lines.append(f"- ... {len(near['groups']) - MAX_GROUPS_SHOWN} more in report.json")
    if report.get("overlap", {}).get("pairs"):
        o = report["overlap"]
        lines += ["", f"## {o['split']} examples with a near duplicate in {split}", ""]
        lines += [f"- {o['split']} {p['example']} ~ {split} {p['train']} (distance {p['distance']}"
                  f"{', exact' if p['exact'] else ''})" for p in o["pairs"][:MAX_GROUPS_SHOWN]]
    return "\n".join(lines) + "\n"


def read_query(data, query_path: str | Path):
    """A user's file as a query for ``data``: a picture as levels ``[C, H, W]`` at the data's size and
    channels, or a text file's text."""
    from types import SimpleNamespace

    from ..data.text import read_text
    from ..evaluation.dedup import is_text

    if is_text(data):
        return read_text(query_path)
    if data.info.shape is None or len(data.info.shape) != 3:
        raise ConfigError(f"'{data.info.name}' is {data.info.kind} data; search takes image or text data sets")
    return read_source_image(SimpleNamespace(data_info=data.info), query_path, tuple(data.info.shape[1:]))[0]


def search(run_or_data: str | Path, query_path: str | Path, k: int = 5, *, split: str = "train",
           features: str | None = None, data_root: str | None = None, options: dict[str, Any] | None = None,
           picture: str | Path | None = None, data=None) -> list[dict[str, Any]]:
    """The ``k`` examples of ``split`` nearest the file ``query_path`` (a picture for image data, a text
    file for text), nearest first, by the embedding of ``genlab data dedup`` (the perceptual one, or the
    feature network of ``features``; MinHash for text). ``run_or_data`` is a run folder (its data) or a
    data set name. Each result is ``{"rank", "split", "index", "distance"}`` plus ``"label"`` (labelled
    images) or ``"text"`` (the line); :func:`example_file` gives an example as a file's bytes.
    Training embeddings are cached (:func:`genlab.evaluation.dedup.cache_dir`). With ``picture`` (image
    data; text has none), a PNG row of the query and then the neighbours is written there. ``data``: the
    data set :func:`indexed_data` gives for ``run_or_data``, when the caller holds it already (a server)."""
    from ..evaluation.dedup import is_text, search_examples

    check_count("k", k, 1, MAX_K)
    data = data if data is not None else indexed_data(run_or_data, data_root, options)
    query = read_query(data, query_path)
    results = search_examples(data, query, k, _embedding_net(data, features), split=split)
    if picture is not None and not is_text(data):
        _neighbour_row(data, query, results, picture)
    return results


def example_file(run_or_data: str | Path, split: str, index: int, data_root: str | None = None,
                 options: dict[str, Any] | None = None, data=None) -> tuple[bytes, str]:
    """``(bytes, media type)`` of one example: a PNG of an image, or a text line as UTF-8 text."""
    import io

    from PIL import Image

    from ..data.exclude import count_examples, newline_id, text_line_bounds
    from ..data.modalities.image import levels_to_uint8
    from ..evaluation.dedup import is_text

    data = data if data is not None else indexed_data(run_or_data, data_root, options)
    total = count_examples(data, split)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < total:
        raise ConfigError(f"index must be between 0 and {total - 1} for the {split} split, got {index!r}")
    part = data.split(split)
    if is_text(data):
        a, b = text_line_bounds(part.tokens, newline_id(data))[index]
        return data.tokenizer.decode(part.tokens[a:b]).encode("utf-8"), "text/plain; charset=utf-8"
    x = levels_to_uint8(part.images[index], data.info.levels)
    arr = x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return buffer.getvalue(), "image/png"


def search_picture(run_or_data: str | Path, query_path: str | Path, results: list[dict[str, Any]], out: str | Path,
                   data_root: str | None = None, options: dict[str, Any] | None = None) -> Path:
    """A PNG row of the query picture, then the neighbours of ``results`` (image data)."""
    data = indexed_data(run_or_data, data_root, options)
    return _neighbour_row(data, read_query(data, query_path), results, out)


def _neighbour_row(data, query: torch.Tensor, results: list[dict[str, Any]], out: str | Path) -> Path:
    from ..data.modalities import save_image_grid

    if not hasattr(data.split("train"), "images"):
        raise ConfigError(f"'{data.info.name}' is {data.info.kind} data; a picture of the neighbours is for images")
    images = [query.to(torch.uint8)] + [data.split(r["split"]).images[r["index"]] for r in results]
    return save_image_grid(torch.stack(images), data.info.levels, out, nrow=len(images))

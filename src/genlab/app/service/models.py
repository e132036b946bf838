"""Runs and models: find a run's weights and data, load its model, sample with checked arguments,
render, and write the provenance record of what it generates."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError
from ...progress import reporting
from ...runs import check_data_matches, is_run_folder, load_run_data, resolve_weights


MAX_SAMPLES = 100_000  # one request; beyond this a mistake is likelier than a wish
MAX_NEW_TOKENS = 1_000_000  # tokens one text sample may generate (likewise)
MAX_IW_SAMPLES = 100_000  # importance samples per example for a bound (K = 1000 is the protocol's)
RESERVED_SAMPLE_ARGS = ("num_samples", "condition", "generator")  # given by name, not as sample arguments


# ---- runs and models ----------------------------------------------------------------------------
def load_model(run: str | Path, weights: str = "best", device: str | None = None):
    """``(model, folder)``: the model of a run (or saved-model folder) in eval mode on ``device``.

    ``weights`` is ``best`` (the best on validation, falling back to the last checkpoint) or ``last``."""
    from ...models.io import load
    from ...training.trainer import pick_device

    where = pick_device(device or "cpu")  # a misspelt or absent device is refused before any loading
    folder = resolve_weights(run, weights)
    return load(folder, map_location=where), folder


def run_data(run: str | Path, model=None, data_name: str | None = None, data_root: str | None = None,
             **options: Any):
    """The data set of a run (from its ``run.json``), or ``data_name`` for a bare saved model;
    checked against ``model`` when given."""
    from ...data import load_dataset

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


def with_display_defaults(model, sample_args: dict[str, Any]) -> dict[str, Any]:
    """``sample_args`` over the model's :attr:`display_sample_args` (what a person is shown, e.g. a VAE's
    decoder mean): what ``genlab sample`` and the server draw with, and record in the provenance."""
    return {**model.display_sample_args, **sample_args}


def draw_samples(model, num: int | None = None, *, condition: Any = None, prompt: str | None = None, seed: int = 0,
                 progress: bool = False, prompt_is_content: bool = False, **sample_args: Any) -> torch.Tensor:
    """Samples of ``model`` in data space, reproducible from ``seed``.

    Args:
        num: how many (default: the modality's, e.g. 64 images or 4 texts).
        condition: what a conditional model conditions on (e.g. a class label); see
            :mod:`genlab.data.conditions` for the rule when None.
        prompt: what a sequence model continues, parsed by the data's modality: text, or for piano
            rolls a MIDI file's path.
        prompt_is_content: the prompt is content from a request, never a path (a piano roll's notes
            or a base64 MIDI file; see the modality's ``parse_content``): what the server passes.
        progress: show a bar over the sampler's steps (denoising steps, pixels, tokens...) with the
            time left, on stderr.
        sample_args: the model's own sampling settings (``temperature``, ``steps``...), checked
            against its ``sample`` signature.
    """
    modality = model.data_info.modality
    if modality.input_task and condition is None:
        from ...tasks import get_task

        raise ConfigError(f"model '{model.name}' makes an image from an input image; run it on your pictures with "
                          f"`{get_task(modality.input_task).command}`")
    num = modality.default_num_samples if num is None else num
    check_count("the number of samples", num, 1, MAX_SAMPLES)
    sample_args = check_sample_args(model, sample_args)
    if prompt is not None:
        check_sample_args(model, {"prompt": None})
        parse = modality.parse_content if prompt_is_content else modality.parse
        sample_args["prompt"] = parse(model.data_info, prompt)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    torch.manual_seed(seed)
    with torch.no_grad(), reporting("sample", progress):
        return model.sample(num, condition=condition, generator=gen, **sample_args)


def data_condition(model, run: str | Path, condition: Any, clip: str | Path | None, num: int | None,
                   data=None) -> tuple[Any, int | None]:
    """The condition and count ``genlab sample`` uses: as given, or for a model whose condition comes from
    data (a video predictor's context frames) the first frames of ``clip`` (a GIF or frame folder), else
    the first ``num`` clips of the run's test split (``data``, where the caller holds it already)."""
    spec = model.condition_spec
    from_data = spec is not None and getattr(spec, "from_data", False)
    if clip is not None and not from_data:
        raise ConfigError(f"--context is for video prediction models; model '{model.name}' takes none")
    if not from_data or condition is not None:
        return condition, num
    info = model.data_info
    if clip is not None:
        frames = info.modality.parse(info, clip)
        if len(frames) > spec.context:  # said, not done silently: the rest of the clip is not used
            print(f"note: the model continues {spec.context} context frames: using the first {spec.context} of "
                  f"the {len(frames)} frames of '{Path(clip).name}'", file=sys.stderr)
        return frames[: spec.context], num or 1  # a shorter clip: all its frames
    if not is_run_folder(run):
        raise ConfigError(f"'{run}' is a saved model, not a training run, so it has no test clips: give the clip to "
                          "continue with --context CLIP")
    data = data if data is not None else run_data(run, model, None, None)  # the caller's, if it holds it
    split = data.test if data.test is not None else data.split("val")
    count = min(num or info.modality.default_num_samples, len(split))
    return spec.from_batch(split.get(torch.arange(count))), count


def render_stamped_files(model, samples: torch.Tensor, out: str | Path, rec: dict[str, Any]
                         ) -> tuple[Path, list[Path]]:
    """Render ``samples`` to ``out`` and stamp every file written with ``rec``
    (:func:`genlab.provenance.render_stamped`): the path and the files stamped."""
    from ...provenance import render_stamped

    return render_stamped(model.data_info, samples, out, rec)


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
    return render_stamped_files(model, samples, out, rec)[0]


# ---- provenance ---------------------------------------------------------------------------------
def provenance_record(model, folder: str | Path, run: str | Path, command: str, seed: int | None,
                      sampling: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance record of what ``model`` (loaded from the saved-model ``folder`` of ``run``)
    generates: its run, registry name, weights hash and step, the seed and sampling arguments."""
    import hashlib

    from ...files import WEIGHTS_FILE
    from ...runs.pretrained import read_config
    from ...provenance import record

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

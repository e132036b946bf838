"""One operation per use: :func:`generate` draws, renders, stamps, scores and records samples.

``genlab sample`` maps its arguments to it and prints; the server maps a request's body to it and
answers JSON. Neither assembles the steps itself, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from .models import (data_condition, draw_samples, provenance_record, render_stamped_files, samples_as_text,
                     with_display_defaults)
from .samples import record_samples, score_batch


@dataclasses.dataclass
class Generated:
    """What :func:`generate` made: the samples, the files written (none when only text was asked for),
    the provenance record they carry, the text (text models), the batch's scores and the registry ids."""

    samples: torch.Tensor
    path: Path | None
    files: list[Path]
    record: dict[str, Any]
    text: str | None
    scores: dict[str, float] | None = None
    score_info: dict[str, Any] | None = None
    ids: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


def generate(model, folder: str | Path, run: str | Path, out: str | Path | None, *, command: str,
             num: int | None = None, condition: Any = None, clip: str | Path | None = None, prompt: str | None = None,
             prompt_is_content: bool = False, seed: int = 0, sample_args: dict[str, Any] | None = None,
             scorer=None, data=None, tags: list[str] | tuple = (), registry=None, record: bool = True,
             progress: bool = False) -> Generated:
    """Samples of ``model`` (loaded from the saved-model ``folder`` of ``run``) written to ``out``.

    Draws ``num`` samples (the modality's default when None) with ``sample_args`` over the model's
    display settings (a VAE's decoder mean), the condition the caller gives or the one its data
    gives (a video predictor's context: ``clip``, else the run's test clips from ``data``), and the
    ``prompt`` (a path, or content with ``prompt_is_content``: what a server passes); renders them
    to ``out`` (nothing is written when ``out`` is None: the text is returned), stamps every file
    with one provenance record (``command``, ``seed``, the settings used), scores the batch with
    ``scorer`` if given, and records the files in the run's log and the registry (``tags``,
    ``registry``) unless ``record`` is False.
    """
    sample_args = with_display_defaults(model, dict(sample_args or {}))
    cond, count = data_condition(model, run, condition, clip, num, data=data)
    samples = draw_samples(model, count, condition=cond, prompt=prompt, seed=seed, progress=progress,
                           prompt_is_content=prompt_is_content, **sample_args)
    text = samples_as_text(model, samples)
    if out is None:
        return Generated(samples, None, [], {}, text)
    sampling = {k: v for k, v in {**sample_args, "num": len(samples), "condition": condition, "prompt": prompt,
                                  "context": None if clip is None else str(clip)}.items() if v is not None}
    rec = provenance_record(model, folder, run, command, seed, sampling)
    scores = info = None
    if scorer is not None:
        scores, info = score_batch(scorer, samples, seed)
    path, files = render_stamped_files(model, samples, out, rec)
    done = Generated(samples, path, files, rec, text, scores, info)
    if record:
        done.ids, done.warnings = record_samples(run, files, rec, tags, scores, info, registry)
    return done

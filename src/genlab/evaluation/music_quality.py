"""Sample quality of piano-roll models: statistics of the generated music against the test pieces.

No classifier judges piano rolls, so the samples are compared with the test split through
statistics a musician reads directly (in the spirit of the objective metrics of Dong et al. 2018,
MuseGAN, and Yang & Lerch 2020):

``polyphony``
    keys sounding per step, over the steps where any key sounds (the chorales: about 4 voices);
``empty_steps``
    the share of steps where no key sounds;
``note_length``
    the mean length, in steps, of a note (a run of consecutive steps one key sounds in);
``pitch_class_tv``
    the total variation distance (0 .. 1) between the samples' and the test pieces' histograms
    of the 12 pitch classes over sounding (key, step) cells: 0 when the samples use the keys of
    the test music in the same proportions;
``pitch_tv``
    the same over the 88 keys (register as well as key).

:func:`roll_statistics` computes them for any set of rolls; :class:`PianoRollScorer` draws samples
and reports the statistics with their distances to the test pieces.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from ..data.modalities.pianoroll import KEYS, LOWEST, step_mask
from .scorers import Scorer, draw, register_scorer



def _steps(rolls) -> list[torch.Tensor]:
    """Each roll ``[T, 88]`` as bool, without its padded steps (a padded step holds 2 in every key)."""
    out = []
    for r in rolls:
        r = torch.as_tensor(r)
        out.append(r[step_mask(r[None])[0]] == 1)
    return out


def roll_statistics(rolls) -> dict[str, Any]:
    """Statistics of piano rolls (a tensor ``[N, T, 88]`` or a list of ``[T_i, 88]``; 1 = sounding).

    Returns ``polyphony``, ``empty_steps``, ``note_length`` and the histograms ``key_histogram``
    (``[88]``) and ``pitch_class_histogram`` (``[12]``), each summing to 1 (uniform if nothing sounds).
    """
    rolls = _steps(rolls)
    on = torch.cat(rolls) if rolls else torch.zeros(0, KEYS, dtype=torch.bool)
    per_step = on.sum(1)
    sounding = per_step > 0
    polyphony = float(per_step[sounding].double().mean()) if bool(sounding.any()) else 0.0
    empty = float((~sounding).double().mean()) if len(per_step) else 1.0
    notes = cells = 0
    for r in rolls:  # a note starts where a key sounds and did not sound the step before
        starts = r & ~torch.cat([torch.zeros_like(r[:1]), r[:-1]])
        notes += int(starts.sum())
        cells += int(r.sum())
    keys = on.sum(0).double()
    key_hist = keys / keys.sum() if keys.sum() > 0 else torch.full((KEYS,), 1.0 / KEYS, dtype=torch.float64)
    pc = torch.zeros(12, dtype=torch.float64).index_add_(0, (torch.arange(KEYS) + LOWEST) % 12, key_hist)
    return {"polyphony": polyphony, "empty_steps": empty, "note_length": cells / notes if notes else 0.0,
            "key_histogram": key_hist, "pitch_class_histogram": pc}


def total_variation(p: torch.Tensor, q: torch.Tensor) -> float:
    """``0.5 * sum |p - q|`` of two histograms summing to 1."""
    return float(0.5 * (p - q).abs().sum())


@register_scorer
class PianoRollScorer(Scorer):
    """Piano rolls judged by their statistics against the test pieces (no feature network)."""

    kind = "pianoroll"
    needs_features = False
    nll_key = "nll_nats"
    nll_header = "test NLL (nats/step)"
    floor_label = "training pieces"
    columns = [("polyphony", "polyphony", 2), ("empty steps", "empty_steps", 3), ("note length", "note_length", 2),
               ("pitch-class TV", "pitch_class_tv", 3), ("key TV", "pitch_tv", 3)]
    batch_size = 50

    @functools.cached_property
    def test_statistics(self) -> dict[str, Any]:
        return roll_statistics(self.data.test.rolls)

    @functools.cached_property
    def num_steps(self) -> int:
        """Steps per generated piece: the median length of the test pieces."""
        lengths = sorted(len(r) for r in _steps(self.data.test.rolls))
        return max(1, lengths[len(lengths) // 2])

    def default_num_samples(self) -> int:
        return len(self.data.test.rolls)

    def _score(self, rolls) -> dict[str, Any]:
        stats, test = roll_statistics(rolls), self.test_statistics
        return {"features": None, "num_samples": len(rolls), "num_test": len(self.data.test.rolls),
                "polyphony": stats["polyphony"], "empty_steps": stats["empty_steps"],
                "note_length": stats["note_length"],
                "pitch_class_tv": total_variation(stats["pitch_class_histogram"], test["pitch_class_histogram"]),
                "pitch_tv": total_variation(stats["key_histogram"], test["key_histogram"]),
                "test_polyphony": test["polyphony"], "test_empty_steps": test["empty_steps"],
                "test_note_length": test["note_length"]}

    def score_model(self, model, num_samples=None, seed=0, metrics=None, batch_size=None, **sample_kwargs):
        """``num_samples`` pieces (default: as many as the test pieces) of ``num_steps`` steps each
        (default: the test pieces' median length), from silence."""
        num_samples = num_samples or self.default_num_samples()
        kwargs = {"num_steps": self.num_steps, **sample_kwargs}
        rolls, per_piece = draw(model, num_samples, batch_size or self.batch_size, seed, **kwargs)
        out = self._score(rolls)
        out.update(sampling_s_per_image=per_piece, sample_settings=sample_kwargs, num_steps=kwargs["num_steps"],
                   _samples=rolls)
        return out

    def score_samples(self, samples, seed=0, metrics=None):
        return self._score(samples)

    def score_data(self, num_samples, seed=0):
        """Training pieces (their first ``num_steps`` steps), scored as samples are."""
        train = self.data.train.rolls
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:num_samples]
        rolls = [train[int(i)][: self.num_steps] for i in pick]
        out = self._score(rolls)
        out["_samples"] = rolls
        return out

    def pictures(self, result, stem):
        info = self.data.info
        samples = result["_samples"][:4]
        if isinstance(samples, list):  # training pieces of different lengths: pad to one roll tensor
            t = max(len(r) for r in samples)
            padded = torch.zeros(len(samples), t, KEYS, dtype=torch.uint8)
            for i, r in enumerate(samples):
                padded[i, : len(r)] = torch.as_tensor(r).clamp(max=1)
            samples = padded
        folder = info.modality.render(info, samples, stem)
        return {"grid": f"{folder.name}/pianoroll.png", "listen": folder.name}

    def notes(self, report):
        ref = report["reference"]
        return [
            f"Samples: {report['num_samples']} pieces per run (seed {report['seed']}) of the test pieces' median "
            f"length, from silence, against the {ref['num_test']} test pieces of '{report['data']}', whose polyphony is "
            f"{ref['test_polyphony']:.2f} keys per sounding step, {ref['test_empty_steps']:.3f} of steps empty and "
            f"notes {ref['test_note_length']:.2f} steps long.",
            "Pitch-class TV and key TV: total variation distance (0 = the same proportions) of the histograms of "
            "sounding pitch classes and keys against the test pieces'. No feature network judges music.",
            "The first row scores training pieces (cut to the same length) exactly as the samples are scored. Each "
            "run's first pieces are in its folder as MIDI files.",
        ]

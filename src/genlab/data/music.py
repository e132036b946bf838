"""Symbolic music as piano rolls: the JSB Chorales benchmark and a folder of a person's MIDI files."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import DataError
from ..provenance import check_synthetic
from .core import DataInfo, DataSet
from .modalities.pianoroll import RollSplit, grid_steps, pitches_to_roll, read_midi
from .registry import register_dataset

JSB_FOLDER = "jsb-chorales"


def roll_dataset(name: str, splits: dict[str, list[torch.Tensor] | None], steps_per_quarter: int) -> DataSet:
    """A piano-roll :class:`DataSet` from rolls ``[T_i, 88]`` per split (``train``, ``val``, ``test``)."""
    info = DataInfo(name=name, kind="pianoroll", steps_per_quarter=steps_per_quarter)
    parts = {k: (RollSplit(v) if v else None) for k, v in splits.items()}
    if parts.get("train") is None:
        raise DataError(f"piano-roll data '{name}' has no training pieces")
    return DataSet(info, parts["train"], parts.get("val"), parts.get("test"))


def read_roll_json(path: Path) -> dict[str, list[torch.Tensor] | None]:
    """Splits of a JSON file in the JSB Chorales format: keys ``train``, ``valid`` (or ``val``) and
    ``test``, each a list of pieces, each a list of time steps, each a list of the MIDI pitches sounding."""
    if not path.is_file():
        raise DataError(f"piano-roll file '{path}' not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"'{path}' is not a JSON file of piano rolls: {e}") from None
    if not isinstance(raw, dict) or "train" not in raw:
        raise DataError(f"'{path}' needs keys train, valid and test (lists of pieces of lists of MIDI pitches)")
    val = raw.get("valid", raw.get("val"))
    return {"train": [pitches_to_roll(c) for c in raw["train"]],
            "val": [pitches_to_roll(c) for c in val] if val else None,
            "test": [pitches_to_roll(c) for c in raw["test"]] if raw.get("test") else None}


@register_dataset("rolls:", "a JSON file of piano rolls in the JSB Chorales format (train/valid/test: pieces of "
                  "steps of MIDI pitches), e.g. Nottingham or MuseData; option steps_per_quarter")
def load_roll_json(path: Path, steps_per_quarter: int = 1) -> DataSet:
    """Piano rolls from a JSON file in the JSB Chorales format, named ``rolls:PATH``."""
    if steps_per_quarter < 1:
        raise DataError(f"steps_per_quarter must be >= 1, got {steps_per_quarter}")
    return roll_dataset(f"rolls:{path}", read_roll_json(Path(path)), steps_per_quarter)


@register_dataset("jsb-chorales", "JSB Chorales (Boulanger-Lewandowski et al. 2012), 88-key piano roll; "
                  "option grid quarter|8th|16th; <data root>/jsb-chorales/jsb-chorales-GRID.json")
def load_jsb_chorales(root: Path, grid: str = "quarter") -> DataSet:
    """The 229/76/77 train/valid/test chorales on a quarter-note (the benchmark), 8th or 16th grid."""
    spq = grid_steps(grid)
    path = Path(root) / JSB_FOLDER / f"jsb-chorales-{grid}.json"
    if not path.is_file():
        raise DataError(f"JSB Chorales file '{path}' not found; put jsb-chorales-{grid}.json (keys train, valid, "
                        "test: lists of chorales, each a list of steps of MIDI pitches) there, or set GENLAB_DATA")
    return roll_dataset("jsb-chorales" if grid == "quarter" else f"jsb-chorales-{grid}", read_roll_json(path), spq)


@register_dataset("midi:", "a folder of MIDI files (.mid/.midi, searched recursively) as piano rolls; options grid "
                  "(quarter|8th|16th, default 16th), val_fraction and allow_synthetic; needs pip install genlab[music]")
def load_midi_folder(path: Path, grid: str = "16th", val_fraction: float = 0.1, allow_synthetic: bool = False
                     ) -> DataSet:
    """Every MIDI file under ``path``, sorted by name, quantised to ``grid``; the last ``val_fraction``
    of the files (at least one, when there are two or more) validate. There is no test split.
    A file genlab generated (marked synthetic, :mod:`genlab.provenance`) is refused unless ``allow_synthetic``."""
    spq = grid_steps(grid)
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"MIDI folder '{path}' does not exist")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())
    if not files:
        raise DataError(f"no .mid or .midi files under '{path}'")
    synthetic = check_synthetic(files, path, allow_synthetic, "MIDI files")
    rolls = [read_midi(f, spq) for f in files]
    n_val = 0 if val_fraction == 0 or len(rolls) < 2 else max(1, round(len(rolls) * val_fraction))
    train, val = rolls[: len(rolls) - n_val], rolls[len(rolls) - n_val:]
    data = roll_dataset(f"midi:{path}", {"train": train, "val": val or None, "test": None}, spq)
    data.synthetic_examples = synthetic
    return data

"""Piano rolls: which of the 88 piano keys sound at each step of a time grid; NLL per time step.

A piece is a binary roll ``[T, 88]`` (key 0 is MIDI pitch 21, A0; key 87 is pitch 108, C8) on a
grid of ``steps_per_quarter`` steps per quarter note (1: quarter notes, as in the JSB Chorales
benchmark; 2: eighths; 4: sixteenths). Pieces differ in length, so a batch is padded to its
longest piece: a padded step holds :data:`PAD` in every key and is neither scored nor trained on.

Training reads windows of at most ``length`` steps (every start position of a longer piece, a
shorter piece whole); evaluation reads every piece whole, from its first step, so the reported
figure is the literature's: the sum of ``-log p`` over all time steps of the split divided by the
number of time steps. Samples are written as ``.mid`` files and one piano-roll PNG; a ``.mid``
file is read as a prompt (the model continues it). MIDI files are read and written with ``mido``
(``pip install genlab[music]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import ConfigError, DataError
from .base import Modality, register_modality

KEYS = 88  # piano keys
LOWEST = 21  # MIDI pitch of key 0 (A0); key 87 is 108 (C8)
PAD = 2  # the value of every key of a padded step (after a piece's end)
TICKS_PER_QUARTER = 480  # MIDI resolution of the files written
TEMPO = 500_000  # microseconds per quarter note in files written (120 beats per minute)
GRIDS = {"quarter": 1, "8th": 2, "16th": 4}  # grid names -> steps per quarter note


def grid_steps(grid: str) -> int:
    """Steps per quarter note of a grid name (quarter, 8th, 16th)."""
    if grid not in GRIDS:
        raise ConfigError(f"unknown grid '{grid}'; use one of {', '.join(GRIDS)}")
    return GRIDS[grid]


def pitches_to_roll(steps: list[list[int]]) -> torch.Tensor:
    """Lists of MIDI pitches sounding at each step -> uint8 roll ``[T, 88]``; pitches off the piano are refused."""
    roll = torch.zeros(len(steps), KEYS, dtype=torch.uint8)
    for t, pitches in enumerate(steps):
        for p in pitches:
            if not LOWEST <= int(p) < LOWEST + KEYS:
                raise DataError(f"MIDI pitch {p} at step {t} is off the 88-key piano (21..108)")
            roll[t, int(p) - LOWEST] = 1
    return roll


def _mido():
    try:
        import mido
    except ImportError:
        raise ConfigError("MIDI files need the music extra: pip install genlab[music]") from None
    return mido


def write_midi(roll: torch.Tensor, path: str | Path, steps_per_quarter: int = 1) -> Path:
    """Write a roll ``[T, 88]`` (values 0/1; padded steps end it) as a one-track MIDI file.

    A key held over consecutive steps is one note; the file lasts exactly ``T`` steps (an
    end-of-track event at the end), so reading it back on the same grid gives the same roll.
    """
    mido = _mido()
    roll = _unpadded(roll)
    step = TICKS_PER_QUARTER // steps_per_quarter
    events = []  # (tick, order, message kind, pitch): note-offs sort before note-ons at one tick
    padded = torch.cat([torch.zeros(1, KEYS, dtype=torch.uint8), roll.to(torch.uint8),
                        torch.zeros(1, KEYS, dtype=torch.uint8)])
    change = (padded[1:].int() - padded[:-1].int())  # [T + 1, 88]: +1 on, -1 off
    for t, k in (change != 0).nonzero().tolist():
        on = int(change[t, k]) > 0
        events.append((t * step, 1 if on else 0, "note_on" if on else "note_off", LOWEST + k))
    events.sort()
    mid = mido.MidiFile(ticks_per_beat=TICKS_PER_QUARTER)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=TEMPO, time=0))
    now = 0
    for tick, _, kind, pitch in events:
        track.append(mido.Message(kind, note=pitch, velocity=80 if kind == "note_on" else 0, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=len(roll) * step - now))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))
    return path


def notes_to_roll(text: str, max_steps: int = 4096) -> torch.Tensor:
    """Steps of MIDI pitches written as text (``"60 64 67; 62 65; ; 60"``: ``;`` between steps, spaces or
    commas between the pitches of a step, an empty step a rest) as a roll ``uint8 [T, 88]``."""
    steps = text.strip().split(";")
    if len(steps) > max_steps:
        raise ConfigError(f"the prompt has {len(steps):,} steps; at most {max_steps:,}")
    pitches = []
    for t, step in enumerate(steps):
        try:
            pitches.append([int(word) for word in step.replace(",", " ").split()])
        except ValueError:
            raise ConfigError(f"step {t + 1} of the prompt is not a list of MIDI pitches; write steps as pitches "
                              "21..108 separated by ';', e.g. \"60 64 67; 62 65\"") from None
    try:
        return pitches_to_roll(pitches)
    except DataError as e:
        raise ConfigError(f"{e}; the prompt's pitches must be on the piano") from None


def _with_notes(roll: torch.Tensor, what: str) -> torch.Tensor:
    """``roll``, refused when it sounds no note (nothing to continue)."""
    if roll.numel() == 0 or not bool(roll.any()):
        raise ConfigError(f"{what} has no notes to continue; give one with at least one note")
    return roll


MAX_MIDI_STEPS = 100_000  # a roll read from a file: 100,000 steps is over 7 hours at 4 steps a beat, 120 bpm


def read_midi(path: str | Path, steps_per_quarter: int = 4, max_steps: int = MAX_MIDI_STEPS) -> torch.Tensor:
    """A MIDI file as a uint8 roll ``[T, 88]`` on a grid of ``steps_per_quarter`` steps per quarter note.

    Note starts and ends are rounded to the nearest step (a note keeps at least one step); tempo
    changes are ignored (the grid is in beats); drums (channel 10) and pitches off the piano are
    left out. The roll lasts until the file's last event; a file longer than ``max_steps`` steps (a few
    bytes can claim hours) is refused before its roll is made.
    """
    mido = _mido()
    try:
        mid = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as e:
        raise DataError(f"'{path}' is not a MIDI file mido can read: {e}") from None
    if not mid.ticks_per_beat or mid.ticks_per_beat <= 0:
        raise DataError(f"'{path}' has no ticks per beat (a damaged or SMPTE-timed MIDI file); give a MIDI file "
                        "timed in beats")
    per_step = mid.ticks_per_beat / steps_per_quarter
    notes, end = [], 0
    for track in mid.tracks:
        tick, sounding = 0, {}
        for msg in track:
            tick += msg.time
            end = max(end, tick)
            if msg.type not in ("note_on", "note_off") or msg.channel == 9:
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault(key, tick)
            elif key in sounding:
                notes.append((msg.note, sounding.pop(key), tick))
        notes.extend((note, start, tick) for (_, note), start in sounding.items())
    length = int(round(end / per_step))
    if length > max_steps:
        raise DataError(f"'{path}' lasts {length:,} steps of a {steps_per_quarter}-per-beat grid, over the limit of "
                        f"{max_steps:,}; give a shorter MIDI file")
    roll = torch.zeros(max(length, 1), KEYS, dtype=torch.uint8)
    for pitch, start, stop in notes:
        if not LOWEST <= pitch < LOWEST + KEYS:
            continue
        a = int(round(start / per_step))
        b = max(a + 1, int(round(stop / per_step)))
        if a >= len(roll):
            continue
        roll[a:b, pitch - LOWEST] = 1
    return roll


def _unpadded(roll: torch.Tensor) -> torch.Tensor:
    """A roll cut at its first padded step."""
    roll = roll.detach().cpu()
    pad = (roll == PAD).all(dim=-1).nonzero()
    return roll[: int(pad[0])] if len(pad) else roll


def save_roll_png(samples: torch.Tensor, path: str | Path, step_px: int = 6, key_px: int = 3, margin: int = 2) -> Path:
    """The rolls ``[N, T, 88]`` as one PNG: one panel per piece, time left to right, pitch upwards.

    The panels show the keys from the lowest to the highest sounding in any piece (``margin`` more
    on each side); each step is ``step_px`` pixels wide, each key ``key_px`` high, with a faint line
    at each C.
    """
    from PIL import Image

    rolls = [_unpadded(roll).numpy().astype(bool) for roll in samples]  # [T, 88] each
    used = np.nonzero(np.any([r.any(0) for r in rolls if len(r)], axis=0))[0] if any(r.any() for r in rolls) else []
    lo, hi = (max(0, used[0] - margin), min(KEYS, used[-1] + margin + 1)) if len(used) else (0, KEYS)
    width = max(max(len(r) for r in rolls), 1)
    panels = []
    for r in rolls:
        img = np.full((hi - lo, width), 255, dtype=np.uint8)
        for k in range(lo, hi):
            if (k + LOWEST) % 12 == 0:  # a faint line at each C
                img[k - lo] = 225
        img[:, : len(r)][r[:, lo:hi].T] = 0
        img = img[::-1].repeat(key_px, axis=0).repeat(step_px, axis=1)  # high pitches at the top
        panels += [img, np.full((4, img.shape[1]), 160, dtype=np.uint8)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(panels[:-1]), mode="L").save(path)
    return path


class RollSplit:
    """Pieces as uint8 rolls ``[T_i, 88]``.

    Without a window length it is just the pieces. ``windows(L)`` makes the training items: every
    window of ``L`` steps of a piece longer than ``L`` and each shorter piece whole; its
    :meth:`eval_indices` name the whole pieces instead (items after the training ones), so that
    evaluation scores each piece once, from its first step.
    """

    def __init__(self, rolls: list[torch.Tensor], length: int | None = None):
        if not rolls:
            raise DataError("a piano-roll split needs at least one piece")
        self.rolls = rolls
        self.length = length
        self.items: list[tuple[int, int, int]] = []  # (piece, start, stop)
        if length is not None:
            for i, r in enumerate(rolls):
                n = len(r)
                starts = range(n - length + 1) if n > length else [0]
                self.items.extend((i, s, min(s + length, n)) for s in starts)
        self.num_windows = len(self.items)
        self.items.extend((i, 0, len(r)) for i, r in enumerate(rolls))  # whole pieces, for evaluation

    def windows(self, length: int | None) -> "RollSplit":
        if length is None:
            raise DataError("piano-roll data needs a sequence model (one with a window length), "
                            "e.g. lstm-roll or rnn-nade")
        return RollSplit(self.rolls, length)

    def __len__(self) -> int:
        return self.num_windows if self.length is not None else len(self.rolls)

    def eval_indices(self) -> torch.Tensor:
        """The whole pieces, in order."""
        return torch.arange(self.num_windows, len(self.items))

    def num_steps(self, indices: torch.Tensor) -> int:
        """Time steps the items ``indices`` hold (what their log-likelihood is summed over)."""
        return sum(self.items[int(i)][2] - self.items[int(i)][1] for i in indices)

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"x": uint8 [B, T, 88]}``, T the longest item; shorter items are padded with :data:`PAD`."""
        parts = [self.rolls[p][a:b] for p, a, b in (self.items[int(i)] for i in indices)]
        t = max(len(p) for p in parts)
        x = torch.full((len(parts), t, KEYS), PAD, dtype=torch.uint8)
        for j, p in enumerate(parts):
            x[j, : len(p)] = p
        return {"x": x}


def step_mask(x: torch.Tensor) -> torch.Tensor:
    """``[B, T]`` bool: True at the steps of ``x`` ``[B, T, 88]`` that are music, False at padding."""
    return x[..., 0] != PAD


@register_modality
class PianoRollModality(Modality):
    """Piano rolls: 88 keys on or off at each step of a time grid; NLL per time step."""

    name = "pianoroll"
    unit = "time step"
    sample_suffix = ".png"  # the default file (and the trainer's previews): the picture; a folder adds .mid files
    default_num_samples = 4
    sample_quality = False
    default_output = "samples"  # the .mid files and the picture
    writes_folder = True
    fields = {"x": f"uint8 piano roll [B, T, 88], 1 = key sounding; steps after a piece's end hold {PAD} (padding)"}
    preview_steps = 64  # time steps per preview sample written during training

    def check_info(self, info) -> None:
        if not info.steps_per_quarter or info.steps_per_quarter < 1:
            raise DataError(f"piano-roll data '{info.name}' needs steps_per_quarter >= 1, got {info.steps_per_quarter}")

    def likelihood_report(self, info, total_nats: float, num_examples: int, split) -> dict[str, Any]:
        steps = split.num_steps(split.eval_indices()[:num_examples])
        return {"nll_nats": total_nats / steps, "nll_nats_per_piece": total_nats / num_examples,
                "num_steps": steps, "unit": "nats per time step"}

    def describe_likelihood(self, result: dict[str, Any]) -> list[str]:
        return [f"NLL          {result['nll_nats']:.4f} nats per time step ({result['num_steps']} steps)",
                f"per piece    {result['nll_nats_per_piece']:.2f} nats"]

    def preview(self, num_samples: int, split=None) -> tuple[int, dict[str, Any]]:
        return 4, {"num_steps": self.preview_steps}

    def write_files(self, info, samples: torch.Tensor, path: str | Path) -> list[Path]:
        """``path`` a ``.png``: the piano roll picture (no MIDI library needed); ``.mid``: one sample
        as MIDI; otherwise a folder with ``sample-N.mid`` per sample and ``pianoroll.png``."""
        path = Path(path)
        spq = info.steps_per_quarter or 1
        if path.suffix.lower() == ".png":
            return [save_roll_png(samples, path)]
        if path.suffix.lower() in (".mid", ".midi"):
            if len(samples) != 1:
                raise ConfigError(f"'{path}' is one MIDI file but there are {len(samples)} samples; "
                                  "give a folder for several (or --num 1)")
            return [write_midi(samples[0], path, spq)]
        if path.exists() and not path.is_dir():
            raise ConfigError(f"'{path}' is a file; give a folder for the .mid files, or a .png or .mid file name")
        path.mkdir(parents=True, exist_ok=True)
        written = [write_midi(roll, path / f"sample-{i}.mid", spq) for i, roll in enumerate(samples)]
        return written + [save_roll_png(samples, path / "pianoroll.png")]

    def parse(self, info, value: Any) -> torch.Tensor:
        """A ``.mid`` file (a prompt to continue) as a roll ``uint8 [T, 88]`` on the data's grid."""
        path = Path(str(value))
        if not path.is_file():
            raise ConfigError(f"a piano-roll prompt is a MIDI file; '{value}' does not exist")
        return _with_notes(read_midi(path, info.steps_per_quarter or 1), f"the MIDI file '{path.name}'")

    def example_file(self, info, split, index: int) -> tuple[bytes, str]:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = write_midi(split.rolls[index], Path(tmp) / "example.mid", info.steps_per_quarter or 1)
            return path.read_bytes(), "audio/midi"

    def parse_content(self, info, value: str) -> torch.Tensor:
        """A prompt in a request: the notes of each step as MIDI pitches (``"60 64 67; 62 65; ; 60"``:
        steps separated by ``;``, a rest left empty), or a MIDI file as a ``data:audio/midi;base64,...``
        address. Never a path: a request cannot make the server read its own files."""
        if value.startswith("data:"):
            import base64
            import binascii
            import tempfile

            head, _, payload = value.partition(",")
            if not head.endswith(";base64"):
                raise ConfigError("a MIDI prompt in a request is data:audio/midi;base64,... (the file, base64-encoded)")
            try:
                raw = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError("the MIDI prompt is not valid base64") from None
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "prompt.mid"
                path.write_bytes(raw)
                try:
                    roll = read_midi(path, info.steps_per_quarter or 1)
                except DataError as e:  # said of the prompt, not of this temporary file
                    raise ConfigError(str(e).replace(f"'{path}'", "the MIDI prompt")) from None
            return _with_notes(roll, "the MIDI prompt")
        return _with_notes(notes_to_roll(value), "the prompt")

"""Audio data sets: the Free Spoken Digit Dataset (``fsdd``), a folder of WAV files (``audio:DIR``)
and seeded sine tones (``synthetic-tones``, for tests and quick checks).

Every clip becomes ``length`` mono samples at ``rate`` Hz, kept as 8-bit mu-law codes
(``uint8``, 256 classes, mu = 255; see :mod:`genlab.data.modalities.audio`). A longer recording
keeps its first ``length`` samples; a shorter one is padded with silence (code 128) at the end.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..provenance import check_synthetic
from .core import DataInfo, DataSet, folder_splits
from .modalities.audio import LEVELS, SILENCE, AudioSplit, mu_law_encode, soundfile_module
from .registry import register_dataset

FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
FSDD_TEST_TAKES = 5  # the data set's own split: takes 0-4 of every speaker and digit are the test set
MIN_SAMPLES = 64  # a file with fewer samples (after resampling) is refused as too short


def _check_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 2:
        raise DataError(f"length must be a whole number of audio samples, at least 2, got {length!r}; "
                        "e.g. --data-arg length=8192")


def _check_rate(rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1000 <= rate <= 192000:
        raise DataError(f"rate must be a sample rate in Hz between 1000 and 192000, got {rate!r}; "
                        "e.g. --data-arg rate=8000")


def read_wav(path: Path, rate: int, mix: bool = False) -> np.ndarray:
    """The float64 mono waveform (in [-1, 1]) of the audio file ``path`` at ``rate`` Hz.

    Resampled with ``scipy.signal.resample_poly`` (a polyphase filter) when the file's rate differs.
    A file with several channels is refused unless ``mix`` (then the channels are averaged); an
    unreadable, empty or too-short file (fewer than :data:`MIN_SAMPLES` samples) is a one-line DataError.
    """
    sf = soundfile_module()
    try:
        data, file_rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (RuntimeError, OSError, ValueError, TypeError) as e:  # soundfile raises LibsndfileError (a RuntimeError)
        raise DataError(f"'{path}' is not a readable audio file: {str(e).splitlines()[0] if str(e) else e}") from e
    if data.shape[0] == 0:
        raise DataError(f"'{path}' holds no audio samples; remove it")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise DataError(f"'{path}' holds {bad:,} NaN or infinite sample(s) (a float WAV written from a failed "
                        "computation?); fix or remove it")
    if data.shape[1] > 1:
        if not mix:
            raise DataError(f"'{path}' has {data.shape[1]} channels but mono audio is needed; "
                            "pass --data-arg mix=true to average the channels, or convert the file to mono")
        data = data.mean(axis=1, keepdims=True)
    wave = data[:, 0]
    if file_rate != rate:
        from scipy.signal import resample_poly

        g = math.gcd(int(file_rate), int(rate))
        wave = resample_poly(wave, rate // g, int(file_rate) // g)
    if len(wave) < MIN_SAMPLES:
        raise DataError(f"'{path}' is too short: {len(wave)} samples at {rate} Hz, fewer than {MIN_SAMPLES}; "
                        "remove it")
    return np.clip(wave, -1.0, 1.0)


def fit_length(codes: torch.Tensor, length: int) -> torch.Tensor:
    """``codes`` ``[T]`` cropped to its first ``length`` samples, or padded with silence at the end."""
    if len(codes) >= length:
        return codes[:length]
    return torch.cat([codes, torch.full((length - len(codes),), SILENCE, dtype=codes.dtype)])


def _clip(path: Path, rate: int, length: int, mix: bool = False) -> torch.Tensor:
    return fit_length(mu_law_encode(read_wav(path, rate, mix)), length)


@register_dataset("fsdd", "Free Spoken Digit Dataset: 3,000 8 kHz recordings of the digits 0-9 by 6 speakers "
                  "(mu-law codes; labels = digit); options length, val_takes, rate")
def load_fsdd(root: Path, length: int = 8192, val_takes: int = 5, rate: int = 8000) -> DataSet:
    """FSDD from ``<root>/fsdd/recordings/{digit}_{speaker}_{take}.wav`` (8 kHz mono 16-bit).

    The data set's own split: takes 0-4 of every speaker and digit are the test set (300 clips).
    Of the rest, takes 5 .. 4 + ``val_takes`` are the validation set (300 clips by default) and the
    remaining takes the training set (2,400 clips by default); ``val_takes=0`` trains on takes 5-49.
    Clips are ``length`` samples (default 8192 = 1.024 s at 8 kHz): longer recordings keep their
    first ``length`` samples, shorter ones are padded with silence at the end. Labels ``y`` are the
    digit; ``speaker`` is the speaker's index in the sorted speaker names.
    """
    _check_length(length)
    _check_rate(rate)
    folder = Path(root) / "fsdd" / "recordings"
    if not folder.is_dir():
        raise DataError(f"FSDD not found: no folder {folder}; put the recordings of "
                        "https://github.com/Jakobovski/free-spoken-digit-dataset there (or set GENLAB_DATA)")
    entries = []
    for p in sorted(folder.iterdir()):
        m = FSDD_NAME.match(p.name)
        if m:
            entries.append((p, int(m.group(1)), m.group(2), int(m.group(3))))
    if not entries:
        raise DataError(f"no FSDD recordings named DIGIT_SPEAKER_TAKE.wav in {folder}")
    takes = max(e[3] for e in entries) + 1
    if isinstance(val_takes, bool) or not isinstance(val_takes, int) or not 0 <= val_takes < takes - FSDD_TEST_TAKES:
        raise DataError(f"val_takes must be between 0 and {takes - FSDD_TEST_TAKES - 1} (takes 5 .. 4 + val_takes "
                        f"become the validation set), got {val_takes!r}")
    speakers = {s: i for i, s in enumerate(sorted({e[2] for e in entries}))}
    codes = torch.stack([_clip(p, rate, length) for p, *_ in entries])
    digits = torch.tensor([e[1] for e in entries])
    spk = torch.tensor([speakers[e[2]] for e in entries])
    take = torch.tensor([e[3] for e in entries])
    parts = [take >= FSDD_TEST_TAKES + val_takes, (take >= FSDD_TEST_TAKES) & (take < FSDD_TEST_TAKES + val_takes),
             take < FSDD_TEST_TAKES]
    splits = [AudioSplit(codes[m], digits[m], spk[m]) if bool(m.any()) else None for m in parts]
    info = DataInfo(name="fsdd", kind="audio", shape=(length,), levels=LEVELS, num_classes=10, rate=rate)
    return DataSet(info, *splits)


@register_dataset("audio:", "a folder of WAV/FLAC files (sub-folders are classes), resampled to mono; "
                  "options length, rate, mix, seed, allow_synthetic")
def load_audio_folder(path: str | Path, length: int = 8192, rate: int = 8000, mix: bool = False,
                      seed: int = 0, allow_synthetic: bool = False) -> DataSet:
    """A folder of audio files (``.wav``, ``.flac``, ``.ogg``), each resampled to ``rate`` Hz with
    ``scipy.signal.resample_poly``.

    Files in sub-folders get the sub-folder as their class label. Multichannel files are refused
    unless ``mix=true`` (the channels are averaged). Clips are ``length`` samples: the first
    ``length`` of a longer file, a shorter one padded with silence at the end. The files are split
    80/10/10 into train/val/test by a fixed-seed shuffle. A file genlab generated (marked synthetic,
    :mod:`genlab.provenance`) is refused unless ``allow_synthetic``.
    """
    _check_length(length)
    _check_rate(rate)
    folder = Path(path)
    if folder.is_file():
        raise DataError(f"'{folder}' is a file, not a folder; audio:PATH takes a folder of WAV files")
    if not folder.is_dir():
        raise DataError(f"audio folder '{folder}' does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg") and p.is_file())
    if len(files) < 3:
        raise DataError(f"audio folder '{folder}' holds {len(files)} audio files (WAV/FLAC/OGG); at least 3 are needed")
    synthetic = check_synthetic(files, folder, allow_synthetic, "audio files")
    clips = [_clip(p, rate, length, mix) for p in files]
    codes = torch.stack(clips)
    classes = sorted({p.parent.relative_to(folder).as_posix() for p in files})
    labels = None
    if len(classes) > 1:
        index = {c: i for i, c in enumerate(classes)}
        labels = torch.tensor([index[p.parent.relative_to(folder).as_posix()] for p in files])
    parts = folder_splits(len(files), seed)
    splits = [AudioSplit(codes[i], None if labels is None else labels[i]) for i in parts]
    info = DataInfo(name=f"audio:{folder}", kind="audio", shape=(length,), levels=LEVELS,
                    num_classes=len(classes) if labels is not None else 0, rate=rate)
    return DataSet(info, *splits, synthetic_examples=synthetic)


@register_dataset("synthetic-tones", "seeded sine tones, one pitch per class (no files; for tests and quick "
                  "checks); options num, length, classes, rate, seed")
def load_tones(num: int = 200, length: int = 64, classes: int = 10, rate: int = 8000, seed: int = 0) -> DataSet:
    """``num`` clips of ``length`` samples: class ``k`` is a sine at ``220 * 2^(k/4)`` Hz (a minor-third
    ladder) with a random phase, amplitude 0.2-0.8 and a 2% pitch jitter, drawn from ``seed``.
    Split 80/10/10 in order (train, val, test)."""
    _check_length(length)
    _check_rate(rate)
    if isinstance(num, bool) or not isinstance(num, int) or num < 3:
        raise DataError(f"num must be a whole number of clips, at least 3, got {num!r}")
    if isinstance(classes, bool) or not isinstance(classes, int) or not 1 <= classes <= 20:
        raise DataError(f"classes must be between 1 and 20, got {classes!r}")
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num) % classes
    freq = 220.0 * 2.0 ** (labels.double() / 4) * (1 + 0.02 * (torch.rand(num, generator=g, dtype=torch.float64) * 2 - 1))
    phase = torch.rand(num, generator=g, dtype=torch.float64) * 2 * math.pi
    amp = 0.2 + 0.6 * torch.rand(num, generator=g, dtype=torch.float64)
    t = torch.arange(length, dtype=torch.float64) / rate
    codes = mu_law_encode(amp[:, None] * torch.sin(2 * math.pi * freq[:, None] * t + phase[:, None]))
    n_val = n_test = max(1, num // 10)
    a, b = num - n_val - n_test, num - n_test
    splits = [AudioSplit(codes[s], labels[s]) for s in (slice(0, a), slice(a, b), slice(b, num))]
    info = DataInfo(name="synthetic-tones", kind="audio", shape=(length,), levels=LEVELS, num_classes=classes,
                    rate=rate)
    return DataSet(info, *splits)

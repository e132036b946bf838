"""Audio: fixed-length mono clips kept as 8-bit mu-law codes; NLL per audio sample.

A clip is stored as ``uint8 [T]`` mu-law codes (256 classes, mu = 255; :func:`mu_law_encode`):
the discrete data every audio model's likelihood is of, reported in nats and bits per audio
sample. Samples are written as a folder of 16-bit PCM WAV files (one per sample, decoded with
:func:`mu_law_decode`) with a PNG grid of their log-magnitude spectrograms.

``DataInfo`` of audio: ``shape = (T,)`` (samples per clip), ``levels = 256``, ``rate`` = the
sample rate in Hz.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import ConfigError, DataError
from .base import Modality, register_modality

MU = 255  # mu-law's mu: codes 0 .. MU (256 classes)
LEVELS = MU + 1
DEFAULT_RATE = 8000  # Hz, where a model's data info names none
PREVIEW_SAMPLES = 4  # clips the trainer draws for a preview
PREVIEW_LENGTH = 2048  # at most this many audio samples per preview clip (0.256 s at 8 kHz)


# ---- mu-law: the one place the codes are defined --------------------------------------------------
def mu_law_encode(x: torch.Tensor | np.ndarray, mu: int = MU) -> torch.Tensor:
    """Waveform values in [-1, 1] -> integer codes ``0 .. mu`` (uint8 for mu = 255).

    ``F(x) = sign(x) * ln(1 + mu |x|) / ln(1 + mu)`` in [-1, 1], then quantised to ``mu + 1``
    evenly spaced bins: ``code = floor((F(x) + 1) / 2 * mu + 0.5)``. Silence (0.0) is code 128
    for mu = 255. Values outside [-1, 1] are clipped.
    """
    x = torch.as_tensor(x, dtype=torch.float64).clamp(-1.0, 1.0)
    f = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    codes = torch.floor((f + 1) / 2 * mu + 0.5).clamp(0, mu)
    return codes.to(torch.uint8 if mu <= 255 else torch.long)


def mu_law_decode(codes: torch.Tensor | np.ndarray, mu: int = MU) -> torch.Tensor:
    """Integer codes ``0 .. mu`` -> float32 waveform values in [-1, 1] (the inverse of :func:`mu_law_encode`
    up to quantisation): ``y = 2 c / mu - 1``, ``x = sign(y) ((1 + mu)^|y| - 1) / mu``."""
    y = torch.as_tensor(codes).double() * (2.0 / mu) - 1.0
    x = torch.sign(y) * (torch.pow(1.0 + mu, y.abs()) - 1.0) / mu
    return x.float()


SILENCE = int(mu_law_encode(torch.tensor(0.0)))  # 128: the code of 0.0


# ---- soundfile, the optional extra --------------------------------------------------------------
def soundfile_module():
    """The ``soundfile`` module; a one-line error naming the extra when it is not installed."""
    try:
        import soundfile
    except ImportError as e:  # also OSError-free: soundfile bundles libsndfile in its wheels
        raise ConfigError("audio files need the soundfile package: pip install genlab[audio]") from e
    return soundfile


def wav_bytes(wave: torch.Tensor | np.ndarray, rate: int) -> bytes:
    """A float waveform in [-1, 1] as the bytes of a 16-bit PCM mono WAV file."""
    sf = soundfile_module()
    buffer = io.BytesIO()
    data = np.clip(np.asarray(wave, dtype=np.float64), -1.0, 1.0)
    sf.write(buffer, data, int(rate), subtype="PCM_16", format="WAV")
    return buffer.getvalue()


# ---- splits -------------------------------------------------------------------------------------
class AudioSplit:
    """Clips as mu-law codes ``uint8 [N, T]`` with optional digit labels ``[N]`` and speaker ids ``[N]``.

    Without a window length its items are the clips. ``windows(L)`` (a model that trains on crops,
    e.g. WaveNet with ``train_window``) makes the training items every crop of ``L`` samples that
    starts at most ``L / 2`` samples before the clip's trailing silence (the padding), so that no
    item is silence only; its :meth:`eval_indices` name the whole clips instead (items after the
    crops), so that evaluation scores each clip once, from its first sample.
    """

    def __init__(self, codes: torch.Tensor, labels: torch.Tensor | None = None,
                 speakers: torch.Tensor | None = None, window: int | None = None):
        if codes.dim() != 2:
            raise DataError(f"audio clips must have shape [N, T], got {tuple(codes.shape)}")
        for name, values in (("labels", labels), ("speaker ids", speakers)):
            if values is not None and len(values) != len(codes):
                raise DataError(f"{len(codes)} clips but {len(values)} {name}")
        self.codes = codes
        self.labels = labels
        self.speakers = speakers
        self.window = window if window is not None and window < codes.shape[1] else None
        self.num_windows = 0
        if self.window is not None:
            # starts 0 .. last_start[i] of clip i; crop k of the split is clip i at start k - first[i]
            self.last_start = (audible_length(codes) - self.window // 2).clamp(0, codes.shape[1] - self.window)
            counts = self.last_start + 1
            self.first = torch.cumsum(counts, 0) - counts
            self.num_windows = int(counts.sum())

    def __len__(self) -> int:
        return self.num_windows if self.window is not None else len(self.codes)

    @property
    def length(self) -> int:
        """Audio samples per clip."""
        return self.codes.shape[1]

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """A batch ``{"x": uint8 [B, T], "y": long [B], "speaker": long [B]}`` (labels, speakers where known).

        With a window, indices below ``num_windows`` are crops (``T`` = the window) and the others
        whole clips; one batch holds one kind."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        if self.window is not None and len(indices) and bool((indices < self.num_windows).any()):
            if not bool((indices < self.num_windows).all()):
                raise DataError("a batch mixes crops and whole clips; ask for one kind")
            clip = torch.searchsorted(self.first, indices, right=True) - 1
            start = indices - self.first[clip]
            x = self.codes[clip[:, None], start[:, None] + torch.arange(self.window)]
        else:
            clip = indices - self.num_windows
            x = self.codes[clip]
        batch = {"x": x}
        if self.labels is not None:
            batch["y"] = self.labels[clip]
        if self.speakers is not None:
            batch["speaker"] = self.speakers[clip]
        return batch

    def windows(self, length: int | None) -> "AudioSplit":
        if length == self.window:
            return self  # already read that way (whole clips for None): the same split, as other splits do
        return AudioSplit(self.codes, self.labels, self.speakers, window=length)

    def eval_indices(self) -> torch.Tensor:
        """Every whole clip once, in order."""
        return torch.arange(self.num_windows, self.num_windows + len(self.codes))


def audible_length(codes: torch.Tensor) -> torch.Tensor:
    """``[N]`` long: samples of each clip ``[N, T]`` before its trailing run of exact silence (the padding)."""
    loud = codes != SILENCE
    last = torch.where(loud, torch.arange(codes.shape[1]), torch.full_like(codes, -1, dtype=torch.long)).amax(1)
    return last + 1


# ---- drawing ------------------------------------------------------------------------------------
def log_spectrogram(wave: torch.Tensor, n_fft: int = 256, hop: int = 64) -> torch.Tensor:
    """``[freq, frames]`` log-magnitude STFT (dB, Hann window) of a float waveform ``[T]``."""
    n_fft = max(8, min(n_fft, 1 << int(math.log2(max(8, wave.numel())))))
    hop = max(1, min(hop, n_fft // 4))
    spec = torch.stft(wave.float(), n_fft=n_fft, hop_length=hop, window=torch.hann_window(n_fft),
                      return_complex=True, center=True)
    return 20 * torch.log10(spec.abs().clamp_min(1e-5))


def spectrogram_grid(waves: torch.Tensor, height: int = 96, pad: int = 2, columns: int = 1) -> np.ndarray:
    """A uint8 picture: the spectrograms of ``waves`` ``[N, T]`` in ``columns`` columns (filled row by
    row), low frequencies at the bottom.

    Each is scaled over a fixed 80 dB range below the loudest bin of all clips."""
    specs = [log_spectrogram(w) for w in waves]
    top = max(float(s.max()) for s in specs)
    panels = []
    for s in specs:
        s = ((s - (top - 80.0)) / 80.0).clamp(0, 1).flip(0)  # [F, frames], high frequencies first
        s = torch.nn.functional.interpolate(s[None, None], size=(height, max(s.shape[1], 64)), mode="nearest")[0, 0]
        panels.append((s * 255).to(torch.uint8).numpy())
    width = max(p.shape[1] for p in panels)
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    grid = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad), 128, dtype=np.uint8)
    for i, p in enumerate(panels):
        r, c = divmod(i, columns)
        top_px, left = pad + r * (height + pad), pad + c * (width + pad)
        grid[top_px: top_px + height, left: left + p.shape[1]] = p
    return grid


def spectrogram_picture(waves: torch.Tensor, rate: int, min_width: int = 384, height: int = 128) -> np.ndarray:
    """:func:`spectrogram_grid` of ``waves`` (one clip a row) made readable: each panel stretched to at
    least ``min_width`` pixels (nearest neighbour), and axes: frequency in kHz on the left (0 at the
    bottom, the Nyquist frequency at the top), time in seconds below."""
    from PIL import Image, ImageDraw

    frames = max(1, waves.shape[-1] // 64 + 1)  # log_spectrogram's hop
    stretch = max(1, -(-min_width // max(frames, 64)))
    grid = spectrogram_grid(waves, height=height)
    if stretch > 1:
        grid = grid.repeat(stretch, axis=1)
    left, bottom = 46, 18
    canvas = Image.new("L", (grid.shape[1] + left + 8, grid.shape[0] + bottom), 255)
    canvas.paste(Image.fromarray(grid), (left, 0))
    draw = ImageDraw.Draw(canvas)
    for r in range(len(waves)):
        top = 2 + r * (height + 2)
        draw.text((2, top), f"{rate / 2000:g} kHz", fill=0)
        draw.text((2, top + height - 11), "0 kHz", fill=0)
    seconds = waves.shape[-1] / rate
    draw.text((left, grid.shape[0] + 3), "0 s", fill=0)
    label = f"{seconds:.2f} s"
    draw.text((canvas.width - 8 - 6 * len(label), grid.shape[0] + 3), label, fill=0)
    return np.asarray(canvas)


@register_modality
class AudioModality(Modality):
    """Audio clips: 8-bit mu-law codes [T] at a sample rate; NLL per audio sample; WAV files and spectrograms."""

    name = "audio"
    unit = "audio sample"
    sample_suffix = ""  # render writes a folder: sample-000.wav, ... and spectrograms.png
    writes_folder = True
    default_num_samples = 8
    sample_quality = False
    fields = {"x": "uint8 mu-law codes [B, T] in 0 .. 255 (mu = 255)",
              "y": "long class labels [B] (the spoken digit; labelled data only)",
              "speaker": "long speaker ids [B] (where the data set knows them)"}

    def check_info(self, info) -> None:
        if info.shape is None or len(info.shape) != 1 or info.shape[0] < 2:
            raise DataError(f"audio data '{info.name}' needs a shape (T,) of at least 2 samples, got {info.shape}")
        if info.levels != LEVELS:
            raise DataError(f"audio data '{info.name}' must be 8-bit mu-law codes (levels {LEVELS}), "
                            f"got levels {info.levels}")

    def model_fields(self, info) -> dict[str, Any]:
        return {"length": info.shape[0], "levels": info.levels, "num_classes": info.num_classes}

    def likelihood_report(self, info, total_nats: float, num_examples: int, split) -> dict[str, Any]:
        samples = num_examples * info.shape[0]
        per_sample = total_nats / samples
        return {"nll_nats": per_sample, "bits_per_sample": per_sample / math.log(2),
                "nll_nats_per_clip": total_nats / num_examples, "num_samples": samples,
                "unit": "nats per audio sample"}

    def describe_likelihood(self, result: dict[str, Any]) -> list[str]:
        return [f"NLL          {result['nll_nats']:.4f} nats per audio sample",
                f"bits/sample  {result['bits_per_sample']:.4f}"]

    def preview(self, num_samples: int, split=None) -> tuple[int, dict[str, Any]]:
        """A few short clips: at most :data:`PREVIEW_LENGTH` samples each (the clips' length if shorter)."""
        length = PREVIEW_LENGTH if split is None else min(PREVIEW_LENGTH, split.length)
        return min(num_samples, PREVIEW_SAMPLES), {"length": length}

    def write_files(self, info, samples: torch.Tensor, path: str | Path) -> list[Path]:
        """Write the folder ``path``: ``sample-000.wav``, ... (16-bit PCM at the data's rate) and
        ``spectrograms.png`` (one row per sample). Existing files of those names are replaced."""
        from PIL import Image

        from ...files import atomic_write_bytes, storage_errors

        path = Path(path)
        if path.suffix.lower() == ".wav":
            raise DataError(f"audio samples are written to a folder of WAV files; give a folder name, "
                            f"not '{path.name}' (e.g. {path.with_suffix('')})")
        if path.exists() and not path.is_dir():
            raise DataError(f"'{path}' is a file; give a folder for the WAV files")
        samples = samples.detach().cpu()
        if samples.dim() != 2:
            raise DataError(f"audio samples must have shape [N, T], got {tuple(samples.shape)}")
        rate = getattr(info, "rate", None) or DEFAULT_RATE
        waves = mu_law_decode(samples.long().clamp(0, MU))
        with storage_errors(path):
            path.mkdir(parents=True, exist_ok=True)
        written = []
        width = max(3, len(str(len(waves) - 1)))
        for i, wave in enumerate(waves):
            atomic_write_bytes(path / f"sample-{i:0{width}d}.wav", wav_bytes(wave.numpy(), rate))
            written.append(path / f"sample-{i:0{width}d}.wav")
        buffer = io.BytesIO()
        Image.fromarray(spectrogram_picture(waves, rate)).save(buffer, format="PNG")
        atomic_write_bytes(path / "spectrograms.png", buffer.getvalue())
        return written + [path / "spectrograms.png"]

    def example_file(self, info, split, index: int) -> tuple[bytes, str]:
        """A whole clip (never a training crop) as a WAV file at the data's rate."""
        wave = mu_law_decode(split.codes[index].long().clamp(0, MU))
        return wav_bytes(wave.numpy(), getattr(info, "rate", None) or DEFAULT_RATE), "audio/wav"

    def parse(self, info, value: Any) -> torch.Tensor:
        raise DataError("audio models take no input file yet")

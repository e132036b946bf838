"""The audio feature network: a log-mel spectrogram CNN that classifies clips (spoken digits).

It plays for audio the part :class:`~genlab.evaluation.features.FeatureNet` plays for images: a
small classifier trained on the data set's own train split (``genlab features train --data fsdd``),
saved with a content hash, whose penultimate activations are the features of the Fréchet distance
and whose predictions give the accuracy of class-conditional samples, class coverage and the
"inception score" (:func:`~genlab.evaluation.sample_quality.inception_score`). Saving, loading and
training go through :mod:`genlab.evaluation.features`, which picks this network for audio data.

The front end, computed in torch by genlab (no torchaudio):

1. mu-law codes ``uint8 [N, T]`` -> waveform in [-1, 1] (:func:`~genlab.data.modalities.audio.mu_law_decode`);
2. power STFT, Hann window, ``n_fft`` (default 256 = 32 ms at 8 kHz), ``hop`` (default 64 = 8 ms),
   centred with zero padding;
3. ``n_mels`` (default 40) triangular mel filters from 0 Hz to half the sample rate (HTK mel
   scale ``2595 log10(1 + f / 700)``, peak 1, no area normalisation; :func:`mel_filterbank`);
4. ``log(mel + 1e-6)``, then each clip is standardised over all its bins (zero mean, unit std), so
   the classifier ignores loudness.

Then conv blocks (two 3x3 conv + GroupNorm + ReLU, 2x2 max pooling) over ``[1, n_mels, frames]``,
average pooling over time (not frequency), a linear layer with ReLU to ``feature_dim`` (the
features), dropout and a linear classifier.

Scores made with it are comparable only between runs that name the same content hash; they are
not comparable with the figures of papers that used other classifiers (e.g. WaveGAN's SC09 one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..config import Config
from ..data.core import DataInfo
from ..data.modalities.audio import LEVELS, SILENCE, mu_law_decode
from ..errors import ConfigError
from ..nn import norm_groups

NETWORK = "audio-logmel-cnn"  # the "network" entry of a saved audio feature network's config.json
LOG_FLOOR = 1e-6


# ---- log-mel front end ------------------------------------------------------------------------
def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def mel_centres(n_mels: int, rate: int, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """The centre frequencies in Hz (float64 ``[n_mels]``) of :func:`mel_filterbank`'s filters."""
    fmax = rate / 2 if fmax is None else fmax
    points = mel_to_hz(torch.linspace(float(hz_to_mel(fmin)), float(hz_to_mel(fmax)), n_mels + 2,
                                      dtype=torch.float64))
    return points[1:-1]


def mel_filterbank(n_freqs: int, n_mels: int, rate: int, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """Triangular mel filters ``float32 [n_mels, n_freqs]`` over the STFT bins ``0 .. rate / 2``.

    ``n_mels + 2`` points evenly spaced on the mel scale from ``fmin`` to ``fmax`` (default
    ``rate / 2``); filter ``m`` rises linearly from point ``m`` to 1 at point ``m + 1`` and falls to
    0 at point ``m + 2`` (in Hz). Peak 1, no area normalisation (torchaudio's ``norm=None``, HTK scale).
    """
    fmax = rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= rate / 2:
        raise ConfigError(f"mel filters need 0 <= fmin < fmax <= rate / 2, got fmin={fmin}, fmax={fmax}, rate={rate}")
    freqs = torch.linspace(0.0, rate / 2, n_freqs, dtype=torch.float64)
    points = mel_to_hz(torch.linspace(float(hz_to_mel(fmin)), float(hz_to_mel(fmax)), n_mels + 2,
                                      dtype=torch.float64))
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (freqs[None] - lower) / (centre - lower)
    falling = (upper - freqs[None]) / (upper - centre)
    return torch.minimum(rising, falling).clamp_min(0).float()


class LogMel(nn.Module):
    """Float waveforms ``[N, T]`` -> log-mel spectrograms ``[N, n_mels, 1 + T // hop]``."""

    def __init__(self, rate: int, n_fft: int = 256, hop: int = 64, n_mels: int = 40):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        # Not persistent: they follow from the config, so they are not in the weights file.
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", mel_filterbank(n_fft // 2 + 1, n_mels, rate), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wave.float(), n_fft=self.n_fft, hop_length=self.hop, window=self.window,
                          center=True, pad_mode="constant", return_complex=True)  # [N, F, frames]
        power = spec.real ** 2 + spec.imag ** 2
        return torch.log(torch.einsum("mf,nft->nmt", self.filters, power) + LOG_FLOOR)


def log_mel(codes: torch.Tensor, rate: int, n_fft: int = 256, hop: int = 64, n_mels: int = 40) -> torch.Tensor:
    """Log-mel spectrograms ``[N, n_mels, 1 + T // hop]`` of mu-law codes ``[N, T]`` (see the module doc)."""
    return LogMel(rate, n_fft, hop, n_mels)(mu_law_decode(codes))


# ---- config and network -----------------------------------------------------------------------
@dataclasses.dataclass
class AudioFeatureNetConfig(Config):
    """Architecture of an :class:`AudioFeatureNet` and the data facts it was built for.

    Attributes:
        length: audio samples per clip.
        rate: sample rate in Hz.
        num_classes: number of class labels (at least 2).
        levels: mu-law classes of the input codes (256).
        n_fft, hop, n_mels: the log-mel front end.
        channels: output channels of each conv block.
        feature_dim: size of the feature vector (the penultimate layer).
        dropout: dropout before the classifier layer (training only).
        data_name: the data set it was trained on, for messages and reports.
    """

    length: int
    rate: int
    num_classes: int
    levels: int = LEVELS
    n_fft: int = 256
    hop: int = 64
    n_mels: int = 40
    channels: list[int] = dataclasses.field(default_factory=lambda: [16, 32, 64])
    feature_dim: int = 128
    dropout: float = 0.2
    data_name: str = ""

    def validate(self) -> None:
        if self.length < 2 or self.rate < 1:
            raise ConfigError(f"length and rate must be positive, got length={self.length}, rate={self.rate}")
        if self.levels != LEVELS:
            raise ConfigError(f"the audio feature network reads 8-bit mu-law codes (levels {LEVELS}), got {self.levels}")
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be at least 2 for a classifier, got {self.num_classes}")
        if self.n_fft < 8 or self.hop < 1 or self.n_mels < 1:
            raise ConfigError(f"need n_fft >= 8, hop >= 1, n_mels >= 1; got {self.n_fft}, {self.hop}, {self.n_mels}")
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ConfigError(f"channels must be a non-empty list of positive widths, got {self.channels}")
        if self.feature_dim <= 0:
            raise ConfigError(f"feature_dim must be positive, got {self.feature_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "AudioFeatureNetConfig":
        missing = [k for k in ("length", "rate", "num_classes") if k not in values]
        if missing:
            raise ConfigError(f"AudioFeatureNetConfig needs {', '.join(missing)}")
        return cls(length=2, rate=8000, num_classes=2).replace(**values)


class AudioFeatureNet(nn.Module):
    """A log-mel CNN classifier of mu-law clips whose penultimate activations serve as audio features.

    Input: mu-law codes ``[N, T]`` in ``0 .. 255`` (any int or float dtype). The same duck-typed
    interface as :class:`~genlab.evaluation.features.FeatureNet` (see ``check_feature_network``).
    GroupNorm and per-clip standardisation keep each clip's features independent of its batch.
    """

    network = NETWORK
    has_data_classes = True
    batch_size = 250

    def __init__(self, config: AudioFeatureNetConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.front = LogMel(config.rate, config.n_fft, config.hop, config.n_mels)
        h, w = config.n_mels, 1 + config.length // config.hop
        layers: list[nn.Module] = []
        c = 1
        for width in config.channels:
            for c_in in (c, width):
                layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.GroupNorm(norm_groups(width), width), nn.ReLU()]
            c = width
            if min(h, w) >= 4:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        self.convs = nn.Sequential(*layers)
        # Average over time only: where in frequency the energy lies (pitch, formants) stays visible.
        self.embed = nn.Sequential(nn.Linear(c * h, config.feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.feature_dim, config.num_classes)
        self.test_accuracy: float | None = None
        self.content_hash: str = ""

    @property
    def description(self) -> str:
        accuracy = "unknown" if self.test_accuracy is None else f"{self.test_accuracy:.3f}"
        return (f"genlab audio feature network {self.content_hash or 'unsaved'} (a log-mel CNN classifier trained on "
                f"{self.config.data_name or 'the data'}, test accuracy {accuracy})")

    def check_data(self, info: DataInfo) -> None:
        """Raise ConfigError unless this network was built for clips of ``info``'s length and rate."""
        config = self.config
        rate = getattr(info, "rate", None)
        if info.kind != "audio" or list(info.shape or ()) != [config.length] or rate != config.rate:
            trained_on = f"'{config.data_name}'" if config.data_name else "another data set"
            raise ConfigError(
                f"the audio feature network (hash {self.content_hash or 'unsaved'}) was trained on {trained_on}: "
                f"clips of {config.length} samples at {config.rate} Hz, but data set '{info.name}' is {info.kind} data "
                f"of shape {list(info.shape or ())} at {rate} Hz; train a feature network on this data: "
                f"`genlab features train --data {info.name}`")

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised log-mel spectrograms ``[N, 1, n_mels, frames]`` of mu-law codes ``[N, T]``."""
        device = self.classifier.weight.device
        wave = mu_law_decode(x.detach().cpu().long().clamp(0, self.config.levels - 1)).to(device)
        spec = self.front(wave)
        mean = spec.mean(dim=(1, 2), keepdim=True)
        std = spec.std(dim=(1, 2), keepdim=True).clamp_min(1e-3)
        return ((spec - mean) / std)[:, None]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``[N, feature_dim]`` of mu-law codes ``[N, T]``."""
        h = self.convs(self.spectrogram(x))
        return self.embed(h.mean(dim=3).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, num_classes]``."""
        return self.classifier(self.dropout(self.features(x)))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted classes (LongTensor ``[N]``); call in eval mode."""
        return self.forward(x).argmax(dim=1)


def random_time_shift(codes: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
    """Shift each clip ``[N, T]`` by up to ``max_shift`` samples either way, filling with silence."""
    n, t = codes.shape
    padded = torch.nn.functional.pad(codes.long(), (max_shift, max_shift), value=SILENCE)
    start = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    return padded[torch.arange(n)[:, None], start[:, None] + torch.arange(t)]


def time_shift_augment(config: AudioFeatureNetConfig):
    """The training augmentation: random shifts of up to 1/16 of a clip (at least one hop)."""
    max_shift = max(config.hop, config.length // 16)
    return lambda x, generator: random_time_shift(x, generator, max_shift)


def default_config(info: DataInfo, num_classes: int) -> AudioFeatureNetConfig:
    """The config for clips of ``info``: its length, rate and classes, the default front end."""
    return AudioFeatureNetConfig(length=int(info.shape[0]), rate=int(getattr(info, "rate", None) or 8000),
                                 num_classes=num_classes, data_name=info.name)


__all__ = ["AudioFeatureNet", "AudioFeatureNetConfig", "LogMel", "log_mel", "mel_filterbank", "mel_centres",
           "hz_to_mel", "mel_to_hz", "NETWORK"]

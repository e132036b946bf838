"""Building blocks of 1-D (waveform) GANs after WaveGAN (Donahue, McAuley & Puckette 2019).

- :func:`phase_shuffle` / :class:`PhaseShuffle`: shift each example's feature maps by a random
  whole number of steps in ``[-n, n]``, filling the gap by reflection, so that the critic cannot
  learn to tell real from fake by the periodic artifacts of the generator's transposed convolutions.
- :class:`WaveGenerator`: ``z`` (+ a label embedding) -> a dense layer to ``[C0, base]`` -> ReLU ->
  stride-4 transposed convolutions (kernel 25) that halve the channels and quadruple the length,
  ReLU between them, tanh at the end: a waveform ``[N, 1, base * 4^k]`` in [-1, 1].
- :class:`WaveCritic`: stride-4 convolutions (kernel 25) that double the channels and quarter the
  length, LeakyReLU(0.2), phase shuffle after every convolution but the last, a dense score, and
  the projection term ``embed(y) . h(x)`` for class conditioning.
- the WGAN-GP penalty is :func:`genlab.nn.adversarial.gradient_penalty`, shared with the image GANs.
"""

from __future__ import annotations

import torch
from torch import nn

KERNEL = 25  # WaveGAN's kernel length
STRIDE = 4  # and stride: each layer changes the length 4x
PADDING = 11  # a stride-4 convolution of a length 4m gives m; its transpose (output_padding 1) of m gives 4m


def phase_shuffle(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """``x`` ``[B, C, T]`` with example ``b`` shifted right by ``shifts[b]`` steps (left if negative).

    ``out[b, :, t] = x[b, :, r(t - shifts[b])]`` where ``r`` reflects an index that falls outside
    ``0 .. T-1`` back into it without repeating the edge (``r(-i) = i``, ``r(T - 1 + i) = T - 1 - i``),
    as WaveGAN's reflection padding. ``|shifts|`` must be below ``T``.
    """
    t = x.shape[-1]
    idx = torch.arange(t, device=x.device)[None, :] - shifts.to(x.device).long()[:, None]  # [B, T]
    idx = idx.abs()  # reflect below 0
    idx = torch.where(idx > t - 1, 2 * (t - 1) - idx, idx)  # reflect above T - 1
    return x.gather(2, idx[:, None, :].expand(x.shape[0], x.shape[1], t))


class PhaseShuffle(nn.Module):
    """Phase shuffle by up to ``n`` steps while training; the identity in eval mode or when ``n == 0``.

    The shifts are drawn per example, uniformly from ``-n .. n``, with the global torch RNG (the
    stream the trainer checkpoints, so a resumed run draws the same shifts)."""

    def __init__(self, n: int):
        super().__init__()
        self.n = int(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.n == 0:
            return x
        shifts = torch.randint(-self.n, self.n + 1, (x.shape[0],), device=x.device)
        return phase_shuffle(x, shifts)

    def extra_repr(self) -> str:
        return f"n={self.n}"


class WaveGenerator(nn.Module):
    """``z [N, latent_dim]`` (+ labels ``[N]``) -> waveforms ``[N, 1, base * 4^num_layers]`` in [-1, 1].

    The dense layer gives ``[model_size * 2^(num_layers - 1), base]`` (WaveGAN: 16 d channels of 16
    steps for 5 layers and 16,384 samples); each transposed convolution (kernel 25, stride 4) halves
    the channels, the last gives one channel. ReLU after the dense layer and between convolutions,
    tanh at the end; no normalisation, as the paper.
    """

    def __init__(self, latent_dim: int, base_length: int, num_layers: int, model_size: int, num_classes: int = 0,
                 embedding_dim: int = 32):
        super().__init__()
        self.base_length = base_length
        widths = [model_size * 2 ** (num_layers - 1 - i) for i in range(num_layers)] + [1]
        self.embed = nn.Embedding(num_classes, embedding_dim) if num_classes else None
        in_dim = latent_dim + (embedding_dim if num_classes else 0)
        self.project = nn.Linear(in_dim, widths[0] * base_length)
        self.widths = widths
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.ConvTranspose1d(c_in, c_out, KERNEL, stride=STRIDE, padding=PADDING, output_padding=1))
            layers.append(nn.ReLU() if i < num_layers - 1 else nn.Tanh())
        self.blocks = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        h = torch.relu(self.project(z).view(len(z), self.widths[0], self.base_length))
        return self.blocks(h)


class WaveCritic(nn.Module):
    """Waveforms ``[N, 1, T]`` (+ labels ``[N]``) -> one real-valued score per clip ``[N]``.

    ``num_layers`` convolutions (kernel 25, stride 4) with ``model_size * 2^i`` channels, each
    followed by LeakyReLU(0.2) and, but for the last, :class:`PhaseShuffle` (``phase_shuffle``
    steps); then a dense layer over the ``[model_size * 2^(num_layers - 1), T / 4^num_layers]``
    features. No normalisation (the gradient penalty is per example). With ``num_classes`` the
    projection term ``embed(y) . h`` is added (Miyato & Koyama 2018).
    """

    def __init__(self, length: int, num_layers: int, model_size: int, phase_shuffle: int = 2, num_classes: int = 0):
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for i in range(num_layers):
            width = model_size * 2 ** i
            layers += [nn.Conv1d(c, width, KERNEL, stride=STRIDE, padding=PADDING), nn.LeakyReLU(0.2)]
            if i < num_layers - 1:
                layers.append(PhaseShuffle(phase_shuffle))
            c = width
        self.features = nn.Sequential(*layers, nn.Flatten())
        feature_dim = c * (length // STRIDE ** num_layers)
        self.out = nn.Linear(feature_dim, 1)
        self.embed = nn.Embedding(num_classes, feature_dim) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        score = self.out(h).squeeze(1)
        if self.embed is not None:
            score = score + (self.embed(y) * h).sum(1)  # the projection term
        return score



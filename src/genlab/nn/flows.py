"""Invertible layers for normalizing flows (RealNVP, Glow).

Every layer maps ``x -> (y, logdet)`` in :meth:`forward`, where ``logdet`` is ``[B]`` and holds
``log |det dy/dx|`` per example, and undoes itself with :meth:`inverse`. Shapes are image shaped
``[B, C, H, W]`` throughout; :meth:`output_shape` gives a layer's output ``(C, H, W)``.

Both methods take an optional ``condition``, a ``[B, K]`` vector per example (a one-hot class
label, say) that conditional layers read and the others ignore; a chain passes it to every layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError


class FlowLayer(nn.Module):
    """Base of invertible layers: ``forward(x) -> (y, logdet [B])``, ``inverse(y) -> x``."""

    def forward(self, x: torch.Tensor,
                condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def inverse(self, y: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def output_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """``(C, H, W)`` of the output for an input of shape ``(C, H, W)``; most layers keep it."""
        return tuple(shape)


def checkerboard_mask(height: int, width: int, parity: int, like: torch.Tensor) -> torch.Tensor:
    """``[1, 1, H, W]`` mask of 1s where ``(i + j) % 2 == parity`` (the pixels left unchanged)."""
    i = torch.arange(height, device=like.device)[:, None]
    j = torch.arange(width, device=like.device)[None, :]
    return ((i + j) % 2 == parity).to(like.dtype)[None, None]


class CouplingNet(nn.Module):
    """Small conv net ``[B, c_in, H, W] -> [B, c_out, H, W]``: 3x3, 1x1, then a zero-initialised 3x3.

    The zero-initialised output makes every coupling start as the identity, which keeps deep
    flows stable at the start of training.
    """

    def __init__(self, c_in: int, c_out: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c_in, hidden, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
            nn.Conv2d(hidden, c_out, 3, padding=1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AffineCoupling(FlowLayer):
    """Affine coupling ``y_b = x_b * exp(s(x_a)) + t(x_a)``, ``y_a = x_a`` (Dinh et al. 2017).

    ``mask="checkerboard"`` conditions on the pixels with ``(i + j) % 2 == parity``;
    ``mask="channel"`` on one half of the channels (the first half for parity 0). The log-scale
    is bounded, ``s = scale * tanh(raw)`` with a learned per-channel ``scale``, so one step
    cannot blow up activations. ``logdet = sum s`` over the transformed entries.

    ``condition_dim > 0`` makes the coupling conditional: ``s`` and ``t`` also see a ``[B,
    condition_dim]`` condition, broadcast over the pixels as extra input channels of the net.
    """

    def __init__(self, channels: int, hidden: int, mask: str = "checkerboard", parity: int = 0,
                 condition_dim: int = 0):
        super().__init__()
        if mask not in ("checkerboard", "channel"):
            raise ConfigError(f"coupling mask must be 'checkerboard' or 'channel', got {mask!r}")
        if mask == "channel" and channels < 2:
            raise ConfigError(f"a channel coupling needs at least 2 channels, got {channels}")
        self.mask, self.parity, self.channels, self.condition_dim = mask, parity, channels, condition_dim
        if mask == "checkerboard":
            c_in, c_out = channels, channels
        else:
            self.c_a = channels // 2 if parity == 0 else channels - channels // 2  # conditioning part
            c_in, c_out = self.c_a, channels - self.c_a
        self.net = CouplingNet(c_in + condition_dim, 2 * c_out, hidden)
        self.scale = nn.Parameter(torch.ones(1, c_out, 1, 1))

    def _params(self, x_a: torch.Tensor, condition: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.condition_dim:
            if condition is None or condition.shape[-1] != self.condition_dim:
                raise ConfigError(f"this coupling is conditional: pass a condition of {self.condition_dim} values "
                                  "per example")
            b, _, h, w = x_a.shape
            x_a = torch.cat([x_a, condition.to(x_a.dtype)[:, :, None, None].expand(b, -1, h, w)], 1)
        raw_s, t = self.net(x_a).chunk(2, dim=1)
        return self.scale * torch.tanh(raw_s), t

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # channel mask: parity 0 keeps the first c_a channels, parity 1 the last c_a
        if self.parity == 0:
            return x[:, : self.c_a], x[:, self.c_a:]
        return x[:, -self.c_a:], x[:, : -self.c_a]

    def _join(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        return torch.cat([x_a, x_b], 1) if self.parity == 0 else torch.cat([x_b, x_a], 1)

    def forward(self, x, condition=None):
        if self.mask == "checkerboard":
            b = checkerboard_mask(x.shape[2], x.shape[3], self.parity, x)  # [1, 1, H, W]
            s, t = self._params(x * b, condition)
            s, t = s * (1 - b), t * (1 - b)  # only the unmasked pixels change
            y = x * b + (1 - b) * (x * torch.exp(s) + t)
            return y, s.flatten(1).sum(1)
        x_a, x_b = self._split(x)
        s, t = self._params(x_a, condition)
        return self._join(x_a, x_b * torch.exp(s) + t), s.flatten(1).sum(1)

    def inverse(self, y, condition=None):
        if self.mask == "checkerboard":
            b = checkerboard_mask(y.shape[2], y.shape[3], self.parity, y)
            s, t = self._params(y * b, condition)
            s, t = s * (1 - b), t * (1 - b)
            return y * b + (1 - b) * ((y - t) * torch.exp(-s))
        y_a, y_b = self._split(y)
        s, t = self._params(y_a, condition)
        return self._join(y_a, (y_b - t) * torch.exp(-s))


class Squeeze(FlowLayer):
    """Space-to-depth: ``[B, C, H, W] -> [B, 4C, H/2, W/2]``, each 2x2 patch into channels (logdet 0)."""

    def forward(self, x, condition=None):
        b, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ConfigError(f"squeeze needs even height and width, got {h}x{w}")
        y = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(b)

    def inverse(self, y, condition=None):
        b, c4, h, w = y.shape
        c = c4 // 4
        return y.view(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c, 2 * h, 2 * w)

    def output_shape(self, shape):
        c, h, w = shape
        if h % 2 or w % 2:
            raise ConfigError(f"cannot squeeze a {h}x{w} image: height and width must be even "
                              "(use fewer scales)")
        return (4 * c, h // 2, w // 2)


class ActNorm(FlowLayer):
    """Per-channel affine ``y = (x + bias) * exp(log_scale)`` with data-dependent init (Glow).

    The first forward pass in training mode sets ``bias`` and ``log_scale`` so that the batch
    (under several processes, the global batch) has zero mean and unit variance per
    channel. The ``initialized`` flag is a buffer, so it is
    saved and restored with the weights (a loaded model is not re-initialised).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Set bias and scale from a batch ``[B, C, H, W]``: zero mean, unit variance per channel."""
        from .. import distributed

        if distributed.world_size() > 1:  # the global batch's statistics: every rank starts alike
            mean, var, _ = distributed.global_moments(x, [0, 2, 3])
            mean, std = mean.view(1, -1, 1, 1).to(x.dtype), var.sqrt().view(1, -1, 1, 1).to(x.dtype)
        else:
            mean = x.mean(dim=(0, 2, 3), keepdim=True)
            std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(1)

    def forward(self, x, condition=None):
        if self.training and not bool(self.initialized):
            self.initialize(x)
        y = (x + self.bias) * torch.exp(self.log_scale)
        logdet = x.shape[2] * x.shape[3] * self.log_scale.sum()
        return y, logdet.expand(x.shape[0])

    def inverse(self, y, condition=None):
        return y * torch.exp(-self.log_scale) - self.bias


class InvConv1x1(FlowLayer):
    """Invertible 1x1 convolution in LU form (Glow): ``W = P L (U + diag(sign * exp(log_s)))``.

    ``P`` is a fixed permutation, ``L`` is lower triangular with a unit diagonal, ``U`` strictly
    upper triangular; ``logdet = H * W * sum(log_s)`` costs O(C) instead of O(C^3).
    Initialised from a random rotation.
    """

    def __init__(self, channels: int):
        super().__init__()
        w = torch.linalg.qr(torch.randn(channels, channels, dtype=torch.float64))[0]
        p, lower, upper = torch.linalg.lu(w)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p.float())
        self.register_buffer("sign_s", torch.sign(s).float())
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower.float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.log_s = nn.Parameter(torch.log(s.abs()).float())

    def weight(self) -> torch.Tensor:
        """The ``[C, C]`` matrix ``W`` (``y[:, i] = sum_j W[i, j] x[:, j]`` at every pixel)."""
        eye = torch.eye(self.perm.shape[0], dtype=self.lower.dtype, device=self.lower.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def forward(self, x, condition=None):
        y = torch.einsum("ij,bjhw->bihw", self.weight(), x)
        logdet = x.shape[2] * x.shape[3] * self.log_s.sum()
        return y, logdet.expand(x.shape[0])

    def inverse(self, y, condition=None):
        return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.weight()), y)


class FlowSequential(FlowLayer):
    """A chain of flow layers; log-determinants add up."""

    def __init__(self, layers: list[FlowLayer]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x, condition=None):
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x, condition)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y, condition=None):
        for layer in reversed(self.layers):
            y = layer.inverse(y, condition)
        return y

    def output_shape(self, shape):
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return tuple(shape)


def factor_out(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``[B, C, H, W]`` into the kept half ``[B, C - C//2, H, W]`` and the factored-out ``z``."""
    keep = h.shape[1] - h.shape[1] // 2
    return h[:, :keep], h[:, keep:]


class MultiScaleFlow(nn.Module):
    """Multi-scale architecture (Dinh et al. 2017): after every stage but the last, half the
    channels are factored out as latents and only the rest go on to the next stage.

    ``forward(x) -> (z [B, D], logdet [B])`` with all latents flattened and concatenated (the
    earliest factored-out first); :meth:`inverse` takes the same flat ``z``. A ``condition``
    (``[B, K]``) goes to every stage.
    """

    def __init__(self, stages: list[FlowLayer], input_shape: tuple[int, int, int]):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.input_shape = tuple(input_shape)
        # (C, H, W) of each stage's factored-out latent; the last stage keeps all its channels
        self.z_shapes: list[tuple[int, int, int]] = []
        shape = self.input_shape
        for i, stage in enumerate(stages):
            c, h, w = stage.output_shape(shape)
            if i < len(stages) - 1:
                if c < 2:
                    raise ConfigError(f"stage {i} outputs {c} channel(s): nothing to factor out")
                shape = (c - c // 2, h, w)
                self.z_shapes.append((c // 2, h, w))
            else:
                self.z_shapes.append((c, h, w))

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x.new_zeros(x.shape[0])
        zs = []
        for i, stage in enumerate(self.stages):
            x, ld = stage(x, condition)
            logdet = logdet + ld
            if i < len(self.stages) - 1:
                x, z = factor_out(x)
                zs.append(z.flatten(1))
        zs.append(x.flatten(1))
        return torch.cat(zs, 1), logdet

    def inverse(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        sizes = [math.prod(s) for s in self.z_shapes]
        parts = [p.reshape(-1, *s) for p, s in zip(z.split(sizes, dim=1), self.z_shapes)]
        h = parts[-1]
        for i in reversed(range(len(self.stages))):
            if i < len(self.stages) - 1:
                h = torch.cat([h, parts[i]], 1)  # undo factor_out: kept half first
            h = self.stages[i].inverse(h, condition)
        return h

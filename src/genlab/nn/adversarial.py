"""Convolutional generator and discriminator for the adversarial family (DCGAN layout).

The generator maps a latent vector (plus an optional class embedding, concatenated) to an
image in [-1, 1] with transposed convolutions that double the resolution; the discriminator
halves the resolution with strided convolutions and ends in one score per image, with an
optional projection term for class conditioning (Miyato & Koyama 2018):
``D(x, y) = w . h(x) + embed(y) . h(x)``. Both work for any image size: the generator starts
at ``ceil(H / 2^k)`` and crops its output to ``H x W``.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


class ConvGenerator(nn.Module):
    """``z [N, latent_dim]`` (+ labels ``[N]``) -> images ``[N, C, H, W]`` in [-1, 1].

    ``channels[0]`` is the width at the lowest resolution; each further entry is one
    transposed convolution (kernel 4, stride 2) with batch norm and ReLU; a 3x3 convolution
    and tanh give the image.
    """

    def __init__(self, latent_dim: int, image_shape: list[int], channels: list[int], num_classes: int = 0,
                 embedding_dim: int = 32):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = (c, h, w)
        ups = len(channels) - 1
        self.start = (math.ceil(h / 2**ups), math.ceil(w / 2**ups))
        self.embed = nn.Embedding(num_classes, embedding_dim) if num_classes else None
        in_dim = latent_dim + (embedding_dim if num_classes else 0)
        self.project = nn.Sequential(
            nn.Linear(in_dim, channels[0] * self.start[0] * self.start[1], bias=False),
            nn.Unflatten(1, (channels[0], *self.start)),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            blocks += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU()]
        blocks += [nn.Conv2d(channels[-1], c, 3, padding=1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        x = self.blocks(self.project(z))
        _, h, w = self.image_shape
        return x[:, :, :h, :w]


class ConvDiscriminator(nn.Module):
    """Images ``[N, C, H, W]`` in [-1, 1] (+ labels) -> one real-valued score per image ``[N]``.

    Each entry of ``channels`` is a 4x4 convolution with stride 2 (while the image is at least
    4 pixels high; then stride 1), ``norm`` and LeakyReLU(0.2). ``norm="batch"`` is DCGAN's;
    a WGAN-GP critic must not use batch norm (the penalty is per example), so it uses
    ``"layer"`` (per-example) or ``"none"``. ``spectral_norm`` wraps every weight (Miyato et
    al. 2018), making the network about 1-Lipschitz per layer.
    """

    def __init__(self, image_shape: list[int], channels: list[int], num_classes: int = 0,
                 norm: Literal["batch", "layer", "none"] = "batch", spectral_norm: bool = False):
        super().__init__()
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        c, h, w = image_shape
        layers: list[nn.Module] = []
        for i, width in enumerate(channels):
            stride = 2 if min(h, w) >= 4 else 1
            layers.append(sn(nn.Conv2d(c, width, 4 if stride == 2 else 3, stride=stride, padding=1)))
            h, w = (h // 2, w // 2) if stride == 2 else (h, w)
            if i > 0 and norm == "batch":  # DCGAN: no batch norm on the first layer
                layers.append(nn.BatchNorm2d(width))
            elif i > 0 and norm == "layer":
                layers.append(nn.GroupNorm(1, width))  # one group = layer norm over (C, H, W)
            layers.append(nn.LeakyReLU(0.2))
            c = width
        self.features = nn.Sequential(*layers, nn.Flatten())
        feature_dim = c * h * w
        self.out = sn(nn.Linear(feature_dim, 1))
        self.embed = sn(nn.Embedding(num_classes, feature_dim)) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        score = self.out(h).squeeze(1)
        if self.embed is not None:
            score = score + (self.embed(y) * h).sum(1)  # the projection term
        return score


class VideoDiscriminator(nn.Module):
    """Clips ``[N, T, C, H, W]`` in [-1, 1] -> one real-valued score per clip ``[N]`` (a 3-D convolutional critic).

    VGAN's and TGAN's video discriminator: each entry of ``channels`` is a 3-D convolution over
    (time, height, width) with a 3x4x4 kernel that halves every axis still at least 4 long (a
    shorter axis keeps its length with a kernel of 3), optional per-clip layer norm, and
    LeakyReLU(0.2); then one linear score. Because the kernels span neighbouring frames, the
    score depends on the frames' order, not only on the frames. ``spectral_norm`` wraps every
    weight (Miyato et al. 2018).
    """

    def __init__(self, video_shape: list[int], channels: list[int], norm: Literal["layer", "none"] = "none",
                 spectral_norm: bool = True):
        super().__init__()
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        t, c, h, w = video_shape
        layers: list[nn.Module] = []
        for i, width in enumerate(channels):
            st, sh, sw = (2 if n >= 4 else 1 for n in (t, h, w))
            kernel = (3, 4 if sh == 2 else 3, 4 if sw == 2 else 3)
            layers.append(sn(nn.Conv3d(c, width, kernel, stride=(st, sh, sw), padding=1)))
            t = (t - 1) // st + 1  # kernel 3, padding 1: ceil(t / st)
            h, w = h // sh, w // sw  # kernel 4, stride 2, padding 1 halves; kernel 3, stride 1 keeps
            if i > 0 and norm == "layer":
                layers.append(nn.GroupNorm(1, width))
            layers.append(nn.LeakyReLU(0.2))
            c = width
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.out = sn(nn.Linear(c * t * h * w, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x.transpose(1, 2))).squeeze(1)  # Conv3d wants [N, C, T, H, W]


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """``mean (||grad_x critic(x_hat)||_2 - 1)^2`` at ``x_hat = eps real + (1 - eps) fake``.

    ``eps`` ``[B]`` (default: uniform in [0, 1) per example, from the global RNG). Computed in fp32
    with autocast off, with ``create_graph`` so that the penalty trains the critic.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device)
    eps = eps.to(real.device, torch.float32).view(-1, *[1] * (real.dim() - 1))
    x_hat = (eps * real.float() + (1 - eps) * fake.float()).requires_grad_(True)
    with torch.autocast(real.device.type, enabled=False):  # second-order gradients in fp32
        score = critic(x_hat)
        (grad,) = torch.autograd.grad(score.float().sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


# ---- the adversarial protocol, shared by every adversarial family -----------------------------------
# (image GANs, WaveGAN, the video GAN, SR-GAN, pix2pix): the losses, freezing the discriminator during
# the generator's step, and the diversity measure with its collapse warning. A fix here reaches all.
LOSSES = ("nonsaturating", "wasserstein", "hinge")


def discriminator_loss(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's (critic's) loss on its scores of real and generated examples:

    - ``nonsaturating`` (Goodfellow et al. 2014): ``mean softplus(-D(x)) + mean softplus(D(G(z)))``, the
      cross-entropy of a logistic classifier;
    - ``hinge`` (Lim & Ye 2017; SN-GAN): ``mean relu(1 - D(x)) + mean relu(1 + D(G(z)))``;
    - ``wasserstein`` (Arjovsky et al. 2017): ``mean D(G(z)) - mean D(x)`` (add a gradient penalty).
    """
    if kind == "nonsaturating":
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    if kind == "hinge":
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    if kind == "wasserstein":
        return d_fake.mean() - d_real.mean()
    raise ValueError(f"unknown adversarial loss {kind!r}; one of {', '.join(LOSSES)}")


def generator_loss(kind: str, d_fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss on the discriminator's scores of its examples: ``mean softplus(-D(G(z)))``
    (non-saturating), else ``-mean D(G(z))`` (hinge and Wasserstein)."""
    if kind == "nonsaturating":
        return F.softplus(-d_fake).mean()
    if kind in ("hinge", "wasserstein"):
        return -d_fake.mean()
    raise ValueError(f"unknown adversarial loss {kind!r}; one of {', '.join(LOSSES)}")


@contextlib.contextmanager
def frozen(module: nn.Module):
    """The generator's step: ``module`` (the discriminator) takes part in the graph without its weights
    needing gradients (none to compute or clear). ``requires_grad`` is read when the graph is built, so it
    is restored when the block ends, also on an error."""
    module.requires_grad_(False)
    try:
        yield module
    finally:
        module.requires_grad_(True)


def diversity(fake: torch.Tensor, real: torch.Tensor) -> float:
    """The mean pairwise distance between generated examples over that between real ones: near 0 means the
    generator repeats itself (mode collapse); about 1 means as diverse as the data."""
    spread = lambda t: float(torch.pdist(t.flatten(1).float()).mean())  # noqa: E731
    return spread(fake) / max(spread(real), 1e-12)


def collapse_warnings(metrics: dict, threshold: float, what: str = "examples") -> list[str]:
    """The warning a family's ``health_warnings`` gives when ``metrics["diversity"]`` is under ``threshold``."""
    value = metrics.get("diversity")
    if value is not None and value < threshold:
        return [f"samples are far less diverse than the data (diversity {value:.2f} of the real {what}'; "
                f"warning below {threshold}): the generator may be collapsing onto a few modes"]
    return []

"""A small U-Net for diffusion models: time (and class) embeddings, residual blocks, attention.

``UNet(x [B, C, H, W], t [B], y [B] | None) -> [B, C_out, H, W]``. Downsampling is a stride-2
convolution (rounding up: 28 -> 14 -> 7, 8 -> 4 -> 2), and upsampling resizes to the skip
connection's exact size, so any image size works.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[B, dim]`` of (possibly fractional) timesteps ``t`` ``[B]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # [B, half]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:  # odd widths: pad one zero column
        emb = F.pad(emb, (0, 1))
    return emb


def norm_groups(channels: int) -> int:
    """The largest group count <= 8 that divides ``channels`` (GroupNorm needs a divisor)."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv; add the projected embedding; GroupNorm, SiLU, dropout, conv; residual."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(norm_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(norm_groups(c_out), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # [B, c_out, H, W]
        h = h + self.emb(F.silu(emb))[:, :, None, None]  # per-channel shift from the embedding [B, c_out, 1, 1]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, with a residual."""

    def __init__(self, channels: int, heads: int = 1):
        super().__init__()
        if channels % heads:
            raise ValueError(f"width {channels} is not divisible by {heads} heads")
        self.heads = heads
        self.norm = nn.GroupNorm(norm_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        qkv = self.qkv(self.norm(x)).view(B, 3, self.heads, C // self.heads, H * W)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # 3 x [B, heads, HW, C/heads]
        if q.dtype == torch.bfloat16 and q.device.type == "cpu":
            q, k, v = q.float(), k.float(), v.float()  # bf16 attention is slow on CPU
        y = F.scaled_dot_product_attention(q, k, v)  # not causal: every position sees all
        y = y.to(x.dtype).transpose(-1, -2).reshape(B, C, H, W)
        return x + self.proj(y)


class UNet(nn.Module):
    """U-Net noise predictor.

    Args:
        in_channels / out_channels: image channels in and out.
        channels: widths per resolution, highest first; ``len(channels) - 1`` downsamplings.
        num_res_blocks: residual blocks per resolution on the way down (one more on the way up).
        attention: add self-attention in the middle block (the lowest resolution).
        num_classes: if > 0, a class embedding (``num_classes + 1`` rows: index ``num_classes``
            is the "null" class for classifier-free guidance) is added to the time embedding.
    """

    def __init__(self, in_channels: int, out_channels: int, channels: list[int] | tuple[int, ...] = (32, 64),
                 num_res_blocks: int = 1, attention: bool = True, heads: int = 1, num_classes: int = 0,
                 dropout: float = 0.0):
        super().__init__()
        if not channels:
            raise ValueError("channels must list at least one width")
        self.base = channels[0]
        emb_dim = 4 * channels[0]
        self.num_classes = num_classes
        self.time_mlp = nn.Sequential(nn.Linear(channels[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None
        self.inp = nn.Conv2d(in_channels, channels[0], 3, padding=1)

        self.down = nn.ModuleList()  # per level: ModuleList of ResBlocks
        self.downsample = nn.ModuleList()  # per level but the last: stride-2 conv
        c = channels[0]
        for i, width in enumerate(channels):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(c, width, emb_dim, dropout))
                c = width
            self.down.append(blocks)
            if i < len(channels) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))

        self.mid1 = ResBlock(c, c, emb_dim, dropout)
        self.mid_attn = SelfAttention2d(c, heads) if attention else nn.Identity()
        self.mid2 = ResBlock(c, c, emb_dim, dropout)

        self.up = nn.ModuleList()  # per level, lowest first
        self.upsample = nn.ModuleList()  # conv after resizing to the next skip's size
        for i in reversed(range(len(channels))):
            width = channels[i]
            blocks = nn.ModuleList()
            for j in range(num_res_blocks + 1):
                # the first block of a level takes the level's skip features concatenated
                blocks.append(ResBlock(c + (width if j == 0 else 0), width, emb_dim, dropout))
                c = width
            self.up.append(blocks)
            if i > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
        self.out_norm = nn.GroupNorm(norm_groups(c), c)
        self.out = nn.Conv2d(c, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``[B, C, H, W]``, ``t`` ``[B]`` timesteps, ``y`` ``[B]`` labels (None: the null class)."""
        emb = self.time_mlp(timestep_embedding(t, self.base))  # [B, emb_dim]
        if self.class_emb is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
            emb = emb + self.class_emb(y)
        h = self.inp(x)
        skips = []
        for i, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb)
            skips.append(h)  # [B, width_i, H_i, W_i]
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for i, blocks in enumerate(self.up):
            skip = skips.pop()
            h = torch.cat([h, skip], dim=1)
            for block in blocks:
                h = block(h, emb)
            if i < len(self.upsample):
                h = F.interpolate(h, size=skips[-1].shape[-2:], mode="nearest")  # e.g. 7 -> 14 exactly
                h = self.upsample[i](h)
        return self.out(F.silu(self.out_norm(h)))

"""Sample quality of generated video clips: the Fréchet distance of their frames.

For unconditional video generation (``video-gan``) the issue asks for "the Fréchet distance of
frames with the MNIST feature network": every frame of every clip is embedded on its own by a
genlab feature network (:class:`~genlab.evaluation.features.FeatureNet`, a small classifier trained
on MNIST, whose penultimate activations are the features), and the Fréchet distance between
Gaussians fitted to the generated frames' and the test clips' frames is reported. It judges what
the frames look like (digit shapes, strokes, how many digits, blur), not the motion; the motion is
judged by eye in the filmstrip and GIF (an FVD needs a video network trained on real video, which
genlab cannot ship).

Frames are brought to what the network takes: MNIST's network takes 28x28 one-channel images at
256 levels, and a Moving MNIST frame is 64x64 with two 28x28 digits in it. The frame is resized to
28x28 with antialiasing (bilinear with a low-pass filter, ``F.interpolate(..., antialias=True)``)
and rounded to the network's levels. That is the simplest honest choice: the whole frame is seen
(a crop would cut digits off), the digits come out about 12 pixels tall instead of MNIST's 20, so
even real frames are off the network's training distribution: the distance is only comparable
between clips embedded the same way with the same network (its ``content_hash`` is reported),
never with an image FID. The floor beside it is the same distance for real training clips (as
many clips as samples, so that the finite-sample bias matches): a perfect generator scores about
the floor, not 0.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from .quality import embed
from .sample_quality import frechet_distance_features

CHUNK_CLIPS = 64  # clips resized and embedded at a time (64 Moving MNIST clips: 1,280 frames)


def _network_input(net) -> tuple[int, int, int, int]:
    """``(C, H, W, levels)`` a genlab feature network takes."""
    config = getattr(net, "config", None)
    shape = getattr(config, "image_shape", None)
    if shape is None or len(shape) != 3:
        raise ConfigError("frame Fréchet distances need a genlab feature network (a FeatureNet with image_shape); "
                          "train one on mnist: `genlab features train --data mnist --out features/mnist`")
    c, h, w = (int(s) for s in shape)
    return c, h, w, int(config.levels)


def clip_frames(clips: torch.Tensor, levels: int, net) -> torch.Tensor:
    """Every frame of ``clips`` (levels ``[N, T, C, H, W]``) as the network's input: ``[N * T, C', H', W']``
    levels of the network, resized with antialiasing (bilinear) when the sizes differ."""
    if clips.dim() != 5:
        raise DataError(f"video clips must have shape [N, T, C, H, W], got {tuple(clips.shape)}")
    c, h, w, net_levels = _network_input(net)
    if clips.shape[2] != c:
        raise ConfigError(f"the feature network takes {c}-channel images; these clips have {clips.shape[2]} channels")
    frames = clips.flatten(0, 1).float() / (levels - 1)
    if tuple(frames.shape[-2:]) != (h, w):
        frames = F.interpolate(frames, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return torch.round(frames.clamp(0, 1) * (net_levels - 1)).long()


@torch.no_grad()
def frame_features(net, clips: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """The feature network's features ``[N * T, D]`` of every frame of ``clips`` (levels ``[N, T, C, H, W]``)."""
    parts = [embed(net, clip_frames(clips[i:i + CHUNK_CLIPS], levels, net)) for i in range(0, len(clips), CHUNK_CLIPS)]
    if not parts:
        raise DataError("no clips to embed")
    return torch.cat(parts)


def frame_fid(samples: torch.Tensor, test: torch.Tensor, net, levels: int = 256) -> float:
    """The Fréchet distance between the frames of ``samples`` and of ``test`` (clips ``[N, T, C, H, W]``
    of levels ``0 .. levels - 1``), each frame embedded by the feature network ``net``."""
    return frechet_distance_features(frame_features(net, samples, levels), frame_features(net, test, levels))


def score_clips(samples: torch.Tensor, test: torch.Tensor, train: torch.Tensor, net, levels: int = 256) -> dict[str, Any]:
    """The frame Fréchet distance of ``samples`` against the ``test`` clips, and the floor: the same distance
    for real ``train`` clips (give as many as ``samples``). Test features are computed once."""
    test_features = frame_features(net, test, levels)
    sample_fid = frechet_distance_features(frame_features(net, samples, levels), test_features)
    floor = frechet_distance_features(frame_features(net, train, levels), test_features)
    _, h, w, _ = _network_input(net)
    return {"frame_fid": sample_fid, "frame_fid_train": floor, "num_samples": len(samples), "num_test": len(test),
            "num_train": len(train), "frames_per_clip": int(samples.shape[1]),
            "resize": f"{samples.shape[-2]}x{samples.shape[-1]} -> {h}x{w} (bilinear, antialiased)",
            "feature_network": getattr(net, "content_hash", "") or "unsaved"}

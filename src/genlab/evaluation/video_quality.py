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

import functools
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from .quality import embed
from .sample_quality import frechet_distance_features
from .scorers import Scorer, draw, register_scorer

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


def frame_change(clips: torch.Tensor, levels: int = 256) -> float:
    """Mean absolute change of a pixel (in [0, 1]) from one frame to the next: 0 for still clips."""
    x = clips.float() / (levels - 1)
    return float((x[:, 1:] - x[:, :-1]).abs().mean())


@register_scorer
class VideoScorer(Scorer):
    """Clips of an unconditional video model: the Fréchet distance of their frames (each embedded by a
    genlab image feature network, e.g. MNIST's, after an antialiased resize) against test clips, and
    how much the frames change over time against the test clips' change. Pictures: a filmstrip and a GIF.

    Video *prediction* models are scored against the true future frames instead (``genlab compare``'s
    truth route, :mod:`genlab.evaluation.prediction`)."""

    kind = "video"
    floor_label = "training clips"
    columns = [("frame Fréchet distance", "frame_fid", 2), ("frame change", "frame_change", 4)]
    batch_size = 32
    reference_clips = 1000  # test clips the samples are compared with (the first ones; fewer if the split is smaller)
    default_clips = 500

    def __init__(self, data, net):
        super().__init__(data, net)
        self.check_features(net, data.info)
        self.levels = data.info.levels or 256

    @classmethod
    def check_features(cls, net, info) -> None:
        c, _, _, _ = _network_input(net)
        if c != info.shape[1]:
            raise ConfigError(f"the feature network takes {c}-channel images; '{info.name}' has {info.shape[1]}-channel "
                              "frames")

    @classmethod
    def features_hint(cls, info) -> str:
        return ("video frames are judged by an image feature network; pass --features DIR of one trained on the "
                "digits' images (`genlab features train --data mnist --out features/mnist`)")

    @functools.cached_property
    def _test_clips(self) -> torch.Tensor:
        """The reference test clips, read (for generated data sets: made) once."""
        test = self.data.test
        return test.get(torch.arange(min(len(test), self.reference_clips)))["x"]

    @functools.cached_property
    def test_features(self) -> torch.Tensor:
        return frame_features(self.net, self._test_clips, self.levels)

    @functools.cached_property
    def test_change(self) -> float:
        return frame_change(self._test_clips, self.levels)

    def default_num_samples(self) -> int:
        return min(len(self.data.test), self.default_clips)

    def _score(self, clips: torch.Tensor) -> dict[str, Any]:
        fid = frechet_distance_features(frame_features(self.net, clips, self.levels), self.test_features)
        return {**self.features_text(), "num_samples": len(clips),
                "num_test": min(len(self.data.test), self.reference_clips), "frame_fid": fid,
                "frame_change": frame_change(clips, self.levels), "test_frame_change": self.test_change}

    def score_model(self, model, num_samples=None, seed=0, metrics=None, batch_size=None, **sample_kwargs):
        if self.data.info.modality.scored_against_truth(model):
            raise ConfigError(f"'{model.name}' predicts frames from context frames: it is scored against the true "
                              "frames (genlab eval RUN), not by sample quality")
        num_samples = num_samples or self.default_num_samples()
        clips, per_clip = draw(model, num_samples, batch_size or self.batch_size, seed, **sample_kwargs)
        out = self._score(clips)
        out.update(sampling_s_per_image=per_clip, sample_settings=sample_kwargs, _samples=clips)
        return out

    def score_samples(self, samples, seed=0, metrics=None):
        return self._score(samples)

    def score_data(self, num_samples, seed=0):
        train = self.data.train
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:num_samples]
        clips = train.get(pick)["x"]
        out = self._score(clips)
        out["_samples"] = clips
        return out

    def pictures(self, result, stem):
        info = self.data.info
        gif = info.modality.render(info, result["_samples"][:8], stem.with_suffix(".gif"))
        return {"grid": gif.with_suffix(".png").name, "animation": gif.name}

    def notes(self, report):
        ref = report["reference"]
        return [
            f"Samples: {report['num_samples']} clips per run (seed {report['seed']}), against the first "
            f"{ref['num_test']} test clips of '{report['data']}'. Frames are embedded one by one by "
            f"{report['feature_description']} (hash {report['features']}) after an antialiased resize to its input "
            "size; the distance judges what frames look like, not the motion, and is comparable only with the same "
            "network and resize.",
            f"Frame change: mean absolute change of a pixel (0..1) from one frame to the next; the test clips' is "
            f"{ref['test_frame_change']:.4f}. Near 0 means still clips; far above means flicker.",
            "The first row scores training clips exactly as the samples are scored. Each run's first clips are in its "
            "folder as a GIF beside the filmstrip.",
        ]

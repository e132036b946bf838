"""ConvLSTM video prediction (Shi et al. 2015): given a clip's first frames, predict the rest.

Why this model: the convolutional LSTM is the field's reference recurrent predictor (the
"ConvLSTM" row of every Moving MNIST table since Shi et al.; PredRNN, PredRNN++, E3D-LSTM and
SimVP all compare against it), it is small, it takes any number of context frames, and on
CPU it trains in minutes where the attention or 3-D convolution models need hours.

The model, as PredRNN's and OpenSTL's ConvLSTM baselines implement Shi et al.'s
encoder-forecaster:

* frames are cut into ``patch`` x ``patch`` pieces stacked as channels (space to depth: a 64x64
  grey frame is a 16x16 map of 16 channels), so every convolution works on a 16x16 map;
* one stack of ConvLSTM layers reads the frames in order. While the context lasts it reads the
  true frame (the encoder, teacher forcing); after it, it reads its own last prediction (the
  forecaster), its states carried over. After each frame a 1x1 convolution of every layer's
  hidden state (concatenated, as in Shi et al.'s forecaster) predicts the next frame;
* training runs exactly this unroll over all ``T`` frames, so the loss sees the predictions of
  frames ``2 .. T`` (``T - 1`` of them): the context ones from true inputs, the future ones from
  the model's own, which is how it is used (no train/test mismatch to schedule away);
* the loss is the mean squared error on intensities in [0, 1] (``loss="mse"``, the default): the
  benchmark's metric (the MSE per frame) and what the later ConvLSTM baselines (PredRNN, OpenSTL)
  train with. ``loss="bce"`` is Shi et al.'s per-pixel cross-entropy (sigmoid outputs, which are
  then the frames fed back).

Prediction is deterministic: ``sample(n, condition=context)`` returns the context frames followed
by the predicted ones (``generator`` is taken and unused). The model has no likelihood; it is
scored against the true future frames (:mod:`genlab.evaluation.prediction`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .. import progress
from ..data.conditions import ContextFrames
from ..data.core import DataInfo
from ..errors import ConfigError
from ..nn import ConvLSTMStack
from .registry import register_model
from ..nn.levels import grid_to_float
from .base import GenerativeModel, ModelConfig, StepOutput


@dataclasses.dataclass
class ConvLSTMConfig(ModelConfig):
    video_shape: list[int] = dataclasses.field(default_factory=lambda: [20, 1, 64, 64])  # [T, C, H, W], from the data
    levels: int = 256  # from the data
    num_classes: int = 0  # from the data (unused: the model is conditioned on frames)
    context_frames: int = 10  # from the data: frames given; the rest are predicted
    patch: int = 4  # space to depth: patch x patch pixels become channels
    hidden: list[int] = dataclasses.field(default_factory=lambda: [64, 64, 64])  # channels of each ConvLSTM layer
    kernel: int = 3  # the gates' convolution; Shi et al.: 5 (3 costs a third; a digit moves under one patch a frame)
    loss: str = "mse"  # "mse" on intensities in [0, 1], or "bce": per-pixel cross-entropy of sigmoid outputs (Shi et al.)

    def validate(self) -> None:
        if len(self.video_shape) != 4 or min(self.video_shape) < 1:
            raise ConfigError(f"video_shape must be [T, C, H, W], got {self.video_shape}")
        t, _, h, w = self.video_shape
        if t < 2:
            raise ConfigError(f"clips need at least 2 frames, got {t}")
        if self.levels < 2:
            raise ConfigError(f"levels must be >= 2, got {self.levels}")
        if not 1 <= self.context_frames < t:
            raise ConfigError(f"context_frames must be between 1 and {t - 1}, got {self.context_frames}")
        if self.patch < 1 or h % self.patch or w % self.patch:
            raise ConfigError(f"patch must divide the frame size {h}x{w}, got {self.patch}")
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"hidden must list each layer's channels (>= 1), got {self.hidden}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"kernel must be an odd number >= 1, got {self.kernel}")
        if self.loss not in ("mse", "bce"):
            raise ConfigError(f"loss must be mse or bce, got {self.loss!r}")


@register_model("convlstm")
class ConvLSTM(GenerativeModel):
    """ConvLSTM frame prediction (Shi et al. 2015): context frames in, the next frames out (MSE)."""

    config_class: ClassVar[type[ConvLSTMConfig]] = ConvLSTMConfig
    likelihood = "none"
    data_kinds = ("video",)
    family = "recurrent"

    def __init__(self, config: ConvLSTMConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        _, c, _, _ = config.video_shape
        channels = c * config.patch ** 2
        self.stack = ConvLSTMStack(channels, list(config.hidden), config.kernel)
        self.head = nn.Conv2d(self.stack.out_channels, channels, 1)

    @classmethod
    def default_data_info(cls, config: ConvLSTMConfig) -> DataInfo:
        return DataInfo(name="none", kind="video", shape=tuple(config.video_shape), levels=config.levels,
                        num_classes=config.num_classes, context_frames=config.context_frames)

    @property
    def condition_spec(self) -> ContextFrames:
        return ContextFrames(self.config.context_frames, self.config.video_shape, flexible=True)

    # ---- the unroll ---------------------------------------------------------------------------
    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        return grid_to_float(x, self.config.levels)

    def unroll(self, frames: torch.Tensor, context: int, total: int, logits: bool = False) -> torch.Tensor:
        """Predictions ``[B, total - 1, C, H, W]`` of frames ``1 .. total - 1``: intensities (about [0, 1];
        in [0, 1] for ``loss="bce"``), or for ``logits=True`` and ``loss="bce"`` their logits.

        ``frames`` ``[B, T', C, H, W]`` in [0, 1] with ``T' >= context``: frame ``t < context`` is read
        from it, later ones are the model's own predictions. The prediction of frame ``t + 1`` depends
        only on frames ``0 .. t``.
        """
        b, _, c, h, w = frames.shape
        p = self.config.patch
        bce = self.config.loss == "bce"
        states, outs, previous = None, [], None
        for t in progress.steps(range(total - 1), unit="frame"):
            x = F.pixel_unshuffle(frames[:, t], p) if t < context else previous
            hidden, states = self.stack.step(x, states)
            out = self.head(hidden)
            previous = torch.sigmoid(out) if bce else out
            outs.append(out if logits and bce else previous)
        out = torch.stack(outs, 1).flatten(0, 1)
        return F.pixel_shuffle(out, p).reshape(b, total - 1, c, h, w)

    def _predict(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.to_unit(batch["x"])
        t = x.shape[1]
        if list(x.shape[1:]) != list(self.config.video_shape):
            raise ConfigError(f"the model takes clips {self.config.video_shape} (T, C, H, W), the data gives "
                              f"{list(x.shape[1:])}")
        return self.unroll(x, self.config.context_frames, t, logits=True).float(), x[:, 1:]

    def training_step(self, batch, step, optimizer="model"):
        out, truth = self._predict(batch)
        if self.config.loss == "bce":
            loss, pred = F.binary_cross_entropy_with_logits(out, truth), torch.sigmoid(out)
        else:
            loss, pred = F.mse_loss(out, truth), out
        future = self.config.context_frames - 1
        with torch.no_grad():  # the benchmark's figure: squared error summed over a frame's pixels, future frames
            mse_frame = (pred[:, future:] - truth[:, future:]).pow(2).flatten(2).sum(2).mean()
        return StepOutput(loss, {"mse_per_frame": mse_frame})

    # ---- prediction ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num_samples, *, condition=None, generator=None):
        """Whole clips ``long [N, T, C, H, W]``: the ``Tc`` context frames of ``condition`` (uint8 or levels
        ``[N, Tc, C, H, W]``, or one clip ``[Tc, C, H, W]`` for all) as given, then the ``T - Tc``
        predicted frames. Deterministic (``generator`` is unused)."""
        context = self.condition_for_sampling(condition, num_samples).long()
        tc, total = context.shape[1], self.config.video_shape[0]
        pred = self.unroll(self.to_unit(context), tc, total).float()
        top = self.config.levels - 1
        future = torch.round(pred[:, tc - 1:] * top).clamp(0, top).long()
        return torch.cat([context, future], 1)

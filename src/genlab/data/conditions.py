"""Condition specs: what a model can be conditioned on, and the one rule when nothing is given.

A conditional model declares a :class:`ConditionSpec` (``model.condition_spec``). The spec reads
the condition from a training batch, checks a condition a user gives, and decides what happens
when none is given. Class labels (:class:`ClassLabel`), low-resolution images
(:class:`LowResImage`, for super-resolution), source images (:class:`SourceImage`, for
image-to-image translation) and context frames (:class:`ContextFrames`, for video prediction) are
built; further conditions (a masked image with its mask, a
token sequence such as a caption or a source sentence) are further subclasses with the same
three methods.

The rule, the same for every family:

* **sampling** a conditional model without a condition draws the classes in turn
  (0, 1, ..., K-1, 0, ...), so a grid shows every class and sample-quality metrics see them in
  balance; to get one class, pass it (``condition=3``) or a label per sample;
* **scoring** (``log_prob``) a conditional model needs the condition: its likelihood is
  ``log p(x | condition)``, and guessing the condition would report a different number;
* an **unconditional** model given a condition refuses it, whether sampling or scoring;
* a condition with no sensible default (a low-resolution image to enlarge) must be given to sample.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..errors import ConfigError


class ConditionSpec:
    """Base of condition specs.

    Attributes:
        kind: what the condition is ("class", "image", "tokens").
        field: the batch field the condition is read from during training and evaluation.
    """

    kind: ClassVar[str] = ""
    field: ClassVar[str] = ""

    def from_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The condition of a training or evaluation batch."""
        if self.field not in batch:
            raise ConfigError(f"the model is conditioned on {self.describe()}, but the data has no '{self.field}' "
                              "field; train it with conditional=false or on data that has one")
        return batch[self.field]

    def validate(self, condition: Any, batch_size: int, device: torch.device) -> torch.Tensor:
        """``condition`` checked and shaped for ``batch_size`` items on ``device``."""
        raise NotImplementedError

    def default(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """The condition used when sampling without one."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class ClassLabel(ConditionSpec):
    """Integer class labels in ``[0, num_classes)``, one per sample (or one for all)."""

    kind = "class"
    field = "y"

    def __init__(self, num_classes: int):
        if num_classes < 1:
            raise ConfigError("a class condition needs data with class labels (num_classes >= 1)")
        self.num_classes = num_classes

    def validate(self, condition: Any, batch_size: int, device: torch.device) -> torch.Tensor:
        """Labels ``long [batch_size]``; a single label is repeated for every sample."""
        try:
            labels = torch.as_tensor(condition, device=device)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ConfigError(f"condition must be class labels (integers), got {condition!r}") from e
        if labels.is_floating_point() and not torch.equal(labels, labels.round()):
            raise ConfigError("condition must be whole class labels, not fractions")
        labels = labels.long().reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(batch_size)
        if labels.numel() != batch_size or int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ConfigError(f"condition must be one class label or {batch_size} of them, each in "
                              f"[0, {self.num_classes})")
        return labels

    def default(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """The classes in turn: ``0, 1, ..., K-1, 0, 1, ...``."""
        return torch.arange(batch_size, device=device) % self.num_classes

    def describe(self) -> str:
        return f"a class label (0 .. {self.num_classes - 1})"


class LowResImage(ConditionSpec):
    """A low-resolution image per sample: the input of a super-resolution model.

    The condition is read from the batch field ``"lowres"`` (the super-resolution data sets'), and a
    user's is a uint8 (0..255) or floating-point tensor ``[B, C, h, w]``, or one image ``[C, h, w]``
    used for every sample. ``channels`` is what the model takes; ``size`` = (h, w), when given, is
    the one input size it takes (None: any size). There is no default: a super-resolution model
    needs the image it enlarges.
    """

    kind = "image"
    field = "lowres"

    def __init__(self, channels: int, size: tuple[int, int] | None = None):
        if channels not in (1, 3):
            raise ConfigError(f"a low-resolution image condition has 1 (grey) or 3 (RGB) channels, got {channels}")
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ConfigError(f"a low-resolution image size is (height, width) in pixels, got {size!r}")
        self.channels = channels
        self.size = None if size is None else (int(size[0]), int(size[1]))

    def validate(self, condition: Any, batch_size: int, device: torch.device) -> torch.Tensor:
        """Images ``[batch_size, C, h, w]`` on ``device``, their dtype kept (uint8 or float)."""
        if condition is None:
            raise ConfigError(f"this model is conditioned on {self.describe()}; pass one (condition=IMAGES)")
        try:
            images = torch.as_tensor(condition, device=device)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ConfigError(f"condition must be {self.describe()} as a tensor, got {type(condition).__name__}") from e
        if images.dtype != torch.uint8 and not images.is_floating_point():
            raise ConfigError(f"condition images must be uint8 (0..255) or floating point, got {images.dtype}")
        if images.is_floating_point() and not bool(torch.isfinite(images).all()):
            raise ConfigError("condition images hold NaN or infinite values; give finite pixel values")
        if images.dim() == 3:
            images = images.unsqueeze(0).expand(batch_size, -1, -1, -1)
        if images.dim() != 4:
            raise ConfigError(f"condition must be images [B, C, h, w] or one image [C, h, w], got shape "
                              f"{list(images.shape)}")
        if images.shape[1] != self.channels:
            raise ConfigError(f"condition images have {images.shape[1]} channel(s) but the model takes {self.channels} "
                              f"({'grey' if self.channels == 1 else 'RGB'}); convert them")
        if self.size is not None and tuple(images.shape[2:]) != self.size:
            raise ConfigError(f"condition images are {images.shape[2]}x{images.shape[3]} (h x w) but the model takes "
                              f"{self.size[0]}x{self.size[1]}; resize or crop them")
        if images.shape[0] != batch_size:
            raise ConfigError(f"condition holds {images.shape[0]} images for {batch_size} samples; give one image "
                              f"or {batch_size}")
        return images

    def default(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """None exists: sampling needs the low-resolution images."""
        raise ConfigError(f"this model enlarges {self.describe()}, so sampling needs one: pass condition=IMAGES "
                          "([B, C, h, w])")

    def describe(self) -> str:
        size = "any size" if self.size is None else f"{self.size[0]}x{self.size[1]}"
        return f"a low-resolution image ({self.channels} channel{'s' if self.channels > 1 else ''}, {size})"


class SourceImage(LowResImage):
    """A source image per sample, the input of an image-to-image translation model (pix2pix).

    As :class:`LowResImage`, read from the batch field ``"source"``; ``size`` is the one size the
    model takes, or None for a fully convolutional model that takes any size it can halve.
    """

    field = "source"

    def default(self, batch_size: int, device: torch.device) -> torch.Tensor:
        raise ConfigError(f"this model translates {self.describe()}, so sampling needs one: pass condition=IMAGES "
                          "([B, C, H, W])")

    def describe(self) -> str:
        size = "any size" if self.size is None else f"{self.size[0]}x{self.size[1]}"
        return f"a source image ({self.channels} channel{'s' if self.channels > 1 else ''}, {size})"


class ContextFrames(ConditionSpec):
    """The first frames of a clip: the input of a video prediction model.

    Read from a batch as ``x[:, :context]`` (the clip's own first frames); a user's is a tensor
    ``[B, Tc, C, H, W]`` of uint8 (0..255) or integer levels, or one clip ``[Tc, C, H, W]`` used
    for every sample. ``shape`` is the model's whole clip ``(T, C, H, W)``; a model that takes
    other context lengths (``flexible``) accepts any ``1 <= Tc <= T - 1``, else only ``context``.
    There is no default: sampling without context frames is refused (the CLI and the trainer's
    previews take them from held-out clips of the data, see :attr:`from_data`).
    """

    kind = "frames"
    field = "x"
    from_data = True  # sampling without a condition takes it from held-out data (genlab sample, previews)

    def __init__(self, context: int, shape: tuple[int, ...] | list[int], flexible: bool = True):
        shape = tuple(int(s) for s in shape)
        if len(shape) != 4 or min(shape) < 1:
            raise ConfigError(f"a video shape is (frames, channels, height, width), got {list(shape)}")
        if not 1 <= context < shape[0]:
            raise ConfigError(f"context frames must be between 1 and {shape[0] - 1} for {shape[0]}-frame clips, "
                              f"got {context}")
        self.context, self.shape, self.flexible = int(context), shape, flexible

    def from_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return super().from_batch(batch)[:, : self.context]

    def validate(self, condition: Any, batch_size: int, device: torch.device) -> torch.Tensor:
        """Frames ``[batch_size, Tc, C, H, W]`` on ``device`` as given (uint8 or integer levels)."""
        if condition is None:
            raise ConfigError(f"this model is conditioned on {self.describe()}; pass condition=FRAMES")
        try:
            frames = torch.as_tensor(condition, device=device)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ConfigError(f"condition must be {self.describe()} as a tensor, got {type(condition).__name__}") from e
        if frames.is_floating_point() or frames.dtype == torch.bool or frames.is_complex():
            raise ConfigError(f"context frames must be uint8 (0..255) or integer levels, got {frames.dtype}")
        if frames.dim() == 4:
            frames = frames.unsqueeze(0).expand(batch_size, -1, -1, -1, -1)
        if frames.dim() != 5:
            raise ConfigError(f"condition must be context frames [B, Tc, C, H, W] or one clip's [Tc, C, H, W], got "
                              f"shape {list(frames.shape)}")
        t, c, h, w = self.shape
        if tuple(frames.shape[2:]) != (c, h, w):
            raise ConfigError(f"context frames are {list(frames.shape[2:])} (C, H, W) but the model takes {[c, h, w]}; "
                              "convert or resize them")
        tc = frames.shape[1]
        if (self.flexible and not 1 <= tc <= t - 1) or (not self.flexible and tc != self.context):
            took = f"1 to {t - 1}" if self.flexible else f"{self.context}"
            raise ConfigError(f"{tc} context frames given; the model takes {took} (it makes {t}-frame clips)")
        if frames.shape[0] != batch_size:
            raise ConfigError(f"condition holds {frames.shape[0]} clips for {batch_size} samples; give one clip or "
                              f"{batch_size}")
        if frames.numel() and (int(frames.min()) < 0 or int(frames.max()) > 255):
            raise ConfigError("context frames must hold values in 0..255")
        return frames

    def default(self, batch_size: int, device: torch.device) -> torch.Tensor:
        raise ConfigError(f"this model predicts a clip's next frames from {self.describe()}, so sampling needs "
                          "them: pass condition=FRAMES ([B, Tc, C, H, W] uint8), e.g. a test clip's first frames")

    def describe(self) -> str:
        t, c, h, w = self.shape
        return f"context frames ({self.context} of {t}, {c}x{h}x{w})"

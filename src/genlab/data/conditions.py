"""Condition specs: what a model can be conditioned on, and the one rule when nothing is given.

A conditional model declares a :class:`ConditionSpec` (``model.condition_spec``). The spec reads
the condition from a training batch, checks a condition a user gives, and decides what happens
when none is given. Class labels are built now; an image condition (a low-resolution image, a
masked image with its mask, a sketch) and a token-sequence condition (a caption, a source
sentence) are further subclasses with the same three methods.

The rule, the same for every family:

* **sampling** a conditional model without a condition draws the classes in turn
  (0, 1, ..., K-1, 0, ...), so a grid shows every class and sample-quality metrics see them in
  balance; to get one class, pass it (``condition=3``) or a label per sample;
* **scoring** (``log_prob``) a conditional model needs the condition: its likelihood is
  ``log p(x | condition)``, and guessing the condition would report a different number;
* an **unconditional** model given a condition refuses it, whether sampling or scoring.
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

"""The learning-rate schedule lives in :mod:`genlab.optim`, shared with the feature network."""

from ..optim import lr_factor

__all__ = ["lr_factor"]

"""Evaluation in comparable units."""

from .likelihood import evaluate

__all__ = ["evaluate"]

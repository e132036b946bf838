"""Evaluation in comparable units."""

from . import audio_quality, music_quality, quality, text_quality, video_quality  # noqa: F401  (each registers the sample scorer of its kind)
from .likelihood import evaluate

__all__ = ["evaluate"]

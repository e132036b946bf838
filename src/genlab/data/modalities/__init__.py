"""Modalities: what one kind of data looks like and how genlab treats it everywhere.

A modality describes one kind of data (images, token sequences, audio, piano rolls, video): the
fields of a batch and their shapes, the split type that serves them, the unit its likelihood is
reported in, how an example is shown to a person, and how a user's input (a prompt, an image file)
is parsed. The trainer, the CLI and evaluation ask the modality of a model's
:class:`~genlab.data.DataInfo` (``info.modality``) instead of branching on the kind, so a new kind
of data is one new module here, registered with :func:`register_modality`.

>>> from genlab.data.modalities import get_modality
>>> get_modality("image").unit
'image'
"""

from __future__ import annotations

from .audio import AudioModality, AudioSplit, mu_law_decode, mu_law_encode
from .base import Modality, get_modality, list_modalities, register_modality
from .image import ImageModality, ImageSplit, image_grid, save_image_grid
from .pairs import ImagePairModality, ImagePairSplit, SuperResModality, read_image_levels
from .pianoroll import PianoRollModality, RollSplit
from .tokens import TokenModality, TokenSplit
from .video import GeneratedVideoSplit, VideoModality, VideoSplit, read_clip, save_filmstrip, save_gif

__all__ = [
    "AudioModality", "AudioSplit", "mu_law_decode", "mu_law_encode",
    "ImageModality", "ImagePairModality", "ImagePairSplit", "ImageSplit", "SuperResModality",
    "PianoRollModality", "RollSplit",
    "read_image_levels", "Modality", "TokenModality", "TokenSplit", "get_modality", "image_grid",
    "list_modalities", "register_modality", "save_image_grid",
    "GeneratedVideoSplit", "VideoModality", "VideoSplit", "read_clip", "save_filmstrip", "save_gif",
]

"""Data sets: raw values plus the facts a model needs about them.

A data set yields raw values: uint8 images with their number of levels, or token ids. Each
model converts them to the space it trains in at its own boundary, so likelihoods are always
reported for the same discrete data. What a kind of data is (its batch fields, likelihood unit,
rendering and parsing) is its modality (:mod:`genlab.data.modalities`); what a model can be
conditioned on is a condition spec (:mod:`genlab.data.conditions`); data sets are registered
loaders (:func:`register_dataset`).

>>> data = load_dataset("digits")
>>> data.info.shape, data.info.levels, len(data.train)
((1, 8, 8), 17, 1000)
"""

from . import images  # noqa: F401  (registers the image data sets first, so they list first)
from . import superres  # noqa: F401  (registers set5, set14, bsd100, sr-patches)
from . import pairs  # noqa: F401  (registers digits-edges, mnist-edges, pairs:DIR)
from . import audio  # noqa: F401  (registers fsdd, audio:DIR, synthetic-tones)
from . import music  # noqa: F401  (registers jsb-chorales, midi:DIR)
from . import video  # noqa: F401  (registers moving-mnist, moving-digits, video:DIR)
from .conditions import ClassLabel, ConditionSpec, ContextFrames, LowResImage, SourceImage
from .core import DataInfo, DataSet, Split, default_data_root
from .modalities import ImageSplit, Modality, TokenSplit, get_modality, list_modalities, register_modality
from .registry import dataset_options, list_datasets, load_dataset, register_dataset
from .sampler import BatchSampler
from .superres import PairSplit, PatchSplit, SRPair
from .text import CharTokenizer

__all__ = [
    "BatchSampler", "CharTokenizer", "ClassLabel", "ConditionSpec",
    "ContextFrames", "DataInfo", "DataSet", "ImageSplit", "LowResImage",
    "Modality",
    "SourceImage",
    "PairSplit", "PatchSplit", "SRPair",
    "Split", "TokenSplit", "dataset_options", "default_data_root", "get_modality", "list_datasets", "load_dataset",
    "list_modalities", "register_dataset", "register_modality",
]

"""Data sets: raw values plus the facts a model needs about them.

A data set yields raw values: uint8 images with their number of levels, or token ids. Each
model converts them to the space it trains in at its own boundary, so likelihoods are always
reported for the same discrete data.

>>> data = load_dataset("digits")
>>> data.info.shape, data.info.levels, len(data.train)
((1, 8, 8), 17, 1000)
"""

from .core import DataInfo, DataSet, ImageSplit, TokenSplit, default_data_root
from .registry import list_datasets, load_dataset
from .sampler import BatchSampler
from .text import CharTokenizer

__all__ = [
    "BatchSampler",
    "CharTokenizer",
    "DataInfo",
    "DataSet",
    "ImageSplit",
    "TokenSplit",
    "default_data_root",
    "list_datasets",
    "load_dataset",
]

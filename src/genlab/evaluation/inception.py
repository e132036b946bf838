"""Inception-v3 features from a weights file the user supplies, for FIDs comparable with papers.

genlab's own feature network (:mod:`genlab.evaluation.features`) is the default: it is trained
on the data itself and needs no download. Papers, though, report the Fréchet Inception Distance:
the 2048-dimensional pool3 activations of the Inception-v3 network that the original FID code
used (TensorFlow's 2015-12-05 graph). genlab never downloads anything, so to get those features
a user passes the PyTorch port of that graph's weights, as distributed by the pytorch-fid
project under the name ``pt_inception-2015-12-05-6726825d.pth``::

    genlab eval RUN --metrics fid,kid --features /path/to/pt_inception-2015-12-05-6726825d.pth

The network below has that file's layout (torchvision's ``Inception3`` parameter names). The
port differs from torchvision's ImageNet model in four blocks, and these differences are what
make its features match the TensorFlow graph's: average pooling that ignores the zero padding
(``count_include_pad=False``) in the A and C blocks and in the first E block, max pooling in the
pool branch of the last E block, and 1008 output classes. A file with 1000 classes (torchvision's
own ImageNet weights, ``inception_v3_google-*.pth``) is read as the standard torchvision network
instead; its features are Inception features but not the ones FIDs in papers use, and reports
say so.

Inputs are pixel levels; they are scaled to [0, 1], grey images are repeated to three channels,
resized to 299x299 bilinearly (as the FID ports do) and mapped to [-1, 1].

Every score names the first 16 hex digits of the SHA-256 of the weights file. The standard file's
SHA-256 starts with ``6726825d`` (the suffix in its name), which is how genlab recognises it.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.core import DataInfo
from ..errors import CheckpointError, ConfigError
from .hashing import HASH_CHARS

FID_WEIGHTS_SHA256_PREFIX = "6726825d"
FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
INPUT_SIZE = 299
FEATURE_DIM = 2048


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 0.001, as in the TensorFlow graph), ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: torch.Tensor, fid: bool) -> torch.Tensor:
    """3x3 average pooling of the pool branches; the FID port leaves the padding out of the mean."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=not fid)


class InceptionA(nn.Module):  # 35x35 blocks: Mixed_5b, 5c, 5d
    def __init__(self, c_in: int, pool_features: int, fid: bool):
        super().__init__()
        self.fid = fid
        self.branch1x1 = BasicConv2d(c_in, 64, 1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(c_in, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool(x, self.fid))], 1)


class InceptionB(nn.Module):  # 35x35 -> 17x17: Mixed_6a
    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):  # 17x17 blocks with factorised 7x7 convolutions: Mixed_6b .. 6e
    def __init__(self, c_in: int, c7: int, fid: bool):
        super().__init__()
        self.fid = fid
        self.branch1x1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg_pool(x, self.fid))], 1)


class InceptionD(nn.Module):  # 17x17 -> 8x8: Mixed_7a
    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):  # 8x8 blocks with split 3x3 convolutions: Mixed_7b, 7c
    def __init__(self, c_in: int, pool: str):
        super().__init__()
        self.pool = pool  # "avg" (torchvision), "avg_no_pad" (FID, Mixed_7b) or "max" (FID, Mixed_7c)
        self.branch1x1 = BasicConv2d(c_in, 320, 1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        if self.pool == "max":
            pooled = F.max_pool2d(x, 3, stride=1, padding=1)
        else:
            pooled = _avg_pool(x, fid=self.pool == "avg_no_pad")
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(pooled)], 1)


class InceptionV3(nn.Module):
    """Inception-v3 up to its 2048-d average-pooled features, plus the classifier layer ``fc``.

    ``fid=True`` builds the FID port (1008 classes and the pooling changes described in the
    module docstring); ``fid=False`` torchvision's ImageNet network (1000 classes). Parameter names
    follow torchvision, so the weights files load as they are. Input: ``[N, 3, 299, 299]`` in [-1, 1].
    """

    def __init__(self, fid: bool = True):
        super().__init__()
        self.fid = fid
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32, fid)
        self.Mixed_5c = InceptionA(256, 64, fid)
        self.Mixed_5d = InceptionA(288, 64, fid)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128, fid)
        self.Mixed_6c = InceptionC(768, 160, fid)
        self.Mixed_6d = InceptionC(768, 160, fid)
        self.Mixed_6e = InceptionC(768, 192, fid)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, "avg_no_pad" if fid else "avg")
        self.Mixed_7c = InceptionE(2048, "max" if fid else "avg")
        self.fc = nn.Linear(FEATURE_DIM, 1008 if fid else 1000)

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """The 2048-d features (after global average pooling) of inputs in [-1, 1]."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.fc(self.pool3(x))


class InceptionFeatures(nn.Module):
    """Inception-v3 pool3 features of pixel-level images: a feature extractor for the sample metrics.

    It stands where a :class:`~genlab.evaluation.features.FeatureNet` stands in
    :func:`~genlab.evaluation.quality.score_images`, with the same ``features``, ``content_hash``
    and ``check_data``. It has no classifier of the data's classes, so class coverage is not
    computed with it (``has_data_classes`` is False).

    Attributes:
        levels: pixel levels of the data it scores (inputs are divided by ``levels - 1``).
        content_hash: first 16 hex digits of the weights file's SHA-256.
        standard: whether the file is the standard FID weights file (SHA-256 prefix ``6726825d``).
        description: a line for reports naming the weights.
    """

    has_data_classes = False
    test_accuracy = None
    batch_size = 100  # images per forward pass: 299x299 activations of 500 images would take ~5 GB

    def __init__(self, network: InceptionV3, levels: int, content_hash: str = "", standard: bool = False):
        super().__init__()
        if levels < 2:
            raise ConfigError(f"levels must be at least 2, got {levels}")
        self.network, self.levels, self.content_hash, self.standard = network, levels, content_hash, standard
        if network.fid:
            kind = "the standard FID weights" if standard else "FID-layout weights whose hash is not the standard file's"
        else:
            kind = "torchvision ImageNet weights, not the FID weights papers use"
        self.description = f"Inception-v3 pool3 features, weights {content_hash or 'unsaved'} ({kind})"

    def check_data(self, info: DataInfo) -> None:
        """Raise ConfigError unless ``info`` describes grey or RGB images with this extractor's levels."""
        if info.shape[0] not in (1, 3):
            raise ConfigError(f"Inception features take grey or RGB images; data set '{info.name}' has "
                              f"{info.shape[0]} channels")
        if info.levels != self.levels:
            raise ConfigError(f"these Inception features were set up for {self.levels} pixel levels, but data set "
                              f"'{info.name}' has {info.levels}; load them for this data set")

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel levels ``[N, C, H, W]`` to the network's input ``[N, 3, 299, 299]`` in [-1, 1]."""
        device = self.network.fc.weight.device
        x = x.to(device=device, dtype=torch.float32) / (self.levels - 1)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[2:]) != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2 * x - 1

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pool3 features ``[N, 2048]`` of pixel levels ``x``."""
        return self.network.pool3(self.preprocess(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def load_inception(path: str | os.PathLike, levels: int) -> InceptionFeatures:
    """Inception features from a weights file (a PyTorch state dict) for images with ``levels`` pixel values.

    The file's classifier size picks the layout: 1008 classes is the FID port, 1000 torchvision's
    ImageNet network (its auxiliary classifier, if present, is not needed and is skipped).

    Raises:
        CheckpointError: the file is missing, is not a state dict, or its tensors do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no Inception weights file at '{path}'; genlab does not download it: get "
                              f"{FID_WEIGHTS_NAME} (the pytorch-fid release) and pass its path")
    raw = path.read_bytes()  # read once: hashed, then parsed
    sha = hashlib.sha256(raw).hexdigest()
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and format errors all mean the same thing here
        # torch's text advises weights_only=False, which would run the file's pickled code: not repeated
        pickled = "weights_only" in str(e) or "Unsupported global" in str(e)
        why = ("it holds pickled Python objects, not only tensors, and genlab never runs pickled code"
               if pickled else str(e).splitlines()[0])
        raise CheckpointError(f"'{path}' cannot be read as a PyTorch weights file ({why}); pass a plain state dict "
                              f"such as {FID_WEIGHTS_NAME}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise CheckpointError(f"'{path}' is not an Inception-v3 state dict (no 'fc.weight'); pass {FID_WEIGHTS_NAME} "
                              "or torchvision's inception_v3_google weights")
    classes = state["fc.weight"].shape[0]
    if classes not in (1000, 1008):
        raise CheckpointError(f"'{path}' has {classes} output classes; Inception-v3 weights have 1008 (the FID port) "
                              "or 1000 (torchvision)")
    network = InceptionV3(fid=classes == 1008)
    state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"the weights in '{path}' do not fit Inception-v3: {str(e).splitlines()[0]}") from e
    features = InceptionFeatures(network.eval(), levels, content_hash=sha[:HASH_CHARS],
                                 standard=network.fid and sha.startswith(FID_WEIGHTS_SHA256_PREFIX))
    return features.eval()

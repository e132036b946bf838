"""A small data-specific CNN classifier used as the feature extractor for sample-quality metrics.

Why not Inception features? The usual Fréchet Inception Distance embeds images with an
ImageNet-trained Inception network at 299x299 pixels. Upsampled 8x8 digits or 28x28 MNIST
digits are far outside what that network was trained on, so its features say little about
them. genlab instead trains a small classifier on the data set's own train split and uses its
penultimate activations as features (as is common for MNIST-style data). Such scores are
meaningful for comparing models on the *same* data with the *same* feature network, but they
are NOT comparable with Inception-based FIDs reported in papers. For those, pass a file of
Inception-v3 weights instead of a feature network folder (:mod:`genlab.evaluation.inception`);
:func:`load_feature_extractor` takes either.

Because every score depends on the exact feature network, a saved network carries a content
hash (the first 16 hex digits of the SHA-256 of its ``model.safetensors`` bytes) and every
score computed with it names that hash. Two scores are comparable only if their hashes match.

A saved feature network is a folder with ``config.json``::

    {"kind": "feature-network", "format": 1, "config": {...}, "test_accuracy": 0.97, "content_hash": "..."}

and ``model.safetensors``. Make one with ``genlab features train --data NAME --out DIR``.

Audio data gets :class:`~genlab.evaluation.audio_features.AudioFeatureNet` (a log-mel CNN) through
the same functions: training, saving and loading pick the network by the data's kind (``audio``)
and, when loading, by the ``"network"`` entry of ``config.json`` (absent for image networks).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config
from ..data.core import DataInfo, DataSet
from ..data.modalities import ImageSplit
from ..data.modalities.audio import AudioSplit
from ..errors import CheckpointError, ConfigError, DataError
from ..nn import norm_groups
from ..optim import lr_factor
from ..files import CONFIG_FILE, WEIGHTS_FILE, atomic_write_text, load_state_file, replace_dir, save_state_file
from . import audio_features
from .audio_features import AudioFeatureNet, AudioFeatureNetConfig
from .hashing import HASH_CHARS, short_hash  # noqa: F401  (HASH_CHARS: its old import path)

KIND = "feature-network"
FORMAT = 1
TRAIN_HINT = "`genlab features train --data NAME --out DIR`"
# Keys of FeatureNetConfig that describe the data; they come from the data set, not from overrides.
DATA_KEYS = ("image_shape", "levels", "num_classes", "data_name", "length", "rate")
# How many times training measures validation accuracy (evenly spaced, always at the last step).
VAL_EVALS = 10
EVAL_BATCH = 1000
# Default training budgets: the log-mel CNN costs about 0.3 s per step of 64 one-second clips on one
# CPU thread, so audio gets fewer, smaller steps (600 x 64 = 16 epochs of FSDD's 2,400 clips).
IMAGE_STEPS, IMAGE_BATCH = 2000, 128
AUDIO_STEPS, AUDIO_BATCH = 600, 64


# ---- config ----------------------------------------------------------------------------------
@dataclasses.dataclass
class FeatureNetConfig(Config):
    """Architecture of a :class:`FeatureNet` and the data facts it was built for.

    Attributes:
        image_shape: ``[C, H, W]`` of the input images.
        levels: number of discrete pixel values; inputs are scaled by ``1 / (levels - 1)``.
        num_classes: number of class labels (at least 2).
        channels: output channels of each conv block; each block may halve the resolution.
        feature_dim: size of the feature vector (the penultimate layer).
        dropout: dropout before the classifier layer (training only; features are unaffected).
        data_name: the data set it was trained on, for messages and reports.
    """

    image_shape: list[int]
    levels: int
    num_classes: int
    channels: list[int] = dataclasses.field(default_factory=lambda: [32, 64])
    feature_dim: int = 128
    dropout: float = 0.1
    data_name: str = ""

    def validate(self) -> None:
        if len(self.image_shape) != 3 or any(s <= 0 for s in self.image_shape):
            raise ConfigError(f"image_shape must be three positive sizes [C, H, W], got {self.image_shape}")
        if self.levels < 2:
            raise ConfigError(f"levels must be at least 2 (the number of pixel values), got {self.levels}")
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be at least 2 for a classifier, got {self.num_classes}")
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ConfigError(f"channels must be a non-empty list of positive widths, got {self.channels}")
        if self.feature_dim <= 0:
            raise ConfigError(f"feature_dim must be positive, got {self.feature_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "FeatureNetConfig":
        """Build a config from a mapping; the data keys without defaults must be present."""
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [k for k in required if k not in values]
        if missing:
            raise ConfigError(f"FeatureNetConfig needs {', '.join(missing)}")
        # Placeholders satisfy the constructor; replace() then type-checks every given value,
        # rejects unknown keys and validates the result.
        base = cls(image_shape=[1, 1, 1], levels=2, num_classes=2)
        return base.replace(**values)


# ---- network ---------------------------------------------------------------------------------
class FeatureNet(nn.Module):
    """A small CNN classifier whose penultimate activations serve as image features.

    Each conv block is two (3x3 conv, GroupNorm, ReLU) layers followed by 2x2 max pooling while
    both spatial sizes are at least 4, so the same design fits 8x8, 28x28 and 32x32 images. Then
    global average pooling, a linear layer to ``feature_dim`` with ReLU (the features), dropout
    and a linear classifier. GroupNorm (not BatchNorm) keeps every image's features independent
    of the rest of its batch, and since dropout comes after them, :meth:`features` gives the same
    result in train and eval mode.

    Input: integer pixel levels ``[N, C, H, W]`` in ``0 .. levels - 1``, any int or float dtype.

    Attributes:
        test_accuracy: accuracy on the test split, set by training and loading (``None`` if unknown).
        content_hash: the first 16 hex digits of the SHA-256 of the saved weights file.
    """

    has_data_classes = True  # its classifier predicts the data's own classes (for class coverage)
    batch_size = 500  # images per forward pass when embedding many

    def __init__(self, config: FeatureNetConfig):
        super().__init__()
        config.validate()
        self.config = config
        c, h, w = config.image_shape
        layers: list[nn.Module] = []
        for width in config.channels:
            for c_in in (c, width):
                layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.GroupNorm(norm_groups(width), width), nn.ReLU()]
            c = width
            if min(h, w) >= 4:  # pool only while at least 2x2 positions remain afterwards
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        self.convs = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Linear(c, config.feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.feature_dim, config.num_classes)
        self.test_accuracy: float | None = None
        self.content_hash: str = ""

    @property
    def description(self) -> str:
        accuracy = "unknown" if self.test_accuracy is None else f"{self.test_accuracy:.3f}"
        return (f"genlab feature network {self.content_hash or 'unsaved'} (a small classifier trained on "
                f"{self.config.data_name or 'the data'}, test accuracy {accuracy})")

    def check_data(self, info: DataInfo) -> None:
        """Raise ConfigError unless this network was built for images of ``info``'s shape and levels."""
        config = self.config
        if list(info.shape) != list(config.image_shape) or info.levels != config.levels:
            trained_on = f"'{config.data_name}'" if config.data_name else "another data set"
            raise ConfigError(
                f"the feature network (hash {self.content_hash or 'unsaved'}) was trained on {trained_on} with images "
                f"of shape {list(config.image_shape)} and {config.levels} levels, but data set '{info.name}' has shape "
                f"{list(info.shape)} and {info.levels} levels; train a feature network on this data: "
                f"`genlab features train --data {info.name} --out {default_feature_dir(info.name)}`")

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel levels to floats in [0, 1] on the network's device."""
        device = self.classifier.weight.device
        return x.to(device=device, dtype=torch.float32) / (self.config.levels - 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``[N, feature_dim]`` of pixel levels ``x`` ``[N, C, H, W]``.

        Mode and gradients are the caller's business (use ``net.eval()`` and ``torch.no_grad()``);
        with GroupNorm and dropout after this layer, the mode does not change the result.
        """
        h = self.convs(self._scale(x))
        return self.embed(h.mean(dim=(2, 3)))  # global average pool, then the feature layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, num_classes]`` of pixel levels ``x`` ``[N, C, H, W]``."""
        return self.classifier(self.dropout(self.features(x)))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted classes (LongTensor ``[N]``); call in eval mode for deterministic results."""
        return self.forward(x).argmax(dim=1)


# ---- training --------------------------------------------------------------------------------
def _inputs(split: ImageSplit | AudioSplit) -> torch.Tensor:
    """The network inputs of a split: images ``[N, C, H, W]`` or mu-law clips ``[N, T]``."""
    return split.codes if isinstance(split, AudioSplit) else split.images


@torch.no_grad()
def _accuracy(net: FeatureNet | AudioFeatureNet, split: ImageSplit | AudioSplit) -> float:
    """Fraction of ``split``'s examples that ``net`` classifies correctly (eval mode)."""
    was_training = net.training
    net.eval()
    correct = 0
    inputs = _inputs(split)
    for start in range(0, len(split), EVAL_BATCH):
        x = inputs[start:start + EVAL_BATCH]
        y = split.labels[start:start + EVAL_BATCH]
        correct += int((net.predict(x).cpu() == y).sum())
    net.train(was_training)
    return correct / max(len(split), 1)


def _random_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to one pixel in each direction: replicate-pad by 1, crop at random."""
    n, _, h, w = x.shape
    padded = F.pad(x.float(), (1, 1, 1, 1), mode="replicate")
    dy = torch.randint(0, 3, (n,), generator=generator)
    dx = torch.randint(0, 3, (n,), generator=generator)
    rows = dy[:, None] + torch.arange(h)  # [N, H]
    cols = dx[:, None] + torch.arange(w)  # [N, W]
    batch = torch.arange(n)[:, None, None]
    # Advanced indexing on dims 0, 2, 3 puts those first: [N, H, W, C] -> back to [N, C, H, W].
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _labelled(split: Any) -> bool:
    return isinstance(split, (ImageSplit, AudioSplit)) and split.labels is not None and len(split) > 0


def _is_audio(info: DataInfo) -> bool:
    """Audio data (the ``audio`` modality) gets the log-mel network; everything else the image CNN."""
    return info.kind == "audio"


def train_feature_network(data: DataSet, steps: int | None = None, batch_size: int | None = None, lr: float = 2e-3,
                          seed: int = 0, progress: bool = True, **config_overrides: Any) -> FeatureNet | AudioFeatureNet:
    """Train a :class:`FeatureNet` (an :class:`AudioFeatureNet` for audio data) on ``data``'s train
    split; returns it in eval mode.

    AdamW with cosine learning-rate decay and cross-entropy, with random shifts of up to one
    pixel (audio: up to 1/16 of a clip, filled with silence) as augmentation. Everything random is
    seeded by ``seed`` (the caller's global RNG is left untouched), so the same call gives the same
    weights. If ``data.val`` has labels, the
    weights with the best validation accuracy (measured a few times during training) are kept.
    Runs in fp32 on the CPU.

    Args:
        data: an image or audio data set with class labels.
        steps: optimizer steps (default 2000; audio 600).
        batch_size: images or clips per step (default 128; audio 64).
        lr: peak learning rate.
        seed: seeds initialization, batches, augmentation and dropout.
        progress: show a tqdm progress bar.
        config_overrides: :class:`FeatureNetConfig` (or :class:`AudioFeatureNetConfig`) keys such as
            ``channels`` or ``feature_dim``.

    Returns:
        The trained network with ``test_accuracy`` (on ``data.test``; ``None`` without a labelled
        test split) and ``content_hash`` (of the weights file :func:`save_feature_network` writes).
    """
    from tqdm import tqdm

    info = data.info
    audio = _is_audio(info)
    if not (info.modality.sample_quality or audio) or not _labelled(data.train):
        raise DataError(f"data set '{info.name}' has no class-labelled images or clips; a feature network is a "
                        "classifier and needs image or audio data with class labels")
    steps = steps if steps is not None else (AUDIO_STEPS if audio else IMAGE_STEPS)
    batch_size = batch_size if batch_size is not None else (AUDIO_BATCH if audio else IMAGE_BATCH)
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ConfigError(f"steps and batch_size must be positive and lr > 0, got steps={steps}, "
                          f"batch_size={batch_size}, lr={lr}")
    fixed = sorted(set(config_overrides) & set(DATA_KEYS))
    if fixed:
        raise ConfigError(f"{', '.join(fixed)} come from the data set '{info.name}' and cannot be overridden")
    train = data.train
    inputs = _inputs(train)
    labels = train.labels.long()
    num_classes = max(info.num_classes, int(labels.max()) + 1)
    if audio:
        config = audio_features.default_config(info, num_classes).replace(**config_overrides)
        network, augment = AudioFeatureNet, audio_features.time_shift_augment(config)
    else:
        config = FeatureNetConfig(image_shape=list(train.images.shape[1:]), levels=int(info.levels or 256),
                                  num_classes=num_classes, data_name=info.name).replace(**config_overrides)
        network, augment = FeatureNet, _random_shift
    val = data.val if _labelled(data.val) else None
    test = data.test if _labelled(data.test) else None

    with torch.random.fork_rng(devices=[]):  # seeds init and dropout without touching the caller's RNG
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)  # batches and augmentation
        net = network(config).train()
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps, 0, "cosine", 0.0))
        eval_every = max(1, steps // VAL_EVALS)
        best_acc, best_state = -1.0, None
        order, pos = torch.randperm(len(train), generator=generator), 0
        bar = tqdm(total=steps, disable=not progress, desc=f"feature net {info.name}", dynamic_ncols=True,
                   mininterval=0.5)
        for step in range(1, steps + 1):
            # Sample without replacement within an epoch; reshuffle when the permutation runs out.
            if pos + batch_size > len(order):
                order = torch.cat([order[pos:], torch.randperm(len(train), generator=generator)])
                pos = 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            x = augment(inputs[idx], generator)
            loss = F.cross_entropy(net(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            if val is not None and (step % eval_every == 0 or step == steps):
                acc = _accuracy(net, val)
                if acc > best_acc:  # keep the first of equally good checkpoints
                    best_acc, best_state = acc, copy.deepcopy(net.state_dict())
                bar.set_postfix(loss=f"{loss.item():.4g}", val_acc=f"{acc:.4f}", best=f"{best_acc:.4f}")
            elif step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.4g}")
        bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    net.test_accuracy = _accuracy(net, test) if test is not None else None
    net.content_hash = _weights_hash(net)
    return net


# ---- saving and loading ----------------------------------------------------------------------
def _file_hash(path: Path) -> str:
    return short_hash(path.read_bytes())


def _weights_hash(net: FeatureNet) -> str:
    """The hash :func:`save_feature_network` will record: written the same way, then hashed."""
    with tempfile.TemporaryDirectory(prefix="genlab-features-") as tmp:
        path = Path(tmp) / WEIGHTS_FILE
        save_state_file(net.state_dict(), path)
        return _file_hash(path)


def save_feature_network(net: FeatureNet | AudioFeatureNet, folder: str | os.PathLike) -> Path:
    """Write ``net`` to ``folder`` (replacing it atomically): ``config.json`` and ``model.safetensors``.

    Sets ``net.content_hash`` to the hash of the weights file and returns the folder.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        save_state_file(net.state_dict(), tmp / WEIGHTS_FILE)
        content_hash = _file_hash(tmp / WEIGHTS_FILE)
        meta = {"kind": KIND, "format": FORMAT, "config": net.config.to_dict(),
                "test_accuracy": net.test_accuracy, "content_hash": content_hash}
        if getattr(net, "network", None):
            meta["network"] = net.network  # absent for the image CNN (as in files saved before audio)
        atomic_write_text(tmp / CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=True))
        replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    net.content_hash = content_hash
    return folder


def load_feature_network(folder: str | os.PathLike) -> FeatureNet | AudioFeatureNet:
    """Load a feature network saved by :func:`save_feature_network`; returns it in eval mode.

    Raises:
        CheckpointError: the folder is missing, is not a feature network (e.g. a generative
            model), its weights do not match the recorded content hash, or they do not fit.
    """
    folder = Path(folder)
    old = folder.with_name(folder.name + ".old")
    if not folder.exists() and (old / CONFIG_FILE).is_file():
        folder = old  # a save was killed between the two renames of replace_dir; the old copy is complete
    if not folder.is_dir():
        raise CheckpointError(f"no feature network at '{folder}'; make one with {TRAIN_HINT}")
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"'{folder}' has no {CONFIG_FILE}, so it is not a feature network; make one with {TRAIN_HINT}")
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{config_path} cannot be read as JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        if isinstance(meta, dict) and "model" in meta:
            raise CheckpointError(f"'{folder}' holds a generative model ('{meta['model']}'), not a feature network; "
                                  f"make a feature network with {TRAIN_HINT}")
        raise CheckpointError(f"'{folder}' is not a feature network ({CONFIG_FILE} has no kind "
                              f"'{KIND}'); make one with {TRAIN_HINT}")
    version = meta.get("format")
    if not isinstance(version, int) or version > FORMAT:
        raise CheckpointError(f"feature network '{folder}' has format {version!r}; this genlab reads format {FORMAT}: "
                              "upgrade genlab or retrain the feature network")
    network = meta.get("network")
    if network not in (None, audio_features.NETWORK):
        raise CheckpointError(f"feature network '{folder}' is a '{network}' network, which this genlab does not know; "
                              "upgrade genlab or retrain the feature network")
    config_class, net_class = ((AudioFeatureNetConfig, AudioFeatureNet) if network == audio_features.NETWORK
                               else (FeatureNetConfig, FeatureNet))
    try:
        config = config_class.from_dict(meta.get("config") or {})
    except ConfigError as e:
        raise CheckpointError(f"{config_path} holds an invalid feature network config: {e}") from e

    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"feature network '{folder}' has no {WEIGHTS_FILE}; retrain it with {TRAIN_HINT}")
    expected, actual = meta.get("content_hash"), _file_hash(weights)
    if actual != expected:  # checked before parsing, so any change to the file is reported as such
        raise CheckpointError(f"the content hash of {weights} is {actual}, but {CONFIG_FILE} records {expected}: "
                              "the weights file was changed or is corrupt; retrain or restore the feature network")
    net = net_class(config)
    try:
        net.load_state_dict(load_state_file(weights), strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"weights in '{folder}' do not fit a feature network with its config: "
                              f"{str(e).splitlines()[0]}") from e
    accuracy = meta.get("test_accuracy")
    net.test_accuracy = None if accuracy is None else float(accuracy)
    net.content_hash = actual
    return net.eval()


# ---- helpers for metrics ---------------------------------------------------------------------
def check_feature_network(net, info: DataInfo) -> None:
    """Raise ConfigError unless the feature extractor ``net`` can score images (or audio clips) of ``info``.

    A feature extractor (a :class:`FeatureNet`, or :class:`~genlab.evaluation.inception.InceptionFeatures`)
    has ``features(x)``, ``check_data(info)``, ``content_hash``, ``description``, ``test_accuracy``
    (or None), ``batch_size``, and ``has_data_classes`` (with ``predict(x)`` when True).
    """
    if not (info.modality.sample_quality or _is_audio(info)):
        raise ConfigError(f"data set '{info.name}' is {info.kind} data; feature networks and sample-quality "
                          "scores are for images and audio")
    net.check_data(info)


def load_feature_extractor(path: str | os.PathLike, info: DataInfo):
    """The feature extractor at ``path`` for the data ``info`` (not yet checked against it: the data kind's
    scorer does that, see :func:`genlab.evaluation.scorers.load_checked_features`).

    A folder is a genlab feature network (``genlab features train``); a file is Inception-v3
    weights (:mod:`genlab.evaluation.inception`), set up for ``info``'s pixel levels.
    """
    from .inception import load_inception

    path = Path(path)
    return load_inception(path, info.levels) if path.is_file() else load_feature_network(path)


def default_feature_dir(data_name: str) -> Path:
    """Where the feature network of a data set lives by default: ``features/<name>``."""
    return Path("features") / data_name.replace(":", "-").replace("/", "_")

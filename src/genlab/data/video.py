"""Video data sets: Moving MNIST, a small built-in Moving Digits, and a user's folder of clips.

Moving MNIST is generated the way Srivastava et al. (2015, "Unsupervised learning of video
representations using LSTMs") defined it, after their ``BouncingMNISTDataHandler``: each of two
28x28 MNIST digits starts at a uniform random position in a 64x64 frame (its top-left corner in
``[0, 1] * 36``) with a uniform random direction and a constant speed of 0.1 (3.6 pixels a frame),
takes a step before every frame, and bounces off an edge by being put back on it with that
velocity component reversed; positions are truncated to whole pixels, and digits are combined
by the pixel-wise **maximum** (the original's ``Overlap``). 20 frames per clip, the first 10 the
context. Training clips use MNIST's training digits (the last 5,000 are held out for the
validation clips) and the test set is 10,000 clips of MNIST's test digits with a fixed seed, as
the released ``mnist_test_seq.npy`` is one fixed set (genlab regenerates its own: the file is
not redistributed here).

Every clip is made from a seed of its own (``(seed, split, index)``), lazily: any number of
training clips costs no memory, and a resumed run sees the same clip at the same index.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..provenance import check_synthetic
from .core import DataInfo, DataSet, folder_splits
from .modalities.video import CLIP_SUFFIXES, FRAME_SUFFIXES, GeneratedVideoSplit, VideoSplit, read_clip
from .registry import register_dataset

TEST_SEED = 20150208  # the fixed test set (the arXiv date of Srivastava et al.); independent of the seed option
_STREAMS = {"train": 0, "val": 1, "test": 2}
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")


def bouncing_positions(rng: np.random.Generator, frames: int, room: int, step: float = 0.1) -> np.ndarray:
    """Top-left corners ``int [frames, 2]`` (row, column) of one digit bouncing in ``[0, room]``.

    Srivastava et al.'s trajectory: a start uniform in the unit square, a direction uniform in
    ``[0, 2 pi)``, a step of ``step`` before each frame; a coordinate past 0 or 1 is set to the
    edge and its velocity reversed; scaled by ``room`` and truncated to whole pixels.
    """
    y, x, theta = rng.random(3)
    theta *= 2 * math.pi
    vy, vx = math.sin(theta), math.cos(theta)
    out = np.empty((frames, 2), dtype=np.int64)
    for i in range(frames):
        y += vy * step
        x += vx * step
        if x <= 0:
            x, vx = 0.0, -vx
        if x >= 1:
            x, vx = 1.0, -vx
        if y <= 0:
            y, vy = 0.0, -vy
        if y >= 1:
            y, vy = 1.0, -vy
        out[i] = int(room * y), int(room * x)
    return out


def moving_digits_clip(digits: np.ndarray, rng: np.random.Generator, frames: int, size: int, num_digits: int = 2,
                       step: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One clip uint8 ``[frames, 1, size, size]`` of ``num_digits`` digits of ``digits`` (uint8
    ``[N, d, d]``) bouncing, combined by maximum; also the digits' indices ``[num_digits]`` and
    their positions ``[num_digits, frames, 2]``."""
    d = digits.shape[-1]
    room = size - d
    which = rng.integers(0, len(digits), size=num_digits)
    positions = np.stack([bouncing_positions(rng, frames, room, step) for _ in range(num_digits)])
    clip = np.zeros((frames, 1, size, size), dtype=np.uint8)
    for k in range(num_digits):
        digit = digits[which[k]]
        for t in range(frames):
            r, c = positions[k, t]
            window = clip[t, 0, r: r + d, c: c + d]
            np.maximum(window, digit, out=window)
    return clip, which, positions


def _count(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
        raise DataError(f"{name} must be a whole number {bound}, got {value!r}")
    return value


def _generated(digits: np.ndarray, size: int, count: int, seed: int, split: str, frames: int, context: int,
               step: float) -> GeneratedVideoSplit:
    def make(i: int) -> np.ndarray:
        rng = np.random.default_rng([seed, _STREAMS[split], i])
        return moving_digits_clip(digits, rng, frames, size, 2, step)[0]

    return GeneratedVideoSplit(count, make, context)


def _moving(name: str, train: np.ndarray, val: np.ndarray, test: np.ndarray, size: int, frames: int, context: int,
            step: float, num_train: int, num_val: int, num_test: int, max_test: int, seed: int) -> DataSet:
    _count("num_train", num_train, 1)
    _count("num_val", num_val, 0)
    _count("num_test", num_test, 1, max_test)
    _count("seed", seed, 0)
    info = DataInfo(name=name, kind="video", shape=(frames, 1, size, size), levels=256, context_frames=context)
    return DataSet(info, _generated(train, size, num_train, seed, "train", frames, context, step),
                   _generated(val, size, num_val, seed, "val", frames, context, step) if num_val else None,
                   _generated(test, size, num_test, TEST_SEED, "test", frames, context, step))


@register_dataset("moving-mnist", "Moving MNIST (Srivastava et al. 2015): two MNIST digits bouncing in 64x64, "
                  "20 frames (10 context), generated; 10,000 fixed test clips; options num_train, num_val, num_test, seed")
def load_moving_mnist(root: Path, num_train: int = 10000, num_val: int = 1000, num_test: int = 10000,
                      seed: int = 0) -> DataSet:
    """Moving MNIST from the MNIST files under ``root`` (see the module): ``num_train`` training clips of
    the first 55,000 training digits, ``num_val`` validation clips of the last 5,000, and the first
    ``num_test`` of the 10,000 fixed test clips of the test digits. ``seed`` draws the training and
    validation clips; the test clips do not depend on it."""
    from .images import load_mnist

    mnist = load_mnist(root, val_size=5000)
    arrays = [split.images[:, 0].numpy() for split in (mnist.train, mnist.val, mnist.test)]
    return _moving("moving-mnist", *arrays, size=64, frames=20, context=10, step=0.1, num_train=num_train,
                   num_val=num_val, num_test=num_test, max_test=10000, seed=seed)


@register_dataset("moving-digits", "two scikit-learn 8x8 digits bouncing in 16x16, 10 frames (5 context); built in, "
                  "for tests and quick checks; options num_train, num_val, num_test, seed")
def load_moving_digits(num_train: int = 1000, num_val: int = 100, num_test: int = 200, seed: int = 0) -> DataSet:
    """Moving MNIST's generator on scikit-learn's digits (0..16 grey levels scaled to 0..255): 16x16
    frames, a step of 0.2 (1.6 pixels a frame), 10 frames with 5 of context. Training clips use the
    digits protocol's first 1,000 digits, validation the next 350, test (fixed seed) the last 447."""
    from sklearn.datasets import load_digits

    from .images import DIGITS_TRAIN, DIGITS_VAL

    images = (load_digits().images.astype(np.int64) * 255 // 16).astype(np.uint8)
    a, b = DIGITS_TRAIN, DIGITS_TRAIN + DIGITS_VAL
    return _moving("moving-digits", images[:a], images[a:b], images[b:], size=16, frames=10, context=5, step=0.2,
                   num_train=num_train, num_val=num_val, num_test=num_test, max_test=10000, seed=seed)


@register_dataset("video:", "a folder of clips (animated GIFs, or sub-folders of PNG/JPEG frames sorted by name); "
                  "options size, frames, context_frames, channels, seed, allow_synthetic")
def load_video_folder(path: str | Path, size: int = 64, frames: int = 20, context_frames: int = 10, channels: int = 1,
                      seed: int = 0, allow_synthetic: bool = False) -> DataSet:
    """A folder of short clips, each an animated ``.gif`` or a sub-folder of frames (PNG/JPEG, in name
    order). Frames are converted to grey (``channels=1``) or RGB (3), resized (shorter side) and
    centre-cropped to ``size`` x ``size``, and the first ``frames`` of each clip kept; a shorter clip
    is refused. MP4 and other video files are refused with how to convert them (genlab reads no
    video codecs). The clips are split 80/10/10 into train/val/test by a fixed-seed shuffle.
    A file genlab generated (marked synthetic, :mod:`genlab.provenance`) is refused unless ``allow_synthetic``.
    """
    import torch

    _count("size", size, 4, 1024)
    _count("frames", frames, 2, 1000)
    _count("context_frames", context_frames, 1, frames - 1)
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    folder = Path(path)
    if folder.is_file():
        raise DataError(f"'{folder}' is a file, not a folder; video:PATH takes a folder of GIFs or frame folders")
    if not folder.is_dir():
        raise DataError(f"video folder '{folder}' does not exist")
    entries = sorted(folder.iterdir())
    encoded = [p for p in entries if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    if encoded:
        raise DataError(f"'{encoded[0]}' is a {encoded[0].suffix} video, which genlab does not decode; convert it to "
                        f"frames, e.g. ffmpeg -i {encoded[0].name} {encoded[0].stem}/%04d.png")
    clips = [p for p in entries if (p.is_file() and p.suffix.lower() in CLIP_SUFFIXES)
             or (p.is_dir() and not p.name.startswith("."))]
    if len(clips) < 3:
        raise DataError(f"video folder '{folder}' holds {len(clips)} clip(s) (GIFs or frame folders); at least 3 "
                        "are needed")
    stills = [p for p in entries if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    if stills and len(clips) - sum(p.is_file() for p in clips) == 0:
        raise DataError(f"video folder '{folder}' holds single pictures ({stills[0].name}); put each clip's frames "
                        "in a sub-folder of its own")
    frames_of = [[p] if p.is_file() else sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in
                                                 FRAME_SUFFIXES) for p in clips]
    synthetic = check_synthetic(frames_of, folder, allow_synthetic, "clips")
    data = torch.from_numpy(np.stack([read_clip(p, channels, size, frames)[:frames] for p in clips]))
    parts = folder_splits(len(clips), seed)
    info = DataInfo(name=f"video:{folder}", kind="video", shape=(frames, channels, size, size), levels=256,
                    context_frames=context_frames)
    return DataSet(info, *(VideoSplit(data[i], None, context_frames) for i in parts), synthetic_examples=synthetic)

"""Video: short clips of uint8 frames ``[N, T, C, H, W]`` in 0..255, with optional class labels.

``DataInfo(kind="video", shape=(T, C, H, W), levels=256, context_frames=Tc)``. A prediction model
(ConvLSTM) is conditioned on a clip's first ``context_frames`` frames
(:class:`~genlab.data.ContextFrames`) and returns the whole clip, context then prediction; an
unconditional video model draws whole clips. A likelihood, for a model that has one, is per video
in nats and per dimension in bits.

Clips are shown to a person as a PNG filmstrip (one row per clip, one column per frame; a wider
gap after the context frames) and, for a path ending ``.gif``, as an animated GIF of the clips in
a grid (Pillow), with the filmstrip written beside it. A prediction model is judged against the
truth (:mod:`genlab.evaluation.prediction`: MSE and MAE per frame, SSIM, and the copy-last-frame
baseline), not by a likelihood.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ...errors import DataError
from .base import Modality, register_modality

GIF_FRAME_MS = 100  # 10 frames per second
CLIP_SUFFIXES = (".gif",)
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class VideoSplit:
    """Clips as a uint8 tensor ``[N, T, C, H, W]`` with optional labels ``[N]``."""

    def __init__(self, clips: torch.Tensor, labels: torch.Tensor | None = None, context_frames: int | None = None):
        if clips.dim() != 5:
            raise DataError(f"video clips must have shape [N, T, C, H, W], got {tuple(clips.shape)}")
        if labels is not None and len(labels) != len(clips):
            raise DataError(f"{len(clips)} clips but {len(labels)} labels")
        self.clips, self.labels, self.context_frames = clips, labels, context_frames

    def __len__(self) -> int:
        return len(self.clips)

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = {"x": self.clips[indices]}
        if self.labels is not None:
            batch["y"] = self.labels[indices]
        return batch

    def windows(self, length: int | None) -> "VideoSplit":
        return self

    def eval_indices(self) -> torch.Tensor:
        return torch.arange(len(self))


class GeneratedVideoSplit:
    """Clips made on demand: clip ``i`` is ``make(i)`` (uint8 ``[T, C, H, W]``), the same every time.

    A generated data set (Moving MNIST) holds any number of clips without their memory (10,000
    Moving MNIST clips are 820 MB), and a resumed run sees the same clip at the same index.
    """

    def __init__(self, size: int, make: Callable[[int], np.ndarray], context_frames: int | None = None):
        self.size, self.make, self.context_frames = int(size), make, context_frames

    def __len__(self) -> int:
        return self.size

    def get(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices).reshape(-1).tolist()
        for i in idx:
            if not -self.size <= i < self.size:
                raise IndexError(f"clip {i} of a split of {self.size}")
        clips = np.stack([self.make(i % self.size) for i in idx]) if idx else None
        x = torch.from_numpy(clips) if clips is not None else torch.zeros(0, dtype=torch.uint8)
        return {"x": x}

    def windows(self, length: int | None) -> "GeneratedVideoSplit":
        return self

    def eval_indices(self) -> torch.Tensor:
        return torch.arange(len(self))


# ---- pictures ---------------------------------------------------------------------------------
def _frames_uint8(clips: torch.Tensor, levels: int) -> torch.Tensor:
    from .image import levels_to_uint8

    return levels_to_uint8(clips.detach().cpu(), levels)  # the nearest grey, as every picture genlab writes


def filmstrip(clips: torch.Tensor, levels: int = 256, context_frames: int | None = None, pad: int = 1,
              gap: int = 4, min_size: int = 32) -> np.ndarray:
    """Clips ``[N, T, C, H, W]`` as one uint8 picture: row ``i`` is clip ``i``, column ``t`` frame ``t``.

    A ``gap``-pixel grey bar (instead of ``pad``) follows the first ``context_frames`` columns.
    Frames smaller than ``min_size`` are enlarged (nearest neighbour). Returns ``[rows, cols]``
    (grey) or ``[rows, cols, 3]``.
    """
    if clips.dim() != 5:
        raise DataError(f"video clips must have shape [N, T, C, H, W], got {tuple(clips.shape)}")
    x = _frames_uint8(clips, levels)
    n, t, c, h, w = x.shape
    scale = max(1, math.ceil(min_size / max(h, w)))
    if scale > 1:
        x = x.repeat_interleave(scale, dim=3).repeat_interleave(scale, dim=4)
        h, w = h * scale, w * scale
    lefts, left = [], pad
    for j in range(t):
        lefts.append(left)
        left += w + (gap if context_frames and j == context_frames - 1 else pad)
    grid = torch.full((c, n * (h + pad) + pad, left), 128, dtype=torch.uint8)
    for i in range(n):
        top = pad + i * (h + pad)
        for j in range(t):
            grid[:, top: top + h, lefts[j]: lefts[j] + w] = x[i, j]
    arr = grid.permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


def prediction_filmstrip(predicted: torch.Tensor, truth: torch.Tensor, context_frames: int,
                         levels: int = 256) -> np.ndarray:
    """Per clip two rows: the truth (context, then the real future) and under it the prediction's future
    frames (blank under the context), so each predicted frame sits below the frame it should be."""
    if predicted.shape != truth.shape:
        raise DataError(f"predicted clips {tuple(predicted.shape)} and true clips {tuple(truth.shape)} differ in shape")
    rows = []
    for p, q in zip(predicted, truth):
        rows.append(q)
        blank = torch.full_like(p, 128 if levels == 256 else (levels - 1) // 2)
        blank[context_frames:] = p[context_frames:]
        rows.append(blank)
    return filmstrip(torch.stack(rows), levels, context_frames)


def _save_png(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    from ...files import atomic_write_bytes, storage_errors

    with storage_errors(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def save_filmstrip(clips: torch.Tensor, path: str | Path, levels: int = 256, context_frames: int | None = None) -> Path:
    """:func:`filmstrip` of ``clips`` written to the PNG file ``path`` (atomically)."""
    return _save_png(filmstrip(clips, levels, context_frames), Path(path))


def save_gif(clips: torch.Tensor, path: str | Path, levels: int = 256, frame_ms: int = GIF_FRAME_MS,
             pad: int = 1, min_size: int = 64) -> Path:
    """An animated GIF (looping) whose frame ``t`` shows frame ``t`` of every clip in a grid, each clip
    enlarged (nearest neighbour, a whole factor) to at least ``min_size`` pixels so it can be watched.

    Grey clips keep their 256 grey values exactly; RGB frames are quantised to GIF's 256 colours.
    """
    from PIL import Image

    from ...files import atomic_write_bytes, storage_errors
    from .image import image_grid

    if clips.dim() != 5:
        raise DataError(f"video clips must have shape [N, T, C, H, W], got {tuple(clips.shape)}")
    x = _frames_uint8(clips, levels)
    n, t = x.shape[:2]
    nrow = math.ceil(math.sqrt(n))
    frames = [Image.fromarray(image_grid(x[:, j], 256, nrow=nrow, pad=pad, min_size=min_size)) for j in range(t)]
    if frames[0].mode == "RGB":
        frames = [f.quantize(256) for f in frames]
    path = Path(path)
    with storage_errors(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0,
                   optimize=False, disposal=1)
    atomic_write_bytes(path, buffer.getvalue())
    return path


# ---- reading clips ------------------------------------------------------------------------------
def _fit(picture, size: int | None):
    """``picture`` resized (shorter side to ``size``) and centre-cropped to ``size`` x ``size``."""
    from PIL import Image

    if size is None or picture.size == (size, size):
        return picture
    scale = size / min(picture.width, picture.height)
    nw, nh = max(size, round(picture.width * scale)), max(size, round(picture.height * scale))
    picture = picture.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return picture.crop((left, top, left + size, top + size))


def read_clip(path: str | Path, channels: int = 1, size: int | None = None, frames: int | None = None) -> np.ndarray:
    """A clip as uint8 ``[T, C, H, W]``: an animated GIF, or a folder of frames (PNG/JPEG, sorted by name).

    Frames are converted to grey (``channels`` 1) or RGB (3), resized (shorter side) and
    centre-cropped to ``size`` x ``size`` when ``size`` is given, and the first ``frames`` kept.
    One-line :class:`DataError` for a missing path, a file that is not a picture, an empty
    folder, a clip of fewer than ``frames`` frames, and frames of different sizes in one clip.
    """
    from PIL import ImageSequence, UnidentifiedImageError

    from ...files import open_picture

    path = Path(path)
    if channels not in (1, 3):
        raise DataError(f"video clips have 1 (grey) or 3 (RGB) channels, got {channels}")
    mode = "L" if channels == 1 else "RGB"
    pictures = []
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES)
            if not files:
                raise DataError(f"clip folder '{path}' holds no frames (PNG or JPEG files)")
            for f in files[:frames] if frames else files:
                with open_picture(f, what="frame") as im:
                    pictures.append(im.convert(mode))
        elif path.is_file():
            with open_picture(path, what="clip") as im:
                for frame in ImageSequence.Iterator(im):
                    pictures.append(frame.convert(mode))
                    if frames and len(pictures) == frames:
                        break
        else:
            raise DataError(f"clip '{path}' does not exist")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"'{path}' is not a readable clip ({type(e).__name__}: {e}); give an animated GIF or a "
                        "folder of PNG frames") from e
    sizes = sorted({p.size for p in pictures})
    if len(sizes) > 1:
        raise DataError(f"clip '{path}' mixes frame sizes {sizes[0][0]}x{sizes[0][1]} and "
                        f"{sizes[1][0]}x{sizes[1][1]}; give frames of one size")
    if frames and len(pictures) < frames:
        raise DataError(f"clip '{path}' has {len(pictures)} frame(s); {frames} are needed (set frames= lower)")
    arr = np.stack([np.asarray(_fit(p, size), dtype=np.uint8) for p in pictures])
    return arr[:, None] if channels == 1 else arr.transpose(0, 3, 1, 2).copy()


@register_modality
class VideoModality(Modality):
    """Video clips: uint8 frames [T, C, H, W] in 0..255; prediction from context frames, or whole clips."""

    name = "video"
    unit = "video"
    sample_suffix = ".png"  # a filmstrip; a .gif path gets an animated GIF (and the filmstrip beside it)
    display_suffix = ".gif"
    default_num_samples = 8
    sample_quality = False
    truth_scorer = "prediction"  # a prediction model is scored against the true future frames
    fields = {"x": "uint8 frames [B, T, C, H, W] in 0 .. 255", "y": "long class labels [B] (labelled data only)"}

    def check_info(self, info) -> None:
        if info.shape is None or len(info.shape) != 4 or min(info.shape) < 1:
            raise DataError(f"video data '{info.name}' needs a shape [T, C, H, W], got {info.shape}")
        if info.shape[0] < 2:
            raise DataError(f"video data '{info.name}' needs clips of at least 2 frames, got {info.shape[0]}")
        if info.levels is None or info.levels < 2:
            raise DataError(f"video data '{info.name}' needs levels >= 2, got {info.levels}")
        if info.context_frames is not None and not 1 <= info.context_frames < info.shape[0]:
            raise DataError(f"video data '{info.name}' has {info.shape[0]}-frame clips, so context_frames must be "
                            f"between 1 and {info.shape[0] - 1}, got {info.context_frames}")

    def model_fields(self, info) -> dict[str, Any]:
        return {"video_shape": list(info.shape), "levels": info.levels, "num_classes": info.num_classes,
                "context_frames": info.context_frames}

    def likelihood_report(self, info, total_nats: float, num_examples: int, split) -> dict[str, Any]:
        nll = total_nats / num_examples
        return {"nll_nats": nll, "bits_per_dim": nll / (math.prod(info.shape) * math.log(2)), "unit": "nats per video"}

    def describe_likelihood(self, result: dict[str, Any]) -> list[str]:
        return [f"NLL          {result['nll_nats']:.3f} nats per video", f"bits/dim     {result['bits_per_dim']:.4f}"]

    def scored_against_truth(self, model) -> bool:
        """A prediction model (conditioned on context frames) is; an unconditional video model is not."""
        return getattr(model.condition_spec, "kind", None) == "frames"

    def preview(self, num_samples: int, split=None) -> tuple[int, dict[str, Any]]:
        """At most 8 clips. A prediction model's context frames come from its condition spec
        (:attr:`~genlab.data.conditions.ContextFrames.from_data`): the trainer reads them from the split."""
        return min(num_samples, 8), {}

    def write_files(self, info, samples: torch.Tensor, path: str | Path) -> list[Path]:
        """A PNG filmstrip (rows = clips, columns = frames); for a ``.gif`` path an animated GIF of the
        clips in a grid, and its filmstrip beside it (same name, ``.png``)."""
        path = Path(path)
        samples = samples.detach().cpu()
        if samples.dim() != 5:
            raise DataError(f"video samples must have shape [N, T, C, H, W], got {tuple(samples.shape)}")
        levels = info.levels or 256
        if path.suffix.lower() == ".gif":
            return [save_gif(samples, path, levels),
                    save_filmstrip(samples, path.with_suffix(".png"), levels, info.context_frames)]
        if path.suffix.lower() != ".png":
            raise DataError(f"video samples are written as a .png filmstrip or a .gif animation, not '{path.name}'")
        return [save_filmstrip(samples, path, levels, info.context_frames)]

    def example_file(self, info, split, index: int) -> tuple[bytes, str]:
        import tempfile

        clip = split.get(torch.tensor([index]))["x"]
        with tempfile.TemporaryDirectory() as tmp:
            return save_gif(clip, Path(tmp) / "example.gif", info.levels, pad=0, min_size=1).read_bytes(), "image/gif"

    def parse(self, info, value: Any) -> torch.Tensor:
        """A clip file (animated GIF) or folder of frames as uint8 ``[T', C, H, W]`` at the data's channels and
        size (resized and centre-cropped), all its frames kept (a prediction model takes the first ones)."""
        _, c, h, w = info.shape
        if h != w:
            raise DataError(f"clips are read square; this data's frames are {h}x{w}")
        return torch.from_numpy(read_clip(value, c, h))

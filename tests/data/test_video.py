"""Video data: the Moving MNIST generator's maths, reproducibility, rendering round trips, video:DIR,
the ContextFrames condition, and the prediction metrics against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

import genlab
from genlab.data import ContextFrames, DataInfo
from genlab.data.modalities import get_modality
from genlab.data.modalities.video import filmstrip, read_clip, save_filmstrip, save_gif
from genlab.data.video import bouncing_positions, moving_digits_clip
from genlab.errors import ConfigError, DataError
from genlab.evaluation.prediction import evaluate_prediction, frame_scores


# ---- the generator ---------------------------------------------------------------------------------
def paper_trajectory(y: float, x: float, theta: float, frames: int, room: int, step: float) -> list[tuple[int, int]]:
    """Srivastava et al.'s rule, written out again: step, then clamp to the edge and reverse that component."""
    vy, vx = math.sin(theta), math.cos(theta)
    out = []
    for _ in range(frames):
        y, x = y + vy * step, x + vx * step
        if x <= 0 or x >= 1:
            x, vx = min(max(x, 0.0), 1.0), -vx
        if y <= 0 or y >= 1:
            y, vy = min(max(y, 0.0), 1.0), -vy
        out.append((int(room * y), int(room * x)))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_a_digit_follows_the_bounce_rule(seed):
    """A solid 28x28 block is rendered exactly where an independent computation of the trajectory puts it."""
    block = np.full((1, 28, 28), 200, dtype=np.uint8)
    clip, which, positions = moving_digits_clip(block, np.random.default_rng(seed), 40, 64, num_digits=1, step=0.1)
    rng = np.random.default_rng(seed)
    rng.integers(0, 1, size=1)  # the digit's index is drawn first
    y, x, theta = rng.random(3)
    expected = paper_trajectory(y, x, theta * 2 * math.pi, 40, 36, 0.1)
    assert [tuple(p) for p in positions[0]] == expected
    for t, (r, c) in enumerate(expected):
        rows, cols = np.nonzero(clip[t, 0])
        assert (rows.min(), cols.min(), rows.max(), cols.max()) == (r, c, r + 27, c + 27)
        assert int(clip[t, 0].sum()) == 200 * 28 * 28  # nothing cut off at the edge
    # 40 frames of 3.6 pixels cross the 36-pixel room: the digit must have bounced
    steps = np.diff(np.array(expected), axis=0)
    assert (np.sign(steps[:, 0]) * np.sign(steps[0, 0]) < 0).any() or (np.sign(steps[:, 1]) * np.sign(steps[0, 1]) < 0).any()


def test_positions_stay_in_the_room_and_speed_is_constant():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = bouncing_positions(rng, 20, 36, 0.1)
        assert p.min() >= 0 and p.max() <= 36
        assert np.abs(np.diff(p, axis=0)).max() <= 4  # 3.6 pixels a frame, truncated


def test_moving_digits_stay_inside_every_frame(moving_digits):
    """Two digits combined by maximum: a frame's pixels are each digit placed whole, nothing clipped."""
    from sklearn.datasets import load_digits

    digits = (load_digits().images.astype(np.int64) * 255 // 16).astype(np.uint8)
    for i in range(30):
        clip, which, positions = moving_digits_clip(digits[:1000], np.random.default_rng([0, 0, i]), 10, 16, 2, 0.2)
        assert np.array_equal(clip, moving_digits.train.get(torch.tensor([i]))["x"][0].numpy())
        for t in range(10):
            expected = np.zeros((16, 16), dtype=np.uint8)
            for k in range(2):
                r, c = positions[k, t]
                assert 0 <= r <= 8 and 0 <= c <= 8
                expected[r: r + 8, c: c + 8] = np.maximum(expected[r: r + 8, c: c + 8], digits[which[k]])
            assert np.array_equal(clip[t, 0], expected)


def test_moving_mnist_digits_are_whole_in_every_frame(mnist_root):
    data = genlab.load_dataset("moving-mnist", root=mnist_root, num_test=20)
    assert data.info.shape == (20, 1, 64, 64) and data.info.context_frames == 10 and data.info.levels == 256
    assert len(data.train) == 10000 and len(data.test) == 20
    x = data.test.get(torch.arange(20))["x"]
    assert x.dtype == torch.uint8 and x.shape == (20, 20, 1, 64, 64)
    # one digit alone: its pixel sum is the same in every frame (never cut by the edge)
    mnist = genlab.load_dataset("mnist", root=mnist_root).test.images[:, 0].numpy()
    clip, _, _ = moving_digits_clip(mnist, np.random.default_rng(3), 20, 64, num_digits=1)
    sums = clip.reshape(20, -1).astype(np.int64).sum(1)
    assert (sums == sums[0]).all() and sums[0] > 0


def test_moving_mnist_test_set_is_fixed_and_training_follows_the_seed(mnist_root):
    a = genlab.load_dataset("moving-mnist", root=mnist_root, num_test=4, num_train=8, seed=0)
    b = genlab.load_dataset("moving-mnist", root=mnist_root, num_test=4, num_train=8, seed=1)
    idx = torch.arange(4)
    assert torch.equal(a.test.get(idx)["x"], b.test.get(idx)["x"])
    assert not torch.equal(a.train.get(idx)["x"], b.train.get(idx)["x"])
    assert torch.equal(a.train.get(idx)["x"], genlab.load_dataset("moving-mnist", root=mnist_root, num_test=4,
                                                                  num_train=8, seed=0).train.get(idx)["x"])


def test_moving_digits_is_reproducible_and_its_options_are_checked():
    a, b = genlab.load_dataset("moving-digits"), genlab.load_dataset("moving-digits")
    idx = torch.tensor([5, 0, 999])
    assert torch.equal(a.train.get(idx)["x"], b.train.get(idx)["x"])
    assert torch.equal(a.train.get(idx[:1])["x"][0], a.train.get(torch.tensor([5]))["x"][0])  # per-clip seeds
    other = genlab.load_dataset("moving-digits", seed=1)
    assert not torch.equal(a.train.get(idx)["x"], other.train.get(idx)["x"])
    assert torch.equal(a.test.get(idx[:2])["x"], other.test.get(idx[:2])["x"])
    assert not torch.equal(a.val.get(idx[:2])["x"], a.test.get(idx[:2])["x"])
    for bad in (dict(num_train=0), dict(num_test=0), dict(num_test=10**6), dict(seed=-1)):
        with pytest.raises(DataError):
            genlab.load_dataset("moving-digits", **bad)


# ---- pictures ----------------------------------------------------------------------------------------
def random_clips(n=2, t=4, c=1, size=32, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, t, c, size, size), generator=g, dtype=torch.uint8)


def test_gif_round_trip_keeps_grey_frames(tmp_path):
    clips = random_clips(1, 5)
    save_gif(clips, tmp_path / "one.gif", pad=0, min_size=1)  # at the clip's own size
    assert torch.equal(torch.from_numpy(read_clip(tmp_path / "one.gif", 1)), clips[0])
    two = random_clips(2, 3, size=16, seed=1)
    save_gif(two, tmp_path / "two.gif")
    with Image.open(tmp_path / "two.gif") as im:
        frames = [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(im)]
        assert im.info.get("loop") == 0
    assert len(frames) == 3
    for t, frame in enumerate(frames):  # 2 clips side by side, each 16 px enlarged 4x to be watched, 1-pixel gaps
        big = [two[k, t, 0].numpy().repeat(4, 0).repeat(4, 1) for k in (0, 1)]
        assert frame.shape == (66, 131)
        assert np.array_equal(frame[1:65, 1:65], big[0]) and np.array_equal(frame[1:65, 66:130], big[1])


def test_filmstrip_round_trip(tmp_path):
    clips = random_clips(3, 4)
    path = save_filmstrip(clips, tmp_path / "strip.png", context_frames=2)
    arr = np.asarray(Image.open(path))
    assert arr.shape == (3 * 33 + 1, 4 * 33 + 1 + 3)  # a 4-pixel gap after the 2 context frames
    lefts = [1, 34, 67 + 3, 100 + 3]
    for i in range(3):
        for j, left in enumerate(lefts):
            assert np.array_equal(arr[1 + 33 * i: 33 + 33 * i, left: left + 32], clips[i, j, 0].numpy())
    assert filmstrip(random_clips(1, 2, 3, 8)).shape == (34, 67, 3)  # RGB, 8x8 frames enlarged 4x


def test_render_writes_a_gif_and_its_filmstrip(tmp_path, moving_digits):
    modality = get_modality("video")
    clips = moving_digits.test.get(torch.arange(3))["x"]
    path = modality.render(moving_digits.info, clips, tmp_path / "clips.gif")
    assert path.suffix == ".gif" and (tmp_path / "clips.png").is_file()
    assert modality.render(moving_digits.info, clips.long(), tmp_path / "strip.png").is_file()
    with pytest.raises(DataError, match="filmstrip"):
        modality.render(moving_digits.info, clips, tmp_path / "clips.mp4")


@pytest.mark.parametrize("excluded", [False, True])
def test_preview_takes_real_context_frames(moving_digits, tmp_path, excluded):
    """The trainer's previews of a prediction model continue the first validation clips (their context frames,
    from the model's condition spec), also from a split with examples left out (it keeps no context length)."""
    from conftest import fast_train_config, tiny_overrides
    from genlab.data.exclude import Exclusion, exclude_examples

    data = exclude_examples(moving_digits, Exclusion([0])) if excluded else moving_digits
    assert get_modality("video").preview(64, split=data.val) == (8, {})
    model = genlab.create_model("convlstm", data=data, **tiny_overrides("convlstm"))
    seen = {}
    def sample(n, condition=None, generator=None):  # records what the trainer asks for; the clip is the context twice
        seen["condition"] = condition
        return torch.cat([condition, condition], dim=1)

    model.sample = sample
    trainer = genlab.Trainer(model, data, fast_train_config(num_samples=64), out_dir=tmp_path / "run")
    trainer.write_samples()
    assert torch.equal(seen["condition"], data.val.get(torch.arange(8))["x"][:, :5])


def test_context_frames_condition():
    spec = ContextFrames(5, (10, 1, 16, 16))
    dev = torch.device("cpu")
    clip = torch.zeros(10, 1, 16, 16, dtype=torch.uint8)
    assert spec.from_batch({"x": clip[None].expand(2, -1, -1, -1, -1)}).shape == (2, 5, 1, 16, 16)
    assert spec.validate(clip[:3], 4, dev).shape == (4, 3, 1, 16, 16)  # one clip for all; another context length
    for bad, match in ((clip[None, :3].float(), "uint8"), (clip[None], "context frames given"),
                       (clip[None, :3, :, :8], "resize"), (clip[None, :3].expand(3, -1, -1, -1, -1), "3 clips"),
                       (torch.full((1, 3, 1, 16, 16), 300), "0..255"), (1, "condition must be")):
        with pytest.raises(ConfigError, match=match):
            spec.validate(bad, 1, dev)
    with pytest.raises(ConfigError, match="condition=FRAMES"):
        spec.default(2, dev)
    assert ContextFrames(5, (10, 1, 16, 16), flexible=False).validate(clip[None, :5], 1, dev).shape[1] == 5


def test_data_info_keeps_context_frames_only_for_video(moving_digits, digits):
    d = moving_digits.info.to_dict()
    assert d["context_frames"] == 5 and DataInfo.from_dict(d) == moving_digits.info
    assert "context_frames" not in digits.info.to_dict()
    other = DataInfo.from_dict({**d, "context_frames": 4})
    assert moving_digits.info.differences(other) == ["context frames 5 vs 4"]


# ---- video:DIR -----------------------------------------------------------------------------------------
def write_gif(path, frames: np.ndarray) -> None:
    pics = [Image.fromarray(f) for f in frames]
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=100, loop=0)


def make_clip_folder(root, n_gif=3, n_dirs=2, frames=6, size=20):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n_gif):
        write_gif(root / f"clip{i}.gif", rng.integers(0, 256, (frames, size, size), dtype=np.uint8))
    for i in range(n_dirs):
        folder = root / f"frames{i}"
        folder.mkdir()
        for t in range(frames):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{t:03d}.png")
    return root


def test_video_folder_loads_gifs_and_frame_folders(tmp_path):
    folder = make_clip_folder(tmp_path / "clips", n_gif=6, n_dirs=4)
    data = genlab.load_dataset(f"video:{folder}", size=16, frames=5, context_frames=2, channels=3)
    assert data.info.kind == "video" and data.info.shape == (5, 3, 16, 16) and data.info.context_frames == 2
    assert (len(data.train), len(data.val), len(data.test)) == (8, 1, 1)
    assert data.train.get(torch.arange(2))["x"].dtype == torch.uint8
    again = genlab.load_dataset(f"video:{folder}", size=16, frames=5, context_frames=2, channels=3)
    assert torch.equal(again.test.get(torch.arange(1))["x"], data.test.get(torch.arange(1))["x"])
    # a frame folder's frames in name order, exactly (no resizing at its own size)
    clip = read_clip(folder / "frames0", 3)
    first = np.asarray(Image.open(folder / "frames0" / "000.png")).transpose(2, 0, 1)
    assert clip.shape == (6, 3, 20, 20) and np.array_equal(clip[0], first)


def test_video_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds 0 clip"):
        genlab.load_dataset(f"video:{empty}")
    with pytest.raises(DataError, match="does not exist"):
        genlab.load_dataset(f"video:{tmp_path / 'nowhere'}")
    short = make_clip_folder(tmp_path / "short", frames=3)
    with pytest.raises(DataError, match="has 3 frame"):
        genlab.load_dataset(f"video:{short}", frames=5, context_frames=2)
    mixed = make_clip_folder(tmp_path / "mixed")
    Image.fromarray(np.zeros((10, 12), dtype=np.uint8)).save(mixed / "frames0" / "0015.png")  # the third frame
    with pytest.raises(DataError, match="mixes frame sizes"):
        genlab.load_dataset(f"video:{mixed}", frames=5, context_frames=2)
    broken = make_clip_folder(tmp_path / "broken")
    (broken / "clip0.gif").write_bytes(b"not a gif")
    with pytest.raises(DataError, match="not a readable clip"):
        genlab.load_dataset(f"video:{broken}", frames=5, context_frames=2)
    no_frames = make_clip_folder(tmp_path / "noframes")
    (no_frames / "extra").mkdir()
    with pytest.raises(DataError, match="holds no frames"):
        genlab.load_dataset(f"video:{no_frames}", frames=5, context_frames=2)
    mp4 = make_clip_folder(tmp_path / "mp4")
    (mp4 / "movie.mp4").write_bytes(b"\x00")
    with pytest.raises(DataError, match="ffmpeg"):
        genlab.load_dataset(f"video:{mp4}", frames=5, context_frames=2)
    with pytest.raises(DataError, match="context_frames"):
        genlab.load_dataset(f"video:{mp4}", frames=5, context_frames=5)


# ---- metrics ---------------------------------------------------------------------------------------------
def test_mse_per_frame_against_numpy():
    truth, pred = random_clips(3, 6, seed=2), random_clips(3, 6, seed=3)
    scores = frame_scores(pred, truth)
    p, q = pred.numpy().astype(np.float64) / 255, truth.numpy().astype(np.float64) / 255
    se = ((p - q) ** 2).reshape(3, 6, -1).sum(-1)
    assert np.allclose(scores["se"].numpy(), se)
    assert np.allclose(scores["ae"].numpy(), np.abs(p - q).reshape(3, 6, -1).sum(-1))


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity as sk_ssim

    from genlab.evaluation.restoration import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.random((2, 24, 20))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    ours = structural_similarity(torch.from_numpy(a), torch.from_numpy(b), 1.0)
    for i in range(2):
        theirs = sk_ssim(a[i], b[i], data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert float(ours[i]) == pytest.approx(theirs, abs=1e-10)


class Oracle:
    """A stand-in predictor: the truth with a fixed offset on the future frames."""

    def __init__(self, data, offset=10):
        self.data_info, self.device, self.offset, self.data = data.info, torch.device("cpu"), offset, data

    def sample(self, n, condition=None):
        tc = condition.shape[1]
        clips = self.seen[: n]
        self.seen = self.seen[n:]
        out = clips.long().clone()
        out[:, tc:] = (out[:, tc:] + self.offset).clamp(0, 255)
        return out


def test_evaluate_prediction_against_numpy(moving_digits):
    split = moving_digits.test
    oracle = Oracle(moving_digits)
    oracle.seen = split.get(torch.arange(20))["x"]
    result = evaluate_prediction(oracle, split, max_examples=20, batch_size=8)
    x = split.get(torch.arange(20))["x"].numpy().astype(np.float64) / 255
    pred = np.minimum(x[:, 5:] + 10 / 255, 1.0)
    assert result["mse_per_frame"] == pytest.approx(((pred - x[:, 5:]) ** 2).reshape(20, 5, -1).sum(-1).mean())
    assert result["mae_per_frame"] == pytest.approx(np.abs(pred - x[:, 5:]).reshape(20, 5, -1).sum(-1).mean())
    copy = np.repeat(x[:, 4:5], 5, axis=1)
    assert result["copy_last"]["mse_per_frame"] == pytest.approx(((copy - x[:, 5:]) ** 2).reshape(20, 5, -1).sum(-1).mean())
    assert 0 < result["ssim"] <= 1 and len(result["mse_by_frame"]) == 5
    assert result["mse_by_frame"] == pytest.approx(((pred - x[:, 5:]) ** 2).reshape(20, 5, -1).sum(-1).mean(0))
    from skimage.metrics import structural_similarity as sk_ssim  # the averaged SSIM of the figures, independently

    theirs = np.array([[sk_ssim(pred[i, j, 0], x[i, 5 + j, 0], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False) for j in range(5)] for i in range(20)])
    assert result["ssim"] == pytest.approx(theirs.mean(), abs=1e-9)
    assert result["ssim_by_frame"] == pytest.approx(theirs.mean(0), abs=1e-9)
    assert (result["num_examples"], result["context_frames"], result["predicted_frames"]) == (20, 5, 5)

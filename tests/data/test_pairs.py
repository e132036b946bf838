"""Translation pairs: the Sobel edge maps of digits-edges / mnist-edges, and pairs:DIR folders with their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

import genlab
from genlab.data.pairs import EDGE_THRESHOLD, sobel_edges
from genlab.errors import DataError


def scipy_edges(image: np.ndarray) -> np.ndarray:
    """The same detector written independently: scipy's Sobel (zero outside), magnitude >= threshold."""
    gx = ndimage.sobel(image, axis=1, mode="constant")
    gy = ndimage.sobel(image, axis=0, mode="constant")
    return np.hypot(gx, gy) >= EDGE_THRESHOLD


# ---- edges ----------------------------------------------------------------------------------------
def test_a_square_has_an_outline_and_no_inside():
    img = torch.zeros(1, 1, 12, 12, dtype=torch.uint8)
    img[..., 3:9, 3:9] = 255
    edges = sobel_edges(img, 256)[0, 0]
    assert set(edges.unique().tolist()) == {0, 255}
    assert not edges[5:7, 5:7].any()  # the flat inside
    assert not edges[:1].any() and not edges[:, 11:].any()  # the flat outside, away from the square
    assert edges[3, 3:9].all() and edges[2, 4:8].all()  # both sides of the top border
    assert edges[3:9, 8].all() and edges[4:8, 9].all()  # ... and of the right border


def test_edges_match_an_independent_sobel_on_real_digits(digits_edges):
    data = genlab.load_dataset("digits")
    for split_name in ("train", "val", "test"):
        pairs, plain = getattr(digits_edges, split_name), getattr(data, split_name)
        assert torch.equal(pairs.images, plain.images)  # the targets are the digits themselves
        assert torch.equal(pairs.labels, plain.labels)  # labels kept
    for i in range(20):
        image = data.test.images[i, 0].numpy().astype(np.float64) / 16
        want = scipy_edges(image).astype(np.uint8) * 16
        assert np.array_equal(digits_edges.test.inputs[i, 0].numpy(), want), i


def test_digits_edges_is_an_image_pair_data_set(digits_edges):
    info = digits_edges.info
    assert (info.kind, info.shape, info.levels, info.num_classes) == ("image-pair", (1, 8, 8), 17, 10)
    assert (len(digits_edges.train), len(digits_edges.val), len(digits_edges.test)) == (1000, 350, 447)
    batch = digits_edges.train.get(torch.arange(4))
    assert set(batch) == {"x", "source", "y"} and batch["source"].shape == (4, 1, 8, 8)
    assert set(digits_edges.train.inputs.unique().tolist()) == {0, 16}


def test_mnist_edges_keeps_mnist_splits(mnist_root):
    data = genlab.load_dataset("mnist-edges", root=mnist_root, val_size=1000)
    assert (len(data.train), len(data.val), len(data.test)) == (59000, 1000, 10000)
    assert data.info.shape == (1, 28, 28) and data.info.levels == 256 and data.info.kind == "image-pair"
    image = data.test.images[0, 0].numpy() / 255.0
    assert np.array_equal(data.test.inputs[0, 0].numpy() > 0, scipy_edges(image))
    assert data.test.labels[0] == 7


# ---- pairs:DIR ------------------------------------------------------------------------------------
def write_pairs(root, n: int, size=(12, 12), rgb_b: bool = False, suffix_b: str = ".png"):
    """A/k.png is flat grey level 10 k and B/k is flat 250 - 10 k, so a pair can be recognised."""
    for sub in ("A", "B"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.fromarray(np.full(size[::-1], 10 * k, np.uint8)).save(root / "A" / f"{k:03d}.png")
        b = np.full(size[::-1] + ((3,) if rgb_b else ()), 250 - 10 * k, np.uint8)
        Image.fromarray(b).save(root / "B" / f"{k:03d}{suffix_b}")
    return root


def test_pairs_folder_reads_aligned_pairs(tmp_path):
    write_pairs(tmp_path / "p", 10, size=(16, 12))
    data = genlab.load_dataset(f"pairs:{tmp_path / 'p'}", size=8, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert data.info.kind == "image-pair" and data.info.shape == (1, 8, 8) and data.info.levels == 256
    assert (len(data.train), len(data.val), len(data.test)) == (7, 2, 1)
    seen = []
    for split in (data.train, data.val, data.test):
        batch = split.get(torch.arange(len(split)))
        assert batch["x"].shape[1:] == (1, 8, 8) and "y" not in batch
        a, b = batch["source"].long(), batch["x"].long()
        assert torch.equal(a + b, torch.full_like(a, 250))  # each source sits with its own target
        seen += (a[:, 0, 0, 0] // 10).tolist()
    assert sorted(seen) == list(range(10))
    again = genlab.load_dataset(f"pairs:{tmp_path / 'p'}", size=8, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert torch.equal(again.val.images, data.val.images)  # the split is seeded


def test_pairs_folder_channels_and_suffixes(tmp_path):
    write_pairs(tmp_path / "p", 4, rgb_b=True, suffix_b=".jpg")  # A/k.png with B/k.jpg, B in colour
    data = genlab.load_dataset(f"pairs:{tmp_path / 'p'}", size=12)
    assert data.info.shape == (3, 12, 12)  # one colour picture: RGB for both
    assert data.train.inputs.shape[1] == 3 and data.val is not None and data.test is None
    grey = genlab.load_dataset(f"pairs:{tmp_path / 'p'}", size=12, channels=1)
    assert grey.info.shape == (1, 12, 12)


@pytest.mark.parametrize("case, needles", [
    ("no-a", ["no A/ folder", "A/ (the sources)"]),
    ("no-both", ["no A/ and no B/ folder"]),
    ("unpaired", ["do not pair up", "2 only in A/ (003.png, 004.png)", "1 only in B/ (extra.png)"]),
    ("unreadable", ["could not be read", "001.png"]),
    ("too-few", ["holds 1 pair(s): too few"]),
    ("aspect", ["differ in aspect ratio", "000 (A 12x12, B 24x12)"]),
    ("missing", ["does not exist"]),
])
def test_pairs_folder_errors_are_one_line(tmp_path, case, needles):
    root = tmp_path / "p"
    if case == "no-a":
        write_pairs(root, 3)
        for f in (root / "A").iterdir():
            f.unlink()
        (root / "A").rmdir()
    elif case == "no-both":
        root.mkdir()
    elif case == "unpaired":
        write_pairs(root, 5)
        (root / "B" / "003.png").unlink()
        (root / "B" / "004.png").rename(root / "B" / "extra.png")
    elif case == "unreadable":
        write_pairs(root, 3)
        (root / "B" / "001.png").write_bytes(b"not a picture")
    elif case == "too-few":
        write_pairs(root, 1)
    elif case == "aspect":
        write_pairs(root, 3)
        Image.fromarray(np.zeros((12, 24), np.uint8)).save(root / "B" / "000.png")
    with pytest.raises(DataError) as e:
        genlab.load_dataset(f"pairs:{root}", size=8)
    message = str(e.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)

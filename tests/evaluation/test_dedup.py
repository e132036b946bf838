"""De-duplication and nearest-neighbour search (genlab.evaluation.dedup) on planted duplicates."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

import genlab
from genlab.data import ImageSplit
from genlab.data.exclude import Exclusion, exclude_examples, read_exclude_file
from genlab.errors import DataError
from genlab.evaluation import dedup


def shifted(image: torch.Tensor) -> torch.Tensor:
    """``image`` moved one pixel right, zeros coming in."""
    out = torch.zeros_like(image)
    out[..., 1:] = image[..., :-1]
    return out


@pytest.fixture(scope="module")
def planted(digits):
    """digits' training images plus an exact copy of 5, a copy of 7 shifted by a pixel, a copy of 9 with three
    pixels one level brighter, and an unrelated image (a checkerboard)."""
    images, labels = digits.train.images, digits.train.labels
    noisy = images[9].clone()
    noisy[0, 3, 2:5] = (noisy[0, 3, 2:5] + 1).clamp(max=16)
    checker = ((torch.arange(8)[:, None] + torch.arange(8)[None]) % 2 * 16).to(torch.uint8)[None]
    extra = torch.stack([images[5], shifted(images[7]), noisy, checker])
    return dataclasses.replace(digits, train=ImageSplit(torch.cat([images, extra]),
                                                        torch.cat([labels, labels[[5, 7, 9, 0]]])))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))


def test_planted_duplicates_are_grouped_and_an_unrelated_image_is_not(planted):
    report = dedup.find_duplicates(planted, threshold=0.003)
    assert report["examples"] == 1004
    assert report["exact"]["groups"] == [[5, 1000]]
    groups = [g["indices"] for g in report["near"]["groups"]]
    assert groups == [[5, 1000], [7, 1001], [9, 1002]]  # nothing else in digits is this close
    assert report["exclude"] == ["train:1000", "train:1001", "train:1002"]  # the first of each group stays
    assert report["overlap"] == {"split": "test", "examples": 447, "exact": 0, "near": 0, "pairs": [], "listed": 0,
                                 "train_twins": []}
    assert report["nearest_distance_quantiles"]["p0.1"] < 0.003 < report["nearest_distance_quantiles"]["p50"]


def test_overlap_counts_held_out_copies(digits):
    train = digits.train
    data = dataclasses.replace(digits, train=ImageSplit(torch.cat([train.images, digits.test.images[:2]]),
                                                        torch.cat([train.labels, digits.test.labels[:2]])))
    o = dedup.find_duplicates(data)["overlap"]
    assert (o["exact"], o["near"]) == (2, 2)
    assert [(p["example"], p["train"], p["exact"]) for p in o["pairs"]] == [(0, 1000, True), (1, 1001, True)]
    assert o["train_twins"] == [1000, 1001]


def test_search_finds_the_planted_original_first(planted):
    results = dedup.search_examples(planted, shifted(planted.train.images[7]), k=3)
    assert {results[0]["index"], results[1]["index"]} == {7, 1001}
    assert results[0]["distance"] < 1e-3 and results[0]["label"] == planted.train.labels[7]
    assert [r["rank"] for r in results] == [1, 2, 3]
    exact = dedup.search_examples(planted, planted.train.images[42], k=1)[0]
    assert exact["index"] == 42 and exact["distance"] == pytest.approx(0, abs=1e-6)


def test_embeddings_are_cached_by_content(planted, tmp_path):
    embedder = dedup.Embedder(planted)
    first = embedder.split("train")[2]
    files = list((tmp_path / "cache" / "embeddings").glob("*.npy"))
    assert len(files) == 1
    np.save(files[0], np.zeros_like(first))  # the cache is read back, not recomputed
    assert not embedder.split("train")[2].any()
    assert embedder.split("test")[2].any()  # another split: another key


def exact_jaccard(a: str, b: str, k: int = dedup.SHINGLE) -> float:
    def shingles(s):
        return {s} if len(s) <= k else {s[i:i + k] for i in range(len(s) - k + 1)}
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def test_minhash_estimates_the_exact_jaccard_similarity():
    texts = ["the quick brown fox jumps over the lazy dog", "the quick brown fox jumped over the lazy dog",
             "the quick brown cat jumps over a lazy dog", "pack my box with five dozen liquor jugs",
             "the quick brown fox", "abc"]
    hasher = dedup.MinHasher(num_perm=256)
    sigs = hasher.signatures(texts)
    for i, j in itertools.combinations(range(len(texts)), 2):
        estimate = 1 - float(dedup.jaccard_distance(sigs[i], sigs[j]))
        assert estimate == pytest.approx(exact_jaccard(texts[i], texts[j]), abs=0.1), (texts[i], texts[j])
    assert dedup.jaccard_distance(sigs[0], hasher.signature(texts[0])) == 0


def test_text_lines_exact_and_near_duplicates(tmp_path):
    lines = ["to be or not to be, that is the question", "whether tis nobler in the mind to suffer",
             "the slings and arrows of outrageous fortune", "To  be or not to be, THAT is the question",
             "whether 'tis nobler in the mind to suffer", "short", "or to take arms against a sea of troubles"]
    path = tmp_path / "t.txt"
    path.write_text("\n".join(lines * 1) + "\n" + "and by opposing end them. to die, to sleep\n" * 2)
    data = genlab.load_dataset(f"text:{path}", train_fraction=0.75)
    report = dedup.find_duplicates(data)
    assert report["exact"]["groups"] == [[0, 3]]  # normalised: case and spaces
    assert [g["indices"] for g in report["near"]["groups"]] == [[0, 3], [1, 4]]
    assert report["overlap"]["split"] == "val"  # no test split: the validation text
    results = dedup.search_examples(data, "Whether tis nobler in the mind to suffer!", k=2)
    assert results[0]["index"] == 1 and results[0]["text"].startswith("whether tis")
    dropped = exclude_examples(data, Exclusion([3, 4]))
    assert len(dropped.train.tokens) == len(data.train.tokens) - len(lines[3]) - len(lines[4]) - 2


def test_exclusion_lists_are_checked(tmp_path, digits):
    path = tmp_path / "exclude.txt"
    path.write_text("# a comment\n\ntrain:3\ntrain:1\ntrain:3\n")
    exclusion = read_exclude_file(path, 1000)
    assert exclusion.indices == [1, 3] and len(exclusion.sha256) == 64
    smaller = exclude_examples(digits, exclusion)
    assert len(smaller.train) == 998 and torch.equal(smaller.train.images[1], digits.train.images[2])
    for text, needle in [("train:3\nfoo\n", "line 2: 'foo' is not split:index"), ("test:3\n", "names the test split"),
                         ("train:1000\n", "line 1: index 1000 is past the 1,000 training examples")]:
        path.write_text(text)
        with pytest.raises(DataError, match=needle):
            read_exclude_file(path, 1000)


def test_overlap_with_no_training_lines_is_empty_not_an_error(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a\nb\nc\nd\ne\nf\ng\nh\ni\nand this validation line is long enough to count\n")
    data = genlab.load_dataset(f"text:{path}", train_fraction=0.4)  # every training line is under 20 characters
    report = dedup.find_duplicates(data)
    assert report["overlap"]["examples"] == 1 and report["overlap"]["near"] == 0 and report["overlap"]["exact"] == 0


def test_flat_images_are_never_near_duplicates_of_each_other():
    flat = torch.stack([torch.zeros(1, 8, 8, dtype=torch.long), torch.full((1, 8, 8), 16, dtype=torch.long),
                        torch.full((1, 8, 8), 16, dtype=torch.long)])
    emb = dedup.pixel_embeddings(flat, 17)
    assert not emb.any()  # no rounding noise blown up to unit length
    assert dedup.image_pairs(emb, threshold=0.5) == []  # black and white are not alike; the two whites are exact twins


def test_exclusion_works_for_whole_clip_audio():
    tones = genlab.load_dataset("synthetic-tones", num=30, length=256)
    kept = exclude_examples(tones, Exclusion([0, 3]))
    assert len(kept.train.windows(None)) == len(tones.train) - 2  # whole clips: no windows to refuse
    assert torch.equal(kept.train.get(torch.tensor([0]))["x"], tones.train.get(torch.tensor([1]))["x"])


def test_image_distances_are_cosine_distances_of_the_embeddings(digits):
    """The distances the report and the MNIST figures use, against numpy's cosine distance on the same
    embeddings, and each embedding against its definition (centred, mean taken off, unit length)."""
    images = digits.train.images[:50]
    emb = dedup.pixel_embeddings(images, 17)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5) and np.allclose(emb.mean(1), 0, atol=1e-6)
    dist, idx = dedup.nearest(emb, emb[:7], k=4)
    a = emb.astype(np.float64)
    cosine = 1 - (a[:7] @ a.T) / np.outer(np.linalg.norm(a[:7], axis=1), np.linalg.norm(a, axis=1))
    assert np.allclose(dist, np.take_along_axis(cosine, idx, axis=1), atol=1e-5)
    assert np.allclose(np.sort(cosine, axis=1)[:, :4], np.sort(dist, axis=1), atol=1e-5)  # and they are the nearest

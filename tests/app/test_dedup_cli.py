"""`genlab data dedup`, `genlab search` and `genlab train --exclude` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import genlab
from cli_helpers import assert_one_line_error, last_json, run_cli
from genlab.app import service
from genlab.runs import load_run_data, read_run_file

TINY_VAE = ["--set", "hidden=[32]", "--set", "latent_dim=4", "--set", "iw_samples=5", "--batch-size", "16",
            "--progress", "false"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def folder(tmp_path, digits):
    """40 digits as 8x8 PNGs plus two exact copies of the first and one of the second shifted by a pixel."""
    root = tmp_path / "pictures"
    root.mkdir()
    images = (digits.train.images[:40, 0].numpy().astype(np.uint16) * 255 // 16).astype(np.uint8)
    for i, image in enumerate(images):
        Image.fromarray(image).save(root / f"d{i:02d}.png")
    for name in ("copy-a", "copy-b"):
        Image.fromarray(images[0]).save(root / f"{name}.png")
    Image.fromarray(np.roll(images[1], 1, axis=1)).save(root / "shift.png")
    return root


def test_dedup_writes_the_report_and_an_exclusion_list_training_honours(tmp_path, folder):
    out = tmp_path / "report"
    spec = f"images:{folder}"
    code, stdout, err = run_cli("data", "dedup", spec, "--data-arg", "size=8", "--out", out, "--threshold", "0.003")
    assert code == 0, err
    summary = last_json(stdout)
    report = json.loads((out / "report.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["duplicates.png", "exclude-overlap.txt", "exclude.txt",
                                                    *(["overlap.png"] if report["overlap"]["pairs"] else []),
                                                    "report.json", "report.md"]
    assert sorted(report["files"]) == sorted(str(p) for p in out.iterdir())
    data = genlab.load_dataset(spec, size=8)
    places = {}  # where the planted copies fell in the shuffled 80/10/10 split, found independently
    for split in ("train", "val", "test"):
        for i, image in enumerate(data.split(split).images):
            places.setdefault(image.numpy().tobytes(), []).append((split, i))
    copies = [where for where in places.values() if len(where) > 1]
    assert len(copies) == 1 and len(copies[0]) == 3  # the first digit, three times
    train_copies = sorted(i for split, i in copies[0] if split == "train")
    test_copies = [i for split, i in copies[0] if split == "test"]
    assert len(train_copies) >= 2  # with this seed; the test needs a group in train
    assert report["exact"]["groups"] == [train_copies]
    assert train_copies in [g["indices"] for g in report["near"]["groups"]]
    assert report["overlap"]["exact"] == len(test_copies)
    twins = [x for x in (out / "exclude-overlap.txt").read_text().splitlines() if not x.startswith("#")]
    assert twins == [f"train:{i}" for i in report["overlap"]["train_twins"]]
    assert set(report["overlap"]["train_twins"]) == {p["train"] for p in report["overlap"]["pairs"]}
    if test_copies:
        assert train_copies[0] in report["overlap"]["train_twins"] or train_copies[1] in report["overlap"]["train_twins"]
    assert summary["excluded"] == len(report["exclude"]) == sum(len(g["indices"]) - 1 for g in report["near"]["groups"])
    lines = [x for x in (out / "exclude.txt").read_text().splitlines() if not x.startswith("#")]
    assert lines == report["exclude"]
    assert "# Duplicates in" in (out / "report.md").read_text()

    code, stdout, err = run_cli("data", "dedup", spec, "--data-arg", "size=8", "--out", out)
    assert_one_line_error(code, stdout, err, "already exists", "--overwrite")

    # training leaves the listed examples out, records them, and a resume leaves out the same
    excl = tmp_path / "exclude.txt"
    excl.write_text("train:0\ntrain:2\ntrain:5\n")
    run = tmp_path / "run"
    code, stdout, err = run_cli("train", "vae", "--data", "digits", "--exclude", excl, "--steps", "2", "--out", run,
                                *TINY_VAE)
    assert code == 0, err
    recorded = read_run_file(run)["data"]["exclude"]
    assert recorded["count"] == 3 and recorded["indices"] == [0, 2, 5] and len(recorded["sha256"]) == 64
    assert len(load_run_data(run).train) == 997
    excl.write_text("train:7\n")  # changed since: the run keeps its own list
    code, stdout, err = run_cli("train", "--resume", run, "--steps", "3")
    assert code == 0, err
    assert read_run_file(run)["data"]["exclude"]["indices"] == [0, 2, 5]
    assert len(load_run_data(run).train) == 997
    code, stdout, err = run_cli("train", "--resume", run, "--steps", "4", "--exclude", excl)
    assert_one_line_error(code, stdout, err, "is not what", "drop --exclude")
    # fine-tuning on the run's own data keeps its list; a new --exclude replaces it
    code, stdout, err = run_cli("train", "--init-from", run, "--steps", "1", "--out", tmp_path / "tuned")
    assert code == 0, err
    assert read_run_file(tmp_path / "tuned")["data"]["exclude"]["indices"] == [0, 2, 5]
    assert len(load_run_data(tmp_path / "tuned").train) == 997
    code, stdout, err = run_cli("train", "--init-from", run, "--steps", "1", "--out", tmp_path / "tuned2",
                                "--exclude", excl)
    assert code == 0, err
    assert read_run_file(tmp_path / "tuned2")["data"]["exclude"]["indices"] == [7]


@pytest.mark.parametrize("text, needles", [("train:1\nnonsense\n", ["line 2", "'nonsense' is not split:index",
                                                                       "train:12"]),
                                          ("train:1000\n", ["line 1", "past the 1,000 training examples"]),
                                          ("val:3\n", ["line 1", "names the val split"])])
def test_a_bad_exclusion_list_is_one_line(tmp_path, text, needles):
    excl = tmp_path / "exclude.txt"
    excl.write_text(text)
    code, stdout, err = run_cli("train", "vae", "--data", "digits", "--exclude", excl, "--steps", "1",
                                "--out", tmp_path / "run", *TINY_VAE)
    assert_one_line_error(code, stdout, err, *needles)
    assert not (tmp_path / "run").exists()


def test_search_cli_finds_the_query_itself(tmp_path, digits):
    query = tmp_path / "query.png"
    service.write_picture(17, digits.train.images[123], query)
    code, stdout, err = run_cli("search", "digits", query, "-k", "3", "--json", "--out", tmp_path / "found")
    assert code == 0, err
    results = json.loads(stdout)
    assert [r["rank"] for r in results] == [1, 2, 3]
    assert results[0]["index"] == 123 and results[0]["distance"] < 1e-6 and results[0]["split"] == "train"
    assert (tmp_path / "found" / "search.png").is_file()
    code, stdout, err = run_cli("search", "digits", query, "--out", tmp_path / "found")
    assert_one_line_error(code, stdout, err, "search.json' already exists", "--overwrite")
    assert run_cli("search", "digits", query, "--out", tmp_path / "found", "--overwrite")[0] == 0
    picture, media = service.example_file("digits", "train", 123)
    assert media == "image/png" and picture.startswith(b"\x89PNG")
    code, stdout, err = run_cli("search", "digits", query)
    assert code == 0 and stdout.splitlines()[0].startswith("1. train:123  distance 0.0")
    code, stdout, err = run_cli("search", "digits", tmp_path / "missing.png")
    assert_one_line_error(code, stdout, err, "missing.png")


def test_search_text_by_minhash(tmp_path, text_file):
    query = tmp_path / "q.txt"
    query.write_text("a bad cab faced a dead bee; abcabc abba baba!")
    code, stdout, err = run_cli("search", f"text:{text_file}", query, "-k", "2", "--json")
    assert code == 0, err
    results = json.loads(stdout)
    assert results[0]["text"] == "a bad cab faced a dead bee; abcabc abba baba." and results[0]["distance"] < 0.2
    line, media = service.example_file(f"text:{text_file}", "train", results[0]["index"])
    assert line.decode() == "a bad cab faced a dead bee; abcabc abba baba.\n" and media.startswith("text/plain")

"""Provenance end to end: `genlab sample` stamps what it writes, `genlab provenance` shows it, and
`genlab train` refuses a folder of generated pictures unless --allow-synthetic (counted in run.json)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from genlab import provenance
from genlab.files import CONFIG_FILE

from cli_helpers import assert_one_line_error, last_json, run_cli


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("prov") / "vae-run"
    code, out, err = run_cli("train", "vae", "--data", "digits", "--steps", "3", "--out", run, "--set", "hidden=[16]",
                             "--eval-every", "3", "--progress", "false")
    assert code == 0, err
    return run


def test_sample_stamps_the_file_with_its_run_weights_seed_and_arguments(vae_run, tmp_path):
    target = tmp_path / "s.png"
    code, out, err = run_cli("sample", vae_run, "--num", "4", "--seed", "5", "--temperature", "0.5",
                             "--sample-arg", "mode=mean", "--out", target)
    assert code == 0, err
    found = provenance.read(target)
    assert found.source == "sidecar"
    rec = found.record
    saved = json.loads((vae_run / "best" / CONFIG_FILE).read_text())
    assert rec["synthetic"] is True and rec["command"] == "sample" and rec["kind"] == "image"
    assert rec["generator"]["run"] == str(vae_run.resolve()) and rec["generator"]["model"] == "vae"
    assert rec["generator"]["weights_sha256"] == saved["weights_sha256"]
    assert rec["generator"]["weights"] == str((vae_run / "best").resolve())
    assert rec["seed"] == 5 and rec["sampling"] == {"temperature": 0.5, "mode": "mean", "num": 4}
    with Image.open(target) as im:
        assert json.loads(im.info[provenance.KEY]) == rec  # inside the PNG too

    code, out, err = run_cli("provenance", target)
    assert code == 0, err
    assert "synthetic, made by genlab" in out and "vae" in out and saved["weights_sha256"] in out
    assert "temperature=0.5" in out and "seed     5" in out
    code, out, err = run_cli("provenance", "--json", target, vae_run / "run.json")
    assert code == 0, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["provenance"] == rec and first["source"] == "sidecar"
    assert second == {"file": str(vae_run / "run.json"), "source": None, "provenance": None}
    code, out, err = run_cli("provenance", vae_run / "run.json")
    assert code == 0 and out.strip().endswith("no genlab provenance")
    assert_one_line_error(*run_cli("provenance", tmp_path / "missing.png"), "does not exist")


def test_training_on_generated_pictures_needs_allow_synthetic(vae_run, tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"real{i}.png")
    for seed in (1, 2):
        code, _, err = run_cli("sample", vae_run, "--num", "1", "--seed", seed, "--out", folder / f"fake{seed}.png")
        assert code == 0, err
    train = ("train", "vae", "--data", f"images:{folder}", "--data-arg", "size=8", "--steps", "1", "--set",
             "hidden=[8]", "--progress", "false", "--eval-every", "1")
    assert_one_line_error(*run_cli(*train, "--out", tmp_path / "refused"), "2 images in", "marked synthetic",
                          "fake1.png", "--allow-synthetic")
    assert not (tmp_path / "refused").exists()
    code, out, err = run_cli(*train, "--out", tmp_path / "allowed", "--allow-synthetic")
    assert code == 0, err
    data = json.loads((tmp_path / "allowed" / "run.json").read_text())["data"]
    assert data["synthetic_examples"] == 2 and data["options"]["allow_synthetic"] is True
    assert last_json(out)["steps"] == 1
    assert_one_line_error(*run_cli("train", "vae", "--data", "digits", "--allow-synthetic", "--steps", "1",
                                   "--out", tmp_path / "digits"),
                          "allow_synthetic", "images:", "text:")  # names every loader that takes it


def test_training_on_generated_text_needs_allow_synthetic(tmp_path, session_text_file):
    run = tmp_path / "lstm"
    code, _, err = run_cli("train", "lstm", "--data", f"text:{session_text_file}", "--steps", "1", "--out", run,
                           "--set", "hidden_size=8", "--set", "embedding_dim=8", "--set", "block_size=8",
                           "--progress", "false")
    assert code == 0, err
    generated = tmp_path / "generated.txt"
    code, _, err = run_cli("sample", run, "--num", "2", "--max-new-tokens", "200", "--out", generated)
    assert code == 0, err
    assert provenance.read(generated).source == "sidecar"  # text files carry the sidecar only
    train = ("train", "lstm", "--data", f"text:{generated}", "--steps", "1", "--set", "hidden_size=8",
             "--set", "embedding_dim=8", "--set", "block_size=8", "--progress", "false")
    assert_one_line_error(*run_cli(*train, "--out", tmp_path / "refused"), "marked synthetic", "--allow-synthetic")
    assert not (tmp_path / "refused").exists()
    code, _, err = run_cli(*train, "--out", tmp_path / "taken", "--allow-synthetic")
    assert code == 0, err
    assert json.loads((tmp_path / "taken" / "run.json").read_text())["data"]["synthetic_examples"] == 1

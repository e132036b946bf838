"""``genlab demo`` and ``genlab bench``, shortened: they run end to end and leave usable runs."""

from __future__ import annotations

import json
import math

import pytest

import genlab
from genlab.app.cli import main


def test_demo_writes_its_pictures_and_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "4"]) == 0
    printed = capsys.readouterr().out
    assert "test NLL:" in printed and "nats per image" in printed
    for name in ("samples.png", "reconstructions.png", "training_curve.png", "metrics.jsonl", "run.json"):
        assert (out / name).is_file(), name
    assert genlab.models.io.read_config(out / "checkpoint")["step"] == 4
    assert genlab.load(out / "best").name == "vae"


def test_bench_out_keeps_the_run_to_sample_and_evaluate(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "vae-digits", "--quick", "--json", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    run = out / "runs" / "vae"
    assert result["runs"] == [str(run)]
    assert genlab.models.io.read_config(run / "checkpoint")["step"] == result["steps"]
    # the kept run is a run folder like any other: sample it, evaluate it
    assert main(["sample", str(run), "--num", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    capsys.readouterr()
    assert main(["eval", str(run), "--json", "--iw-samples", "2", "--max-examples", "16"]) == 0
    assert math.isfinite(json.loads(capsys.readouterr().out)["nll_nats"])
    # the best weights are those the benchmark scored
    best = genlab.load(run / "best")
    assert genlab.evaluate(best, genlab.load_dataset("digits"), "test", num_samples=10)["nll_nats"] == \
        pytest.approx(result["test_nll_nats"], abs=1e-3)


def test_bench_out_does_not_replace_a_kept_run(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "pixelcnn-digits", "--quick", "--json", "--out", str(out)]) == 0
    before = (out / "runs" / "pixelcnn" / "checkpoint" / "model.safetensors").read_bytes()
    assert main(["bench", "pixelcnn-digits", "--quick", "--json", "--out", str(out)]) == 2
    assert "genlab: error:" in capsys.readouterr().err
    assert (out / "runs" / "pixelcnn" / "checkpoint" / "model.safetensors").read_bytes() == before

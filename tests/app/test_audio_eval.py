"""`genlab eval RUN --metrics all` of an audio model: the spoken-digit classifier's metrics."""

from __future__ import annotations

import json

import genlab
from cli_helpers import run_cli
from genlab.evaluation.features import save_feature_network, train_feature_network

SMALL = dict(channels=[8, 16], feature_dim=32)


def test_eval_scores_a_conditional_wavenet_with_the_audio_classifier(tmp_path):
    spec = ["--data", "synthetic-tones", "--data-arg", "num=60", "--data-arg", "length=256"]
    code, out, err = run_cli("train", "wavenet", *spec, "--steps", "3", "--batch-size", "8", "--set", "conditional=true",
                             "--set", "channels=8", "--set", "gate_channels=8", "--set", "skip_channels=8",
                             "--set", "layers_per_stack=3", "--set", "stacks=1", "--out", tmp_path / "run",
                             "--progress", "false")
    assert code == 0, err
    data = genlab.load_dataset("synthetic-tones", num=60, length=256)
    net = train_feature_network(data, steps=5, batch_size=16, seed=0, progress=False, **SMALL)
    save_feature_network(net, tmp_path / "features")
    code, out, err = run_cli("eval", tmp_path / "run", "--metrics", "all", "--features", tmp_path / "features",
                             "--num-samples", "10", "--json")
    assert code == 0, err
    quality = json.loads(out.strip().splitlines()[-1])["quality"]
    assert quality["num_samples"] == 10 and quality["features"] == net.content_hash
    assert 0.0 <= quality["accuracy"] <= 1.0 and 1.0 <= quality["inception_score"] <= 10.0 + 1e-6
    assert quality["fd"] >= 0 and quality["sampling_s_per_image"] > 0
    code, out, err = run_cli("eval", tmp_path / "run", "--metrics", "all", "--features", tmp_path / "features",
                             "--num-samples", "10")
    assert code == 0, err
    assert "inception score" in out and "asked class heard" in out

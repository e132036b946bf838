"""Sample-quality evaluation end to end: scoring images, `genlab eval --metrics`, `genlab compare`."""

from __future__ import annotations

import json

import pytest
import torch

import genlab
from genlab.cli import main
from genlab.evaluation.features import save_feature_network, train_feature_network
from genlab.evaluation.quality import parse_metrics, sample_quality, score_images

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def feature_net(tmp_path_factory):
    data = genlab.load_dataset("digits")
    net = train_feature_network(data, steps=150, batch_size=64, progress=False)
    folder = tmp_path_factory.mktemp("features") / "digits"
    save_feature_network(net, folder)
    return net, folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two short runs on digits, made by the CLI: a DCGAN and a VAE."""
    root = tmp_path_factory.mktemp("runs")
    small = ["--set", "progress=false", "--steps", "30", "--batch-size", "32"]
    assert main(["train", "dcgan", "--out", str(root / "gan"), "--latent_dim", "8", "--generator_channels", "[16, 8]",
                 "--discriminator_channels", "[8, 16]", *small]) == 0
    assert main(["train", "vae", "--out", str(root / "vae"), "--hidden", "[32]", "--latent_dim", "4", *small]) == 0
    return root


def test_parse_metrics():
    assert parse_metrics("all") == ["fid", "kid", "precision", "recall", "coverage", "memorisation"]
    assert parse_metrics("FID, kid") == ["fid", "kid"]
    assert parse_metrics(None) == []
    with pytest.raises(genlab.ConfigError, match="unknown metric.*fdi"):
        parse_metrics("fdi")


def test_test_images_score_as_perfect_and_a_repeated_image_as_collapsed(feature_net, digits):
    net, _ = feature_net
    test = digits.test.images
    same = score_images(test, digits, net)
    assert same["fid"] < 1e-6 and same["precision"] == 1.0 and same["recall"] == 1.0
    # predictions against true labels: only the classifier's errors separate the two histograms
    assert same["coverage"] == 1.0 and same["class_kl"] < 0.05 and not same["collapsed"]
    assert same["features"] == net.content_hash and same["num_samples"] == len(test)
    # test images are not copies of training images: their share is the baseline
    assert same["memorisation"] == same["memorisation_baseline"] < 0.9
    collapsed = score_images(test[:1].repeat(300, 1, 1, 1), digits, net)
    assert collapsed["collapsed"] and collapsed["coverage"] == pytest.approx(0.1)
    assert collapsed["recall"] < 0.05 and collapsed["fid"] > 10 * max(same["fid"], 1e-3)
    copies = score_images(digits.train.images[:200], digits, net, ["memorisation"])
    assert copies["memorisation"] == 1.0 and set(copies) >= {"memorisation", "memorisation_baseline"}
    assert "fid" not in copies


def test_score_images_refuses_other_shapes(feature_net, digits):
    net, _ = feature_net
    with pytest.raises(genlab.ConfigError, match="shape"):
        score_images(torch.zeros(4, 1, 7, 7, dtype=torch.uint8), digits, net)


def test_sample_quality_of_a_model(feature_net, digits):
    net, _ = feature_net
    model = genlab.create_model("dcgan", data=digits, latent_dim=8, generator_channels=[16, 8],
                                discriminator_channels=[8, 16])
    result = sample_quality(model, digits, net, ["fid", "coverage"], num_samples=50, batch_size=20)
    assert result["num_samples"] == 50 and result["_samples"].shape == (50, 1, 8, 8)
    assert result["fid"] > 0 and 0 <= result["coverage"] <= 1 and result["sampling_s_per_image"] > 0
    again = sample_quality(model, digits, net, ["fid"], num_samples=50, batch_size=20)
    assert torch.equal(result["_samples"], again["_samples"])  # seeded: the same samples every time


def test_cli_eval_metrics(runs, feature_net, capsys):
    _, folder = feature_net
    assert main(["eval", str(runs / "gan"), "--metrics", "all", "--features", str(folder), "--num-samples", "60",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "nll_nats" not in result  # a GAN has no likelihood
    q = result["quality"]
    assert {"fid", "kid", "kid_std", "precision", "recall", "coverage", "class_kl", "memorisation",
            "memorisation_baseline", "features", "sampling_s_per_image"} <= set(q)
    assert (runs / "gan" / "nearest_training_images.png").is_file()
    assert main(["eval", str(runs / "vae"), "--metrics", "fid", "--features", str(folder), "--num-samples", "40",
                 "--iw-samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "bits/dim" in out and "Fréchet distance" in out


@pytest.mark.parametrize("args, message", [
    (["--metrics", "fdi"], "unknown metric"),
    ([], "has no likelihood.*--metrics"),
    (["--metrics", "fid", "--features", "/nonexistent/features"], "genlab features train"),
])
def test_cli_eval_metrics_errors(runs, args, message, capsys):
    assert main(["eval", str(runs / "gan"), *args]) == 2
    assert any(word in capsys.readouterr().err for word in message.split(".*"))


def test_cli_eval_without_a_feature_network_says_how_to_make_one(runs, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no features/digits here
    assert main(["eval", str(runs / "gan"), "--metrics", "fid"]) == 2
    assert "genlab features train --data digits" in capsys.readouterr().err


def test_cli_features_train(tmp_path, capsys):
    assert main(["features", "train", "--data", "digits", "--steps", "20", "--out", str(tmp_path / "f")]) == 0
    assert "test accuracy" in capsys.readouterr().out
    net = genlab.evaluation.features.load_feature_network(tmp_path / "f")
    assert len(net.content_hash) == 16


def test_compare_writes_markdown_html_and_json(runs, feature_net, tmp_path, capsys):
    _, folder = feature_net
    out = tmp_path / "report"
    assert main(["compare", str(runs / "gan"), str(runs / "vae"), "--out", str(out), "--features", str(folder),
                 "--num-samples", "50"]) == 0
    md = (out / "report.md").read_text()
    assert "| training images | data |" in md and "dcgan" in md and "(bound)" in md and "| none |" in md
    assert "not comparable with Inception-based FIDs" in md
    page = (out / "report.html").read_text()
    # three sample grids (the data and two runs) and a nearest-training-image picture per run
    assert page.count("data:image/png;base64,") == 5 and "<img src=\"http" not in page
    assert "## Nearest training images" in md
    report = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in report["runs"]] == ["dcgan", "vae"]
    vae = report["runs"][1]
    assert vae["likelihood"] == "bound" and vae["bits_per_dim"] > 0 and vae["train_seconds"] > 0
    assert report["runs"][0]["steps"] == 30 and "nll_nats" not in report["runs"][0]
    for row in report["runs"]:
        assert (out / row["grid"]).is_file() and row["features"] == report["features"]
        assert (out / row["nearest_grid"]).is_file() and row["nearest_grid"] in md
    assert report["device"] == "cpu" and "sampled and scored on cpu" in md


def test_python_compare_takes_a_feature_folder_or_network(runs, feature_net, tmp_path):
    net, folder = feature_net
    by_path = genlab.compare([runs / "gan"], tmp_path / "a", folder, num_samples=40)
    by_net = genlab.compare([runs / "gan"], tmp_path / "b", net, num_samples=40)
    assert by_path["features"] == by_net["features"] == net.content_hash
    assert by_path["runs"][0]["fid"] == pytest.approx(by_net["runs"][0]["fid"])
    assert (tmp_path / "a" / "report.md").is_file()


def test_compare_reuses_a_stored_likelihood_until_the_weights_change(runs, feature_net, tmp_path, monkeypatch):
    """The test NLL is computed once per weights and settings; new weights or --skip-likelihood change that."""
    import importlib
    import shutil

    from genlab.evaluation.store import STORE_FILE

    compare_module = importlib.import_module("genlab.compare")  # the module, not genlab.compare()

    net, _ = feature_net
    run = tmp_path / "vae"
    shutil.copytree(runs / "vae", run)
    (run / STORE_FILE).unlink(missing_ok=True)  # an earlier compare of the module's run may have stored one
    calls = []
    real = compare_module.evaluate
    monkeypatch.setattr(compare_module, "evaluate", lambda *a, **k: calls.append(k) or real(*a, **k))
    first = genlab.compare([run], tmp_path / "r1", net, num_samples=30)["runs"][0]
    assert len(calls) == 1 and not first["nll_reused"] and (run / STORE_FILE).is_file()
    second = genlab.compare([run], tmp_path / "r2", net, num_samples=30)["runs"][0]
    assert len(calls) == 1, "the stored evaluation was recomputed"
    assert second["nll_reused"] and second["nll_nats"] == first["nll_nats"]
    # new weights (another hash in config.json) are evaluated again
    model = genlab.load(run / "best")
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    model.save_pretrained(run / "best")
    third = genlab.compare([run], tmp_path / "r3", net, num_samples=30)["runs"][0]
    assert len(calls) == 2 and not third["nll_reused"] and third["nll_nats"] != first["nll_nats"]
    # other settings are another key: the model's compare settings changed, so it is evaluated again
    monkeypatch.setattr(type(model), "compare_log_prob_kwargs", {"num_samples": 3})
    genlab.compare([run], tmp_path / "r4", net, num_samples=30)
    assert len(calls) == 3 and {k: v for k, v in calls[-1].items() if k != "progress"} == {"num_samples": 3}
    # skipped: no NLL at all, and the CLI takes the flag
    assert main(["compare", str(run), "--out", str(tmp_path / "r5"), "--features", str(feature_net[1]),
                 "--num-samples", "30", "--skip-likelihood"]) == 0
    assert len(calls) == 3
    row = json.loads((tmp_path / "r5" / "results.json").read_text())["runs"][0]
    assert "nll_nats" not in row and "| - |" in (tmp_path / "r5" / "report.md").read_text()


def test_compare_refuses_runs_on_different_data(runs, feature_net, tmp_path, text_file, capsys):
    _, folder = feature_net
    other = tmp_path / "gpt"
    assert main(["train", "gpt", "--data", f"text:{text_file}", "--out", str(other), "--steps", "2",
                 "--n_layer", "1", "--n_embd", "16", "--n_head", "2", "--block_size", "8", "--set", "progress=false"]) == 0
    assert main(["compare", str(runs / "vae"), str(other), "--out", str(tmp_path / "r"), "--features", str(folder)]) == 2
    assert "same data" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")]) == 2


def test_training_logs_class_coverage_and_warns_on_collapse(feature_net, digits, tmp_path, capsys):
    _, folder = feature_net
    model = genlab.create_model("dcgan", data=digits, latent_dim=8, generator_channels=[16, 8],
                                discriminator_channels=[8, 16])
    config = genlab.TrainConfig.for_model(model, steps=2, eval_every=1, batch_size=8, progress=False,
                                          checkpoint_every=0, num_samples=40, features=str(folder))
    trainer = genlab.Trainer(model, digits, config)
    trainer.fit()
    val = [r for r in trainer.history if r["split"] == "val"]
    assert len(val) == 2 and all(0 <= r["class_coverage"] <= 1 and r["class_kl"] >= 0 for r in val)
    with torch.no_grad():  # every sample the same image: one class at most
        [m for m in model.generator.modules() if isinstance(m, torch.nn.Conv2d)][-1].weight.zero_()
    trainer.config = trainer.config.replace(ema_decay=0.0)
    trainer.ema = None
    trainer._validate_and_track()
    assert trainer.history[-1]["class_coverage"] <= 0.1
    assert "of the classes" in capsys.readouterr().err
    with pytest.raises(genlab.CheckpointError):
        genlab.Trainer(model, digits, config.replace(features=str(tmp_path / "none")))


def test_protocol_sample_count(digits):
    from genlab.evaluation.quality import protocol_num_samples

    assert protocol_num_samples(digits) == len(digits.test.images) == 447  # smaller than 10,000: all of it

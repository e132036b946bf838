"""Progress bars with the time left (genlab.progress): the CLI's sampling and evaluation show them on
stderr; library calls stay silent; the setting does not leak out of its block."""

from __future__ import annotations

import json
import re

import pytest
import torch

import genlab
from genlab.progress import current, reporting, steps

from cli_helpers import run_cli

TIME_LEFT = r"\[\d\d:\d\d<\d\d:\d\d"  # tqdm's [elapsed<remaining]


def final_counts(err: str, desc: str) -> list[tuple[int, int]]:
    """The ``n/total`` of every state of the bars labelled ``desc`` that shows the time left."""
    return [(int(n), int(t)) for n, t in re.findall(re.escape(desc) + r": .*?(\d+)/(\d+) " + TIME_LEFT, err)]


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("progress") / "ddpm"
    code, out, err = run_cli("train", "ddpm", "--data", "digits", "--steps", "2", "--out", run, "--batch-size", "8",
                             "--progress", "false", "--set", "timesteps=20", "--set", "channels=[8,16]",
                             "--set", "num_res_blocks=1", "--set", "attention=false", "--eval-every", "0")
    assert code == 0, err
    return run


def test_sample_shows_a_bar_over_the_denoising_steps(ddpm_run, tmp_path):
    model = genlab.load(ddpm_run / "best")
    T = model.config.timesteps
    code, out, err = run_cli("sample", ddpm_run, "--num", "2", "--out", tmp_path / "s.png")
    assert code == 0, err
    assert out.startswith("wrote 2 samples") and "|" not in out  # stdout holds the result only
    counts = final_counts(err, "sample")
    assert counts and counts[-1] == (T, T), err

    # DDIM with 5 steps: the bar counts the sampler's steps, not the model's timesteps
    code, out, err = run_cli("sample", ddpm_run, "--num", "2", "--out", tmp_path / "d.png",
                             "--sample-arg", "sampler=ddim", "--sample-arg", "steps=5")
    assert code == 0, err
    assert final_counts(err, "sample")[-1] == (5, 5), err


def test_library_sampling_is_silent(ddpm_run, capsys):
    model = genlab.load(ddpm_run / "best")
    model.sample(2, generator=torch.Generator().manual_seed(0))
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    with reporting("asked"):
        model.sample(2, generator=torch.Generator().manual_seed(0))
    assert final_counts(capsys.readouterr().err, "asked")[-1] == (model.config.timesteps,) * 2


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    from genlab.evaluation.features import save_feature_network, train_feature_network

    net = train_feature_network(genlab.load_dataset("digits"), steps=2, batch_size=16, progress=False)
    folder = tmp_path_factory.mktemp("progress-features") / "digits"
    save_feature_network(net, folder)
    return folder


def test_eval_metrics_shows_the_sampling_bars(ddpm_run, features):
    code, out, err = run_cli("eval", ddpm_run, "--metrics", "fid", "--features", features,
                             "--num-samples", "12", "--max-examples", "4", "--json")
    assert code == 0, err
    assert out.count("\n") == 1 and "|" not in out  # the JSON line only
    assert final_counts(err, "samples drawn")[-1] == (12, 12), err  # the bar over the samples
    steps_total = genlab.load(ddpm_run / "best").config.timesteps  # and within the batch, the denoising steps
    assert re.search(rf"samples batch 1/1: .*\d+/{steps_total} \[", err), err


def test_compare_shows_each_runs_bars_under_its_name(ddpm_run, features, tmp_path):
    code, out, err = run_cli("compare", ddpm_run, "--out", tmp_path / "report", "--features", features,
                             "--num-samples", "6")
    assert code == 0, err
    assert "|" not in out  # stdout: the run's line and the report's paths
    assert final_counts(err, "[1/1] ddpm samples drawn")[-1] == (6, 6), err  # the sampling, under the run's name
    steps_total = genlab.load(ddpm_run / "best").config.timesteps
    assert re.search(rf"\[1/1\] ddpm samples batch 1/1: .*\d+/{steps_total} \[", err), err
    assert re.search(r"eval test: .*0/447 \[", err), err  # the test NLL


def test_the_setting_is_reset_after_an_exception(ddpm_run, capsys, monkeypatch):
    model = genlab.load(ddpm_run / "best")
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return original(*args, **kwargs)

    original = model.guided_eps
    monkeypatch.setattr(model, "guided_eps", failing)
    with pytest.raises(RuntimeError, match="boom"), reporting("failing"):
        assert current() == "failing"
        model.sample(2)
    assert current() is None
    capsys.readouterr()
    monkeypatch.undo()
    model.sample(2)  # a later library call: no bar
    assert list(steps(range(3))) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_only_the_outermost_loop_shows_a_bar(capsys):
    with reporting("outer"):
        seen = [(i, j) for i in steps(range(3), unit="row") for j in steps(range(4), unit="pixel")]
    assert len(seen) == 12
    err = capsys.readouterr().err
    assert final_counts(err, "outer")[-1] == (3, 3) and "pixel" not in err
    with reporting("off", enabled=False):
        assert current() is None
        assert list(steps(range(2))) == [0, 1]
    assert capsys.readouterr().err == ""


def test_eval_shows_a_bar_within_a_batch_of_the_vae_bound(tmp_path, monkeypatch):
    import genlab.models.vae as vae

    run = tmp_path / "vae"
    code, _, err = run_cli("train", "vae", "--data", "digits", "--steps", "2", "--out", run, "--set", "hidden=[16]",
                           "--set", "latent_dim=2", "--progress", "false", "--eval-every", "0")
    assert code == 0, err
    # K = 40 importance samples of 8 examples, decoded 5 at a time: 8 chunks (by default, one)
    monkeypatch.setattr(vae, "CHUNK_ROWS", 40)
    code, out, err = run_cli("eval", run, "--iw-samples", "40", "--max-examples", "8", "--json")
    assert code == 0, err
    assert json.loads(out)["num_examples"] == 8
    assert re.search(r"eval test: .*0/8 \[", err), err  # the bar over the examples
    assert re.search(r"eval test batch: .*0/8 \[", err), err  # and within the batch, over K's 8 chunks


def test_training_says_what_it_does_between_steps(tmp_path):
    """After the training bar's steps, validation, the previews (a DDPM's denoising steps) and saving each
    say so on stderr, the long ones with a bar and the time left: no silent phase."""
    code, out, err = run_cli("train", "ddpm", "--data", "digits", "--steps", "2", "--out", tmp_path / "run",
                             "--batch-size", "8", "--set", "timesteps=20", "--set", "channels=[8,16]",
                             "--set", "num_res_blocks=1", "--set", "attention=false", "--set", "num_samples=2")
    assert code == 0, err
    for phase in ("train ddpm: validating", "train ddpm: drawing previews", "train ddpm: saving"):
        assert phase in err, (phase, err[-2000:])
    assert re.search(r"drawing previews: +\d+%\|[^|]*\| +\d+/20 ", err), err[-2000:]  # the 20 denoising steps
    assert re.search(r"validating: +\d+%\|[^|]*\| +\d+/2 \[[^]]*batch/s", err), err[-2000:]  # 2 validation batches
    assert "|" not in out  # stdout holds the result only


def test_text_deduplication_shows_its_stages(tmp_path, session_text_file):
    code, out, err = run_cli("data", "dedup", f"text:{session_text_file}", "--out", tmp_path / "d")
    assert code == 0, err
    assert final_counts(err, "dedup"), err[-2000:]

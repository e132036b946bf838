"""The command-line tool end to end, in-process through ``genlab.app.cli.main``."""

from __future__ import annotations

import json
import math

import pytest
import torch

import genlab
from genlab.app.cli import main

from cli_helpers import assert_one_line_error, last_json, run_cli


def pixels(path) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        return im.tobytes()


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "vae-run"
    result = run_cli("train", "vae", "--data", "digits", "--steps", "30", "--out", run, "--set", "hidden=[32]",
                     "--eval-every", "10")
    return run, result


@pytest.fixture(scope="module")
def text_path(tmp_path_factory):
    from conftest import TEXT

    path = tmp_path_factory.mktemp("cli-text") / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory, text_path):
    run = tmp_path_factory.mktemp("cli") / "gpt-run"
    result = run_cli("train", "gpt", "--data", f"text:{text_path}", "--steps", "20", "--set", "n_layer=1",
                     "--set", "n_embd=32", "--set", "block_size=16", "--out", run, "--batch-size", "16",
                     "--progress", "false")
    return run, result


# ---- images ---------------------------------------------------------------------------------------
def test_train_vae(vae_run):
    run, (code, out, err) = vae_run
    assert code == 0, err
    report = last_json(out)
    assert report["run"] == str(run) and report["steps"] == 30
    assert math.isfinite(report["val_loss"]) and report["best_val_loss"] <= report["val_loss"]
    assert "training vae" in err and "30 steps" in err
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "val"] == [10, 20, 30]
    run_info = json.loads((run / "run.json").read_text())
    assert run_info["train"]["eval_every"] == 10 and run_info["data"] == {"name": "digits", "options": {}}
    model = genlab.load(run)
    assert model.config.hidden == [32]
    assert (run / "best" / "model.safetensors").is_file()


def test_eval_json(vae_run):
    run, _ = vae_run
    code, out, err = run_cli("eval", run, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["model"] == "vae" and result["data"] == "digits"
    assert result["split"] == "test" and result["num_examples"] == 447
    assert result["likelihood"] == "bound"
    assert result["weights"] == str(run / "best")
    assert result["nll_nats"] > 0
    assert result["bits_per_dim"] == pytest.approx(result["nll_nats"] / (64 * math.log(2)))
    # the same model in Python gives the same number
    direct = genlab.evaluate(genlab.load(run / "best"), genlab.load_dataset("digits"), "test")
    assert direct["nll_nats"] == pytest.approx(result["nll_nats"])


def test_eval_options_and_text_report(vae_run):
    run, _ = vae_run
    code, out, err = run_cli("eval", run, "--weights", "last", "--split", "val", "--max-examples", "20",
                             "--iw-samples", "3", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["split"] == "val" and result["num_examples"] == 20
    assert result["weights"] == str(run / "checkpoint")
    code, out, err = run_cli("eval", run)
    assert code == 0, err
    assert "test split (447 examples)" in out and "nats per image" in out and "bits/dim" in out
    assert "upper bound" in out


def test_eval_shows_progress_over_examples(vae_run, capsys):
    """The bar counts examples and has a time-left field; the Python API shows it only when asked."""
    run, _ = vae_run
    code, out, err = run_cli("eval", run, "--iw-samples", "2", "--json")
    assert code == 0, err
    assert "eval test" in err and "/447" in err and "<" in err
    model, data = genlab.load(run / "best"), genlab.load_dataset("digits")
    capsys.readouterr()
    genlab.evaluate(model, data, "test", num_samples=2)
    assert "eval test" not in capsys.readouterr().err
    genlab.evaluate(model, data, "test", num_samples=2, progress=True)
    assert "eval test" in capsys.readouterr().err


def test_eval_on_other_data_is_refused(vae_run, text_path):
    run, _ = vae_run
    code, out, err = run_cli("eval", run, "--data", f"text:{text_path}")
    assert_one_line_error(code, out, err, "trained on 'digits'")


def test_bad_sample_options_on_a_run(vae_run, tmp_path):
    run, _ = vae_run
    code, out, err = run_cli("sample", run, "--num", "2", "--condition", "3", "--out", tmp_path / "x.png")
    assert_one_line_error(code, out, err, "unconditional")
    code, out, err = run_cli("sample", run, "--weights", "newest")
    assert_one_line_error(code, out, err, "weights must be best or last")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_conditional_flow_samples_the_class_given(name, tmp_path):
    """`--condition 3` samples one class from a conditional flow; a label out of range is one line."""
    run = tmp_path / name
    code, out, err = run_cli("train", name, "--data", "digits", "--steps", "5", "--out", run, "--set", "conditional=true",
                             "--set", "num_scales=2", "--set", "steps_per_scale=1", "--set", "hidden_channels=8",
                             "--eval-every", "5", "--progress", "false")
    assert code == 0, err
    model = genlab.load(run)
    assert model.config.conditional and model.condition_spec.num_classes == 10
    threes, fours = tmp_path / "threes.png", tmp_path / "fours.png"
    for label, target in (("3", threes), ("4", fours)):
        code, out, err = run_cli("sample", run, "--num", "4", "--condition", label, "--seed", "1", "--out", target)
        assert code == 0, err
    assert pixels(threes) != pixels(fours)  # the label changes the samples, with the same seed
    code, out, err = run_cli("sample", run, "--num", "2", "--condition", "10", "--out", tmp_path / "x.png")
    assert_one_line_error(code, out, err, "[0, 10)")
    assert not (tmp_path / "x.png").exists()
    code, out, err = run_cli("eval", run, "--max-examples", "8", "--json")  # scored with each example's label
    assert code == 0, err
    assert math.isfinite(last_json(out)["nll_nats"])


def test_sample_png(vae_run, tmp_path):
    from PIL import Image

    run, _ = vae_run
    target = tmp_path / "file.png"
    code, out, err = run_cli("sample", run, "--num", "4", "--out", target)
    assert code == 0, err
    assert str(target) in out
    with Image.open(target) as im:
        im.load()
        assert im.format == "PNG" and im.mode == "L"
        assert min(im.size) >= 2 * 8  # a 2x2 grid of at least 8x8 images
    # the same seed draws the same picture (the files differ only in their provenance's time)
    again = tmp_path / "again.png"
    run_cli("sample", run, "--num", "4", "--out", again)
    assert pixels(again) == pixels(target)


def test_info(vae_run):
    run, _ = vae_run
    code, out, err = run_cli("info", run)
    assert code == 0, err
    info = json.loads(out)
    assert info["model"] == "vae" and info["folder"] == str(run / "checkpoint")
    assert info["step"] == 30 and info["config"]["hidden"] == [32]
    assert info["run"]["total_steps"] == 30
    assert info["last_train"]["step"] == 30 and info["last_val"]["step"] == 30


def test_list():
    code, out, err = run_cli("list")
    assert code == 0, err
    for name, entry in genlab.list_models().items():
        line = next(x for x in out.splitlines() if x.strip().startswith(name + " "))
        assert entry["family"] in line and f"likelihood={entry['likelihood']}" in line
    assert "digits" in out and "text:PATH" in out


def test_train_with_config_file(tmp_path):
    cfg = tmp_path / "recipe.yaml"
    cfg.write_text("model:\n  hidden: [8]\n  latent_dim: 2\ntrain:\n  lr: 0.005\n  progress: false\n", encoding="utf-8")
    code, out, err = run_cli("train", "vae", "--config", cfg, "--steps", "2", "--out", tmp_path / "run",
                             "--lr", "0.002")
    assert code == 0, err
    run_info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_info["train"]["lr"] == 0.002  # the flag wins over the file
    assert run_info["train"]["steps"] == 2
    assert genlab.load(tmp_path / "run").config.hidden == [8]


# ---- text -----------------------------------------------------------------------------------------
def test_train_gpt(gpt_run):
    run, (code, out, err) = gpt_run
    assert code == 0, err
    report = last_json(out)
    assert report["steps"] == 20 and math.isfinite(report["val_loss"])
    model = genlab.load(run)
    assert model.config.n_layer == 1 and model.config.n_embd == 32 and model.config.block_size == 16
    assert (run / "samples" / "step-000020.txt").is_file()


def test_sample_text_with_prompt(gpt_run):
    run, _ = gpt_run
    code, out, err = run_cli("sample", run, "--prompt", "ab", "--max-new-tokens", "10", "--num", "3")
    assert code == 0, err
    samples = out.rstrip("\n").split("\n-----\n")
    assert len(samples) == 3
    for s in samples:
        assert s.startswith("ab") and len(s) == 12
    vocab = set(genlab.load(run).data_info.vocab)
    assert set("".join(samples)) <= vocab
    code, out, err = run_cli("sample", run, "--prompt", "the ", "--max-new-tokens", "5", "--num", "1",
                             "--temperature", "0")
    assert code == 0 and out.startswith("the ") and len(out.rstrip("\n")) == 9


def test_sample_text_to_file(gpt_run, tmp_path):
    run, _ = gpt_run
    target = tmp_path / "s.txt"
    code, out, err = run_cli("sample", run, "--num", "2", "--max-new-tokens", "7", "--top-k", "3", "--out", target)
    assert code == 0, err
    assert len(target.read_text(encoding="utf-8").rstrip("\n").split("\n-----\n")) == 2


def test_eval_text(gpt_run):
    run, _ = gpt_run
    code, out, err = run_cli("eval", run)
    assert code == 0, err
    assert "val split" in out and "nats per character" in out and "bits/char" in out
    code, out, err = run_cli("eval", run, "--json")
    result = json.loads(out)
    assert result["split"] == "val" and result["likelihood"] == "exact" and result["unit"] == "nats per token"
    assert result["bits_per_token"] == pytest.approx(result["nll_nats"] / math.log(2))
    assert 0 < result["nll_nats"] < 2 * math.log(len(genlab.load(run).data_info.vocab))


def test_resume_continues(tmp_path, text_path):
    run = tmp_path / "run"
    code, _, err = run_cli("train", "gpt", "--data", f"text:{text_path}", "--steps", "4", "--set", "n_layer=1",
                           "--set", "n_embd=16", "--set", "n_head=2", "--set", "block_size=8", "--out", run,
                           "--batch-size", "8", "--progress", "false")
    assert code == 0, err
    code, out, err = run_cli("train", "--resume", run, "--steps", "7")
    assert code == 0, err
    assert f"resuming {run} at step 4 of 7" in err
    assert last_json(out)["steps"] == 7
    assert genlab.models.io.read_config(run / "checkpoint")["step"] == 7
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 7
    code, out, err = run_cli("train", "--resume", run, "--steps", "8", "--lr", "1")
    assert_one_line_error(code, out, err, "'lr' cannot change on resume")


# ---- errors: one line, exit 2, no traceback ----------------------------------------------------------
@pytest.mark.parametrize("args, needles", [
    (["train", "vea", "--steps", "1"], ["unknown model 'vea'", "Did you mean 'vae'"]),
    (["train", "vae", "--steps", "1", "--set", "hiden=[32]"], ["unknown model or training key 'hiden'",
                                                               "Did you mean 'hidden'"]),
    (["train", "vae", "--steps", "1", "--set", "hidden=abc"], ["'hidden'", "a list of int"]),
    (["train", "vae", "--steps", "1", "--latent-dim", "two"], ["'latent_dim'", "int"]),
    (["train", "vae", "--steps", "1", "--set", "schedule=linear"], ["'schedule'", "'cosine'"]),
    (["train", "vae", "--steps", "1", "--set", "nokey"], ["--set takes key=value"]),
    (["train", "gpt", "--steps", "1", "--data", "text:/no/such/file.txt"], ["/no/such/file.txt", "does not exist"]),
    (["train", "vae", "--steps", "1", "--data", "cifar"], ["unknown data set 'cifar'"]),
    (["train", "gpt", "--steps", "1", "--data", "digits"], ["text", "image"]),
    (["train", "--steps", "1"], ["name a model"]),
    (["eval", "/no/such/run"], ["does not exist"]),
    (["sample", "/no/such/run"], ["does not exist"]),
    (["info", "/no/such/run"], ["does not exist"]),
    (["bench", "nope"], ["unknown benchmark 'nope'"]),
    (["bench", "compare-digits", "--train-only"], ["--train-only", "give --out DIR"]),
    (["bench", "vae-digits", "--train-only", "--out", "x"], ["--train-only is for the compare benchmarks"]),
    (["compare", "/no/such/run", "--out", "x"], ["not a training run folder"]),
])
def test_bad_input_is_one_line_exit_2(args, needles, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written into the repository
    code, out, err = run_cli(*args, "--out", tmp_path / "run") if args[0] == "train" else run_cli(*args)
    assert_one_line_error(code, out, err, *needles)
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_missing_data_file_in_data_root(tmp_path):
    code, out, err = run_cli("train", "vae", "--steps", "1", "--data", "mnist", "--data-root", tmp_path / "r",
                             "--out", tmp_path / "run")
    assert_one_line_error(code, out, err, str(tmp_path / "r" / "mnist" / "train-images-idx3-ubyte.gz"),
                          "genlab data download mnist")


def test_existing_run_needs_overwrite(tmp_path):
    run = tmp_path / "run"
    args = ("train", "vae", "--steps", "2", "--set", "hidden=[8]", "--out", run, "--progress", "false")
    assert run_cli(*args)[0] == 0
    before = (run / "checkpoint" / "model.safetensors").read_bytes()
    code, out, err = run_cli(*args)
    assert_one_line_error(code, out, err, str(run), "--resume", "--overwrite")
    assert (run / "checkpoint" / "model.safetensors").read_bytes() == before
    (run / "samples" / "step-999999.png").write_bytes(b"from the old run")
    (run / "notes.txt").write_text("the user's, not genlab's")
    code, out, err = run_cli(*args, "--overwrite", "--seed", "5")
    assert code == 0, err
    assert (run / "checkpoint" / "model.safetensors").read_bytes() != before
    assert not (run / "samples" / "step-999999.png").exists()
    assert (run / "notes.txt").read_text() == "the user's, not genlab's"


def test_seed_decides_the_whole_run(tmp_path):
    """The same --seed gives the same weights (initial ones included), whatever ran before."""
    def train(name, seed, global_seed):
        torch.manual_seed(global_seed)
        code, _, err = run_cli("train", "vae", "--steps", "2", "--set", "hidden=[8]", "--seed", seed,
                               "--out", tmp_path / name, "--progress", "false")
        assert code == 0, err
        return genlab.load(tmp_path / name).state_dict()

    a, b, c = train("a", 3, 1), train("b", 3, 2), train("c", 4, 1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_prompt_character_not_in_vocab(gpt_run):
    run, _ = gpt_run
    code, out, err = run_cli("sample", run, "--prompt", "ab#", "--max-new-tokens", "3")
    assert_one_line_error(code, out, err, "'#' at position 2", "not in the model's vocabulary")
    code, out, err = run_cli("sample", run, "--prompt", "", "--max-new-tokens", "3")
    assert_one_line_error(code, out, err, "the prompt is empty")


def test_debug_shows_the_exception():
    with pytest.raises(genlab.ConfigError):
        main(["--debug", "train", "vea"])


# ---- bench --------------------------------------------------------------------------------------------
def test_bench_vae_digits_quick_json():
    code, out, err = run_cli("bench", "vae-digits", "--quick", "--json")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert {"name", "test_nll_nats", "bound", "iw_samples", "test_neg_elbo_nats", "bits_per_dim", "steps",
            "wall_s", "seed"} <= set(result)
    assert result["name"] == "vae-digits" and result["bound"] is True and result["iw_samples"] == 10
    assert 0 < result["steps"] <= 50
    assert math.isfinite(result["test_nll_nats"]) and math.isfinite(result["test_neg_elbo_nats"])
    # the K=10 importance-weighted bound is at least as tight as the ELBO (K=1)
    assert result["test_nll_nats"] <= result["test_neg_elbo_nats"] + 1e-6


@pytest.mark.parametrize("name", ["pixelcnn-digits", "realnvp-digits"])
def test_bench_likelihood_families_quick(name, capsys):
    assert main(["bench", name, "--quick", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["name"] == name
    assert row["likelihood"] in ("exact", "bound")
    assert row["test_nll_nats"] > 0 and row["steps"] == 20


def test_steps_for_budget_grows_with_the_budget(digits):
    from genlab.bench import steps_for_budget

    train = dict(batch_size=16, lr=1e-3)
    small = steps_for_budget("glow", digits, {}, train, budget_s=1.0)
    large = steps_for_budget("glow", digits, {}, train, budget_s=50.0)
    assert 1 <= small < large
    assert 25 < large / small < 100  # steps scale with the budget (timing noise allowed)


def test_bench_mnist_family_quick_reports_curve_and_test_bits(mnist_root, capsys):
    assert main(["bench", "glow-mnist", "--quick", "--json", "--data-root", str(mnist_root)]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["name"] == "glow-mnist" and row["likelihood"] == "bound" and row["steps"] == 6
    assert [p["step"] for p in row["curve"]] == [3, 6]
    assert all(p["train_s"] > 0 and 0 < p["val_bits_per_dim"] < 16 for p in row["curve"])
    assert row["test_bits_per_dim"] == pytest.approx(row["test_nll_nats"] / (784 * math.log(2)), rel=1e-3)


def test_compare_benchmark_trains_then_scores_in_a_second_call(digits, tmp_path):
    """--train-only stops after training; a second call reuses the runs and features and scores them."""
    from genlab.bench import _compare
    from genlab.training.trainer import pick_device

    recipes = {"vae": (dict(hidden=[16], latent_dim=4), {}),
               "dcgan": (dict(latent_dim=8, generator_channels=[16, 8], discriminator_channels=[8, 16]), {})}
    first = _compare(digits, recipes, tmp_path, quick=True, seed=0, feature_steps=0, num_samples=None, train_only=True)
    assert first["stage"] == "trained" and not (tmp_path / "report").exists()
    logs = {n: (tmp_path / "runs" / n / "metrics.jsonl").read_text() for n in recipes}
    second = _compare(digits, recipes, tmp_path, quick=True, seed=0, feature_steps=0, num_samples=None)
    assert [r["model"] for r in second["rows"]] == ["vae", "dcgan"] and second["features"] == first["features"]
    assert all((tmp_path / "runs" / n / "metrics.jsonl").read_text() == logs[n] for n in recipes)  # not retrained
    assert (tmp_path / "report" / "report.md").is_file() and second["eval_device"] == str(pick_device("auto"))
    # a run killed before its first checkpoint starts again; a folder of another seed is refused
    (tmp_path / "runs" / "dcgan" / "checkpoint").rename(tmp_path / "gone")
    _compare(digits, recipes, tmp_path, quick=True, seed=0, feature_steps=0, num_samples=None, train_only=True)
    assert (tmp_path / "runs" / "dcgan" / "checkpoint").is_dir()
    with pytest.raises(genlab.ConfigError, match="seed 0, not 1"):
        _compare(digits, recipes, tmp_path, quick=True, seed=1, feature_steps=0, num_samples=None, train_only=True)


def test_output_into_a_closed_pipe_ends_quietly():
    """`genlab list | head`: the reader goes away before genlab writes; no BrokenPipeError traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "genlab.app.cli", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # long before the command has imported torch and printed anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err

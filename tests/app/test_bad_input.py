"""Bad input, end to end through the command line: every mistake is one line, exit code 2, no traceback,
and every file that existed before the command is byte-identical afterwards.

Two tiny runs are trained once for the module (a VAE on digits, a GPT on a small text file); a
case that edits a run works on its own copy.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import run_cli
from conftest import TEXT


# ---- helpers ----------------------------------------------------------------------------------------
def snapshot(*roots: Path) -> dict[Path, bytes]:
    """Every file under ``roots`` with its bytes."""
    files = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[path] = path.read_bytes()
    return files


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("bad-vae") / "vae-run"
    code, _, err = run_cli("train", "vae", "--data", "digits", "--steps", "4", "--out", run, "--set", "hidden=[16]",
                           "--set", "latent_dim=2", "--eval-every", "2", "--checkpoint-every", "2",
                           "--progress", "false", "--set", "num_samples=4", "--batch-size", "16")
    assert code == 0, err
    return run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad-text") / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory, corpus) -> Path:
    run = tmp_path_factory.mktemp("bad-gpt") / "gpt-run"
    code, _, err = run_cli("train", "gpt", "--data", f"text:{corpus}", "--steps", "2", "--set", "n_layer=1",
                           "--set", "n_embd=16", "--set", "n_head=2", "--set", "block_size=8", "--out", run,
                           "--batch-size", "8", "--progress", "false", "--set", "num_samples=1")
    assert code == 0, err
    return run


@pytest.fixture
def bad(tmp_path, monkeypatch, vae_run, gpt_run, corpus):
    """``bad(*argv, needles=[...])``: run the command in ``tmp_path`` and check the one-line refusal.

    The case's folder, both module runs and the corpus are snapshotted before and compared after.
    Returns the error line."""
    monkeypatch.chdir(tmp_path)  # a default --out lands here, never in the checkout

    def check(*argv, needles=(), absent=()):
        roots = (tmp_path, vae_run, gpt_run, corpus.parent)
        before = snapshot(*roots)
        code, out, err = run_cli(*argv)
        assert code == 2, (code, out, err)
        assert "Traceback" not in err and "Traceback" not in out
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        line = lines[0]
        assert line.startswith("genlab: error: "), line
        assert "weights_only=False" not in line
        for needle in needles:
            assert needle.lower() in line.lower(), (needle, line)
        for needle in absent:
            assert needle.lower() not in line.lower(), (needle, line)
        after = snapshot(*roots)
        changed = [str(p) for p in before if after.get(p) != before[p]]
        assert changed == [], f"files changed or removed: {changed}"
        return line

    return check


def copy_run(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / run.name
    shutil.copytree(run, target)
    (target / "run.lock").unlink(missing_ok=True)
    return target


def write_png(path: Path, size=(8, 8), mode="L", seed=0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def image_folder(tmp_path: Path, n: int = 4, size=(12, 12)) -> Path:
    folder = tmp_path / "imgs"
    for i in range(n):
        write_png(folder / f"{i}.png", size=size, seed=i)
    return folder


TRAIN_VAE = ("train", "vae", "--steps", "1", "--progress", "false", "--set", "hidden=[8]", "--batch-size", "4")


def train_images(folder, *more):
    return (*TRAIN_VAE, "--data", f"images:{folder}", "--data-arg", "size=8", "--out", "out", *more)


def edit_json(path: Path, edit) -> None:
    """Apply ``edit`` (which changes the parsed JSON in place) to the file."""
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))


# ---- images -----------------------------------------------------------------------------------------
def test_image_folder_with_a_file_that_is_not_an_image(bad, tmp_path):
    folder = image_folder(tmp_path)
    (folder / "notes.png").write_text("these are my notes, not a picture")
    bad(*train_images(folder), needles=["notes.png", "could not be read", "remove"])


def test_empty_image_folder(bad, tmp_path):
    (tmp_path / "empty").mkdir()
    bad(*train_images(tmp_path / "empty"), needles=["0 images", "at least 3"])


def test_image_folder_that_does_not_exist(bad, tmp_path):
    bad(*train_images(tmp_path / "nowhere"), needles=["does not exist"])


def test_images_spec_naming_a_file(bad, tmp_path):
    path = write_png(tmp_path / "one.png")
    bad(*train_images(path), needles=["is a file, not a folder", "folder of"])


def test_truncated_png(bad, tmp_path):
    folder = image_folder(tmp_path, size=(32, 32))
    whole = (folder / "0.png").read_bytes()
    (folder / "0.png").write_bytes(whole[: len(whole) // 2])
    bad(*train_images(folder), needles=["0.png", "could not be read", "fix or remove"])


def test_one_pixel_image(bad, tmp_path):
    folder = image_folder(tmp_path)
    write_png(folder / "dot.png", size=(1, 1))
    bad(*train_images(folder), needles=["dot.png", "1x1", "size"])


def test_mixed_sizes_with_a_tiny_image(bad, tmp_path):
    folder = image_folder(tmp_path, size=(32, 32))
    write_png(folder / "thumb.png", size=(40, 3))
    bad(*train_images(folder, "--data-arg", "size=16"), needles=["thumb.png", "40x3", "size"])


def test_image_channels_option_out_of_range(bad, tmp_path):
    bad(*train_images(image_folder(tmp_path), "--data-arg", "channels=2"),
        needles=["channels", "1 (grey) or 3", "--data-arg channels="])


def test_image_size_zero(bad, tmp_path):
    bad(*train_images(image_folder(tmp_path), "--data-arg", "size=0"), needles=["size", "at least 1"])


def test_unknown_data_option(bad, tmp_path):
    bad(*train_images(image_folder(tmp_path), "--data-arg", "sise=8"), needles=["sise", "size"])


# ---- text -------------------------------------------------------------------------------------------
TRAIN_GPT = ("train", "gpt", "--steps", "1", "--progress", "false", "--set", "n_layer=1", "--set", "n_embd=16",
             "--set", "block_size=8", "--batch-size", "4", "--out", "out")


def test_empty_text_file(bad, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    bad(*TRAIN_GPT, "--data", f"text:{tmp_path / 'empty.txt'}", needles=["empty.txt", "empty"])


def test_binary_text_file(bad, tmp_path):
    (tmp_path / "blob.txt").write_bytes(bytes(range(256)) * 4)
    bad(*TRAIN_GPT, "--data", f"text:{tmp_path / 'blob.txt'}", needles=["blob.txt", "not utf-8", "convert"])


def test_missing_text_file(bad, tmp_path):
    bad(*TRAIN_GPT, "--data", f"text:{tmp_path / 'gone.txt'}", needles=["gone.txt", "does not exist"])


def test_text_too_short_for_the_context(bad, tmp_path):
    (tmp_path / "short.txt").write_text("abcab")
    bad(*TRAIN_GPT, "--data", f"text:{tmp_path / 'short.txt'}", needles=["fewer than one window", "block_size",
                                                                          "the training split", "5 characters"])


def test_text_train_fraction_out_of_range(bad, corpus):
    bad(*TRAIN_GPT, "--data", f"text:{corpus}", "--data-arg", "train_fraction=1.5",
        needles=["train_fraction", "between 0 and 1"])


def test_prompt_with_unknown_characters(bad, gpt_run):
    bad("sample", gpt_run, "--prompt", "the ZEBRA", "--max-new-tokens", "2",
        needles=["'Z'", "vocabulary"])


def test_empty_prompt(bad, gpt_run):
    bad("sample", gpt_run, "--prompt", "", "--max-new-tokens", "2", needles=["prompt is empty"])


# ---- IDX files ----------------------------------------------------------------------------------------
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz")


def fake_mnist(tmp_path: Path, monkeypatch, damage) -> Path:
    """A data root with small IDX files of MNIST's layout, the test images damaged by ``damage``.

    The md5 check (which refuses any file but the original release first) is bypassed, so the IDX
    reader's own checks are what answers."""
    import gzip

    import genlab.data.images as images

    monkeypatch.setattr(images, "verified_path", lambda root, name, file: root / name / file.name)
    folder = tmp_path / "root" / "mnist"
    folder.mkdir(parents=True)
    for name in MNIST_FILES:
        is_images = "images" in name
        header = bytes([0, 0, 8, 3 if is_images else 1]) + (10).to_bytes(4, "big")
        header += (28).to_bytes(4, "big") * 2 if is_images else b""
        data = header + bytes(10 * (28 * 28 if is_images else 1))
        (folder / name).write_bytes(gzip.compress(damage(data) if name.startswith("t10k-images") else data))
    return tmp_path / "root"


def train_mnist(root):
    return (*TRAIN_VAE, "--data", "mnist", "--data-root", root, "--data-arg", "val_size=2", "--out", "out")


def test_truncated_idx_file(bad, tmp_path, monkeypatch):
    root = fake_mnist(tmp_path, monkeypatch, lambda data: data[:1000])
    bad(*train_mnist(root), needles=["t10k-images-idx3-ubyte.gz", "truncated", "genlab data download mnist"])


def test_idx_file_with_a_wrong_magic_number(bad, tmp_path, monkeypatch):
    root = fake_mnist(tmp_path, monkeypatch, lambda data: b"\x00\x00\x0d\x03" + data[4:])
    bad(*train_mnist(root), needles=["t10k-images-idx3-ubyte.gz", "magic number", "genlab data download mnist"])


def test_idx_file_that_is_not_gzip(bad, tmp_path, monkeypatch):
    root = fake_mnist(tmp_path, monkeypatch, lambda data: data)
    (root / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    bad(*train_mnist(root), needles=["t10k-images-idx3-ubyte.gz", "genlab data download mnist"])


def test_truncated_original_idx_file(bad, tmp_path, mnist_root):
    """With the md5 check in place, a damaged copy of the real release is refused by its checksum."""
    folder = tmp_path / "root" / "mnist"
    folder.mkdir(parents=True)
    for name in MNIST_FILES:
        shutil.copy(mnist_root / "mnist" / name, folder / name)
    target = folder / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:5000])
    bad(*train_mnist(tmp_path / "root"), needles=["t10k-images-idx3-ubyte.gz", "corrupt", "genlab data download mnist"])


def test_idx_files_missing(bad, tmp_path):
    (tmp_path / "root").mkdir()
    bad(*train_mnist(tmp_path / "root"), needles=["not found", "genlab data download mnist"])


# ---- settings -----------------------------------------------------------------------------------------
TRAIN_DIGITS = (*TRAIN_VAE, "--data", "digits", "--out", "out")

SETTINGS = {
    # name: (extra argv, words the message must hold)
    "unknown-key": (["--set", "latent_dimm=4"], ["latent_dimm", "did you mean 'latent_dim'"]),
    "unknown-flag": (["--lattent-dim", "4"], ["lattent_dim", "valid keys"]),
    "bad-type": (["--set", "latent_dim=four"], ["latent_dim", "int"]),
    "bad-list": (["--set", "hidden=[8,"], ["hidden", "list"]),
    "set-without-equals": (["--set", "latent_dim"], ["key=value", "latent_dim"]),
    "lr-nan": (["--lr", "nan"], ["lr", "finite", "> 0"]),
    "lr-inf": (["--lr", "inf"], ["lr", "finite"]),
    "lr-negative": (["--lr", "-1"], ["lr", "> 0"]),
    "lr-zero": (["--lr", "0"], ["lr", "> 0"]),
    "lr-text": (["--lr", "fast"], ["--lr", "fast"]),
    "log-every-zero": (["--set", "log_every=0"], ["log_every", ">= 1"]),
    "num-samples-zero": (["--set", "num_samples=0"], ["num_samples", ">= 1"]),
    "epochs-negative": (["--epochs", "-1"], ["epochs", ">= 0"]),
    "epochs-nan": (["--epochs", "nan"], ["epochs", "finite"]),
    "eval-every-negative": (["--set", "eval_every=-1"], ["eval_every", ">= 0"]),
    "sample-every-negative": (["--set", "sample_every=-1"], ["sample_every", ">= 0"]),
    "checkpoint-every-negative": (["--set", "checkpoint_every=-1"], ["checkpoint_every", ">= 0"]),
    "eval-batches-negative": (["--set", "eval_batches=-2"], ["eval_batches", ">= 0"]),
    "early-stopping-negative": (["--set", "early_stopping=-1"], ["early_stopping", ">= 0"]),
    "batch-size-zero": (["--batch-size", "0"], ["batch_size", ">= 1"]),
    "grad-accum-zero": (["--set", "grad_accum=0"], ["grad_accum", ">= 1"]),
    "steps-zero": (["--steps", "0"], ["steps", ">= 1"]),
    "warmup-negative": (["--set", "warmup_steps=-1"], ["warmup_steps", ">= 0"]),
    "grad-clip-negative": (["--set", "grad_clip=-1"], ["grad_clip", ">= 0"]),
    "weight-decay-negative": (["--set", "weight_decay=-0.1"], ["weight_decay", ">= 0"]),
    "min-lr-ratio": (["--set", "min_lr_ratio=2"], ["min_lr_ratio", "between 0 and 1"]),
    "eps-zero": (["--set", "eps=0"], ["eps", "> 0"]),
    "ema-decay-one": (["--set", "ema_decay=1"], ["ema_decay", "[0, 1)"]),
    "betas-one-number": (["--set", "betas=[0.9]"], ["betas", "two numbers"]),
    "betas-out-of-range": (["--set", "betas=[0.9,1.5]"], ["betas", "[0, 1)"]),
    "schedule": (["--set", "schedule=linear"], ["schedule", "cosine"]),
    "on-nonfinite": (["--set", "on_nonfinite=ignore"], ["on_nonfinite", "rollback"]),
    "precision": (["--precision", "fp16"], ["--precision", "fp16"]),
    "device": (["--device", "tpu"], ["device", "tpu", "cpu"]),
    "track": (["--track", "wandb"], ["wandb", "tensorboard"]),
    "latent-dim-zero": (["--set", "latent_dim=0"], ["latent_dim", ">= 1"]),
    "hidden-zero": (["--set", "hidden=[0]"], ["hidden", ">= 1"]),
}


@pytest.mark.parametrize("case", list(SETTINGS))
def test_bad_setting(bad, case):
    extra, needles = SETTINGS[case]
    bad(*TRAIN_DIGITS, *extra, needles=needles)


GPT_SETTINGS = {
    "dropout-above-one": (["--set", "dropout=1.5"], ["dropout", "[0, 1)"]),
    "dropout-negative": (["--set", "dropout=-0.1"], ["dropout", "[0, 1)"]),
    "heads-do-not-divide": (["--set", "n_head=3"], ["n_embd", "n_head"]),
    "block-size-zero": (["--set", "block_size=0"], ["block_size", ">= 1"]),
}


@pytest.mark.parametrize("case", list(GPT_SETTINGS))
def test_bad_gpt_setting(bad, corpus, case):
    extra, needles = GPT_SETTINGS[case]
    bad(*TRAIN_GPT, "--data", f"text:{corpus}", *extra, needles=needles)


def test_config_file_missing(bad, tmp_path):
    bad(*TRAIN_DIGITS, "--config", tmp_path / "nope.yaml", needles=["nope.yaml", "does not exist"])


def test_config_file_that_is_a_list(bad, tmp_path):
    (tmp_path / "c.yaml").write_text("- lr\n- 0.1\n")
    bad(*TRAIN_DIGITS, "--config", tmp_path / "c.yaml", needles=["c.yaml", "mapping"])


def test_config_file_that_does_not_parse(bad, tmp_path):
    (tmp_path / "c.json").write_text('{"lr": 0.1,')
    bad(*TRAIN_DIGITS, "--config", tmp_path / "c.json", needles=["c.json", "could not be parsed"])


# ---- the command line -----------------------------------------------------------------------------------
def test_unknown_model(bad):
    bad("train", "vea", "--steps", "1", needles=["vea", "vae"])


def test_unknown_data_set(bad):
    bad(*TRAIN_VAE, "--data", "digitz", "--out", "out", needles=["digitz", "known: digits"])


def test_train_without_a_model(bad):
    bad("train", "--steps", "1", needles=["name a model", "--resume"])


def test_train_with_model_and_resume(bad, vae_run):
    bad("train", "vae", "--resume", vae_run, needles=["either MODEL or --resume"])


def test_missing_run(bad, tmp_path):
    bad("sample", tmp_path / "no-such-run", needles=["no-such-run", "does not exist"])


def test_info_of_a_missing_run(bad, tmp_path):
    bad("info", tmp_path / "no-such-run", needles=["no-such-run"])


def test_unknown_command(bad):
    bad("smaple", needles=["smaple", "--help"])


@pytest.mark.parametrize("num", ["0", "-1", "10000000"])
def test_sample_num_out_of_range(bad, vae_run, num):
    bad("sample", vae_run, "--num", num, needles=["--num", "between 1 and 100,000"])


def test_sample_num_zero_of_a_text_model(bad, gpt_run):
    bad("sample", gpt_run, "--num", "0", needles=["--num", "between 1"])


def test_sample_num_not_a_number(bad, vae_run):
    bad("sample", vae_run, "--num", "many", needles=["--num", "many"])


def test_sample_out_existing_folder_is_kept(bad, vae_run, tmp_path):
    """An image model's samples go into a folder beside what is there; a file they would replace refuses it."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("my file")
    code, out, err = run_cli("sample", vae_run, "--out", folder, "--num", "2")
    assert code == 0, err
    assert (folder / "keep.txt").read_text() == "my file" and (folder / "sample-000.png").is_file()
    (folder / "grid.png").write_bytes(b"my own picture")
    (folder / "sample-000.png").unlink()
    bad("sample", vae_run, "--out", folder, "--num", "2", needles=["grid.png", "already exists", "new folder"])


def test_sample_out_without_an_image_suffix(bad, vae_run, tmp_path):
    bad("sample", vae_run, "--out", tmp_path / "grid.txtx", "--num", "2", needles=["grid.txtx", ".png"])


def test_sample_weights_unknown(bad, vae_run):
    bad("sample", vae_run, "--weights", "middle", needles=["--weights", "best or last"])


SEQUENCE_ARGS = {
    # --temperature 0 is greedy decoding (documented and tested in test_cli), not a mistake
    "max-new-tokens-negative": (["--max-new-tokens", "-1"], ["--max-new-tokens", "between 1 and"]),
    "max-new-tokens-zero": (["--max-new-tokens", "0"], ["--max-new-tokens", "between 1 and"]),
    "max-new-tokens-huge": (["--max-new-tokens", "2000000000"], ["--max-new-tokens", "between 1 and 1,000,000"]),
    "temperature-negative": (["--temperature", "-0.5"], ["--temperature", ">= 0", "most likely"]),
    "temperature-nan": (["--temperature", "nan"], ["--temperature", "finite"]),
    "temperature-inf": (["--temperature", "inf"], ["--temperature", "finite"]),
    "top-k-negative": (["--top-k", "-1"], ["--top-k", "at least 1"]),
    "top-k-zero": (["--top-k", "0"], ["--top-k", "at least 1"]),
    "top-p-above-one": (["--top-p", "1.5"], ["--top-p", "(0, 1]"]),
    "top-p-zero": (["--top-p", "0"], ["--top-p", "(0, 1]"]),
}


@pytest.mark.parametrize("case", list(SEQUENCE_ARGS))
def test_bad_sequence_sample_argument(bad, gpt_run, case):
    extra, needles = SEQUENCE_ARGS[case]
    bad("sample", gpt_run, "--num", "1", *extra, needles=needles)


@pytest.mark.parametrize("command", ["sample", "eval"])
def test_misspelt_device(bad, vae_run, tmp_path, command):
    bad(command, vae_run, "--device", "tpu", needles=["unknown device 'tpu'", "cpu"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda(bad, vae_run, tmp_path):
    bad("sample", vae_run, "--device", "cuda", "--num", "2", "--out", tmp_path / "s.png",
        needles=["CUDA is not available", "--device cpu"])


def test_compare_on_a_misspelt_device(bad, vae_run, tmp_path):
    bad("compare", vae_run, "--out", tmp_path / "report", "--device", "tpu", needles=["unknown device 'tpu'"])


def test_prompt_to_an_image_model(bad, vae_run):
    bad("sample", vae_run, "--prompt", "hello", "--num", "2", needles=["prompt", "it takes"])


def test_top_k_to_an_image_model(bad, vae_run):
    bad("sample", vae_run, "--top-k", "5", "--num", "2", needles=["top_k", "it takes"])


# ---- sampling arguments -----------------------------------------------------------------------------------
def test_unknown_sample_arg(bad, vae_run):
    bad("sample", vae_run, "--sample-arg", "bogus=1", "--num", "2", needles=["bogus", "it takes"])


def test_sample_arg_without_equals(bad, vae_run):
    bad("sample", vae_run, "--sample-arg", "bogus", needles=["--sample-arg", "key=value"])


def test_reserved_sample_arg(bad, vae_run):
    bad("sample", vae_run, "--sample-arg", "num_samples=3", needles=["num_samples", "own option"])


# ---- eval ---------------------------------------------------------------------------------------------------
EVAL_ARGS = {
    "num-samples-negative": (["--metrics", "all", "--num-samples", "-5"], ["--num-samples", "between 1"]),
    "num-samples-zero": (["--metrics", "all", "--num-samples", "0"], ["--num-samples", "between 1"]),
    "iw-samples-zero": (["--iw-samples", "0"], ["--iw-samples", "between 1 and"]),
    "iw-samples-huge": (["--iw-samples", "100000000"], ["--iw-samples", "between 1 and 100,000"]),
    "max-examples-zero": (["--max-examples", "0"], ["--max-examples", "at least 1"]),
    "unknown-split": (["--split", "train"], ["--split", "train"]),
    "unknown-metric": (["--metrics", "fidd"], ["fidd", "fid"]),
    "sample-arg-without-metrics": (["--sample-arg", "steps=3"], ["--sample-arg", "--metrics"]),
    "other-data": (["--data", "tinyshakespeare", "--data-root", "."], ["tinyshakespeare"]),
}


@pytest.mark.parametrize("case", list(EVAL_ARGS))
def test_bad_eval_argument(bad, vae_run, case):
    extra, needles = EVAL_ARGS[case]
    bad("eval", vae_run, *extra, needles=needles)


def test_eval_of_a_bare_model_without_data(bad, vae_run):
    bad("eval", vae_run / "best", needles=["not a training run", "--data"])


# ---- compare ------------------------------------------------------------------------------------------------
def test_compare_without_runs(bad, tmp_path):
    bad("compare", "--out", tmp_path / "report", needles=["RUN", "required"])


def test_compare_a_folder_that_is_not_a_run(bad, vae_run, tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    bad("compare", vae_run, tmp_path / "stuff", "--out", tmp_path / "report", needles=["stuff", "not a training run"])


@pytest.fixture(scope="module")
def digits_features(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad-features") / "feat"
    code, _, err = run_cli("features", "train", "--data", "digits", "--steps", "5", "--out", out)
    assert code == 0, err
    return out


@pytest.mark.parametrize("args,needles", [
    (("--sample-arg", "bogus=1"), ["bogus", "no model here takes", "temperature"]),
    (("--sample-arg", "temperature=hot"), ["temperature", "float"]),
])
def test_compare_refuses_a_sampler_setting_before_any_work(bad, vae_run, digits_features, tmp_path, args, needles):
    """Refused before any sampling or NLL (it used to fail after minutes of work), and no report folder."""
    bad("compare", vae_run, "--out", tmp_path / "report", "--features", digits_features, *args, needles=needles)
    assert not (tmp_path / "report").exists()


def test_compare_num_samples_zero(bad, vae_run, tmp_path):
    bad("compare", vae_run, "--out", tmp_path / "report", "--num-samples", "0", needles=["--num-samples", "between 1"])


# ---- run folders ----------------------------------------------------------------------------------------------
def test_resume_with_steps_below_the_current_step(bad, vae_run, tmp_path):
    # "--progress false" after RUN: argparse must not take "false" for MODEL (it used to)
    run = copy_run(vae_run, tmp_path)
    bad("train", "--resume", run, "--steps", "2", "--progress", "false", needles=["--steps 2", "below", "at least 4"])


def test_resume_a_folder_that_is_not_a_run(bad, tmp_path):
    (tmp_path / "plain").mkdir()
    bad("train", "--resume", tmp_path / "plain", needles=["not a training run", "run.json"])


def test_resume_changing_a_setting_that_alters_the_run(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    bad("train", "--resume", run, "--lr", "0.5", needles=["'lr' cannot change on resume"])


def test_overwrite_a_folder_that_is_not_a_run(bad, tmp_path):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("my work")
    bad(*TRAIN_VAE, "--data", "digits", "--out", folder, "--overwrite", needles=["not a genlab run", "another --out"])
    assert (folder / "chapter1.tex").read_text() == "my work"


def test_out_that_is_a_file(bad, tmp_path):
    (tmp_path / "file.txt").write_text("mine")
    bad(*TRAIN_VAE, "--data", "digits", "--out", tmp_path / "file.txt", needles=["is a file", "another --out"])


def test_out_that_holds_a_run(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    bad(*TRAIN_VAE, "--data", "digits", "--out", run, needles=["already has a checkpoint", "--resume", "--overwrite"])


def test_read_only_output_folder(bad, tmp_path, monkeypatch):
    import os

    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "readme.txt").write_text("mine")
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):  # root ignores permission bits: refuse writes under the folder
        if str(path).startswith(str(folder)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    real_mkdir = Path.mkdir

    def refuse_mkdir(self, *args, **kwargs):
        if str(self).startswith(str(folder)) and self != folder:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse_mkdir)
    bad(*TRAIN_VAE, "--data", "digits", "--out", folder / "run", needles=["cannot write", "writable"])


def test_full_disk_while_sampling(bad, vae_run, tmp_path, monkeypatch):
    import tempfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    bad("sample", vae_run, "--num", "2", "--out", tmp_path / "grid.png", needles=["disk is full", "free some space"])
    assert not (tmp_path / "grid.png").exists()


def test_full_disk_while_training(bad, tmp_path, monkeypatch):
    import tempfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    bad(*TRAIN_VAE, "--data", "digits", "--out", tmp_path / "run", needles=["disk is full", "free some space"])


# ---- checkpoints ----------------------------------------------------------------------------------------------
def test_malformed_run_json(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    (run / "run.json").write_text('{"model": "vae", ')
    bad("train", "--resume", run, needles=["run.json", "cannot be read as JSON", "restore"])


def test_run_json_total_steps_as_text(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    edit_json(run / "run.json", lambda r: r.update(total_steps="4"))
    bad("train", "--resume", run, needles=["total_steps", "integer", "restore"])


def test_run_json_that_is_a_list(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    (run / "run.json").write_text("[1, 2]")
    bad("info", run, needles=["run.json", "restore"])


def test_another_runs_trainer_state(bad, vae_run, gpt_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    shutil.copy(gpt_run / "checkpoint" / "trainer_state.pt", run / "checkpoint" / "trainer_state.pt")
    bad("train", "--resume", run, "--steps", "6", needles=["trainer_state.pt"], absent=["weights_only"])


def test_trainer_state_without_its_rng_entry(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    path = run / "checkpoint" / "trainer_state.pt"
    state = torch.load(path, weights_only=True)
    del state["rng"]
    torch.save(state, path)
    bad("train", "--resume", run, "--steps", "6", needles=["trainer_state.pt", "'rng'", "resume from another"])


def test_trainer_state_with_a_pickled_object(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    path = run / "checkpoint" / "trainer_state.pt"
    state = torch.load(path, weights_only=True)
    state["extra"] = Foreign()  # a class of its own: not loadable with weights_only
    torch.save(state, path)
    bad("train", "--resume", run, "--steps", "6", needles=["trainer_state.pt", "not written by genlab"],
        absent=["weights_only"])


class Foreign:
    """An object of a class genlab does not know, pickled into a trainer state."""


def test_truncated_trainer_state(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    path = run / "checkpoint" / "trainer_state.pt"
    path.write_bytes(path.read_bytes()[:100])
    bad("train", "--resume", run, "--steps", "6", needles=["trainer_state.pt", "damaged"], absent=["weights_only"])


def rewrite_safetensors_metadata(path: Path, metadata: dict) -> None:
    from safetensors.torch import load_file, save_file

    save_file(load_file(path), path, metadata=metadata)


def test_bad_safetensors_alias(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    weights = run / "best" / "model.safetensors"
    rewrite_safetensors_metadata(weights, {"aliases": json.dumps({"decoder.extra": "no.such.tensor"})})
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["model.safetensors"])


def test_safetensors_alias_that_is_not_json(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    weights = run / "best" / "model.safetensors"
    rewrite_safetensors_metadata(weights, {"aliases": "{not json"})
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["model.safetensors"])


def test_flipped_bit_in_the_weights(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    weights = run / "best" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x10
    weights.write_bytes(bytes(data))
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["model.safetensors", "sha-256"])


def test_truncated_weights(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    weights = run / "best" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["model.safetensors"])


def test_unknown_key_in_the_data_section(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    edit_json(run / "best" / "config.json", lambda c: c["data"].update(colour="blue"))
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["config.json", "colour"])


def test_config_section_that_is_a_list(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    edit_json(run / "best" / "config.json", lambda c: c.update(config=[1, 2]))
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["config.json", "config"])


def test_edited_levels_in_config_json(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)

    def edit(c):
        c["config"]["levels"] = 256
        c["data"]["levels"] = 256

    edit_json(run / "best" / "config.json", edit)
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["config.json", "levels"])


def test_edited_size_in_config_json(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    edit_json(run / "best" / "config.json", lambda c: c["config"].update(latent_dim=5))
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["model.safetensors", "config.json was edited"])


def test_config_json_that_is_not_json(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    (run / "best" / "config.json").write_text("{oops")
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["config.json"])


def test_config_json_of_an_unknown_model(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    edit_json(run / "best" / "config.json", lambda c: c.update(model="vea"))
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["vea"])


def test_config_json_that_is_not_text(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    (run / "best" / "config.json").write_bytes(bytes(range(128, 256)))
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["config.json", "restore"])


def test_run_json_without_its_model(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    edit_json(run / "run.json", lambda r: r.pop("model"))
    bad("train", "--resume", run, needles=["run.json", "no 'model'", "restore"])


def test_metrics_with_a_damaged_middle_line(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text(lines[0] + "{torn\n" + "".join(lines[1:]))
    bad("train", "--resume", run, "--steps", "6", needles=["line 2", "metrics.jsonl", "delete that line"])


def test_weights_file_missing(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    (run / "best" / "model.safetensors").unlink()
    bad("sample", run, "--num", "2", "--out", tmp_path / "s.png", needles=["model.safetensors"])


# ---- cases added with the data-scale and fine-tuning work ----------------------------------------------
def test_image_over_the_pixel_limit(bad, tmp_path):
    for i in range(3):
        write_png(tmp_path / "imgs" / f"small{i}.png", size=(16, 16), seed=i)
    write_png(tmp_path / "imgs" / "big.png", size=(64, 64))
    bad("train", "vae", "--data", f"images:{tmp_path / 'imgs'}", "--data-arg", "max_pixels=1000", "--steps", "1",
        needles=["big.png", "pixels", "max_pixels"])


def test_resume_with_other_data(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    bad("train", "--resume", run, "--data", "mnist", needles=["--data mnist", "keeps its data", "--init-from"])


def test_resume_with_other_data_option(bad, gpt_run, tmp_path):
    run = copy_run(gpt_run, tmp_path)
    bad("train", "--resume", run, "--data-arg", "train_fraction=0.5", needles=["train_fraction"])


def test_init_from_text_with_unknown_characters(bad, gpt_run, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("Zebras quizzically judge 12345 {}[] ~~~\n" * 20, encoding="utf-8")
    bad("train", "--init-from", gpt_run, "--data", f"text:{other}", "--steps", "1", "--out", tmp_path / "ft",
        needles=["lacks", "vocabulary"])


def test_init_from_image_model_on_images_of_another_form(bad, vae_run, tmp_path):
    for i in range(10):
        write_png(tmp_path / "imgs" / f"{i}.png", size=(8, 8), seed=i)
    bad("train", "--init-from", vae_run, "--data", f"images:{tmp_path / 'imgs'}", "--data-arg", "size=8",
        "--steps", "1", "--out", tmp_path / "ft", needles=["levels"])


def test_init_from_and_resume_together(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    bad("train", "--resume", run, "--init-from", vae_run, needles=["--resume", "--init-from", "not both"])


def test_init_from_a_shape_changing_setting(bad, vae_run, tmp_path):
    bad("train", "--init-from", vae_run, "--set", "latent_dim=5", "--steps", "1", "--out", tmp_path / "ft",
        needles=["latent_dim", "shape"])


def test_init_from_into_its_own_folder(bad, vae_run, tmp_path):
    run = copy_run(vae_run, tmp_path)
    bad("train", "--init-from", run, "--steps", "1", "--out", run, "--overwrite", needles=["--out", "--init-from"])


# ---- pictures that claim too many pixels (decompression bombs) --------------------------------------
def bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A PNG of a few hundred bytes whose header claims ``width`` x ``height`` grey pixels: it is
    refused from the header, before a pixel is decoded (decoding would take 400 MB)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4)  # a few rows: the rest would be decoded only on demand
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def picture_runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-pictures")
    runs = {"sr": ("sr-cnn", "digits-sr", "--data-arg", "scale=2", "--set", "width=8", "--set", "blocks=1"),
            "pix2pix": ("pix2pix", "digits-edges", "--set", "width=8", "--set", "disc_width=8",
                        "--set", "disc_layers=1")}
    for name, (model, data, *more) in runs.items():
        code, _, err = run_cli("train", model, "--data", data, *more, "--steps", "1", "--batch-size", "4",
                               "--out", root / name, "--progress", "false")
        assert code == 0, err
    return {name: root / name for name in runs}


@pytest.mark.parametrize("case", ["inpaint", "inpaint-mask", "superres", "superres-tile", "translate", "search"])
def test_a_decompression_bomb_is_refused_from_its_header(bad, vae_run, picture_runs, tmp_path, case):
    bomb = bomb_png(tmp_path / "bomb.png")
    small = write_png(tmp_path / "small.png")
    argv = {"inpaint": ("inpaint", vae_run, bomb, "--mask-kind", "bottom", "--out", "filled"),
            "inpaint-mask": ("inpaint", vae_run, small, "--mask", bomb, "--out", "filled"),
            "superres": ("superres", picture_runs["sr"], bomb, "--out", "big"),
            "superres-tile": ("superres", picture_runs["sr"], bomb, "--out", "big", "--tile", "8"),
            "translate": ("translate-image", picture_runs["pix2pix"], bomb, "--out", "drawn"),
            "search": ("search", vae_run, bomb)}[case]
    bad(*argv, needles=["bomb.png", "20000x20000", "decompression bomb", "smaller picture"])


def test_a_decompression_bomb_upload_is_413(vae_run, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from genlab.app.server import create_app

    client = TestClient(create_app([vae_run]), base_url="http://localhost")
    for size in ((20000, 20000), (2000, 2000)):  # over PIL's own bomb limit, and over the server's pixel limit
        bomb = bomb_png(tmp_path / "bomb.png", *size).read_bytes()
        r = client.post("/api/models/vae-run/inpaint", files={"image": ("bomb.png", bomb, "image/png")},
                        data={"mask_kind": "bottom"})
        assert r.status_code == 413 and r.json()["field"] == "image", r.text


def test_pickled_inception_weights_get_no_advice_to_unpickle(bad, vae_run, tmp_path):
    import datetime

    weights = tmp_path / "pt_inception.pth"  # an object pickle would have to rebuild by calling its class
    torch.save({"fc.weight": torch.zeros(2, 2), "made": datetime.date(2026, 1, 1)}, weights)
    bad("eval", vae_run, "--metrics", "fid", "--features", weights, "--num-samples", "4",
        needles=["pt_inception.pth", "pickled", "never runs pickled code"], absent=["weights_only"])


# ---- sampling settings no run can use ---------------------------------------------------------------
@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("bad-ddpm") / "ddpm-run"
    code, _, err = run_cli("train", "ddpm", "--data", "digits", "--steps", "1", "--batch-size", "4", "--out", run,
                           "--set", "timesteps=10", "--set", "channels=[8,16]", "--set", "num_res_blocks=1",
                           "--set", "attention=false", "--progress", "false", "--set", "num_samples=1")
    assert code == 0, err
    return run


@pytest.mark.parametrize("args,needles", [
    (("--sample-arg", "sampler=ddim", "--sample-arg", "eta=-1"), ["eta", "[0, 1]"]),
    (("--sample-arg", "sampler=ddim", "--sample-arg", "eta=1.5"), ["eta", "[0, 1]"]),
    (("--sample-arg", "guidance_scale=1e308"), ["guidance_scale", "[0, 100]"]),
    (("--sample-arg", "guidance_scale=3"), ["guidance_scale", "class-conditional", "leave it at 1"]),
])
def test_diffusion_settings_out_of_range(bad, ddpm_run, args, needles):
    bad("sample", ddpm_run, "--num", "1", "--out", "s.png", *args, needles=needles)


def test_vae_temperature_that_overflows(bad, vae_run):
    bad("sample", vae_run, "--num", "2", "--out", "s.png", "--sample-arg", "temperature=1e308",
        needles=["temperature", "[0, 100]"])


def test_vae_inpaint_with_a_nan_learning_rate(bad, vae_run, tmp_path):
    picture = write_png(tmp_path / "p.png")
    bad("inpaint", vae_run, picture, "--mask-kind", "bottom", "--out", "filled", "--inpaint-arg", "lr=nan",
        needles=["lr", "finite"])

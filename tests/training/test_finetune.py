"""Pre-train, then fine-tune: ``genlab train --init-from``, ``load_dataset(tokenizer=...)``,
``genlab.load_for_finetuning``, and the trainer's refusal of data of another form."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from conftest import TEXT, fast_train_config
from cli_helpers import assert_one_line_error, last_json, run_cli

import genlab
from genlab.models.io import WEIGHTS_FILE, load_state_file

GPT = dict(n_layer=1, n_head=2, n_embd=16, block_size=16)
NEW_TEXT = "a lazy dog and a quick fox; a bad cab.\n" * 20  # only characters of TEXT


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """The pre-training text, a new text in its vocabulary, and one with characters it lacks."""
    folder = tmp_path_factory.mktemp("corpora")
    paths = {"old": folder / "old.txt", "new": folder / "new.txt", "foreign": folder / "foreign.txt"}
    paths["old"].write_text(TEXT, encoding="utf-8")
    paths["new"].write_text(NEW_TEXT, encoding="utf-8")
    paths["foreign"].write_text("Zebras & émus: 42 of them!\n" * 20, encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def gpt_source(tmp_path_factory, corpora):
    run = tmp_path_factory.mktemp("src") / "gpt"
    code, out, err = run_cli("train", "gpt", "--data", f"text:{corpora['old']}", "--steps", "10", "--out", run,
                             "--batch-size", "8", "--set", "progress=false",
                             *[a for k, v in GPT.items() for a in ("--set", f"{k}={v}")])
    assert code == 0, err
    return run


@pytest.fixture(scope="module")
def vae_source(tmp_path_factory):
    run = tmp_path_factory.mktemp("src") / "vae"
    code, _, err = run_cli("train", "vae", "--data", "digits", "--steps", "3", "--out", run, "--batch-size", "8",
                           "--set", "hidden=[16]", "--set", "latent_dim=2", "--set", "progress=false")
    assert code == 0, err
    return run


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the trainer refuses data of another form ---------------------------------------------------------
def test_trainer_refuses_a_larger_vocabulary(text_data, corpora):
    model = genlab.create_model("gpt", data=text_data, **GPT)
    bigger = genlab.load_dataset(f"text:{corpora['foreign']}")  # other characters: a vocabulary of another size
    with pytest.raises(genlab.DataError) as info:
        genlab.Trainer(model, bigger, fast_train_config())
    message = str(info.value)
    assert "\n" not in message and "vocabulary size" in message
    assert f"{len(text_data.info.vocab)} vs {len(bigger.info.vocab)}" in message and "tokenizer=model" in message


def test_trainer_refuses_the_same_size_but_other_characters(text_data):
    model = genlab.create_model("gpt", data=text_data, **GPT)
    vocab = list(text_data.info.vocab)
    vocab[-1] = "#"  # same size, one other character: ids would mean other characters, silently
    other = genlab.DataSet(genlab.DataInfo("other", "text", vocab=vocab), text_data.train, text_data.val, None)
    with pytest.raises(genlab.DataError, match=r"same size .* but token .* is"):
        genlab.Trainer(model, other, fast_train_config())


def test_trainer_refuses_other_image_levels(digits):
    model = genlab.create_model("vae", data=digits, hidden=[16], latent_dim=2)
    info = genlab.DataInfo("digits-binary", "image", shape=(1, 8, 8), levels=2, num_classes=10)
    binary = genlab.DataSet(info, digits.train, digits.val, digits.test)
    with pytest.raises(genlab.DataError, match="levels 17 vs 2"):
        genlab.Trainer(model, binary, fast_train_config())


# ---- text read with a model's tokenizer ------------------------------------------------------------------
def test_load_dataset_with_a_models_tokenizer(text_data, corpora):
    model = genlab.create_model("gpt", data=text_data, **GPT)
    own = genlab.load_dataset(f"text:{corpora['new']}")
    assert own.info.vocab != text_data.info.vocab  # built from the new text alone: fewer characters
    data = genlab.load_dataset(f"text:{corpora['new']}", tokenizer=model)
    assert data.info.vocab == text_data.info.vocab
    assert data.tokenizer.decode(data.train.tokens) == NEW_TEXT[:len(data.train.tokens)]
    # the same with a tokenizer or a bare vocabulary
    again = genlab.load_dataset(f"text:{corpora['new']}", tokenizer=list(text_data.info.vocab))
    assert torch.equal(again.train.tokens, data.train.tokens)


def test_characters_outside_the_vocabulary_are_named(text_data, corpora):
    with pytest.raises(genlab.DataError) as info:
        genlab.load_dataset(f"text:{corpora['foreign']}", tokenizer=text_data.tokenizer)
    message = str(info.value)
    assert "\n" not in message and "foreign.txt" in message
    assert "6 character(s)" in message and "'Z', '&', 'é', ':', '4', ..." in message and "remove or replace" in message


def test_a_tokenizer_for_image_data_is_refused(text_data):
    with pytest.raises(genlab.DataError, match="'digits' is not text"):
        genlab.load_dataset("digits", tokenizer=text_data.tokenizer)


# ---- Python: load_for_finetuning --------------------------------------------------------------------------
def test_load_for_finetuning_starts_from_the_trained_weights(gpt_source, corpora, tmp_path):
    trained = genlab.load(gpt_source / "best")
    data = genlab.load_dataset(f"text:{corpora['new']}", tokenizer=trained)
    model, init = genlab.load_for_finetuning(gpt_source, data, dropout=0.1)
    assert model.config.dropout == 0.1 and model.data_info.name == data.info.name
    assert not [k for k, v in trained.state_dict().items() if not torch.equal(v, model.state_dict()[k])]
    assert init["path"] == str((gpt_source / "best").resolve()) and init["model"] == "gpt"
    assert init["weights_sha256"] == sha256(gpt_source / "best" / WEIGHTS_FILE)
    trainer = genlab.Trainer(model, data, fast_train_config(steps=2, batch_size=4), out_dir=tmp_path / "ft",
                             init_from=init)
    trainer.fit()
    assert json.loads((tmp_path / "ft" / "run.json").read_text())["init_from"] == init
    with pytest.raises(genlab.ConfigError, match=r"n_embd would change the shape of .*drop them"):
        genlab.load_for_finetuning(gpt_source, data, n_embd=32)


# ---- the command line -------------------------------------------------------------------------------------
def test_cli_finetune_is_a_new_run_from_the_weights(gpt_source, corpora, tmp_path):
    out = tmp_path / "ft"
    code, stdout, err = run_cli("train", "--init-from", gpt_source, "--data", f"text:{corpora['new']}", "--steps", "1",
                                "--lr", "1e-9", "--batch-size", "4", "--out", out, "--set", "progress=false")
    assert code == 0, err
    assert last_json(stdout)["steps"] == 1 and "fine-tuning gpt" in err
    run = json.loads((out / "run.json").read_text())
    source_best = gpt_source / "best"
    assert run["init_from"]["path"] == str(source_best.resolve())
    assert run["init_from"]["weights_sha256"] == sha256(source_best / WEIGHTS_FILE)
    assert run["train"]["lr"] == 1e-9 and run["total_steps"] == 1
    assert run["data"]["vocab"] == genlab.load(source_best).data_info.vocab
    # one step at lr 1e-9 from the source's weights: they are (all but) the source's, not a fresh model's
    before = load_state_file(source_best / WEIGHTS_FILE)
    after = load_state_file(out / "checkpoint" / WEIGHTS_FILE)
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    assert torch.load(out / "checkpoint" / "trainer_state.pt", weights_only=True)["step"] == 1
    # it resumes like any run (its text read with the source vocabulary again), keeping init_from
    code, _, err = run_cli("train", "--resume", out, "--steps", "2", "--set", "progress=false")
    assert code == 0, err
    assert json.loads((out / "run.json").read_text())["init_from"] == run["init_from"]
    code, stdout, err = run_cli("eval", out, "--json")
    assert code == 0, err
    assert np.isfinite(json.loads(stdout)["nll_nats"])


def test_cli_finetune_without_data_uses_the_source_runs_data(gpt_source, tmp_path):
    code, _, err = run_cli("train", "gpt", "--init-from", gpt_source, "--steps", "1", "--batch-size", "4",
                           "--out", tmp_path / "again", "--set", "progress=false")
    assert code == 0, err
    assert (json.loads((tmp_path / "again" / "run.json").read_text())["data"]["name"]
            == json.loads((gpt_source / "run.json").read_text())["data"]["name"])


def test_cli_finetune_refusals(gpt_source, vae_source, corpora, tmp_path):
    new = f"text:{corpora['new']}"
    out = ("--out", tmp_path / "never")
    assert_one_line_error(*run_cli("train", "vae", "--init-from", gpt_source, "--data", new, *out),
                          "holds a 'gpt' model, not 'vae'")
    assert_one_line_error(*run_cli("train", "--init-from", gpt_source, "--data", new, "--set", "block_size=32", *out),
                          "block_size would change the shape", "drop them")
    assert_one_line_error(*run_cli("train", "--init-from", gpt_source, "--data", f"text:{corpora['foreign']}", *out),
                          "character(s) the model's vocabulary", "'Z'")
    assert_one_line_error(*run_cli("train", "--init-from", gpt_source, "--data", "digits", *out), "is not text")
    assert_one_line_error(*run_cli("train", "--init-from", gpt_source, "--resume", gpt_source), "not both")
    assert_one_line_error(*run_cli("train", "--init-from", gpt_source, "--data", new, "--out", gpt_source,
                                   "--overwrite"), "holds the model --init-from reads")
    assert_one_line_error(*run_cli("train", "--init-from", gpt_source / "best", *out), "saved model, not a run")
    assert not (tmp_path / "never").exists() and (gpt_source / "best" / WEIGHTS_FILE).is_file()


def test_cli_finetune_image_shape_must_match(vae_source, tmp_path):
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(np.full((12, 12), 20 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    code, out, err = run_cli("train", "--init-from", vae_source, "--data", f"images:{folder}", "--data-arg", "size=8",
                             "--out", tmp_path / "never")
    assert_one_line_error(code, out, err, "does not fit the model", "levels 17 vs 256", "classes 10 vs 0")
    # the same form of data fits: digits again, as a new run
    # conditioning on the labels widens the decoder: a shape change too
    assert_one_line_error(*run_cli("train", "--init-from", vae_source, "--set", "conditional=true", "--out",
                                   tmp_path / "never"), "conditional would change the shape of")
    code, _, err = run_cli("train", "vae", "--init-from", vae_source, "--data", "digits", "--steps", "1",
                           "--batch-size", "8", "--out", tmp_path / "ft", "--set", "progress=false")
    assert code == 0, err


def test_resume_refuses_other_data(gpt_source, corpora):
    assert_one_line_error(*run_cli("train", "--resume", gpt_source, "--data", f"text:{corpora['new']}"),
                          "is not the data", "--init-from")
    assert_one_line_error(*run_cli("train", "--resume", gpt_source, "--data-arg", "train_fraction=0.5"),
                          "train_fraction=0.5 differs", "train_fraction=0.9")


def test_resume_accepts_the_same_data_spec(gpt_source, corpora):
    steps = json.loads((gpt_source / "run.json").read_text())["total_steps"]
    code, _, err = run_cli("train", "--resume", gpt_source, "--data", f"text:{corpora['old']}",
                           "--data-arg", "train_fraction=0.9", "--steps", steps + 1, "--set", "progress=false")
    assert code == 0, err

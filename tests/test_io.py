"""Saved models: config.json checks, weights that do not fit, wrapper prefixes, tied weights."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors import safe_open

import genlab
from conftest import state_dicts_equal
from genlab.models.io import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, load_state_file, save_state_file


@pytest.fixture
def saved_vae(tmp_path, digits):
    model = genlab.create_model("vae", data=digits, hidden=[16], latent_dim=3).eval()
    return model, genlab.save_pretrained(model, tmp_path / "vae")


@pytest.fixture
def saved_gpt(tmp_path, text_data):
    model = genlab.create_model("gpt", data=text_data, n_layer=1, n_head=2, n_embd=16, block_size=8).eval()
    return model, genlab.save_pretrained(model, tmp_path / "gpt")


def edit_config(folder, fn):
    path = folder / CONFIG_FILE
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(meta))


def test_saved_folder_layout(saved_vae):
    model, folder = saved_vae
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    meta = json.loads((folder / CONFIG_FILE).read_text())
    assert meta["model"] == "vae" and meta["format_version"] == FORMAT_VERSION
    assert meta["genlab_version"] == genlab.__version__
    assert meta["config"] == model.config.to_dict()
    assert meta["data"]["levels"] == 17 and meta["data"]["shape"] == [1, 8, 8]


def test_load_expected_other_model_type(saved_vae):
    _, folder = saved_vae
    with pytest.raises(genlab.CheckpointError, match="holds a 'vae' model, not a 'gpt' model"):
        genlab.load(folder, expected="gpt")
    assert genlab.load(folder, expected="vae").name == "vae"


def test_newer_format_version_fails_clearly(saved_vae):
    _, folder = saved_vae

    def newer(meta):
        meta["format_version"] = FORMAT_VERSION + 1
        meta["genlab_version"] = "9.0.0"

    edit_config(folder, newer)
    with pytest.raises(genlab.CheckpointError) as info:
        genlab.load(folder)
    msg = str(info.value)
    assert "newer genlab" in msg and "9.0.0" in msg and "upgrade" in msg


@pytest.mark.parametrize("drop", ["model", "config", "data"])
def test_config_without_model_or_config_fails(saved_vae, drop):
    _, folder = saved_vae
    edit_config(folder, lambda meta: meta.pop(drop))
    with pytest.raises(genlab.CheckpointError, match="not a genlab model config"):
        genlab.load(folder)


@pytest.mark.parametrize("text", ["{broken", "[1, 2]", ""])
def test_config_json_that_is_not_a_mapping(saved_vae, text):
    _, folder = saved_vae
    (folder / CONFIG_FILE).write_text(text)
    with pytest.raises(genlab.CheckpointError):
        genlab.load(folder)


def test_unknown_model_name_in_config(saved_vae):
    _, folder = saved_vae
    edit_config(folder, lambda meta: meta.update(model="diffusion-xl"))
    with pytest.raises(genlab.GenlabError, match="unknown model 'diffusion-xl'"):
        genlab.load(folder)


def test_weights_that_do_not_fit_the_config(saved_vae):
    _, folder = saved_vae
    edit_config(folder, lambda meta: meta["config"].update(hidden=[32]))
    with pytest.raises(genlab.CheckpointError, match="do not fit a 'vae' model"):
        genlab.load(folder)


def test_weights_with_missing_or_extra_tensors(saved_vae):
    model, folder = saved_vae
    state = model.state_dict()
    save_state_file({k: v for k, v in state.items() if k != "encoder.0.bias"}, folder / WEIGHTS_FILE)
    with pytest.raises(genlab.CheckpointError, match="do not fit"):
        genlab.load(folder)
    save_state_file({**state, "extra.weight": torch.zeros(2)}, folder / WEIGHTS_FILE)
    with pytest.raises(genlab.CheckpointError, match="do not fit"):
        genlab.load(folder)


def test_damaged_weights_file(saved_vae):
    _, folder = saved_vae
    (folder / WEIGHTS_FILE).write_bytes(b"\x00" * 100)
    with pytest.raises(genlab.CheckpointError, match="damaged"):
        genlab.load(folder)


def test_missing_folder_and_non_model_folder(tmp_path):
    with pytest.raises(genlab.CheckpointError, match="does not exist"):
        genlab.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(genlab.CheckpointError, match="genlab train"):
        genlab.load(tmp_path / "empty")


@pytest.mark.parametrize("prefix", ["_orig_mod.", "module.", "module._orig_mod."])
def test_wrapper_prefixes_are_stripped(saved_vae, prefix):
    model, folder = saved_vae
    digest = save_state_file({prefix + k: v for k, v in model.state_dict().items()}, folder / WEIGHTS_FILE)
    edit_config(folder, lambda meta: meta.update(weights_sha256=digest))  # as a wrapped model's save would record
    with safe_open(str(folder / WEIGHTS_FILE), "pt") as f:
        assert all(k.startswith(prefix) for k in f.keys())
    loaded = genlab.load(folder)
    assert state_dicts_equal(loaded.state_dict(), model.state_dict()) == []


def test_prefix_stripping_keeps_inner_names():
    state = {"module.encoder.module.weight": torch.ones(1), "_orig_mod.a_orig_mod.b": torch.zeros(1)}
    import genlab.files as io

    assert [io._strip_prefixes(k) for k in state] == ["encoder.module.weight", "a_orig_mod.b"]


def test_tied_weights_survive_save_and_load(saved_gpt):
    model, folder = saved_gpt
    with safe_open(str(folder / WEIGHTS_FILE), "pt") as f:
        keys = set(f.keys())
        aliases = json.loads(f.metadata()["aliases"])
    assert "tok_emb.weight" in keys and "head.weight" not in keys  # stored once
    assert aliases == {"head.weight": "tok_emb.weight"}
    loaded = genlab.load(folder)
    assert loaded.head.weight is loaded.tok_emb.weight
    assert state_dicts_equal(loaded.state_dict(), model.state_dict()) == []
    # still tied after loading: an update through one name is seen through the other
    with torch.no_grad():
        loaded.tok_emb.weight[0, 0] += 1.0
    assert loaded.head.weight[0, 0] == loaded.tok_emb.weight[0, 0]
    x = torch.randint(0, model.config.vocab_size, (2, 9))
    torch.testing.assert_close(genlab.load(folder).log_prob(x), model.log_prob(x), rtol=0, atol=0)


def test_tied_weights_stay_tied_through_training_and_checkpoint(tmp_path, text_data):
    model = genlab.create_model("gpt", data=text_data, n_layer=1, n_head=2, n_embd=16, block_size=8)
    trainer = genlab.Trainer(model, text_data, genlab.TrainConfig().replace(
        steps=3, batch_size=4, progress=False, eval_every=0, checkpoint_every=0), out_dir=tmp_path / "run")
    trainer.fit()
    assert model.head.weight is model.tok_emb.weight
    resumed = genlab.resume(tmp_path / "run", steps=4)
    assert resumed.model.head.weight is resumed.model.tok_emb.weight
    resumed.fit()
    loaded = genlab.load(tmp_path / "run")
    assert loaded.head.weight is loaded.tok_emb.weight
    assert state_dicts_equal(loaded.state_dict(), {k: v.cpu() for k, v in resumed.model.state_dict().items()}) == []


def test_load_state_file_restores_aliases(tmp_path):
    shared = torch.arange(6.0).view(2, 3)
    save_state_file({"a": shared, "b": shared, "c": shared.clone()}, tmp_path / "w.safetensors")
    with safe_open(str(tmp_path / "w.safetensors"), "pt") as f:
        assert set(f.keys()) == {"a", "c"}
    state = load_state_file(tmp_path / "w.safetensors")
    assert set(state) == {"a", "b", "c"}
    assert all(torch.equal(state[k], shared) for k in state)


def test_load_onto_a_device_and_in_eval_mode(saved_vae):
    _, folder = saved_vae
    loaded = genlab.load(folder, map_location="cpu")
    assert loaded.device.type == "cpu" and not loaded.training


def test_save_pretrained_leaves_no_temporary_files(saved_vae):
    model, folder = saved_vae
    genlab.save_pretrained(model, folder)  # overwrite in place
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]


def test_from_pretrained_checks_the_model_type(tmp_path):
    from genlab.models.gpt import GPT
    from genlab.models.vae import VAE

    vae = genlab.create_model("vae", hidden=[16], latent_dim=2)
    vae.save_pretrained(tmp_path / "vae")
    assert isinstance(VAE.from_pretrained(tmp_path / "vae"), VAE)
    with pytest.raises(genlab.CheckpointError, match="holds a 'vae' model, not a 'gpt' model"):
        GPT.from_pretrained(tmp_path / "vae")


# ---- integrity: the weights' hash, the config's shapes, malformed entries ---------------------------------
def flip_one_bit(path):
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's data, past the header
    path.write_bytes(bytes(data))


def test_weights_hash_is_recorded_and_checked(saved_vae):
    import hashlib

    _, folder = saved_vae
    meta = json.loads((folder / CONFIG_FILE).read_text())
    assert meta["weights_sha256"] == hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()
    flip_one_bit(folder / WEIGHTS_FILE)
    with pytest.raises(genlab.CheckpointError, match="changed since it was saved"):
        genlab.load(folder)


def test_flipped_bit_fails_eval_with_exit_2(tmp_path, digits):
    from cli_helpers import assert_one_line_error, run_cli

    folder = genlab.save_pretrained(genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2), tmp_path / "m")
    flip_one_bit(folder / WEIGHTS_FILE)
    code, out, err = run_cli("eval", folder, "--data", "digits", "--max-examples", "4", "--iw-samples", "2")
    assert_one_line_error(code, out, err, "changed since it was saved", str(folder / WEIGHTS_FILE))


def test_old_saves_without_a_hash_still_load(saved_vae):
    model, folder = saved_vae
    edit_config(folder, lambda meta: meta.pop("weights_sha256"))
    assert state_dicts_equal(genlab.load(folder).state_dict(), model.state_dict()) == []


def test_edited_size_is_refused_before_the_model_is_built(saved_vae, monkeypatch):
    """The config's shapes are checked against the weights' header on the meta device, before any allocation."""
    from genlab.models.vae import VAE

    _, folder = saved_vae
    edit_config(folder, lambda meta: meta["config"].update(hidden=[4096]))
    devices = []
    original = VAE.__init__

    def spy(self, *args, **kwargs):
        devices.append(torch.get_default_device().type)
        original(self, *args, **kwargs)

    monkeypatch.setattr(VAE, "__init__", spy)
    with pytest.raises(genlab.CheckpointError, match=r"'encoder.0.weight' is \[16, 64\] in model.safetensors but the "
                                                      r"config implies \[4096, 64\]"):
        genlab.load(folder)
    assert devices == ["meta"]


@pytest.mark.parametrize("section", ["config", "data"])
def test_edited_levels_is_refused(saved_vae, section):
    """levels appears in the config and in the data facts; an edit of either is refused."""
    _, folder = saved_vae
    edit_config(folder, lambda meta: meta[section].update(levels=5))
    with pytest.raises(genlab.CheckpointError, match="levels"):
        genlab.load(folder)


def test_edited_levels_of_a_model_whose_shapes_do_not_depend_on_it(tmp_path, digits):
    """A logistic VAE has the same weights for any levels: eval on the run's data refuses it."""
    from cli_helpers import assert_one_line_error, run_cli

    model = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2, decoder="logistic")
    folder = genlab.save_pretrained(model, tmp_path / "m")
    edit_config(folder, lambda meta: (meta["config"].update(levels=5), meta["data"].update(levels=5)))
    assert genlab.load(folder).config.levels == 5  # consistent and of the right shapes: loads
    code, out, err = run_cli("eval", folder, "--data", "digits", "--max-examples", "4")
    assert_one_line_error(code, out, err, "trained on 'digits'", "differs in levels")


@pytest.mark.parametrize("aliases, needle", [("{not json", "malformed 'aliases'"), ('["a"]', "malformed 'aliases'"),
                                             ('{"b": "missing"}', "aliases to tensors it does not hold")])
def test_bad_aliases_metadata(tmp_path, aliases, needle):
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(2)}, str(path), metadata={"aliases": aliases})
    with pytest.raises(genlab.CheckpointError, match=needle):
        load_state_file(path)


def test_unknown_data_key_and_config_that_is_a_list(saved_vae):
    _, folder = saved_vae
    edit_config(folder, lambda meta: meta["data"].update(colour_space="rgb"))
    with pytest.raises(genlab.CheckpointError, match="unknown key 'colour_space' in its 'data' section"):
        genlab.load(folder)
    edit_config(folder, lambda meta: (meta["data"].pop("colour_space"), meta.update(config=[1, 2])))
    with pytest.raises(genlab.CheckpointError, match="'config' must be a mapping"):
        genlab.load(folder)


def test_missing_weights_file_is_called_missing(saved_vae):
    _, folder = saved_vae
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(genlab.CheckpointError, match="is missing") as info:
        genlab.load(folder)
    assert "damaged" not in str(info.value)


def test_foreign_config_json_is_named_as_such(tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / CONFIG_FILE).write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    save_file({"wte.weight": torch.zeros(2, 2)}, str(folder / WEIGHTS_FILE))
    with pytest.raises(genlab.CheckpointError, match="is not a genlab model config") as info:
        genlab.load(folder)
    assert "another tool's model" in str(info.value) and "weights" not in str(info.value)
    # in a run folder, a foreign config.json beside run.json does not hide the run's checkpoint
    run = tmp_path / "run"
    model = genlab.create_model("vae", hidden=[8])
    genlab.save_pretrained(model, run / "checkpoint")
    (run / "run.json").write_text("{}")
    (run / CONFIG_FILE).write_text((folder / CONFIG_FILE).read_text())
    assert genlab.load(run).config.hidden == [8]


def test_saved_files_honour_the_umask(tmp_path, digits):
    old = os.umask(0o022)
    try:
        folder = genlab.save_pretrained(genlab.create_model("vae", data=digits, hidden=[8]), tmp_path / "m")
    finally:
        os.umask(old)
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {CONFIG_FILE: 0o644, WEIGHTS_FILE: 0o644}

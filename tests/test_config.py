"""Strict configs: unknown keys, wrong types, command-line strings and config files."""

from __future__ import annotations

import json
import re
from typing import Literal, Optional

import pytest

import genlab
from genlab.cli import read_overrides_file, split_overrides
from genlab.config import coerce, read_config_file
from genlab.models.gpt import GPTConfig
from genlab.models.vae import VAEConfig


def test_unknown_key_lists_valid_keys_and_suggests_close_match():
    with pytest.raises(genlab.ConfigError) as info:
        VAEConfig().replace(hiden=[32])
    msg = str(info.value)
    assert "'hiden'" in msg
    assert "Did you mean 'hidden'?" in msg
    for key in VAEConfig.keys():
        assert key in msg


def test_unknown_key_without_close_match_has_no_suggestion():
    with pytest.raises(genlab.ConfigError) as info:
        genlab.TrainConfig().replace(zzzqqq=1)
    msg = str(info.value)
    assert "Did you mean" not in msg
    assert "steps" in msg and "batch_size" in msg


@pytest.mark.parametrize("key, value, expected", [
    ("latent_dim", "abc", "int"),
    ("latent_dim", 2.5, "int"),
    ("latent_dim", True, "int"),
    ("beta", "high", "float"),
    ("conditional", "maybe", "bool"),
    ("hidden", "[32, x]", "a list of int"),
    ("hidden", 32, "a list of int"),
    ("hidden", "abc", "a list of int"),
    ("hidden", ["32", "x"], "a list of int"),
    ("decoder", "poisson", "'categorical'"),
])
def test_wrong_type_names_key_and_expected_type(key, value, expected):
    with pytest.raises(genlab.ConfigError) as info:
        VAEConfig().replace(**{key: value})
    msg = str(info.value)
    assert f"'{key}'" in msg
    assert expected in msg
    assert repr(value) in msg


def test_literal_error_lists_every_choice():
    with pytest.raises(genlab.ConfigError) as info:
        genlab.TrainConfig().replace(schedule="linear")
    assert "'cosine'" in str(info.value) and "'constant'" in str(info.value)


@pytest.mark.parametrize("text, value", [("100", 100), ("1e3", 1000), ("7.0", 7)])
def test_int_from_string(text, value):
    cfg = genlab.TrainConfig().replace(steps=text)
    assert cfg.steps == value and type(cfg.steps) is int


def test_int_rejects_fractions():
    with pytest.raises(genlab.ConfigError, match="'steps' expects int"):
        genlab.TrainConfig().replace(steps="2.5")


@pytest.mark.parametrize("text, value", [("3e-4", 3e-4), ("0.001", 1e-3), ("2", 2.0), (5, 5.0)])
def test_float_from_string(text, value):
    cfg = genlab.TrainConfig().replace(lr=text)
    assert cfg.lr == value and type(cfg.lr) is float


@pytest.mark.parametrize("text, value", [
    ("true", True), ("True", True), ("yes", True), ("on", True), ("1", True),
    ("false", False), ("FALSE", False), ("no", False), ("off", False), ("0", False),
])
def test_bool_from_string(text, value):
    assert genlab.TrainConfig().replace(progress=text).progress is value


@pytest.mark.parametrize("text", ["[256,256]", "[256, 256]", "256,256", "256, 256", [256, 256], (256, 256)])
def test_list_from_string(text):
    cfg = VAEConfig().replace(hidden=text)
    assert cfg.hidden == [256, 256]
    assert all(type(v) is int for v in cfg.hidden)


def test_single_item_list_and_float_list():
    assert VAEConfig().replace(hidden="[32]").hidden == [32]
    assert VAEConfig().replace(hidden="32").hidden == [32]
    assert genlab.TrainConfig().replace(betas="0.9,0.95").betas == [0.9, 0.95]


def test_literal_choices_from_string():
    assert genlab.TrainConfig().replace(schedule="constant").schedule == "constant"
    assert genlab.TrainConfig().replace(precision="bf16").precision == "bf16"
    assert VAEConfig().replace(decoder="logistic").decoder == "logistic"


def test_optional_and_none():
    assert coerce("none", Optional[int], "k") is None
    assert coerce("null", Optional[int], "k") is None
    assert coerce("5", Optional[int], "k") == 5
    assert coerce("a", Literal["a", "b"], "k") == "a"
    with pytest.raises(genlab.ConfigError, match="'k' expects int or none"):
        coerce("x", Optional[int], "k")


def test_replace_returns_copy_and_validates():
    base = GPTConfig()
    new = base.replace(n_embd="64")
    assert new.n_embd == 64 and base.n_embd == 128
    with pytest.raises(genlab.ConfigError, match="divisible"):
        base.replace(n_embd=30, n_head=4)
    with pytest.raises(genlab.ConfigError, match="lr must be > 0"):
        genlab.TrainConfig().replace(lr=0)


def test_to_dict_from_dict_round_trip():
    cfg = VAEConfig().replace(hidden=[16, 8], decoder="logistic", beta=0.5)
    again = VAEConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg


def test_yaml_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: 3.0e-4\nsteps: 20\nhidden: [32, 16]\nprogress: false\n", encoding="utf-8")
    data = read_config_file(path)
    assert data == {"lr": 3e-4, "steps": 20, "hidden": [32, 16], "progress": False}


def test_json_config_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"lr": "3e-4", "schedule": "constant"}), encoding="utf-8")
    data = read_config_file(path)
    cfg = genlab.TrainConfig().replace(**data)
    assert cfg.lr == 3e-4 and cfg.schedule == "constant"


def test_empty_yaml_is_no_overrides(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert read_config_file(path) == {}


@pytest.mark.parametrize("name, text, match", [
    ("list.yaml", "- 1\n- 2\n", "mapping"),
    ("bad.json", "{not json", "could not be parsed"),
    ("bad.yaml", "a: [1, 2\n", "could not be parsed"),
])
def test_bad_config_files(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(genlab.ConfigError, match=match):
        read_config_file(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(genlab.ConfigError, match="does not exist"):
        read_config_file(tmp_path / "nope.yaml")


def test_nested_overrides_file_is_routed_to_model_and_train(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  hidden: [32]\n  latent_dim: 4\ntrain:\n  lr: 0.01\nseed: 3\n", encoding="utf-8")
    flat = read_overrides_file(str(path))
    model, train = split_overrides(flat, VAEConfig.keys(), genlab.TrainConfig.keys())
    assert model == {"hidden": [32], "latent_dim": 4}
    assert train == {"lr": 0.01, "seed": 3}
    with pytest.raises(genlab.ConfigError, match="Did you mean 'latent_dim'"):
        split_overrides({"latnt_dim": 3}, VAEConfig.keys(), genlab.TrainConfig.keys())


def test_create_model_with_misspelt_key(digits):
    with pytest.raises(genlab.ConfigError) as info:
        genlab.create_model("vae", data=digits, hiddden=[32])
    assert "Did you mean 'hidden'" in str(info.value)
    with pytest.raises(genlab.ConfigError, match=re.escape("'latent_dim' expects int")):
        genlab.create_model("vae", data=digits, latent_dim="big")


def test_create_model_unknown_name_suggests():
    with pytest.raises(genlab.ConfigError) as info:
        genlab.create_model("vea")
    msg = str(info.value)
    assert "Did you mean 'vae'" in msg and "gpt" in msg


def test_create_model_overrides_beat_data_and_data_fills_fields(digits):
    model = genlab.create_model("vae", data=digits, hidden=[8])
    assert model.config.image_shape == [1, 8, 8] and model.config.levels == 17
    assert model.config.hidden == [8]
    assert model.config.num_classes == 10
    # without data, the config defaults imply the data facts
    bare = genlab.create_model("vae", hidden="[8]", levels="5")
    assert bare.data_info.levels == 5 and bare.data_info.kind == "image"


def test_create_model_rejects_wrong_data_kind(digits):
    with pytest.raises(genlab.DataError, match="text"):
        genlab.create_model("gpt", data=digits)
    with pytest.raises(genlab.ConfigError, match="DataSet or DataInfo"):
        genlab.create_model("vae", data="digits")

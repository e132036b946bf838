"""The feature network for sample-quality metrics: training, repeatability, saving and its checks."""

from __future__ import annotations

import json

import pytest
import torch

import genlab
from conftest import state_dicts_equal
from genlab.data.core import DataSet, ImageSplit
from genlab.evaluation.features import (
    FeatureNet,
    FeatureNetConfig,
    check_feature_network,
    default_feature_dir,
    load_feature_network,
    save_feature_network,
    train_feature_network,
)
from genlab.models.io import CONFIG_FILE, WEIGHTS_FILE

torch.set_num_threads(1)  # the nets are tiny; one thread is as fast and shares a busy machine


@pytest.fixture(scope="module")
def net(digits) -> FeatureNet:
    """A feature network trained once on digits (about 8 s on one thread)."""
    return train_feature_network(digits, steps=300, seed=0, progress=False)


@pytest.fixture(scope="module")
def saved(net, tmp_path_factory):
    return save_feature_network(net, tmp_path_factory.mktemp("features") / "digits")


def test_training_on_digits_is_far_above_chance(net, digits):
    assert net.test_accuracy > 0.8  # chance is 0.1
    assert not net.training
    # test_accuracy is the accuracy on the test split as computed by the returned net.
    with torch.no_grad():
        predicted = net.predict(digits.test.images)
    assert predicted.dtype == torch.long
    assert float((predicted == digits.test.labels).float().mean()) == pytest.approx(net.test_accuracy)


def test_same_seed_gives_identical_weights(digits):
    kwargs = dict(steps=20, batch_size=32, seed=3, progress=False, channels=[8], feature_dim=16)
    a = train_feature_network(digits, **kwargs)
    b = train_feature_network(digits, **kwargs)
    assert state_dicts_equal(a.state_dict(), b.state_dict()) == []
    assert a.content_hash == b.content_hash and len(a.content_hash) == 16
    c = train_feature_network(digits, **{**kwargs, "seed": 4})
    assert state_dicts_equal(a.state_dict(), c.state_dict()) != []
    assert c.content_hash != a.content_hash


def test_training_leaves_global_rng_alone(digits):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_feature_network(digits, steps=2, batch_size=8, progress=False, channels=[4], feature_dim=8)
    assert torch.equal(torch.rand(3), expected)


def test_save_load_round_trip(net, saved, digits):
    assert sorted(p.name for p in saved.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    meta = json.loads((saved / CONFIG_FILE).read_text())
    assert meta["kind"] == "feature-network" and meta["format"] == 1
    assert meta["config"] == net.config.to_dict() and meta["config"]["data_name"] == "digits"
    assert meta["content_hash"] == net.content_hash  # the hash after training is the saved file's hash
    loaded = load_feature_network(saved)
    assert not loaded.training
    assert loaded.content_hash == net.content_hash
    assert loaded.test_accuracy == net.test_accuracy
    assert state_dicts_equal(loaded.state_dict(), net.state_dict()) == []
    x = digits.test.images[:64]
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


def test_saving_again_replaces_the_folder(net, tmp_path):
    folder = save_feature_network(net, tmp_path / "f")
    (folder / "stray.txt").write_text("left over")
    save_feature_network(net, folder)
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no temporary or .old folder left behind


def test_changed_weights_byte_fails_with_hash_message(net, tmp_path):
    folder = save_feature_network(net, tmp_path / "f")
    data = bytearray((folder / WEIGHTS_FILE).read_bytes())
    data[-5] ^= 0x01  # a bit of a weight, so the file still parses as safetensors
    (folder / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(genlab.CheckpointError, match="content hash.*changed or is corrupt"):
        load_feature_network(folder)


def test_missing_folder_says_how_to_make_one(tmp_path):
    with pytest.raises(genlab.CheckpointError, match="genlab features train --data NAME --out DIR"):
        load_feature_network(tmp_path / "nothing")


def test_generative_model_folder_is_not_a_feature_network(tmp_path, digits):
    model = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)
    folder = genlab.save_pretrained(model, tmp_path / "vae")
    with pytest.raises(genlab.CheckpointError, match="holds a generative model \\('vae'\\), not a feature network"):
        load_feature_network(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(genlab.CheckpointError, match="no config.json.*not a feature network"):
        load_feature_network(empty)


def test_weights_that_do_not_fit_fail_clearly(net, tmp_path):
    folder = save_feature_network(net, tmp_path / "f")
    meta = json.loads((folder / CONFIG_FILE).read_text())
    meta["config"]["feature_dim"] = 64  # the hash still matches; the architecture does not
    (folder / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(genlab.CheckpointError, match="do not fit"):
        load_feature_network(folder)


def test_check_rejects_another_image_shape(net, digits):
    check_feature_network(net, digits.info)  # its own data passes
    mnist_like = genlab.DataInfo(name="mnist", kind="image", shape=(1, 28, 28), levels=256, num_classes=10)
    with pytest.raises(genlab.ConfigError, match=r"'digits'.*\[1, 8, 8\].*'mnist'.*\[1, 28, 28\].*train a feature"):
        check_feature_network(net, mnist_like)
    other_levels = genlab.DataInfo(name="digits-binary", kind="image", shape=(1, 8, 8), levels=2, num_classes=10)
    with pytest.raises(genlab.ConfigError, match="2 levels"):
        check_feature_network(net, other_levels)


def test_features_shape_and_independence_of_batch(net, digits):
    x = digits.test.images[:10]
    with torch.no_grad():
        feats = net.features(x)
        single = net.features(x[3:4])
        as_float = net.features(x.float())
    assert feats.shape == (10, net.config.feature_dim)
    assert (feats >= 0).all()  # ReLU activations
    torch.testing.assert_close(single[0], feats[3])  # GroupNorm: no batch statistics
    torch.testing.assert_close(as_float, feats)  # any dtype holding the levels


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 5, 7)])
def test_other_image_sizes_build_and_run(shape):
    net = FeatureNet(FeatureNetConfig(image_shape=list(shape), levels=256, num_classes=10, channels=[4, 8, 8],
                                      feature_dim=12)).eval()
    x = torch.randint(0, 256, (2, *shape), dtype=torch.uint8)
    with torch.no_grad():
        assert net(x).shape == (2, 10) and net.features(x).shape == (2, 12)


def test_data_without_labels_is_refused(digits):
    unlabelled = DataSet(info=genlab.DataInfo(name="blank", kind="image", shape=(1, 8, 8), levels=17),
                         train=ImageSplit(digits.train.images, None), val=None, test=None)
    with pytest.raises(genlab.DataError, match="'blank'.*needs image or audio data with class labels"):
        train_feature_network(unlabelled, steps=1, progress=False)


def test_text_data_is_refused(text_data):
    with pytest.raises(genlab.DataError, match="needs image or audio data with class labels"):
        train_feature_network(text_data, steps=1, progress=False)


def test_config_validation_and_overrides(digits):
    with pytest.raises(genlab.ConfigError, match="num_classes must be at least 2"):
        FeatureNetConfig(image_shape=[1, 8, 8], levels=17, num_classes=1).validate()
    with pytest.raises(genlab.ConfigError, match="feature_dim must be positive"):
        FeatureNetConfig(image_shape=[1, 8, 8], levels=17, num_classes=10).replace(feature_dim=0)
    with pytest.raises(genlab.ConfigError, match="image_shape must be three positive sizes"):
        FeatureNetConfig(image_shape=[8, 8], levels=17, num_classes=10).validate()
    with pytest.raises(genlab.ConfigError, match="unknown FeatureNetConfig key 'feature_dims'"):
        train_feature_network(digits, steps=1, progress=False, feature_dims=8)
    with pytest.raises(genlab.ConfigError, match="levels come from the data set"):
        train_feature_network(digits, steps=1, progress=False, levels=3)
    config = FeatureNetConfig(image_shape=[1, 8, 8], levels=17, num_classes=10, channels=[8])
    assert FeatureNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(genlab.ConfigError, match="needs image_shape"):
        FeatureNetConfig.from_dict({"levels": 17, "num_classes": 10})


def test_default_feature_dir():
    assert default_feature_dir("digits").parts == ("features", "digits")
    assert default_feature_dir("images:data/faces").parts == ("features", "images-data_faces")

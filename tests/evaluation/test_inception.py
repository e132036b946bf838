"""Inception-v3 features: same parameters and same features as torchvision's implementation.

The reference (tests/fixtures/inception_reference.json) was written by tests/evaluation/inception_reference.py
with torchvision's Inception3 and the same seeded weights; see that script.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import torch

import genlab
from genlab.evaluation.features import load_feature_extractor
from genlab.evaluation.inception import InceptionFeatures, InceptionV3, load_inception
from genlab.evaluation.quality import score_images
from inception_reference import REFERENCE_FILE, fill_weights, reference_inputs

torch.set_num_threads(1)
REFERENCE = json.loads(REFERENCE_FILE.read_text())


def filled(fid: bool) -> InceptionV3:
    net = InceptionV3(fid=fid)
    net.load_state_dict(fill_weights(net.state_dict()))
    return net.eval()


@pytest.fixture(scope="module")
def fid_weights(tmp_path_factory):
    """The FID-layout network with the reference weights, saved as a .pth file."""
    path = tmp_path_factory.mktemp("inception") / "inception.pth"
    torch.save(filled(True).state_dict(), path)
    return path


@pytest.mark.parametrize("variant, fid", [("fid", True), ("torchvision", False)])
def test_parameters_have_the_weights_files_names_and_shapes(variant, fid):
    mine = {k: list(v.shape) for k, v in InceptionV3(fid=fid).state_dict().items()}
    assert mine == REFERENCE[variant]["parameters"]


@pytest.mark.parametrize("variant, fid", [("fid", True), ("torchvision", False)])
def test_features_match_torchvision(variant, fid):
    features = InceptionFeatures(filled(fid), levels=256)
    with torch.no_grad():
        mine = features.features(reference_inputs()).double()
    expected = torch.tensor(REFERENCE[variant]["features"], dtype=torch.float64)
    assert mine.shape == expected.shape == (2, 2048)
    assert (mine - expected).norm() / expected.norm() < 1e-4


def test_the_two_variants_differ():
    """The FID port's pooling changes matter: same weights, different features."""
    x = reference_inputs()
    with torch.no_grad():
        a = InceptionFeatures(filled(True), 256).features(x)
        b = InceptionFeatures(filled(False), 256).features(x)
    assert (a - b).norm() / a.norm() > 1e-3


def test_load_inception_reads_the_file_and_names_its_hash(fid_weights):
    features = load_inception(fid_weights, levels=256)
    assert features.network.fid and not features.standard
    assert features.content_hash == hashlib.sha256(fid_weights.read_bytes()).hexdigest()[:16]
    assert "not the standard file" in features.description
    with torch.no_grad():
        got = features.features(reference_inputs()).double()
    expected = torch.tensor(REFERENCE["fid"]["features"], dtype=torch.float64)
    assert (got - expected).norm() / expected.norm() < 1e-4


def test_torchvision_files_load_without_their_auxiliary_classifier(tmp_path):
    state = filled(False).state_dict()
    state["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    path = tmp_path / "inception_v3_google.pth"
    torch.save(state, path)
    features = load_inception(path, levels=17)
    assert not features.network.fid and "not the FID weights" in features.description


@pytest.mark.parametrize("content, message", [
    (b"not a weights file", "cannot be read as a PyTorch weights file"),
    ({"weight": torch.zeros(3)}, "not an Inception-v3 state dict"),
    ({"fc.weight": torch.zeros(10, 2048)}, "10 output classes"),
    ({"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}, "do not fit Inception-v3"),
])
def test_bad_weights_files_are_named(tmp_path, content, message):
    path = tmp_path / "weights.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(genlab.CheckpointError, match=message):
        load_inception(path, levels=256)


def test_a_missing_file_says_genlab_does_not_download_it(tmp_path):
    with pytest.raises(genlab.CheckpointError, match="does not download.*pt_inception-2015-12-05"):
        load_inception(tmp_path / "nope.pth", levels=256)


def test_scoring_with_inception_features(fid_weights, digits):
    """A file passed as features scores like a feature network, without class coverage."""
    small = dataclasses.replace(digits, test=type(digits.test)(digits.test.images[:12], digits.test.labels[:12]))
    features = load_feature_extractor(fid_weights, small.info)
    assert isinstance(features, InceptionFeatures) and features.levels == small.info.levels
    same = score_images(small.test.images, small, features, seed=0)
    assert same["fid"] < 1e-3 and same["precision"] == same["recall"] == 1.0
    assert "coverage" not in same and "Inception" in same["coverage_unavailable"]
    assert same["features"] == features.content_hash and same["feature_description"].startswith("Inception-v3")
    other = score_images(small.train.images[:12], small, features, ["fid"], seed=0)
    assert other["fid"] > 10 * max(same["fid"], 1e-6)


def test_inception_features_refuse_other_data(fid_weights):
    features = load_inception(fid_weights, levels=256)
    info = genlab.data.DataInfo(name="four-channel", kind="image", shape=(4, 8, 8), levels=256)
    with pytest.raises(genlab.ConfigError, match="grey or RGB"):
        features.check_data(info)
    with pytest.raises(genlab.ConfigError, match="256 pixel levels.*has 17"):
        features.check_data(dataclasses.replace(info, shape=(1, 8, 8), levels=17, name="digits"))

"""The audio feature network (log-mel CNN), the inception score, and audio sample scoring."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch

import genlab
from genlab.data.modalities.audio import mu_law_encode
from genlab.evaluation.audio_features import (
    NETWORK,
    AudioFeatureNet,
    AudioFeatureNetConfig,
    log_mel,
    mel_centres,
    mel_filterbank,
)
from genlab.evaluation.audio_quality import AudioScorer, real_reference, score_audio
from genlab.evaluation.features import (
    check_feature_network,
    load_feature_extractor,
    load_feature_network,
    save_feature_network,
    train_feature_network,
)
from genlab.evaluation.sample_quality import inception_score
from genlab.models.io import CONFIG_FILE, WEIGHTS_FILE

torch.set_num_threads(1)

SMALL = dict(channels=[8, 16], feature_dim=32)


@pytest.fixture(scope="module")
def tones_long() -> genlab.DataSet:
    """400 sine tones of 1,024 samples (128 ms at 8 kHz) in 10 classes."""
    return genlab.load_dataset("synthetic-tones", num=400, length=1024)


@pytest.fixture(scope="module")
def audio_net(tones_long) -> AudioFeatureNet:
    return train_feature_network(tones_long, steps=200, batch_size=32, seed=0, progress=False, **SMALL)


# ---- log-mel front end -----------------------------------------------------------------------
def test_log_mel_shapes():
    codes = torch.randint(0, 256, (3, 8192), dtype=torch.uint8)
    assert log_mel(codes, 8000).shape == (3, 40, 1 + 8192 // 64)
    assert log_mel(codes[:, :64], 8000, n_fft=256, hop=64, n_mels=20).shape == (3, 20, 2)  # shorter than n_fft
    fb = mel_filterbank(129, 40, 8000)
    assert fb.shape == (40, 129) and float(fb.max()) <= 1.0 and bool((fb >= 0).all())
    assert bool((fb.sum(dim=1) > 0).all())  # no empty filter at 8 kHz, n_fft 256, 40 bands


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2500.0])
def test_tone_lands_in_the_nearest_mel_band(freq):
    t = torch.arange(8000, dtype=torch.float64) / 8000
    codes = mu_law_encode(0.5 * torch.sin(2 * math.pi * freq * t))[None]
    energy = log_mel(codes, 8000)[0].mean(dim=1)  # [40]
    nearest = int((mel_centres(40, 8000) - freq).abs().argmin())
    assert int(energy.argmax()) == nearest


# ---- training, saving, loading ---------------------------------------------------------------
def test_learns_tones_quickly(tones_long):
    start = time.perf_counter()
    net = train_feature_network(tones_long, steps=200, batch_size=32, seed=1, progress=False, **SMALL)
    assert time.perf_counter() - start < 20
    assert isinstance(net, AudioFeatureNet) and not net.training
    assert net.test_accuracy >= 0.9  # chance is 0.1
    with torch.no_grad():
        predicted = net.predict(tones_long.test.codes)
    assert float((predicted == tones_long.test.labels).double().mean()) == pytest.approx(net.test_accuracy)
    assert net.features(tones_long.test.codes[:5]).shape == (5, 32)


def test_save_load_keeps_hash_and_outputs(audio_net, tones_long, tmp_path):
    folder = save_feature_network(audio_net, tmp_path / "tones")
    meta = json.loads((folder / CONFIG_FILE).read_text())
    assert meta["network"] == NETWORK and meta["content_hash"] == audio_net.content_hash
    assert meta["config"]["length"] == 1024 and meta["config"]["n_mels"] == 40
    loaded = load_feature_network(folder)
    assert isinstance(loaded, AudioFeatureNet)
    assert loaded.content_hash == audio_net.content_hash and loaded.test_accuracy == audio_net.test_accuracy
    x = tones_long.test.codes
    with torch.no_grad():
        assert torch.equal(loaded.features(x), audio_net.features(x))
    assert load_feature_extractor(folder, tones_long.info).content_hash == audio_net.content_hash
    # A changed weights file is caught by the hash.
    weights = folder / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(genlab.CheckpointError, match="content hash"):
        load_feature_network(folder)


def test_check_feature_network_for_audio(audio_net, tones_long, tones, digits):
    check_feature_network(audio_net, tones_long.info)
    with pytest.raises(genlab.ConfigError, match="1024 samples at 8000 Hz.*genlab features train --data"):
        check_feature_network(audio_net, tones.info)  # 64-sample clips
    with pytest.raises(genlab.ConfigError, match="trained on"):
        check_feature_network(audio_net, digits.info)


def test_config_checks():
    with pytest.raises(genlab.ConfigError, match="num_classes must be at least 2"):
        AudioFeatureNetConfig(length=100, rate=8000, num_classes=1).validate()
    with pytest.raises(genlab.ConfigError, match="needs length"):
        AudioFeatureNetConfig.from_dict({"rate": 8000, "num_classes": 10})
    with pytest.raises(genlab.ConfigError, match="cannot be overridden"):
        train_feature_network(genlab.load_dataset("synthetic-tones", num=20, length=256), steps=1, progress=False,
                              length=128)


# ---- inception score -------------------------------------------------------------------------
def _inception_numpy(p: np.ndarray) -> float:
    marginal = p.mean(axis=0)
    kl = [sum(pi * math.log(pi / m) for pi, m in zip(row, marginal) if pi > 0) for row in p]
    return math.exp(sum(kl) / len(kl))


def test_inception_score_extremes_and_against_numpy():
    confident = torch.eye(10).repeat(3, 1)  # 30 confident predictions spread evenly over 10 classes
    assert inception_score(confident)[0] == pytest.approx(10.0)
    same = torch.zeros(30, 10)
    same[:, 4] = 1
    assert inception_score(same)[0] == pytest.approx(1.0)
    assert inception_score(torch.full((7, 10), 0.1))[0] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    table = rng.dirichlet(np.full(5, 0.3), size=12)
    table[0] = [1, 0, 0, 0, 0]  # a zero entry: 0 log 0 = 0
    mean, std = inception_score(torch.from_numpy(table))
    assert mean == pytest.approx(_inception_numpy(table), rel=1e-12) and std == 0.0
    halves = [_inception_numpy(table[:6]), _inception_numpy(table[6:])]
    mean2, std2 = inception_score(torch.from_numpy(table), num_splits=2)
    assert mean2 == pytest.approx(np.mean(halves)) and std2 == pytest.approx(np.std(halves))
    with pytest.raises(genlab.ConfigError, match="sum to 1"):
        inception_score(torch.ones(3, 4))


# ---- scoring clips ---------------------------------------------------------------------------
def test_score_real_clips_and_reference(audio_net, tones_long):
    ref = real_reference(tones_long, audio_net)
    assert ref["accuracy"] == pytest.approx(audio_net.test_accuracy)
    assert ref["fd"] == pytest.approx(0.0, abs=1e-6)
    assert ref["inception_score"] > 5 and ref["fd_train_test"] >= 0 and ref["fd_test_halves"] >= 0
    assert ref["features"] == audio_net.content_hash
    # Clips all of one class: accuracy against class 3 is high, the inception score near 1.
    one = tones_long.train.codes[tones_long.train.labels == 3]
    out = score_audio(one, tones_long, audio_net, asked=torch.full((len(one),), 3))
    assert out["accuracy"] > 0.8 and out["inception_score"] < 2 and out["coverage"] <= 0.2
    assert out["fd"] > ref["fd_train_test"]


def test_audio_sample_quality_asks_classes_in_turn(audio_net, tones_long):
    class Fake:
        """A 'model' that plays a real test tone of the asked class."""

        device = torch.device("cpu")
        condition_spec = object()

        def eval(self):
            return self

        def sample(self, n, condition=None, generator=None):
            test = tones_long.test
            return torch.stack([test.codes[test.labels == c][0] for c in condition.tolist()])

    scorer = AudioScorer(tones_long, audio_net)
    scorer.batch_size = 7  # several batches, each asked for its own classes
    out = scorer.score_model(Fake(), num_samples=20)
    assert out["num_samples"] == 20 and out["accuracy"] >= 0.9 and out["coverage"] == 1.0


def test_accuracy_is_the_share_of_clips_heard_as_asked(tones_long, audio_net):
    """The "asked class heard" figure, counted by hand from given classifier outputs."""
    clips = tones_long.test.codes[:6]
    features = audio_net.features(clips).detach()
    heard = [0, 1, 2, 2, 1, 0]
    probs = torch.nn.functional.one_hot(torch.tensor(heard), audio_net.config.num_classes).double() * 0.9
    probs += 0.1 / audio_net.config.num_classes  # rows sum to 1, the heard class the largest
    asked = [0, 1, 1, 2, 0, 0]  # heard as asked: clips 0, 1, 3 and 5
    out = score_audio(clips, tones_long, audio_net, asked=torch.tensor(asked), classified=(features, probs))
    assert out["accuracy"] == sum(h == a for h, a in zip(heard, asked)) / 6 == 4 / 6

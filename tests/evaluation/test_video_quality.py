"""The frame Fréchet distance of video clips: frames resized with antialiasing to the feature network's input,
identical sets at ~0, a shifted set further, the floor from real training clips."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import ConfigError
from genlab.evaluation.features import FeatureNet, FeatureNetConfig
from genlab.evaluation.sample_quality import frechet_distance_features
from genlab.evaluation.video_quality import clip_frames, frame_features, frame_fid, score_clips


@pytest.fixture
def net():
    torch.manual_seed(0)
    return FeatureNet(FeatureNetConfig(image_shape=[1, 8, 8], levels=256, num_classes=10, channels=[8],
                                       feature_dim=16)).eval()


def test_frames_are_resized_with_antialiasing(net):
    clips = torch.zeros(2, 3, 1, 32, 32, dtype=torch.long)
    clips[:, :, :, ::4, ::4] = 255  # a grid of single lit pixels, one in 16
    frames = clip_frames(clips, 256, net)
    assert frames.shape == (6, 1, 8, 8) and frames.dtype == torch.long
    # antialiased: away from the border every output pixel averages the grid to 255 / 16 = 16, where
    # bilinear interpolation without the low-pass filter reads only pixels 1-2 of each 4 (all 0)
    assert (frames[..., 1:-1, 1:-1] == 16).all()
    same = clip_frames(torch.randint(0, 17, (1, 2, 1, 8, 8)), 17, net)  # 17 levels, no resize: rescaled levels
    assert int(same.max()) <= 255 and same.shape == (2, 1, 8, 8)
    with pytest.raises(ConfigError, match="1-channel"):
        clip_frames(torch.zeros(1, 2, 3, 8, 8, dtype=torch.long), 256, net)


def test_identical_sets_score_zero_and_a_shift_scores_more(moving_digits, net):
    clips = moving_digits.test.get(torch.arange(40))["x"]
    assert frame_fid(clips, clips, net) == pytest.approx(0, abs=1e-3)
    other = moving_digits.test.get(torch.arange(40, 80))["x"]
    brighter = (clips.long() + 80).clamp(max=255)
    shifted = frame_fid(brighter, clips, net)
    held_out = frame_fid(other, clips, net)
    assert shifted > 0.01 and shifted > 3 * held_out
    # the features are those of the frames one by one: the order of frames in a clip does not matter
    assert torch.allclose(frame_features(net, clips.flip(1)).sort(0).values, frame_features(net, clips).sort(0).values)


def test_score_clips_reports_the_floor(moving_digits, net):
    test = moving_digits.test.get(torch.arange(60))["x"]
    train = moving_digits.train.get(torch.arange(30))["x"]
    noise = torch.randint(0, 256, (30, 10, 1, 16, 16))
    result = score_clips(noise, test, train, net)
    assert result["frame_fid_train"] == pytest.approx(
        frechet_distance_features(frame_features(net, train), frame_features(net, test)))
    assert result["frame_fid"] > 5 * result["frame_fid_train"]  # noise is far from digits, real clips are close
    assert result["num_samples"] == 30 and result["frames_per_clip"] == 10 and "16x16 -> 8x8" in result["resize"]

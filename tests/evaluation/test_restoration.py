"""PSNR and SSIM on Y (BT.601, border cropped) against scikit-image, and the bicubic baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genlab
from genlab.errors import DataError
from genlab.evaluation.restoration import bicubic_baseline, psnr, rgb_to_y, ssim

skm = pytest.importorskip("skimage.metrics")


def _pair(seed=0, h=40, w=52):
    """An image with structure (smooth plus edges) and a noisy, shifted copy of it, uint8 [3, H, W]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(xx / 5 + c) * np.cos(yy / 7) for c in range(3)])
    base[:, :, w // 2:] += 40
    a = np.clip(base, 0, 255).astype(np.uint8)
    b = np.clip(np.roll(base, 1, axis=2) + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    return torch.from_numpy(a), torch.from_numpy(b)


def _y_by_hand(img: np.ndarray) -> np.ndarray:
    x = img.astype(np.float64) / 255.0
    return 16 + 65.481 * x[0] + 128.553 * x[1] + 24.966 * x[2]


def test_y_is_matlab_rgb2ycbcr():
    white, black = torch.full((3, 2, 2), 255, dtype=torch.uint8), torch.zeros(3, 2, 2, dtype=torch.uint8)
    assert torch.allclose(rgb_to_y(white), torch.full((2, 2), 235.0, dtype=torch.float64))
    assert torch.allclose(rgb_to_y(black), torch.full((2, 2), 16.0, dtype=torch.float64))
    red = torch.zeros(3, 1, 1, dtype=torch.uint8)
    red[0] = 255
    assert float(rgb_to_y(red)) == pytest.approx(16 + 65.481)


@pytest.mark.parametrize("border", [0, 2, 4])
def test_psnr_and_ssim_match_scikit_image(border):
    a, b = _pair(seed=border)
    ya, yb = _y_by_hand(a.numpy()), _y_by_hand(b.numpy())
    if border:
        ya, yb = ya[border:-border, border:-border], yb[border:-border, border:-border]
    want_psnr = skm.peak_signal_noise_ratio(ya, yb, data_range=255)
    want_ssim = skm.structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                          data_range=255)
    assert psnr(b, a, border) == pytest.approx(want_psnr, abs=1e-9)
    assert ssim(b, a, border) == pytest.approx(want_ssim, abs=1e-9)
    assert 0.1 < want_ssim < 0.99  # a case where SSIM says something


def test_identical_and_bad_shapes():
    a, _ = _pair()
    assert psnr(a, a, 2) == float("inf") and ssim(a, a, 2) == pytest.approx(1.0)
    with pytest.raises(DataError, match="target's size"):
        psnr(a[:, :-1], a)
    with pytest.raises(DataError, match="1 or 3 channels"):
        ssim(a[:2], a[:2])


# ---- the bicubic baseline on the real test sets (skipped without them) ----------------------------

# Published bicubic PSNR (dB): SRCNN (Dong et al., TPAMI 2016) Table and EDSR (Lim et al., CVPRW 2017) Table.
PUBLISHED_SET5 = {2: 33.66, 3: 30.39, 4: 28.42}


@pytest.fixture(scope="module")
def sr_root(data_root):
    if not (data_root / "sr" / "Set5").is_dir():
        pytest.skip(f"super-resolution data not under data root {data_root} (set GENLAB_DATA)")
    return data_root


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_baseline_reproduces_published_set5(sr_root, scale):
    result = bicubic_baseline(genlab.load_dataset("set5", root=sr_root, scale=scale).test)
    assert len(result["images"]) == 5
    assert abs(result["psnr"] - PUBLISHED_SET5[scale]) < 0.1, result["psnr"]
    assert 0.7 < result["ssim"] < 0.95

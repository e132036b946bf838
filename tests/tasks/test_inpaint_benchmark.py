"""The inpainting benchmarks' scores (benchmarks/inpaint_common.py) against independent computations on
tiny inputs: MSE inside the mask, the share classified as the original digit, the Fréchet distance."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.evaluation.features import FeatureNet, FeatureNetConfig

COMMON = Path(__file__).resolve().parents[2] / "benchmarks" / "inpaint_common.py"


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("inpaint_common", COMMON)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def net():
    """An untrained feature network whose 6 features all vary (no dead units), so covariances are regular."""
    torch.manual_seed(0)
    net = FeatureNet(FeatureNetConfig(image_shape=[1, 8, 8], levels=17, num_classes=10, channels=[16], feature_dim=6))
    with torch.no_grad():
        net.embed[0].bias.fill_(1.0)
    return net.eval()


def test_mse_counts_the_masked_pixels_only(common):
    gen = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 17, (3, 1, 8, 8), generator=gen)
    filled = torch.randint(0, 17, (3, 1, 8, 8), generator=gen)
    mask = common.fixed_masks(8, 8)["strokes"]
    t, f, m = truth.numpy(), filled.numpy(), mask.numpy()
    squares = [(int(f[b, 0, i, j]) - int(t[b, 0, i, j])) ** 2 for b in range(3) for i in range(8) for j in range(8)
               if m[i, j]]
    assert common.mse_in_mask(filled, truth, mask) == pytest.approx(sum(squares) / len(squares), rel=1e-6)
    elsewhere = torch.where(mask, filled, torch.zeros_like(filled))  # pixels outside the mask do not count
    assert common.mse_in_mask(elsewhere, truth, mask) == common.mse_in_mask(filled, truth, mask)


def test_class_share_and_frechet_distance(common, net):
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 17, (40, 1, 8, 8), generator=gen)
    with torch.no_grad():
        predicted = torch.stack([net(x[None]).argmax(1)[0] for x in images])  # one image at a time
        features = net.features(images).double().numpy()
    labels = torch.cat([predicted[:30], (predicted[30:] + 1) % 10])  # the last 10 labelled wrongly
    assert common.class_share(net, images, labels) == pytest.approx(0.75)

    reference = torch.randn(50, 6, generator=gen, dtype=torch.float64) + 0.3
    r = reference.numpy()
    mu1, mu2 = features.mean(0), r.mean(0)
    c1, c2 = np.cov(features, rowvar=False), np.cov(r, rowvar=False)
    assert np.linalg.matrix_rank(c1) == 6
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert common.frechet_distance_to(net, images, reference) == pytest.approx(expected, rel=1e-5)


def test_the_picture_has_a_row_per_mask_and_method(common, tmp_path):
    from PIL import Image

    truth = torch.randint(0, 17, (8, 1, 8, 8), generator=torch.Generator().manual_seed(2))
    masks = common.fixed_masks(8, 8)
    completions = {(kind, name): (truth, 0.0) for kind in masks for name in ("a", "b")}
    path = common.save_picture(truth, completions, masks, ["a", "b"], 17, tmp_path / "p.png")
    with Image.open(path) as im:  # 8 images a row; per mask: masked inputs, a, b, truths; cells 32 px + 1
        assert im.size == (8 * 33 + 1, 4 * 4 * 33 + 1)
        first = np.asarray(im.convert("L"))[1:33, 1:33]  # the first masked input: its hole mid-grey (level 8)
        assert (first[masks["bottom"].numpy().repeat(4, 0).repeat(4, 1)] == round(8 * 255 / 16)).all()

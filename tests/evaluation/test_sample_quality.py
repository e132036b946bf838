"""Sample-quality metrics checked against independent computations (scipy, naive loops, closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.errors import ConfigError
from genlab.evaluation.sample_quality import (
    class_coverage,
    feature_statistics,
    frechet_distance,
    frechet_distance_features,
    kernel_inception_distance,
    memorisation,
    precision_recall,
)

torch.set_num_threads(1)


def correlated_gaussian(n: int, dims: int, seed: int, shift: float = 0.0, mixing_seed: int | None = None) -> torch.Tensor:
    """``n`` draws of a correlated Gaussian in ``dims`` dimensions (a random linear map of white noise).

    The map comes from ``mixing_seed`` (default: ``seed``); equal mixing seeds give the same distribution.
    """
    g = torch.Generator().manual_seed(seed if mixing_seed is None else mixing_seed)
    mixing = torch.randn(dims, dims, generator=g, dtype=torch.float64) / math.sqrt(dims)
    g = torch.Generator().manual_seed(seed + 1_000_000)
    return torch.randn(n, dims, generator=g, dtype=torch.float64) @ mixing + shift


# ---------------------------------------------------------------------------------- Fréchet distance

def test_feature_statistics_match_numpy():
    x = correlated_gaussian(50, 6, seed=1).float()
    mean, cov = feature_statistics(x)
    assert mean.dtype == cov.dtype == torch.float64
    assert mean.shape == (6,) and cov.shape == (6, 6)
    np.testing.assert_allclose(mean.numpy(), x.double().numpy().mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cov.numpy(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-10, atol=1e-12)


def test_frechet_distance_matches_scipy_sqrtm():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    a = correlated_gaussian(400, 16, seed=2)
    b = correlated_gaussian(400, 16, seed=3, shift=0.3) * 1.5
    mu1, cov1 = (v.numpy() for v in feature_statistics(a))
    mu2, cov2 = (v.numpy() for v in feature_statistics(b))
    covmean = scipy_linalg.sqrtm(cov1 @ cov2).real
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))
    assert expected > 1.0  # the two distributions really differ
    assert frechet_distance_features(a, b) == pytest.approx(expected, rel=1e-6)
    # Same value from explicit statistics and from float32 features (computed in float64 inside).
    assert frechet_distance(*feature_statistics(a), *feature_statistics(b)) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance_features(a.float(), b.float()) == pytest.approx(expected, rel=1e-4)


def test_frechet_distance_zero_for_identical_statistics_and_symmetric():
    a = correlated_gaussian(400, 16, seed=4)
    b = correlated_gaussian(300, 16, seed=5, shift=-0.2)
    mu, cov = feature_statistics(a)
    assert frechet_distance(mu, cov, mu, cov) < 1e-8 * float(torch.trace(cov))
    assert frechet_distance_features(a, b) == pytest.approx(frechet_distance_features(b, a), rel=1e-9)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    # For diagonal covariances the matrices commute and FD = sum_i (sqrt(a_i) - sqrt(b_i))^2 + ||mu1 - mu2||^2.
    var1 = torch.tensor([1.0, 4.0, 0.25, 9.0], dtype=torch.float64)
    var2 = torch.tensor([2.0, 1.0, 0.5, 9.0], dtype=torch.float64)
    mu1 = torch.tensor([0.0, 1.0, -1.0, 2.0], dtype=torch.float64)
    mu2 = torch.tensor([1.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    expected = float(((var1.sqrt() - var2.sqrt()) ** 2).sum() + ((mu1 - mu2) ** 2).sum())
    assert frechet_distance(mu1, torch.diag(var1), mu2, torch.diag(var2)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_invariant_under_rotation_and_fine_with_singular_covariance():
    # A rotation of the feature space preserves the Gaussians' distance.
    a = correlated_gaussian(200, 8, seed=6)
    b = correlated_gaussian(200, 8, seed=7, shift=0.5)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(8), dtype=torch.float64))
    assert frechet_distance_features(a @ q, b @ q) == pytest.approx(frechet_distance_features(a, b), rel=1e-9)
    # Fewer examples than features: singular covariances, still finite, >= 0 and zero for a set against itself.
    small = correlated_gaussian(5, 8, seed=9)
    assert frechet_distance_features(small, small) < 1e-8
    assert 0 < frechet_distance_features(small, small + 1.0) < math.inf


# ---------------------------------------------------------------------------------- KID

def naive_kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 with k(x, y) = (x.y / D + 1)^3, written as plain loops over pairs."""
    m, dims = a.shape

    def k(x, y):
        return (float(np.dot(x, y)) / dims + 1.0) ** 3

    aa = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j)
    bb = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j)
    ab = sum(k(a[i], b[j]) for i in range(m) for j in range(m))
    return (aa + bb) / (m * (m - 1)) - 2 * ab / (m * m)


def test_kid_matches_naive_loop_on_full_sets():
    a = correlated_gaussian(30, 5, seed=10)
    b = correlated_gaussian(30, 5, seed=11, shift=0.4)
    expected = naive_kid(a.numpy(), b.numpy())
    mean, std = kernel_inception_distance(a, b, num_subsets=100, subset_size=30)
    assert mean == pytest.approx(expected, rel=1e-10)
    assert std is None  # every subset is both whole sets: one value, no spread (not a "+- 0")
    _, spread = kernel_inception_distance(a, b, num_subsets=20, subset_size=20)
    assert spread is not None and spread > 0  # real subsets: a spread
    # A subset size above the set sizes is clipped to them: the same full-set value.
    mean_big, _ = kernel_inception_distance(a.float(), b.float(), num_subsets=1, subset_size=1000)
    assert mean_big == pytest.approx(expected, rel=1e-5)


def test_kid_near_zero_for_same_distribution_and_positive_for_shifted():
    a = correlated_gaussian(300, 8, seed=12, mixing_seed=0)
    same = correlated_gaussian(300, 8, seed=13, mixing_seed=0)  # same distribution, other draws
    shifted = correlated_gaussian(300, 8, seed=13, shift=1.0, mixing_seed=0)
    mean_same, std_same = kernel_inception_distance(a, same, num_subsets=20, subset_size=100)
    mean_shift, std_shift = kernel_inception_distance(a, shifted, num_subsets=20, subset_size=100)
    assert abs(mean_same) < 3 * std_same + 1e-3
    assert mean_shift > 10 * max(abs(mean_same), std_same)
    assert mean_shift - 3 * std_shift > 0


def test_kid_repeats_with_seed():
    a = correlated_gaussian(60, 4, seed=14)
    b = correlated_gaussian(60, 4, seed=15, shift=0.5)
    first = kernel_inception_distance(a, b, num_subsets=5, subset_size=20, seed=3)
    assert kernel_inception_distance(a, b, num_subsets=5, subset_size=20, seed=3) == first
    assert kernel_inception_distance(a, b, num_subsets=5, subset_size=20, seed=4) != first
    assert first[1] > 0  # different subsets give different values


# ---------------------------------------------------------------------------------- precision and recall

def naive_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The definition with explicit loops: k-th nearest other point radii, then ball membership."""

    def radii(points):
        out = []
        for i in range(len(points)):
            d = sorted(float(np.linalg.norm(points[i] - points[j])) for j in range(len(points)) if j != i)
            out.append(d[k - 1])
        return out

    def share(points, centres, centre_radii):
        hits = 0
        for p in points:
            if any(np.linalg.norm(p - c) <= r for c, r in zip(centres, centre_radii)):
                hits += 1
        return hits / len(points)

    return share(fake, real, radii(real)), share(real, fake, radii(fake))


@pytest.mark.parametrize("k", [1, 3])
def test_precision_recall_match_naive_loop(k):
    real = correlated_gaussian(40, 3, seed=16)
    fake = correlated_gaussian(35, 3, seed=17, shift=0.7) * 0.6
    p, r = naive_precision_recall(real.numpy(), fake.numpy(), k)
    assert 0 < p < 1 and 0 < r < 1  # a case where the details matter
    out = precision_recall(real, fake, k=k)
    assert out["precision"] == pytest.approx(p, abs=1e-12)
    assert out["recall"] == pytest.approx(r, abs=1e-12)
    assert out["k"] == k


def test_precision_recall_chunked_matches_single_block(monkeypatch):
    import genlab.evaluation.sample_quality as sq

    real = correlated_gaussian(150, 6, seed=18)
    fake = correlated_gaussian(130, 6, seed=19, shift=0.3)
    whole = precision_recall(real, fake, k=3)
    monkeypatch.setattr(sq, "_CHUNK", 16)
    assert precision_recall(real, fake, k=3) == whole


def test_precision_recall_of_a_set_against_itself_is_one_even_with_duplicates():
    real = correlated_gaussian(200, 8, seed=20)
    out = precision_recall(real, real.clone(), k=3)
    assert out["precision"] == 1.0 and out["recall"] == 1.0
    # Rows repeated k+1 times have radius 0: each still covers its own copies.
    dup = torch.cat([real[:50]] * 4)
    out = precision_recall(dup, dup.clone(), k=3)
    assert out["precision"] == 1.0 and out["recall"] == 1.0


def test_precision_recall_collapsed_and_distant_generators():
    real = correlated_gaussian(200, 8, seed=21)
    collapsed = real[:1].repeat(200, 1)  # every sample is the same real point
    out = precision_recall(real, collapsed, k=3)
    assert out["precision"] == 1.0
    assert out["recall"] < 0.05
    far = correlated_gaussian(200, 8, seed=22, shift=100.0)
    out = precision_recall(real, far, k=3)
    assert out["precision"] == 0.0 and out["recall"] == 0.0


# ---------------------------------------------------------------------------------- class coverage

def reference_labels() -> torch.Tensor:
    counts = [30, 10, 20, 5, 15, 40, 25, 10, 35, 10]  # unequal class proportions, 10 classes
    return torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])


def test_class_coverage_in_test_proportions():
    ref = reference_labels()
    pred = ref[torch.randperm(len(ref), generator=torch.Generator().manual_seed(0))]
    out = class_coverage(pred, ref, num_classes=10)
    assert out["coverage"] == 1.0
    assert abs(out["kl"]) < 1e-12
    assert out["missing"] == [] and out["collapsed"] is False
    np.testing.assert_allclose(out["histogram"], np.bincount(ref.numpy(), minlength=10) / len(ref))


def test_class_coverage_of_a_collapsed_generator():
    ref = reference_labels()
    q = np.bincount(ref.numpy(), minlength=10) / len(ref)
    out = class_coverage(torch.full((100,), 3), ref, num_classes=10)
    assert out["coverage"] == pytest.approx(0.1)
    assert out["collapsed"] is True
    assert out["kl"] == pytest.approx(math.log(1 / q[3]), rel=1e-12)
    assert out["missing"] == [c for c in range(10) if c != 3]
    assert out["histogram"][3] == 1.0


def test_class_coverage_threshold_kl_and_unknown_class():
    scipy_stats = pytest.importorskip("scipy.stats")
    ref = torch.tensor([0] * 50 + [1] * 50)
    # p = (0.05, 0.95): class 0 is produced at 0.1 of its test share, below the 0.2 ratio.
    pred = torch.tensor([0] * 5 + [1] * 95)
    out = class_coverage(pred, ref, num_classes=3)  # class 2 is absent from both: not counted
    assert out["coverage"] == 0.5 and out["missing"] == [0] and out["collapsed"] is False
    assert out["kl"] == pytest.approx(float(scipy_stats.entropy([0.05, 0.95], [0.5, 0.5])), rel=1e-12)
    assert class_coverage(pred, ref, num_classes=3, min_share_ratio=0.1)["missing"] == []
    # Samples of a class the test data never contains: KL(p || q) is infinite.
    assert class_coverage(torch.tensor([0, 1, 2]), ref, num_classes=3)["kl"] == math.inf


# ---------------------------------------------------------------------------------- memorisation

def naive_memorisation(samples: np.ndarray, train: np.ndarray):
    nearest, dist, gap = [], [], []
    for s in samples:
        d = [float(np.linalg.norm(s - t)) for t in train]
        j = int(np.argmin(d))
        r = min(float(np.linalg.norm(train[j] - train[i])) for i in range(len(train)) if i != j)
        nearest.append(j)
        dist.append(d[j])
        gap.append(r)
    dist, gap = np.array(dist), np.array(gap)
    return float(np.mean(dist < gap)), np.array(nearest), dist, gap


def uniform(n: int, dims: int, seed: int) -> torch.Tensor:
    return torch.rand(n, dims, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_memorisation_matches_naive_loop():
    train = uniform(30, 4, seed=30)
    near_copies = train[[2, 7, 7, 19]] + 0.01 * uniform(4, 4, seed=31)
    fresh = uniform(21, 4, seed=32)
    samples = torch.cat([near_copies, fresh])
    share, nearest, dist, gap = naive_memorisation(samples.numpy(), train.numpy())
    assert 4 / 25 < share < 1  # the near copies count and some fresh draws do not
    out = memorisation(samples, train, chunk=7)
    assert out["share"] == pytest.approx(share, abs=1e-12)
    assert out["nearest_index"].dtype == torch.long
    np.testing.assert_array_equal(out["nearest_index"].numpy(), nearest)
    np.testing.assert_allclose(out["nearest_distance"].numpy(), dist, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["train_gap"].numpy(), gap, rtol=1e-10, atol=1e-12)


def test_memorisation_of_copies_and_of_distant_samples():
    train = uniform(100, 20, seed=33)
    rows = torch.tensor([5, 17, 17, 42, 99, 0])
    copies = (train[rows] + 1e-4 * uniform(len(rows), 20, seed=34)).float()
    out = memorisation(copies, train)
    assert out["share"] == 1.0
    assert torch.equal(out["nearest_index"], rows)
    assert bool((out["nearest_distance"] < 1e-3).all()) and bool((out["train_gap"] > 0.1).all())
    assert memorisation(train[rows] + 10.0, train)["share"] == 0.0


def test_memorisation_with_duplicate_training_rows():
    train = uniform(40, 6, seed=35)
    train[6] = train[5]  # an exact duplicate: the gap around rows 5 and 6 is 0
    samples = torch.stack([train[5], train[5] + 1e-6, train[20] + 1e-6])
    out = memorisation(samples, train)
    assert out["nearest_index"][0] in (5, 6) and out["nearest_index"][1] in (5, 6)
    assert out["train_gap"][0] == 0.0 and out["train_gap"][1] == 0.0
    assert out["nearest_distance"][0] == 0.0
    # Nothing is closer than 0, so neither copy of the duplicated row counts; the copy of row 20 does.
    assert out["nearest_index"][2] == 20 and out["train_gap"][2] > 0
    assert out["share"] == pytest.approx(1 / 3)


# ---------------------------------------------------------------------------------- bad input

def test_bad_input_raises_config_error_with_helpful_message():
    a = torch.randn(20, 4)
    with pytest.raises(ConfigError, match="4 features per row but b has 5"):
        frechet_distance_features(a, torch.randn(20, 5))
    with pytest.raises(ConfigError, match="same feature extractor"):
        kernel_inception_distance(a, torch.randn(20, 3))
    with pytest.raises(ConfigError, match="real has 4 features per row but fake has 3"):
        precision_recall(a, torch.randn(20, 3))
    with pytest.raises(ConfigError, match="samples has 4 features per row but train has 6"):
        memorisation(a, torch.randn(20, 6))
    with pytest.raises(ConfigError, match=r"k=5 needs more than k rows .* k <= 4"):
        precision_recall(a, torch.randn(5, 4), k=5)
    with pytest.raises(ConfigError, match="at least 2 are needed"):
        feature_statistics(torch.randn(1, 4))
    with pytest.raises(ConfigError, match="2-d tensor"):
        frechet_distance_features(torch.randn(20), torch.randn(20))
    with pytest.raises(ConfigError, match="NaN"):
        precision_recall(torch.full((10, 4), float("nan")), a)
    with pytest.raises(ConfigError, match="shape"):
        frechet_distance(torch.zeros(3), torch.eye(4), torch.zeros(3), torch.eye(3))
    with pytest.raises(ConfigError, match="subset_size must be at least 2"):
        kernel_inception_distance(a, a, subset_size=1)
    with pytest.raises(ConfigError, match=r"outside \[0, 10\)"):
        class_coverage(torch.tensor([0, 10]), torch.tensor([0, 1]), num_classes=10)
    assert issubclass(ConfigError, ValueError)

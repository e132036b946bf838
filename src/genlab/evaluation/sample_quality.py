"""Sample-quality metrics on feature vectors: how close are generated samples to real data?

Every function here takes 2-d feature tensors whose rows are examples (for instance the
penultimate-layer activations of a classifier, or flattened pixels) and returns plain Python
floats or dicts. Inputs may be any float dtype on any device; the arithmetic is done in float64.

The metrics
-----------
Fréchet distance (FID when the features come from Inception-v3; Heusel et al. 2017)
    Fit a Gaussian to each feature set and measure the Fréchet (2-Wasserstein) distance between
    the two Gaussians::

        FD = ||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^{1/2})

    0 means identical first and second moments; larger is worse. It is biased by the number of
    examples, so compare values computed on equally many samples.

Kernel Inception distance (KID; Bińkowski et al. 2018)
    The squared maximum mean discrepancy (MMD^2) between the two feature sets under the cubic
    polynomial kernel ``k(x, y) = (x·y / D + 1)^3``, estimated without bias and averaged over
    random subsets. Its expectation is 0 when both sets come from the same distribution (single
    estimates may then be slightly negative); larger is worse. Unlike FD it is unbiased, so it
    can be compared across sample sizes.

Improved precision and recall (Kynkäänniemi et al. 2019)
    Approximate each distribution's support by the union of balls around its points, each ball's
    radius being the distance to the point's k-th nearest neighbour in the same set.
    *Precision* is the share of generated points inside the real support (are the samples
    realistic?); *recall* is the share of real points inside the generated support (does the
    model cover all of the data, or has it collapsed onto a few modes?).

Class coverage
    Classify the samples with a pretrained classifier and compare the class histogram ``p`` with
    the test data's histogram ``q``: which classes the model (almost) never produces, and the
    KL divergence ``KL(p || q)``. A cheap detector of mode collapse.

Inception score (Salimans et al. 2016)
    ``IS = exp(E_x KL(p(y|x) || p(y)))`` from a classifier's class probabilities on the samples,
    ``p(y)`` being their mean over the samples. Between 1 (every sample gets the same
    prediction, or every prediction is uniform) and the number of classes (confident predictions
    spread evenly over the classes); larger is better. It ignores the real data, so read it
    against the same figure for real test data. Computed with genlab's own classifier (for audio,
    :mod:`genlab.evaluation.audio_features`), it is comparable only between scores naming the
    same classifier.

Memorisation (the "authenticity" test of Alaa et al. 2022)
    For each sample, is it closer to its nearest training example than that training example is
    to any other training example? Such a sample sits inside the gap around a training point
    and may be a (noisy) copy of it. Read the share of such samples against the same share for
    held-out test images, which is well above 0 (it depends on the dimension and the set sizes;
    often 0.2 to 0.6): only a share clearly above that baseline indicates copying.

References
----------
- M. Heusel et al., "GANs trained by a two time-scale update rule converge to a local Nash
  equilibrium", NeurIPS 2017.
- M. Bińkowski et al., "Demystifying MMD GANs", ICLR 2018.
- T. Kynkäänniemi et al., "Improved precision and recall metric for assessing generative
  models", NeurIPS 2019.
- T. Salimans et al., "Improved techniques for training GANs", NeurIPS 2016.
- A. Alaa et al., "How faithful is your synthetic data? Sample-level metrics for evaluating and
  auditing generative models", ICML 2022.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

__all__ = [
    "class_coverage",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_features",
    "inception_score",
    "kernel_inception_distance",
    "memorisation",
    "precision_recall",
]

# Rows per block when computing pairwise distances: a block of distances is CHUNK x N float64
# values (80 MB for N = 10,000), so large sets never need an N x N matrix.
_CHUNK = 1024

# Squared distances are computed as ||x||^2 + ||y||^2 - 2 x·y (one matrix product, fast), which
# is exact up to rounding of about D * 2.2e-16 * (||x||^2 + ||y||^2). Two squared distances that
# differ by less than _REL_TOL times the largest squared norm are treated as equal, so that,
# e.g., a set scored against itself covers every point even when it holds duplicate rows.
_REL_TOL = 1e-11


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------

def _as_matrix(x: Any, name: str, min_rows: int = 1) -> torch.Tensor:
    """``x`` as a float64 [N, D] tensor (on its own device), or a ConfigError naming the problem."""
    t = torch.as_tensor(x).detach()
    if t.dim() != 2:
        raise ConfigError(f"{name} must be a 2-d tensor [examples, features], got shape {tuple(t.shape)}; "
                          f"flatten each example first, e.g. {name}.reshape(len({name}), -1)")
    if t.shape[0] < min_rows:
        raise ConfigError(f"{name} has {t.shape[0]} rows but at least {min_rows} are needed; pass more examples")
    if t.shape[1] < 1:
        raise ConfigError(f"{name} has no feature columns (shape {tuple(t.shape)}); pass at least one feature")
    t = t.to(torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"{name} contains NaN or infinite values; check the model or feature extractor that made it")
    return t


def _check_same_dims(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"{name_a} has {a.shape[1]} features per row but {name_b} has {b.shape[1]}; "
                          "extract both with the same feature extractor (and the same flattening)")


def _check_square(cov: torch.Tensor, dims: int, name: str) -> None:
    if tuple(cov.shape) != (dims, dims):
        raise ConfigError(f"{name} must have shape ({dims}, {dims}) to match its mean, got {tuple(cov.shape)}; "
                          "pass the covariance returned by feature_statistics together with its mean")


# --------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [D] and unbiased covariance [D, D] of ``features`` [N, D], both float64.

    ``cov = (X - mean)^T (X - mean) / (N - 1)``, so at least two rows are needed.
    """
    x = _as_matrix(features, "features", min_rows=2)
    mean = x.mean(dim=0)
    centred = x - mean
    cov = centred.T @ centred / (x.shape[0] - 1)
    return mean, cov


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix.

    ``S = V diag(sqrt(max(w, 0))) V^T`` from the eigendecomposition ``matrix = V diag(w) V^T``;
    tiny negative eigenvalues (rounding) are clamped to 0.
    """
    eigvals, eigvecs = torch.linalg.eigh(matrix)
    return (eigvecs * eigvals.clamp_min(0).sqrt()) @ eigvecs.T


@torch.no_grad()
def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Fréchet distance between the Gaussians N(mu1, cov1) and N(mu2, cov2).

    ``FD = ||mu1 - mu2||^2 + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^{1/2})``.

    The trace term needs no general (non-symmetric) matrix square root: with ``S = cov1^{1/2}``
    (symmetric), ``cov1 cov2 = S (S cov2 S) S^{-1}`` is similar to the symmetric PSD matrix
    ``S cov2 S``, so both have the same eigenvalues ``l_i >= 0`` and
    ``tr((cov1 cov2)^{1/2}) = sum_i sqrt(l_i)``. This holds for singular covariances too (fewer
    examples than features) and is more accurate than ``scipy.linalg.sqrtm``.
    """
    mu1 = torch.as_tensor(mu1).detach().to(torch.float64).reshape(-1)
    mu2 = torch.as_tensor(mu2).detach().to(torch.float64).reshape(-1)
    cov1 = torch.as_tensor(cov1).detach().to(torch.float64)
    cov2 = torch.as_tensor(cov2).detach().to(torch.float64)
    if mu1.shape != mu2.shape:
        raise ConfigError(f"mu1 has {mu1.numel()} features but mu2 has {mu2.numel()}; "
                          "compute both statistics with the same feature extractor")
    dims = mu1.numel()
    _check_square(cov1, dims, "cov1")
    _check_square(cov2, dims, "cov2")
    cov2 = cov2.to(cov1.device)
    # Symmetrise: covariances are symmetric in exact arithmetic, and eigh reads one triangle only.
    cov1 = (cov1 + cov1.T) / 2
    cov2 = (cov2 + cov2.T) / 2

    s1 = _sqrtm_psd(cov1)
    middle = s1 @ cov2 @ s1
    middle = (middle + middle.T) / 2
    trace_sqrt = torch.linalg.eigvalsh(middle).clamp_min(0).sqrt().sum()

    diff = mu1 - mu2.to(mu1.device)
    value = float(diff @ diff + torch.trace(cov1) + torch.trace(cov2) - 2 * trace_sqrt)
    # The distance is >= 0 exactly; only rounding can push it slightly below.
    return max(value, 0.0)


@torch.no_grad()
def frechet_distance_features(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` [N, D] and ``b`` [M, D]."""
    a = _as_matrix(a, "a", min_rows=2)
    b = _as_matrix(b, "b", min_rows=2)
    _check_same_dims(a, b, "a", "b")
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


# --------------------------------------------------------------------------------------------
# Kernel Inception distance
# --------------------------------------------------------------------------------------------

def _polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Kernel matrix ``K[i, j] = (x_i · y_j / D + 1)^3``."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 between equally large sets ``x`` and ``y`` (m rows each).

    ``[sum_{i!=j} k(x_i,x_j) + sum_{i!=j} k(y_i,y_j)] / (m(m-1)) - 2 sum_{i,j} k(x_i,y_j) / m^2``
    """
    m = x.shape[0]
    k_xx = _polynomial_kernel(x, x)
    k_yy = _polynomial_kernel(y, y)
    k_xy = _polynomial_kernel(x, y)
    # Sums over i != j: the full sum minus the diagonal.
    within = (k_xx.sum() - k_xx.diagonal().sum()) + (k_yy.sum() - k_yy.diagonal().sum())
    return float(within / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


@torch.no_grad()
def kernel_inception_distance(a: torch.Tensor, b: torch.Tensor, num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float | None]:
    """KID between feature sets ``a`` [N, D] and ``b`` [M, D]: (mean, std) over random subsets.

    Each of ``num_subsets`` rounds draws ``m = min(subset_size, N, M)`` rows without replacement
    from each set (a ``torch.Generator`` seeded with ``seed``, so results repeat) and computes the
    unbiased MMD^2 with the kernel ``k(x, y) = (x·y / D + 1)^3`` (see ``_mmd2_unbiased``). The
    std is the population standard deviation of the per-subset values (0 for one subset round), as in
    the reference implementations; it describes the subset-to-subset spread. When a subset would
    be the whole of both sets (both hold at most ``subset_size`` rows), every round would give the
    same value: it is computed once, and the std is None (no spread can be given from one value).
    """
    a = _as_matrix(a, "a", min_rows=2)
    b = _as_matrix(b, "b", min_rows=2)
    _check_same_dims(a, b, "a", "b")
    if int(num_subsets) < 1:
        raise ConfigError(f"num_subsets must be at least 1, got {num_subsets}; 100 is usual")
    if int(subset_size) < 2:
        raise ConfigError(f"subset_size must be at least 2 (the unbiased estimate needs pairs), got {subset_size}; "
                          "1000 is usual")
    b = b.to(a.device)
    m = min(int(subset_size), a.shape[0], b.shape[0])
    if m == a.shape[0] == b.shape[0]:  # every subset would be both whole sets
        return float(_mmd2_unbiased(a, b)), None

    generator = torch.Generator().manual_seed(int(seed))
    values = []
    for _ in range(int(num_subsets)):
        idx_a = torch.randperm(a.shape[0], generator=generator)[:m].to(a.device)
        idx_b = torch.randperm(b.shape[0], generator=generator)[:m].to(a.device)
        values.append(_mmd2_unbiased(a[idx_a], b[idx_b]))
    scores = np.asarray(values, dtype=np.float64)
    return float(scores.mean()), float(scores.std())


# --------------------------------------------------------------------------------------------
# Pairwise distances (chunked)
# --------------------------------------------------------------------------------------------

def _squared_distances(x: torch.Tensor, y: torch.Tensor, x_sq: torch.Tensor, y_sq: torch.Tensor) -> torch.Tensor:
    """``D[i, j] = ||x_i - y_j||^2`` via one matrix product; ``x_sq``/``y_sq`` are the rows' squared norms.

    Equivalent to ``torch.cdist(x, y) ** 2`` in its matrix-product mode, but without the square
    root, so comparisons of (near-)zero distances stay within the rounding tolerance ``_REL_TOL``.
    """
    return (x_sq[:, None] + y_sq[None, :] - 2 * (x @ y.T)).clamp_min_(0)


def _knn_radii_squared(x: torch.Tensor, x_sq: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each row of ``x`` to its k-th nearest OTHER row, in blocks of ``_CHUNK`` rows.

    The row itself is excluded by index (not by distance), so an exact duplicate of a row counts
    as a neighbour at distance 0.
    """
    radii = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for start in range(0, x.shape[0], _CHUNK):
        stop = min(start + _CHUNK, x.shape[0])
        block = _squared_distances(x[start:stop], x, x_sq[start:stop], x_sq)
        rows = torch.arange(stop - start, device=x.device)
        block[rows, rows + start] = math.inf  # exclude each row's distance to itself
        radii[start:stop] = block.kthvalue(k, dim=1).values
    return radii


def _share_covered(points: torch.Tensor, points_sq: torch.Tensor, centres: torch.Tensor, centres_sq: torch.Tensor,
                   radii_sq: torch.Tensor, tol: float) -> float:
    """Share of ``points`` within (<=) the ball of radius ``sqrt(radii_sq[j])`` around at least one ``centres[j]``."""
    covered = 0
    threshold = (radii_sq + tol)[None, :]
    for start in range(0, points.shape[0], _CHUNK):
        stop = min(start + _CHUNK, points.shape[0])
        block = _squared_distances(points[start:stop], centres, points_sq[start:stop], centres_sq)
        covered += int((block <= threshold).any(dim=1).sum())
    return covered / points.shape[0]


# --------------------------------------------------------------------------------------------
# Improved precision and recall
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> dict[str, Any]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` [M, D] against ``real`` [N, D].

    With ``r_k(x)`` the distance from ``x`` to its k-th nearest other point of its own set::

        precision = (1/M) sum_f [ exists real x: ||f - x|| <= r_k(x) ]
        recall    = (1/N) sum_x [ exists fake f: ||x - f|| <= r_k(f) ]

    Distances are computed in blocks of ``_CHUNK`` rows, so memory stays at about
    ``_CHUNK x max(N, M)`` values; 10,000 x 10,000 features are fine. Ties within floating-point
    rounding count as inside (the definition's ``<=``). The original paper uses k = 3.

    Returns:
        ``{"precision": p, "recall": r, "k": k}``.
    """
    real = _as_matrix(real, "real", min_rows=2)
    fake = _as_matrix(fake, "fake", min_rows=2)
    _check_same_dims(real, fake, "real", "fake")
    k = int(k)
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}; the usual choice is k=3")
    smaller = min(real.shape[0], fake.shape[0])
    if k >= smaller:
        raise ConfigError(f"k={k} needs more than k rows in each set, but one set has only {smaller}; "
                          f"pass more examples or use k <= {smaller - 1}")
    fake = fake.to(real.device)

    # Distances do not change under a shift; centring shrinks the norms and so the rounding error.
    centre = torch.cat([real, fake]).mean(dim=0)
    real, fake = real - centre, fake - centre
    real_sq, fake_sq = (real * real).sum(dim=1), (fake * fake).sum(dim=1)
    tol = _REL_TOL * float(torch.cat([real_sq, fake_sq]).max())

    real_radii = _knn_radii_squared(real, real_sq, k)
    fake_radii = _knn_radii_squared(fake, fake_sq, k)
    precision = _share_covered(fake, fake_sq, real, real_sq, real_radii, tol)
    recall = _share_covered(real, real_sq, fake, fake_sq, fake_radii, tol)
    return {"precision": precision, "recall": recall, "k": k}


# --------------------------------------------------------------------------------------------
# Class coverage
# --------------------------------------------------------------------------------------------

def _as_labels(x: Any, name: str, num_classes: int) -> torch.Tensor:
    """``x`` as a 1-d int64 CPU tensor of class ids in ``[0, num_classes)``."""
    t = torch.as_tensor(x).detach().cpu()
    if t.dim() != 1 or t.numel() == 0:
        raise ConfigError(f"{name} must be a non-empty 1-d tensor of class ids, got shape {tuple(t.shape)}; "
                          "pass one integer label per example (e.g. logits.argmax(dim=1))")
    if t.is_floating_point() or t.is_complex():
        if not bool((t == t.round()).all()):
            raise ConfigError(f"{name} holds non-integer values; pass class ids, e.g. logits.argmax(dim=1)")
    t = t.long()
    low, high = int(t.min()), int(t.max())
    if low < 0 or high >= num_classes:
        raise ConfigError(f"{name} holds class ids from {low} to {high}, outside [0, {num_classes}); "
                          "check num_classes and the labels")
    return t


def class_coverage(predicted: torch.Tensor, reference_labels: torch.Tensor, num_classes: int,
                   min_share_ratio: float = 0.2) -> dict[str, Any]:
    """Which classes the samples cover, from a classifier's predictions on them.

    ``p`` is the normalised histogram of ``predicted`` (the class of each sample) and ``q`` that of
    ``reference_labels`` (the test data's labels). Class c counts as covered when ``q_c > 0`` and
    ``p_c >= min_share_ratio * q_c``, i.e. the model produces it at least that fraction as often
    as the data holds it.

    Returns:
        ``coverage``: covered classes / classes with ``q_c > 0``;
        ``kl``: ``KL(p || q) = sum_{p_c > 0} p_c log(p_c / q_c)`` in nats (``inf`` when the samples
        contain a class absent from the reference);
        ``histogram``: ``p`` as a list; ``missing``: ids of classes with ``q_c > 0`` that are not
        covered; ``collapsed``: ``coverage < 0.5``.
    """
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ConfigError(f"num_classes must be at least 1, got {num_classes}")
    if not min_share_ratio >= 0:
        raise ConfigError(f"min_share_ratio must be >= 0, got {min_share_ratio}; 0.2 is usual")
    pred = _as_labels(predicted, "predicted", num_classes)
    ref = _as_labels(reference_labels, "reference_labels", num_classes)

    p = torch.bincount(pred, minlength=num_classes).double() / pred.numel()
    q = torch.bincount(ref, minlength=num_classes).double() / ref.numel()

    present = q > 0  # classes that the reference data contains
    covered = present & (p >= min_share_ratio * q)
    coverage = int(covered.sum()) / int(present.sum())
    missing = [int(c) for c in torch.nonzero(present & ~covered).flatten()]

    produced = p > 0
    if bool((produced & ~present).any()):
        kl = math.inf
    else:
        kl = float((p[produced] * torch.log(p[produced] / q[produced])).sum())

    return {"coverage": coverage, "kl": kl, "histogram": [float(v) for v in p], "missing": missing,
            "collapsed": coverage < 0.5}


# --------------------------------------------------------------------------------------------
# Inception score
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def inception_score(probs: torch.Tensor, num_splits: int = 1) -> tuple[float, float]:
    """Inception score ``exp(E_x KL(p(y|x) || p(y)))`` of class probabilities ``probs`` [N, C]: (mean, std).

    Each row is one sample's ``p(y|x)`` (e.g. ``logits.softmax(dim=1)``); rows must be
    non-negative and sum to 1. ``p(y)`` is the mean row. ``KL = sum_y p(y|x) log(p(y|x) / p(y))``
    in nats, with ``0 log 0 = 0``. With ``num_splits > 1`` the rows are cut into that many equal
    consecutive parts (as in Salimans et al.'s code), each part scored with its own ``p(y)``, and
    the mean and population std of the per-part scores are returned; with one split the std is 0.
    """
    p = _as_matrix(probs, "probs", min_rows=1)
    if bool((p < 0).any()) or not bool(torch.allclose(p.sum(dim=1), torch.ones_like(p[:, 0]), atol=1e-4)):
        raise ConfigError("probs must hold class probabilities: non-negative rows that sum to 1 "
                          "(pass logits.softmax(dim=1))")
    p = p / p.sum(dim=1, keepdim=True)
    num_splits = int(num_splits)
    if not 1 <= num_splits <= p.shape[0]:
        raise ConfigError(f"num_splits must be between 1 and the number of rows ({p.shape[0]}), got {num_splits}")
    scores = []
    for part in torch.tensor_split(p, num_splits):
        marginal = part.mean(dim=0, keepdim=True)
        terms = torch.where(part > 0, part * (torch.log(part.clamp_min(1e-300)) - torch.log(marginal.clamp_min(1e-300))),
                            torch.zeros_like(part))
        scores.append(math.exp(float(terms.sum(dim=1).mean())))
    values = np.asarray(scores, dtype=np.float64)
    return float(values.mean()), float(values.std())


# --------------------------------------------------------------------------------------------
# Memorisation
# --------------------------------------------------------------------------------------------

def _nearest_rows(queries: torch.Tensor, queries_sq: torch.Tensor, table: torch.Tensor, table_sq: torch.Tensor,
                  chunk: int, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the nearest row of ``table`` for each query, in blocks of ``chunk`` queries.

    ``exclude[i]``, when given, is a row of ``table`` that query i may not pick (itself).
    """
    nearest = torch.empty(queries.shape[0], dtype=torch.long, device=queries.device)
    for start in range(0, queries.shape[0], chunk):
        stop = min(start + chunk, queries.shape[0])
        block = _squared_distances(queries[start:stop], table, queries_sq[start:stop], table_sq)
        if exclude is not None:
            block[torch.arange(stop - start, device=block.device), exclude[start:stop]] = math.inf
        nearest[start:stop] = block.argmin(dim=1)
    return nearest


@torch.no_grad()
def memorisation(samples: torch.Tensor, train: torch.Tensor, chunk: int = 1024) -> dict[str, Any]:
    """Share of samples that sit closer to a training example than any other training example does.

    For each sample ``s`` (rows of ``samples`` [N, D]; flattened pixels scaled to [0, 1] by the
    caller), with ``t*`` its nearest row of ``train`` [T, D]::

        d(s) = ||s - t*||,    r(t*) = min_{t != t*} ||t* - t||,    memorised(s) = d(s) < r(t*)

    i.e. ``s`` lies inside the empty ball around a training image (the "authenticity" test of
    Alaa et al. 2022). An exact duplicate of ``t*`` elsewhere in ``train`` is another row, so
    then ``r(t*) = 0`` and no sample counts as memorised there.

    How to read ``share``: compute it for the samples and for held-out test images of the same
    size. For held-out real data it is well above 0, because fresh draws often land inside a
    training point's gap by chance (for Gaussian data with 5,000 training rows we measured about
    0.6 in 2 dimensions, 0.45 in 8 and 0.2 in 32; it depends on the dimension, the data and the
    set sizes). So only a sample share clearly above this baseline indicates copying.

    The nearest rows are searched with chunked matrix products (``chunk`` rows of ``samples`` at
    a time, ``chunk x T`` values in memory); ``r`` is computed only for the training rows that are
    someone's nearest. The reported distances are recomputed exactly from the differences of the
    chosen pairs, so exact copies give exactly 0.

    Returns:
        ``share`` (float): fraction of memorised samples; ``nearest_index`` (LongTensor [N]):
        ``t*``; ``nearest_distance`` (float64 [N]): ``d(s)``; ``train_gap`` (float64 [N]):
        ``r(t*)``. Tensors are on the CPU.
    """
    samples = _as_matrix(samples, "samples", min_rows=1)
    train = _as_matrix(train, "train", min_rows=2)
    _check_same_dims(samples, train, "samples", "train")
    chunk = int(chunk)
    if chunk < 1:
        raise ConfigError(f"chunk must be at least 1, got {chunk}; 1024 is usual (smaller uses less memory)")
    samples = samples.to(train.device)

    # Distances do not change under a shift; centring on the training mean reduces rounding.
    centre = train.mean(dim=0)
    samples_c, train_c = samples - centre, train - centre
    samples_sq, train_sq = (samples_c * samples_c).sum(dim=1), (train_c * train_c).sum(dim=1)

    # 1. Nearest training row t* of every sample, and the exact distance d(s).
    nearest = _nearest_rows(samples_c, samples_sq, train_c, train_sq, chunk)
    nearest_distance = (samples - train[nearest]).norm(dim=1)

    # 2. The gap r(t) of each training row that is someone's nearest: its nearest OTHER row
    #    (excluded by index, so duplicate rows find each other at distance 0).
    needed, inverse = torch.unique(nearest, return_inverse=True)
    neighbour = _nearest_rows(train_c[needed], train_sq[needed], train_c, train_sq, chunk, exclude=needed)
    gaps = (train[needed] - train[neighbour]).norm(dim=1)
    train_gap = gaps[inverse]

    memorised = nearest_distance < train_gap
    return {"share": float(memorised.double().mean()), "nearest_index": nearest.cpu(),
            "nearest_distance": nearest_distance.cpu(), "train_gap": train_gap.cpu()}

"""Duplicates in a data set and nearest-neighbour search over its examples.

Exact duplicates are examples with the same SHA-256 of their content: an image's uint8 pixel
levels (shape included), a text line's normalised text (:func:`normalise_text`). Near duplicates
are pairs closer than a threshold in an embedding:

- images: by default a perceptual embedding (:func:`pixel_embeddings`: each image centred on the
  centre of mass of its ink, blurred, pooled to at most 16x16, mean taken off), or with a feature
  network (``net``, :mod:`genlab.evaluation.features`) its features; either L2-normalised, with the
  cosine distance ``1 - cos`` between them (0 for the same image, 2 at most). The nearest neighbours
  come from scikit-learn's exact ``NearestNeighbors``; each distinct image is joined to those of
  its :data:`NEIGHBOURS` nearest within the threshold (exact copies are merged by hash first).
- text: an example is a line of the split (lines numbered as :mod:`genlab.data.exclude` numbers
  them, lines shorter than ``min_chars`` after normalising left out); its embedding is a MinHash
  signature of its character 5-shingles (:class:`MinHasher`, numpy), and the distance is the
  estimated Jaccard distance ``1 - |A & B| / |A | B|`` of the shingle sets; candidate pairs come
  from locality-sensitive hashing of the signatures in bands.

Groups are the connected components (union-find) of the pairs at or below the threshold. The
exclusion list keeps the first example (lowest index) of every group and lists the rest.

Embeddings of a split are cached on disk, keyed by the split's content and the embedding (its
name: the perceptual embedding, the feature network's content hash, or the MinHash settings), in ``$GENLAB_CACHE/embeddings``
(default ``~/.cache/genlab/embeddings``), so a second search or dedup of the same data is fast.
"""

from __future__ import annotations

import io
import hashlib
import os
import re
import unicodedata
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import progress
from ..data.core import DataSet
from ..data.exclude import newline_id, text_line_bounds
from ..data.modalities.tokens import TokenSplit
from ..errors import ConfigError, StorageError
from ..files import atomic_write_bytes

# Cosine distance of the perceptual embedding (:func:`pixel_embeddings`) at or below which two images are
# near duplicates. Chosen on MNIST (BENCHMARKS.md, "De-duplication"): see there for the distances of copies
# shifted by a pixel or with noise and of each image's nearest distinct image.
PIXEL_THRESHOLD = 0.001
PIXELS_NAME = "centred, blurred pixels (perceptual)"
# The same for a feature network's L2-normalised features (``--features``). A classifier's features put the
# images of a class close together (genlab's digits network: 45 groups in digits' train at this distance,
# none with the perceptual embedding), so no default suits every network: set --threshold for yours.
FEATURE_THRESHOLD = 0.001
TEXT_THRESHOLD = 0.3  # estimated Jaccard distance of 5-character shingles (Jaccard similarity >= 0.7)
SHINGLE = 5
NUM_PERM = 128
BANDS = 32  # LSH: 32 bands of 4 rows find a pair of Jaccard 0.7 with probability ~1 - (1 - 0.7**4)**32 > 0.9999
MIN_CHARS = 20  # text lines shorter than this (after normalising) are not examples: speaker names, "Exeunt."
NEIGHBOURS = 10  # nearest neighbours looked at per image when finding near pairs
PRIME = 4294967291  # the largest prime below 2**32: (a * h) of two numbers below it fits in 64 bits


# ---- examples -----------------------------------------------------------------------------------------
def normalise_text(text: str) -> str:
    """Text as compared: Unicode NFKC, case-folded, runs of white space as one space, stripped."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def text_examples(data: DataSet, split: str, min_chars: int = MIN_CHARS) -> tuple[list[int], list[str]]:
    """``(line indices, normalised lines)`` of a text split: the lines of at least ``min_chars`` characters."""
    part = data.split(split)
    tokenizer = data.tokenizer
    if tokenizer is None:
        from ..data.text import as_tokenizer

        tokenizer = as_tokenizer(data.info)
    count = len(text_line_bounds(part.tokens, newline_id(data)))
    text = tokenizer.decode(part.tokens.tolist())
    indices, lines = [], []
    for i, raw in enumerate(text.split("\n")[:count]):  # the lines of genlab.data.exclude, in order
        line = normalise_text(raw)
        if len(line) >= min_chars:
            indices.append(i)
            lines.append(line)
    return indices, lines


def is_text(data: DataSet) -> bool:
    return isinstance(data.train, TokenSplit)


def images_of(data: DataSet, split: str) -> torch.Tensor:
    part = data.split(split)
    if not hasattr(part, "images"):
        raise ConfigError(f"'{data.info.name}' is {data.info.kind} data; de-duplication and search take images or "
                          "text")
    return part.images


def content_hashes(items) -> list[str]:
    """SHA-256 of each example: an image's uint8 levels ``[C, H, W]`` (shape included) or a normalised line."""
    if isinstance(items, torch.Tensor):
        shape = ",".join(map(str, items.shape[1:])).encode()
        return [hashlib.sha256(shape + b":" + x.contiguous().numpy().tobytes()).hexdigest() for x in items]
    return [hashlib.sha256(s.encode("utf-8")).hexdigest() for s in items]


# ---- MinHash ------------------------------------------------------------------------------------------
class MinHasher:
    """MinHash signatures of texts' character shingles, in numpy.

    Each shingle is hashed to 32 bits (CRC-32 of its UTF-8 bytes); permutation ``p`` maps a hash
    ``h`` to ``(a_p * h + b_p) mod p`` (``p`` the largest prime below 2**32) with seeded ``a_p, b_p``; the signature is the
    minimum over the shingles per permutation. The share of equal entries of two signatures
    estimates the Jaccard similarity of their shingle sets (standard error ~ 0.04 with 128).
    A text shorter than a shingle is one shingle.
    """

    def __init__(self, num_perm: int = NUM_PERM, shingle: int = SHINGLE, seed: int = 1):
        rng = np.random.default_rng(seed)
        self.num_perm, self.shingle, self.seed = num_perm, shingle, seed
        self.a = rng.integers(1, PRIME, num_perm, dtype=np.uint64)
        self.b = rng.integers(0, PRIME, num_perm, dtype=np.uint64)

    @property
    def name(self) -> str:
        return f"minhash-{self.num_perm}-shingle{self.shingle}-seed{self.seed}"

    def shingles(self, text: str) -> set[str]:
        k = self.shingle
        return {text} if len(text) <= k else {text[i:i + k] for i in range(len(text) - k + 1)}

    def signature(self, text: str) -> np.ndarray:
        h = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in self.shingles(text)), dtype=np.uint64) % PRIME
        return ((np.outer(h, self.a) % PRIME + self.b) % PRIME).min(axis=0)

    def signatures(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.num_perm), dtype=np.uint64)
        for i, text in progress.steps(enumerate(texts), len(texts), unit="line"):  # a bar under `reporting`
            out[i] = self.signature(text)
        return out


def jaccard_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard distances between signature ``a`` ``[P]`` (or rows ``[N, P]``) and ``b``."""
    return 1.0 - (a == b).mean(axis=-1)


def text_pairs(signatures: np.ndarray, threshold: float, bands: int = BANDS) -> list[tuple[int, int, float]]:
    """``(i, j, distance)`` with ``i < j`` for the signatures whose estimated Jaccard distance is at most
    ``threshold``, among the candidates that share a band (locality-sensitive hashing)."""
    n, p = signatures.shape
    rows = p // bands
    candidates: set[tuple[int, int]] = set()
    for band in progress.steps(range(bands), unit="band"):
        buckets: dict[bytes, list[int]] = {}
        chunk = np.ascontiguousarray(signatures[:, band * rows:(band + 1) * rows])
        for i in range(n):
            buckets.setdefault(chunk[i].tobytes(), []).append(i)
        for members in buckets.values():
            if 1 < len(members) <= 1000:  # a huge bucket is a run of exact copies: merged by hash already
                candidates.update((a, b) for k, a in enumerate(members) for b in members[k + 1:])
    pairs = []
    for i, j in progress.steps(sorted(candidates), len(candidates), unit="pair"):
        d = float(jaccard_distance(signatures[i], signatures[j]))
        if d <= threshold:
            pairs.append((i, j, d))
    return pairs


# ---- image embeddings -----------------------------------------------------------------------------------
PIXEL_SIDE = 16  # the perceptual embedding's largest side: 28x28 images become 14x14, 32x32 16x16


def centre(x: torch.Tensor, floor: float = 0.2) -> torch.Tensor:
    """Images ``[N, C, H, W]`` in [0, 1] each translated (bilinearly, by a fraction of a pixel too, zeros
    coming in) so that the centre of mass of its intensity above ``floor`` falls on the middle of the
    frame: copies shifted by a few pixels line up again, and faint noise barely moves the centre."""
    n, c, h, w = x.shape
    if n == 0:
        return x
    weight = (x - floor).clamp_min(0).sum(dim=1)  # [N, H, W]
    total = weight.sum(dim=(1, 2)).clamp_min(1e-8)
    cx = (weight.sum(dim=1) * torch.arange(w)).sum(dim=1) / total
    cy = (weight.sum(dim=2) * torch.arange(h)).sum(dim=1) / total
    empty = weight.sum(dim=(1, 2)) <= 1e-8
    cx = torch.where(empty, torch.tensor((w - 1) / 2), cx)
    cy = torch.where(empty, torch.tensor((h - 1) / 2), cy)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = (cx - (w - 1) / 2) * 2 / w  # normalised coordinates (align_corners=False)
    theta[:, 1, 2] = (cy - (h - 1) / 2) * 2 / h
    grid = torch.nn.functional.affine_grid(theta, [n, c, h, w], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def pixel_embeddings(images: torch.Tensor, levels: int, batch_size: int = 2000) -> np.ndarray:
    """The perceptual embedding of pixel-level images ``[N, C, H, W]``: pixels in [0, 1], centred on their
    centre of mass (:func:`centre`), blurred by a
    Gaussian of one pixel per 28 (so a shift by a pixel or faint noise moves little), average-pooled to
    at most :data:`PIXEL_SIDE` a side, each image's mean taken off and L2-normalised (float32 ``[N, D]``);
    a flat image (one grey level) is the zero vector, near no other image."""
    n, c, h, w = images.shape
    sigma = max(h, w) / 28
    radius = max(1, round(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-t ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    side = (h // max(1, -(-h // PIXEL_SIDE)), w // max(1, -(-w // PIXEL_SIDE)))
    out = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            x = centre(images[i:i + batch_size].float().div(max(levels - 1, 1))).reshape(-1, 1, h, w)
            x = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode="replicate")
            x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1))
            x = torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1))
            x = torch.nn.functional.adaptive_avg_pool2d(x, side).reshape(len(x) // c, -1)
            x = x - x.mean(dim=1, keepdim=True)
            x[x.abs().amax(dim=1) < 1e-6] = 0  # a flat image has no shape: the zero vector, not rounding noise
            out.append(torch.nn.functional.normalize(x, dim=1))
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, c * side[0] * side[1]), np.float32)


def image_embeddings(net, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """L2-normalised feature vectors ``[N, D]`` (float32) of pixel-level images."""
    from .quality import embed

    if len(images) == 0:
        return np.zeros((0, 1), dtype=np.float32)
    feats = embed(net, images).float()
    return torch.nn.functional.normalize(feats, dim=1).numpy().astype(np.float32)


def nearest(index: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cosine distances, indices)`` ``[Q, k]`` of each query's ``k`` nearest rows of ``index``
    (both L2-normalised), by scikit-learn's exact nearest-neighbour search."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(index))
    search = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(index)
    dist, idx = search.kneighbors(queries, n_neighbors=k)
    return np.clip(dist ** 2 / 2, 0.0, 2.0), idx  # |a - b|^2 = 2 - 2 cos for unit vectors


def image_pairs(embeddings: np.ndarray, threshold: float, k: int = NEIGHBOURS) -> list[tuple[int, int, float]]:
    """``(i, j, cosine distance)`` with ``i < j`` for each image and those of its ``k`` nearest within ``threshold``."""
    if len(embeddings) < 2:
        return []
    dist, idx = nearest(embeddings, embeddings, k + 1)
    shapeless = ~np.any(embeddings, axis=1)  # flat images (zero vectors): alike only if equal (the exact hash)
    pairs = {}
    for i in range(len(embeddings)):
        for d, j in zip(dist[i], idx[i]):
            if j != i and d <= threshold and not (shapeless[i] or shapeless[j]):
                key = (min(i, int(j)), max(i, int(j)))
                pairs[key] = min(float(d), pairs.get(key, 3.0))
    return [(i, j, d) for (i, j), d in sorted(pairs.items())]


# ---- groups -------------------------------------------------------------------------------------------
def union_groups(n: int, pairs) -> list[list[int]]:
    """Connected components of size >= 2 of the graph on ``0 .. n-1`` with edges ``pairs`` (union-find),
    each sorted, ordered by their first member."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, *_ in pairs:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def hash_groups(hashes: list[str]) -> list[list[int]]:
    """Groups of positions with the same hash (size >= 2), ordered by their first member."""
    where: dict[str, list[int]] = {}
    for i, h in enumerate(hashes):
        where.setdefault(h, []).append(i)
    return sorted((g for g in where.values() if len(g) > 1), key=lambda g: g[0])


# ---- the cache ----------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where embeddings are cached: ``$GENLAB_CACHE/embeddings``, default ``~/.cache/genlab/embeddings``."""
    return Path(os.environ.get("GENLAB_CACHE") or Path.home() / ".cache" / "genlab").expanduser() / "embeddings"


def cached(key_parts: list[bytes], compute, use_cache: bool = True) -> np.ndarray:
    """``compute()`` (a numpy array), kept in the cache under the SHA-256 of ``key_parts``."""
    if not use_cache:
        return compute()
    digest = hashlib.sha256()
    for part in key_parts:
        digest.update(hashlib.sha256(part).digest())
    path = cache_dir() / f"{digest.hexdigest()[:32]}.npy"
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass  # a damaged cache file is computed again
    value = compute()
    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    except (OSError, StorageError):
        pass  # an unwritable cache only costs time
    return value


class Embedder:
    """The embedding of one data set's examples: image features of ``net``, or MinHash signatures of text
    lines; :meth:`split` embeds (and caches) a whole split, :meth:`query` one user example."""

    def __init__(self, data: DataSet, net=None, min_chars: int = MIN_CHARS, use_cache: bool = True):
        self.data, self.net, self.min_chars, self.use_cache = data, net, min_chars, use_cache
        self.text = is_text(data)
        self.hasher = MinHasher() if self.text else None
        if self.text and net is not None:
            raise ConfigError("text is compared by MinHash of its lines, without a feature network; leave out --features")

    @property
    def kind(self) -> str:
        """``minhash``, ``pixels`` (the perceptual embedding) or ``features`` (a feature network)."""
        return "minhash" if self.text else "pixels" if self.net is None else "features"

    @property
    def name(self) -> str:
        return {"minhash": self.hasher.name if self.text else "", "pixels": PIXELS_NAME,
                "features": f"feature network {getattr(self.net, 'content_hash', '') or 'unsaved'}"}[self.kind]

    @property
    def distance(self) -> str:
        return ("estimated Jaccard distance of character 5-shingles" if self.text
                else f"cosine distance of the L2-normalised {'pixels' if self.net is None else 'features'}")

    @property
    def default_threshold(self) -> float:
        return {"minhash": TEXT_THRESHOLD, "pixels": PIXEL_THRESHOLD, "features": FEATURE_THRESHOLD}[self.kind]

    def examples(self, split: str) -> tuple[list[int], Any]:
        """``(indices, items)``: the split's example indices and their images ``[N, C, H, W]`` or lines."""
        if self.text:
            return text_examples(self.data, split, self.min_chars)
        images = images_of(self.data, split)
        return list(range(len(images))), images

    def embed(self, items) -> np.ndarray:
        if self.text:
            return self.hasher.signatures(items)
        if self.net is None:
            return pixel_embeddings(items, self.data.info.levels)
        return image_embeddings(self.net, items)

    def split(self, split: str) -> tuple[list[int], Any, np.ndarray]:
        """``(indices, items, embeddings)`` of a split, the embeddings from the cache when there."""
        indices, items = self.examples(split)
        if self.text:
            content = "\n".join(items).encode("utf-8")
            key = [b"text", self.hasher.name.encode(), str(self.min_chars).encode(), content]
        else:
            key = [b"image", self.name.encode(), str(self.data.info.levels).encode(), str(tuple(items.shape)).encode(),
                   items.contiguous().numpy().tobytes()]
        use = self.use_cache and (self.net is None or bool(getattr(self.net, "content_hash", "")))  # unsaved: no name
        return indices, items, cached(key, lambda: self.embed(items), use)

    def distances(self, index: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, positions)`` ``[Q, k]`` of the ``k`` nearest rows of ``index`` to each query."""
        k = min(k, len(index))
        if not self.text:
            return nearest(index, queries, k)
        dists, orders = np.empty((len(queries), k)), np.empty((len(queries), k), dtype=np.int64)
        for row, q in progress.steps(enumerate(queries), len(queries), unit="query"):  # one row of distances at a time
            dist = jaccard_distance(index, q)
            top = np.argpartition(dist, k - 1)[:k] if k < len(dist) else np.arange(len(dist))
            top = top[np.lexsort((top, dist[top]))]  # nearest first, ties by index
            dists[row], orders[row] = dist[top], top
        return dists, orders

    def pairs(self, embeddings: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
        return text_pairs(embeddings, threshold) if self.text else image_pairs(embeddings, threshold)


# ---- de-duplication -----------------------------------------------------------------------------------
def find_duplicates(data: DataSet, net=None, split: str = "train", threshold: float | None = None,
                    against: str | None = "auto", min_chars: int = MIN_CHARS, use_cache: bool = True,
                    max_listed: int = 1000) -> dict[str, Any]:
    """Exact and near duplicates within ``split`` of ``data``, and the overlap of ``against`` with it.

    Args:
        net: the image feature network (None for text).
        threshold: the largest distance of a near-duplicate pair (default :data:`PIXEL_THRESHOLD`, :data:`FEATURE_THRESHOLD` or
            :data:`TEXT_THRESHOLD`).
        against: the held-out split whose examples are looked up in ``split`` (default: test, else
            val; None for none).
        min_chars: text lines shorter than this are left out.
        max_listed: the most overlap pairs listed (all are counted).

    Returns:
        A JSON-ready report: ``examples``, ``exact`` (groups of indices with the same hash), ``near``
        (groups of indices, exact copies included, each with its largest pair distance), ``exclude``
        (``split:index`` strings: every group's members but its first), ``overlap`` (how many
        ``against`` examples have an exact or near duplicate in ``split``, the pairs, and ``train_twins``:
        the nearest ``split`` example of each, to leave out against leakage) and
        ``nearest_distance_quantiles`` (of each example's nearest other example: for choosing a threshold).
    """
    embedder = Embedder(data, net, min_chars, use_cache)
    threshold = embedder.default_threshold if threshold is None else float(threshold)
    if not 0 <= threshold <= 2:
        raise ConfigError(f"--threshold must be a distance between 0 and 2, got {threshold}")
    indices, items, emb = embedder.split(split)
    hashes = content_hashes(items)
    exact = hash_groups(hashes)
    # near pairs among the distinct examples (the first of each hash), then every copy joins its first
    seen: set[str] = set()
    firsts = [i for i, h in enumerate(hashes) if not (h in seen or seen.add(h))]
    unique_emb = emb[firsts]
    near_pairs = [(firsts[i], firsts[j], d) for i, j, d in embedder.pairs(unique_emb, threshold)]
    edges = near_pairs + [(g[0], m, 0.0) for g in exact for m in g[1:]]
    groups = union_groups(len(items), edges)
    worst: dict[int, float] = {}
    group_of = {m: gi for gi, g in enumerate(groups) for m in g}
    for i, _j, d in near_pairs:
        worst[group_of[i]] = max(worst.get(group_of[i], 0.0), d)
    report: dict[str, Any] = {
        "data": data.info.name, "kind": data.info.kind, "split": split, "examples": len(items),
        "example": "a line of at least %d characters" % min_chars if embedder.text else "an image",
        "embedding": embedder.name, "distance": embedder.distance, "threshold": threshold,
        "exact": {"groups": [[indices[m] for m in g] for g in exact],
                  "duplicates": sum(len(g) - 1 for g in exact)},
        "near": {"groups": [{"indices": [indices[m] for m in g], "max_distance": round(worst.get(gi, 0.0), 6)}
                            for gi, g in enumerate(groups)],
                 "duplicates": sum(len(g) - 1 for g in groups)},
        "exclude": [f"{split}:{indices[m]}" for g in groups for m in g[1:]],
        "nearest_distance_quantiles": nearest_quantiles(embedder, unique_emb),
    }
    if against == "auto":
        against = next((s for s in ("test", "val") if s != split and getattr(data, s) is not None), None)
    if against is not None:
        report["overlap"] = overlap(embedder, against, indices, hashes, emb, threshold, max_listed)
    return report


def nearest_quantiles(embedder: Embedder, emb: np.ndarray, sample: int = 5000) -> dict[str, float]:
    """Quantiles of the distance from each distinct example (up to ``sample`` of them) to its nearest other."""
    if len(emb) < 2:
        return {}
    pick = np.random.default_rng(0).permutation(len(emb))[:sample]
    dist, idx = embedder.distances(emb, emb[pick], 2)
    own = idx[:, 0] == pick  # the example itself comes first, unless a tie puts another first
    d = np.where(own, dist[:, 1], dist[:, 0])
    return {f"p{q * 100:g}": round(float(np.quantile(d, q)), 6) for q in (0.001, 0.01, 0.05, 0.25, 0.5)}


def overlap(embedder: Embedder, against: str, train_indices: list[int], train_hashes: list[str], train_emb: np.ndarray,
            threshold: float, max_listed: int) -> dict[str, Any]:
    """How many examples of ``against`` have an exact or near duplicate in the indexed split."""
    indices, items, emb = embedder.split(against)
    hashes = content_hashes(items)
    train_set = set(train_hashes)
    exact = [i for i, h in enumerate(hashes) if h in train_set]
    dist, idx = embedder.distances(train_emb, emb, 1) if len(train_emb) and len(emb) else (np.zeros((0, 1)),) * 2
    near = [i for i in range(len(dist)) if dist[i, 0] <= threshold]  # none when either side has no examples
    pairs = [{"example": indices[i], "train": train_indices[int(idx[i, 0])], "distance": round(float(dist[i, 0]), 6),
              "exact": hashes[i] in train_set} for i in near]
    twins = sorted({train_indices[int(idx[i, 0])] for i in near})  # the nearest training example of each
    return {"split": against, "examples": len(items), "exact": len(exact), "near": len(near),
            "pairs": pairs[:max_listed], "listed": min(len(pairs), max_listed), "train_twins": twins}


# ---- search -------------------------------------------------------------------------------------------
def search_examples(data: DataSet, query, k: int = 5, net=None, split: str = "train", min_chars: int = MIN_CHARS,
                    use_cache: bool = True) -> list[dict[str, Any]]:
    """The ``k`` examples of ``split`` nearest ``query`` (pixel levels ``[C, H, W]``, or a text), nearest first:
    ``{"rank", "split", "index", "distance", ...}`` with ``"label"`` for labelled images and ``"text"``
    (normalised) for text."""
    embedder = Embedder(data, net, min_chars, use_cache)
    indices, items, emb = embedder.split(split)
    if len(indices) == 0:
        raise ConfigError(f"the {split} split of '{data.info.name}' has no examples to search")
    q = embedder.embed([normalise_text(query)] if embedder.text else query[None])
    dist, idx = embedder.distances(emb, q, k)
    labels = getattr(data.split(split), "labels", None)
    out = []
    for rank, (d, i) in enumerate(zip(dist[0], idx[0]), 1):
        row = {"rank": rank, "split": split, "index": indices[int(i)], "distance": round(float(d), 6)}
        if embedder.text:
            row["text"] = items[int(i)]
        elif labels is not None:
            row["label"] = int(labels[int(i)])
        out.append(row)
    return out

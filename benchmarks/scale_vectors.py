"""The descriptors of benchmarks/bench_scale.py: generated unit vectors with the spread of cosine
similarities of real image descriptors (:class:`SphereMixture`), or the rows of a ``.npy`` file
(:class:`FileVectors`), both read in fixed chunks so that no second copy of an n x d matrix is made."""
from __future__ import annotations

import math

import numpy as np

CHUNK = 16_384            # rows per generated chunk (fixed: a row's vector must not depend on the pass)
#: Assumed pairwise cosine statistics of R101-GeM descriptors (used when revisitop's are absent): the
#: descriptors are whitened (centred) then L2-normalised, so unrelated images have cosine near 0, a small
#: positive mean surviving the normalisation; std 0.08 is the spread of an effective dimension of about
#: 150 (std ~ 1 / sqrt(d_eff)). Assumptions, not measurements: the run prints which targets it used.
TARGET_MEAN, TARGET_STD = 0.05, 0.08

def _unit_rows(A):
    A /= np.sqrt(np.einsum("ij,ij->i", A, A))[:, None]
    return A


def pairwise_stats(X, sample: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Mean and std of the cosine similarity of distinct pairs among ``sample`` random rows of ``X``."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(X), min(sample, len(X)), replace=False))
    S = np.asarray(X[rows], dtype=np.float64)
    S = S @ S.T / np.outer(np.linalg.norm(S, axis=1), np.linalg.norm(S, axis=1))
    v = S[np.triu_indices(len(S), 1)]
    return float(v.mean()), float(v.std())


class SphereMixture:
    """Generated unit descriptors: a shared mean direction, clusters in a latent subspace, isotropic noise.

    ``x = nu( sqrt(mu) m + sqrt(1 - mu) (sqrt(rho) B u + sqrt(1 - rho) h) )`` with ``m`` a unit mean
    direction, ``B`` (d x L) an orthonormal basis orthogonal to ``m``, ``u = nu(c_j + sigma z)`` a
    point of cluster ``j`` on the latent sphere (centres ``c_j`` and noise ``z`` ~ N(0, I_L / L)),
    ``h`` a uniform unit vector of R^d. The three parts are nearly orthogonal, so for items of
    different clusters ``cos(x, x') ~ mu + (1 - mu) rho cos(u, u')``, with ``cos(u, u')`` of mean 0
    and variance ~1/L: the mean of the pairwise similarity is ``mu`` and its std
    ``(1 - mu) sqrt(rho^2 / L + (1 - rho)^2 / d)``, which fixes ``L`` from the target std.

    Fixed choices: ``rho = 0.8`` (a fifth of the energy isotropic: the vectors span all d
    dimensions, as whitened descriptors do, so PQ cannot exploit an exact low rank);
    ``sigma = 0.8`` (cosine within a cluster ~ 1 / (1 + sigma^2) = 0.6 in the latent space: an
    item's nearest neighbours lie near cosine 0.5, matching images rather than duplicates);
    ``per_cluster = 50`` items per cluster (bench_graph's convention), so the kNN graph has a
    structure to diffuse on.
    """

    def __init__(self, n: int, d: int, mean: float = TARGET_MEAN, std: float = TARGET_STD, seed: int = 0,
                 rho: float = 0.8, sigma: float = 0.8, per_cluster: int = 50):
        self.n, self.d, self.mean, self.std, self.seed = n, d, mean, std, seed
        self.rho, self.sigma, self.per_cluster = rho, sigma, per_cluster
        spread = (self.std / (1 - self.mean)) ** 2 - (1 - self.rho) ** 2 / self.d
        L = self.rho ** 2 / spread if spread > 0 else self.d
        self.L = int(min(max(2, round(L)), self.d - 1))
        rng = np.random.default_rng([self.seed, 0])
        basis, _ = np.linalg.qr(rng.standard_normal((self.d, self.L + 1)))
        self.m = basis[:, 0].astype(np.float32)
        self.B = basis[:, 1:].astype(np.float32)
        clusters = max(1, self.n // self.per_cluster)
        self.centres = (rng.standard_normal((clusters, self.L)) / math.sqrt(self.L)).astype(np.float32)

    def _draw(self, rng, labels):
        count = len(labels)
        u = _unit_rows(self.centres[labels] + self.sigma / math.sqrt(self.L)
                       * rng.standard_normal((count, self.L), dtype=np.float32))
        X = _unit_rows(rng.standard_normal((count, self.d), dtype=np.float32))
        X *= math.sqrt((1 - self.mean) * (1 - self.rho))
        X += (math.sqrt((1 - self.mean) * self.rho) * u) @ self.B.T
        X += math.sqrt(self.mean) * self.m
        return _unit_rows(X)

    def chunk(self, c: int) -> np.ndarray:
        """Rows ``[c CHUNK, (c + 1) CHUNK)`` (fewer in the last chunk), from the seed ``(seed, 1, c)``."""
        rng = np.random.default_rng([self.seed, 1, c])
        count = min(CHUNK, self.n - c * CHUNK)
        return self._draw(rng, rng.integers(0, len(self.centres), count))

    def queries(self, count: int) -> np.ndarray:
        """Queries from the same clusters (each has true neighbours in the database), own seed."""
        rng = np.random.default_rng([self.seed, 2])
        return self._draw(rng, rng.integers(0, len(self.centres), count))

    def describe(self) -> str:
        return (f"generated (sphere mixture: mean direction, {len(self.centres):,} clusters in an L = {self.L} "
                f"latent subspace, rho = {self.rho}, sigma = {self.sigma}; target cosine mean {self.mean:.3f}, "
                f"std {self.std:.3f})")


class FileVectors:
    """Rows of a ``.npy`` file (memory-mapped), in chunks; queries: ``qs`` or rows drawn by the seed."""

    def __init__(self, path: str, n: int | None = None, seed: int = 0, qs: np.ndarray | None = None):
        self.path, self.seed, self.qs = path, seed, qs
        self.X = np.load(self.path, mmap_mode="r")
        if self.X.ndim != 2:
            raise SystemExit(f"--features {self.path}: expected an (n, d) array, got shape {self.X.shape}")
        self.n = min(n or len(self.X), len(self.X))
        self.d = self.X.shape[1]

    def chunk(self, c: int) -> np.ndarray:
        return _unit_rows(np.array(self.X[c * CHUNK: min(self.n, (c + 1) * CHUNK)], dtype=np.float32))

    def queries(self, count: int) -> np.ndarray:
        if self.qs is not None:
            return _unit_rows(np.array(self.qs, dtype=np.float32))
        rows = np.sort(np.random.default_rng([self.seed, 2]).choice(self.n, count, replace=False))
        return _unit_rows(np.array(self.X[rows], dtype=np.float32))

    def describe(self) -> str:
        return f"{self.path} (first {self.n:,} rows)"


def chunks(source):
    """``(start, rows)`` over the whole database, in CHUNK blocks."""
    for c in range(math.ceil(source.n / CHUNK)):
        yield c * CHUNK, source.chunk(c)


def head(source, count: int) -> np.ndarray:
    """The first ``count`` rows: a uniform sample for generated data (rows are i.i.d.)."""
    parts, c = [], 0
    while sum(len(p) for p in parts) < count:
        parts.append(source.chunk(c))
        c += 1
    return np.concatenate(parts)[:count]


def training_sample(source, count: int, seed: int) -> np.ndarray:
    """``count`` rows to train k-means and PQ on: random rows of a file, the first rows when generated."""
    if isinstance(source, FileVectors):
        rows = np.sort(np.random.default_rng([seed, 3]).choice(source.n, count, replace=False))
        return _unit_rows(np.array(source.X[rows], dtype=np.float32))
    return head(source, count)


def revisitop_targets():
    """Pairwise cosine mean/std of revisitop's R101-GeM ROxf database descriptors and their queries,
    or None when they are not in the data root."""
    from rrlib.datasets import DatasetNotFoundError, revisitop_features
    try:
        X, Q, _ = revisitop_features("roxford5k")
    except (DatasetNotFoundError, FileNotFoundError, ValueError):
        return None
    return pairwise_stats(X), Q

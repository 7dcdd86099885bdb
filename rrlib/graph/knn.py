"""k-nearest-neighbour search on L2-normalised descriptors (similarity = dot product).

Two implementations with one contract: :func:`knn_brute` in numpy (the reference, exact),
and :func:`knn` with faiss -- an exact flat index by default, an IVF index (inverted file over a
k-means coarse quantiser: approximate, much faster on large sets) on request.

Both return ``(sims, idx)`` of shape ``(n_queries, k)``, neighbours sorted by decreasing
similarity, ties broken by the smaller index.
"""
from __future__ import annotations

import warnings

import faiss
import numpy as np

__all__ = ["knn", "knn_brute"]


def _check(X, Q, k):
    X = np.ascontiguousarray(X, dtype=np.float32)
    Q = X if Q is None else np.ascontiguousarray(Q, dtype=np.float32)
    if X.ndim != 2 or Q.ndim != 2 or X.shape[1] != Q.shape[1]:
        raise ValueError(f"X and Q must be 2-D with the same dimension, got {X.shape} and {Q.shape}")
    for name, A in (("X", X), ("Q", Q)):
        if not np.isfinite(A).all():
            raise ValueError(f"descriptors {name} contain NaN or inf ({int((~np.isfinite(A).all(axis=1)).sum())} rows)")
    if not 1 <= k <= len(X):
        raise ValueError(f"k must lie in [1, {len(X)}] (the database size), got {k}")
    return X, Q


def _warn_zero_rows(A: np.ndarray, name: str, consequence: str) -> None:
    """Warn (naming ``name`` and how many) when rows of the descriptors ``A`` are all zero: a zero
    descriptor has similarity 0 to everything, so it carries no ranking information."""
    zero = int((~A.any(axis=1)).sum())
    if zero:
        warnings.warn(f"{name} has {zero} zero row(s) of {len(A)}: {consequence}", RuntimeWarning, stacklevel=3)


def knn_brute(X, k: int, Q=None, *, chunk: int = 2048):
    """Exact kNN by dense similarity, in chunks of queries: the numpy reference.

    ``Q = None`` searches the database against itself (each item is its own first neighbour).
    """
    X, Q = _check(X, Q, k)
    sims = np.empty((len(Q), k), dtype=np.float32)
    idx = np.empty((len(Q), k), dtype=np.int64)
    for s in range(0, len(Q), chunk):
        S = Q[s : s + chunk] @ X.T
        top = np.argpartition(-S, k - 1, axis=1)[:, :k]  # the k best, unordered
        top_sims = np.take_along_axis(S, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)  # by similarity, then by index
        idx[s : s + chunk] = np.take_along_axis(top, order, axis=1)
        sims[s : s + chunk] = np.take_along_axis(top_sims, order, axis=1)
    return sims, idx


def knn(X, k: int, Q=None, *, index: str = "flat", nlist: int | None = None, nprobe: int = 16,
        seed: int = 0):
    """kNN with faiss by inner product (cosine similarity on L2-normalised rows).

    Parameters
    ----------
    X : (n, d) database descriptors.
    k : number of neighbours.
    Q : (m, d) queries; ``None`` searches ``X`` against itself.
    index : ``"flat"`` (exact) or ``"ivf"`` (approximate: ``nlist`` k-means cells, default
        ``min(4 sqrt(n), n / 39)``, of which ``nprobe`` are visited per query).

    Returns
    -------
    sims, idx : (m, k) arrays, by decreasing similarity.
    """
    X, Q = _check(X, Q, k)
    d = X.shape[1]
    if index == "flat":
        ix = faiss.IndexFlatIP(d)
    elif index == "ivf":
        # 4 sqrt(n) cells, but no fewer than ~39 training points per cell (faiss's minimum)
        nlist = nlist or max(1, min(int(4 * np.sqrt(len(X))), len(X) // 39))
        ix = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        ix.cp.seed = seed
        ix.train(X)
        ix.nprobe = min(nprobe, nlist)
    else:
        raise ValueError(f"index must be 'flat' or 'ivf', got {index!r}")
    ix.add(X)
    sims, idx = ix.search(Q, k)
    if index == "flat":  # faiss's order of equal scores is unspecified: make it by index
        order = np.lexsort((idx, -sims), axis=1)
        sims, idx = np.take_along_axis(sims, order, 1), np.take_along_axis(idx, order, 1)
    return sims, idx.astype(np.int64)

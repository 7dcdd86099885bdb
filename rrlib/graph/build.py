"""Affinity graphs over descriptors: the shared machinery of diffusion, mining on manifolds,
object discovery and label propagation.

Notation of [S3 §2.4]: ``W`` is the ``n x n`` affinity matrix (symmetric, non-negative, zero
diagonal), ``D = diag(W 1)`` the degrees, and ``S = D^{-1/2} W D^{-1/2}`` the symmetrically
normalised affinity every method in :mod:`rrlib.graph` runs on.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .knn import _warn_zero_rows, knn

__all__ = ["knn_graph", "sym_normalize"]


def _check_finite(A, name: str) -> None:
    """A ValueError naming ``name`` if the dense array or sparse matrix ``A`` holds NaN or inf
    (NaN affinities made an empty graph, and CG then asked for more iterations)."""
    values = A.data if sp.issparse(A) else np.asarray(A)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or inf")


def knn_graph(X, k: int = 50, *, gamma: float = 3.0, mutual: bool = True, neighbors=None) -> sp.csr_matrix:
    """The kNN affinity graph of Iscen et al. (CVPR 2017) [S3 §2.4].

    Each item is linked to its ``k`` nearest neighbours (itself excluded) with weight
    ``max(s_ij, 0)^gamma`` (``gamma = 3`` in the paper: only strong similarities matter). The
    directed kNN relation is made symmetric either *mutually* (``mutual=True``: keep ``i - j``
    only if each is among the other's neighbours, ``W = min(A, A^T)``) or by union
    (``W = max(A, A^T)``).

    ``neighbors`` may pass a precomputed ``(sims, idx)`` of a self-search with at least ``k + 1``
    columns (e.g. to build graphs for several ``k`` from one search).

    ``X`` must be finite (a ValueError otherwise); zero rows of ``X`` get a RuntimeWarning: they
    have no edges, so diffusion can only score them 0.
    """
    X = np.asarray(X)
    n = len(X)
    if not 1 <= k < n:
        raise ValueError(f"k must lie in [1, n-1] = [1, {n - 1}], got {k}")
    _check_finite(X, "X")
    _warn_zero_rows(X.reshape(n, -1), "X", "zero descriptors have no edges in the kNN graph (diffusion scores them 0)")
    sims, idx = neighbors if neighbors is not None else knn(X, min(k + 1, n))
    sims, idx = np.asarray(sims)[:, : k + 1], np.asarray(idx)[:, : k + 1]
    if sims.shape != idx.shape or len(sims) != n or sims.shape[1] < k + 1:
        raise ValueError(f"neighbors must be (sims, idx) of shape ({n}, >= {k + 1}), got {sims.shape} and {idx.shape}")
    _check_finite(sims, "neighbors' sims")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"neighbors' idx must lie in [0, {n}), got [{idx.min()}, {idx.max()}]")
    rows = np.repeat(np.arange(n), idx.shape[1])
    cols = idx.ravel()
    vals = np.clip(sims.ravel(), 0, None).astype(np.float64) ** gamma
    keep = rows != cols  # no self-loops
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    # An item may have more than k other neighbours left if it was not its own first hit: trim.
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    A = _keep_top_k_per_row(A, k)
    W = A.minimum(A.T) if mutual else A.maximum(A.T)
    W.eliminate_zeros()
    return W.tocsr()


def _keep_top_k_per_row(A: sp.csr_matrix, k: int) -> sp.csr_matrix:
    A = A.tocsr()
    counts = np.diff(A.indptr)
    if (counts <= k).all():
        return A
    data, indices, indptr = [], [], [0]
    for i in range(A.shape[0]):
        lo, hi = A.indptr[i], A.indptr[i + 1]
        top = np.argsort(-A.data[lo:hi], kind="stable")[:k]
        data.append(A.data[lo:hi][top])
        indices.append(A.indices[lo:hi][top])
        indptr.append(indptr[-1] + len(top))
    return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=A.shape)


def sym_normalize(W) -> sp.csr_matrix:
    """``S = D^{-1/2} W D^{-1/2}`` with ``D = diag(W 1)``; isolated nodes get zero rows.

    ``S`` is symmetric with eigenvalues in ``[-1, 1]`` (the largest is 1 on each connected
    component), which is what makes ``(I - alpha S)`` positive definite for ``0 <= alpha < 1``.
    """
    W = sp.csr_matrix(W, dtype=np.float64)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be square, got {W.shape}")
    _check_finite(W, "W")
    if W.nnz and W.data.min() < 0:
        raise ValueError("affinities must be non-negative")
    if abs(W - W.T).max() > 1e-12 * max(1.0, abs(W).max()):
        raise ValueError("W must be symmetric (build it with knn_graph, or use (W + W.T) / 2)")
    d = np.asarray(W.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(d)
    inv_sqrt[d > 0] = d[d > 0] ** -0.5
    Dm = sp.diags(inv_sqrt)
    return (Dm @ W @ Dm).tocsr()

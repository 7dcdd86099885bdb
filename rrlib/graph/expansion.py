"""Query expansion and database-side augmentation: the non-graph baselines of diffusion.

Both replace a descriptor by a weighted mean of itself and its nearest database neighbours,

    q' = nu( q + sum_{j in NN_k(q)} max(q^T x_j, 0)^alpha x_j ),

* alpha-QE (Radenovic, Tolias, Chum, TPAMI 2019) does it for the query; ``alpha = 0`` is the
  average query expansion of Chum et al. (ICCV 2007) over the top ``k``;
* DBA (database-side augmentation, Arandjelovic & Zisserman CVPR 2012; Gordo et al. IJCV 2017)
  does it for every database item, offline, against the rest of the database.
Defaults ``k = 10``, ``alpha = 3`` [EXT: cirtorch / revisitop papers' usual setting].

:func:`expand` is the one formula behind both, for any neighbour lists and weights, on dense
descriptors or sparse bag-of-words vectors: the average query expansion over *spatially verified*
images of notebook 02 is the same call with the verified images as neighbours.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

from ..vectors import normalize_rows
from .knn import knn

__all__ = ["alpha_qe", "dba", "expand"]


def expand(Q, X, neighbours: Sequence[Sequence[int]], weights: Sequence[Sequence[float]] | None = None):
    """``q_i' = nu(q_i + sum_j w_ij x_{n_ij})`` for every query ``i``.

    ``neighbours[i]`` lists the database rows that expand query ``i`` (any number, possibly none),
    ``weights[i]`` their weights (default 1: average query expansion). ``Q`` ``(m, d)`` and ``X``
    ``(N, d)`` are dense arrays or SciPy sparse matrices (BoW vectors); the result has the type of
    ``Q``, rows L2-normalised.
    """
    if len(neighbours) != Q.shape[0]:
        raise ValueError(f"{len(neighbours)} neighbour lists for {Q.shape[0]} queries")
    cols = [np.asarray(n, np.int64).ravel() for n in neighbours]
    vals = [np.ones(c.size) if weights is None else np.asarray(w, np.float64).ravel() for c, w in
            zip(cols, weights if weights is not None else cols)]
    if any(c.size != v.size for c, v in zip(cols, vals)):
        raise ValueError("each query needs as many weights as neighbours")
    indptr = np.concatenate([[0], np.cumsum([c.size for c in cols])])
    flat = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= X.shape[0]):
        raise ValueError(f"neighbour indices must be in [0, {X.shape[0]})")
    W = sp.csr_matrix((np.concatenate(vals) if vals else np.zeros(0), flat, indptr), shape=(len(cols), X.shape[0]))
    if sp.issparse(Q):
        out = sp.csr_matrix(Q + W @ sp.csr_matrix(X))
        norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ out)
    return normalize_rows(np.asarray(Q) + np.asarray(W @ X, dtype=np.asarray(Q).dtype))


def _expand(Q, X, sims, idx, alpha):
    return expand(Q, X, idx, np.clip(sims, 0, None) ** alpha).astype(np.float32)


def alpha_qe(Q, X, k: int = 10, alpha: float = 3.0) -> np.ndarray:
    """Expanded queries ``(m, d)``: each query plus its ``k`` nearest database items weighted
    by ``similarity^alpha``, L2-normalised."""
    Q = np.asarray(Q, dtype=np.float32)
    X = np.asarray(X, dtype=np.float32)
    sims, idx = knn(X, k, Q)
    return _expand(Q, X, sims, idx, alpha)


def dba(X, k: int = 10, alpha: float = 3.0) -> np.ndarray:
    """Database-side augmentation: every item expanded with its ``k`` nearest *other* items."""
    X = np.asarray(X, dtype=np.float32)
    sims, idx = knn(X, min(k + 1, len(X)))
    not_self = idx != np.arange(len(X))[:, None]
    # drop each item's own entry (normally the first), keep k others
    order = np.argsort(~not_self, axis=1, kind="stable")[:, :k]
    sims, idx = np.take_along_axis(sims, order, 1), np.take_along_axis(idx, order, 1)
    return _expand(X, X, sims, idx, alpha)

"""Query expansion and database-side augmentation: the non-graph baselines of diffusion.

Both replace a descriptor by a weighted mean of itself and its nearest database neighbours,

    q' = nu( q + sum_{j in NN_k(q)} max(q^T x_j, 0)^alpha x_j ),

* alpha-QE (Radenovic, Tolias, Chum, TPAMI 2019) does it for the query; ``alpha = 0`` is the
  average query expansion of Chum et al. (ICCV 2007) over the top ``k``;
* DBA (database-side augmentation, Arandjelovic & Zisserman CVPR 2012; Gordo et al. IJCV 2017)
  does it for every database item, offline, against the rest of the database.
Defaults ``k = 10``, ``alpha = 3`` [EXT: cirtorch / revisitop papers' usual setting].
"""
from __future__ import annotations

import numpy as np

from ..vectors import normalize_rows
from .knn import knn

__all__ = ["alpha_qe", "dba"]


def _expand(Q, X, sims, idx, alpha):
    w = np.clip(sims, 0, None) ** alpha
    out = Q + np.einsum("mk,mkd->md", w, X[idx])
    return normalize_rows(out)


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

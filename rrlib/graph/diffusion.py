"""Ranking on manifolds and diffusion on an affinity graph.

All methods here compute, for a *query vector* ``y`` (which nodes the query touches, and how
strongly), the ranking scores

    f* = (I - alpha S)^{-1} y,          S = D^{-1/2} W D^{-1/2},  0 <= alpha < 1,

the fixed point of the iteration ``f <- alpha S f + y`` (Zhou et al., "Ranking on data
manifolds", NIPS 2004 [S0]; their ``(1 - alpha)`` factor only scales ``f`` and is left out).
Three ways to get it, which must agree: iterate (:func:`diffusion_iterates`), solve densely
(:func:`diffuse_dense`, small graphs), or solve the sparse positive-definite system by
conjugate gradients (:func:`diffuse_cg`, Iscen et al., CVPR 2017). :func:`diffusion_search`
is the whole retrieval pipeline; :class:`OfflineDiffusion` precomputes truncated diffusions
of every database item so a query costs a sparse product (Yang et al., AAAI 2019).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..checks import check_integer
from .build import _check_finite, knn_graph, sym_normalize
from .knn import _warn_zero_rows, knn

__all__ = [
    "OfflineDiffusion",
    "diffuse_cg",
    "diffuse_dense",
    "diffusion_iterates",
    "diffusion_search",
    "query_matrix",
    "query_vector",
    "subgraph",
    "truncated_columns",
]


def _check_alpha(alpha: float) -> None:
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha must lie in [0, 1) for the diffusion to converge, got {alpha}")


def _system(S, y, sparse: bool = True):
    """``S`` (square, finite) and ``y`` (finite, ``n`` rows) of ``(I - alpha S) f = y``."""
    S = sp.csr_matrix(S, dtype=np.float64) if sparse else (S.toarray() if sp.issparse(S) else np.asarray(S, np.float64))
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square matrix, got shape {S.shape}")
    _check_finite(S, "S")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim not in (1, 2) or len(y) != S.shape[0]:
        raise ValueError(f"y must be (n,) or (n, m) with n = {S.shape[0]} (the graph's size), got shape {y.shape}")
    _check_finite(y, "y")
    return S, y


def diffusion_iterates(S, y, alpha: float = 0.99) -> Iterator[np.ndarray]:
    """The iterates ``f_0 = y``, ``f_{t+1} = alpha S f_t + y`` (a generator, endless).

    They converge to ``(I - alpha S)^{-1} y`` at the rate ``alpha^t``: slowly for the usual
    ``alpha = 0.99`` -- which is why the notebooks show snapshots, and solve by CG.
    """
    _check_alpha(alpha)
    S, y = _system(S, y)
    f = y.copy()
    while True:
        yield f
        f = alpha * (S @ f) + y


def diffuse_dense(S, y, alpha: float = 0.99) -> np.ndarray:
    """``(I - alpha S)^{-1} y`` by a dense linear solve: exact, O(n^3), small graphs only."""
    _check_alpha(alpha)
    S, y = _system(S, y, sparse=False)
    return np.linalg.solve(np.eye(len(S)) - alpha * S, y)


def diffuse_cg(S, y, alpha: float = 0.99, *, rtol: float = 1e-6, maxiter: int = 100) -> np.ndarray:
    """Solve ``(I - alpha S) f = y`` by conjugate gradients (Iscen et al., CVPR 2017).

    ``I - alpha S`` is symmetric positive definite (the eigenvalues of ``S`` lie in [-1, 1]), so
    CG converges; each step is one sparse product, O(nnz). ``y`` may hold several queries as
    columns: they are solved together (one sparse matrix-matrix product per step) with a
    column-wise CG, the same recurrences as ``scipy.sparse.linalg.cg``, which solves a single
    column and is used for a 1-D ``y``. Stops when every residual is below ``rtol ||y||``.
    """
    _check_alpha(alpha)
    S, Y = _system(S, y)
    single = Y.ndim == 1
    if single:
        A = spla.LinearOperator(S.shape, matvec=lambda v: v - alpha * (S @ v), dtype=np.float64)
        f, info = spla.cg(A, Y, rtol=rtol, maxiter=maxiter)
        if info > 0:
            raise RuntimeError(f"CG did not reach rtol={rtol} in {maxiter} iterations; raise maxiter")
        return f
    F = np.zeros_like(Y)
    R = Y.copy()
    P = R.copy()
    rr = (R * R).sum(axis=0)
    target = (rtol * np.linalg.norm(Y, axis=0)) ** 2
    for _ in range(maxiter):
        active = rr > target
        if not active.any():
            return F
        AP = P - alpha * (S @ P)
        step = np.where(active, rr / np.maximum((P * AP).sum(axis=0), 1e-300), 0.0)
        F += step * P
        R -= step * AP
        rr_new = (R * R).sum(axis=0)
        P = R + np.where(active, rr_new / np.maximum(rr, 1e-300), 0.0) * P
        rr = rr_new
    if (rr > target).any():
        raise RuntimeError(f"CG did not reach rtol={rtol} in {maxiter} iterations; raise maxiter")
    return F


def query_matrix(sims, idx, n: int, gamma: float = 3.0) -> sp.csc_matrix:
    """The query vectors of Iscen et al. as a sparse ``(n, m)`` matrix: column ``q`` holds
    ``y_j = max(s_qj, 0)^gamma`` for the ``kq`` neighbours ``j`` of query ``q`` in ``idx`` (shape
    ``(m, kq)``), 0 elsewhere -- ``kq`` non-zeros per column, so that ``m`` queries over a million
    items take kilobytes (:class:`OfflineDiffusion`'s ``F Y``, the R1M benchmark), not ``8 n m`` bytes.

    ``idx`` must be integers in ``[0, n)`` (a negative index is an error, not the last node),
    ``sims`` finite and of the same shape, ``gamma`` finite and ``>= 0``; a node listed twice for
    one query adds up.
    """
    n = check_integer(n, "n")
    sims, idx = np.atleast_2d(np.asarray(sims, np.float64)), np.atleast_2d(np.asarray(idx))
    if sims.ndim != 2 or sims.shape != idx.shape:
        raise ValueError(f"sims and idx must be (m, kq) arrays of the same shape, got {sims.shape} and {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"idx must hold integer node indices, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"idx must lie in [0, {n}) (the graph's nodes), got values in [{idx.min()}, {idx.max()}]")
    _check_finite(sims, "sims")
    if not 0 <= gamma < np.inf:
        raise ValueError(f"gamma must be a finite number >= 0, got {gamma}")
    cols = np.repeat(np.arange(len(idx)), idx.shape[1])
    return sp.csc_matrix((np.clip(sims.ravel(), 0, None) ** gamma, (idx.ravel(), cols)), shape=(n, len(idx)))


def query_vector(sims, idx, n: int, gamma: float = 3.0) -> np.ndarray:
    """The query vector of Iscen et al.: the query's ``kq`` nearest database items, weighted.

    ``y_j = max(s_qj, 0)^gamma`` for the neighbours ``j`` in ``idx`` (shape ``(m, kq)`` for ``m``
    queries), 0 elsewhere. Returns ``(n, m)``: one column per query, dense (the right-hand side of
    CG); :func:`query_matrix` is the same matrix sparse, with the same checks.
    """
    return query_matrix(sims, idx, n, gamma).toarray()


def diffusion_search(X, Q, *, k: int = 50, kq: int = 10, alpha: float = 0.99, gamma: float = 3.0,
                     truncate: int | None = None, rtol: float = 1e-6, maxiter: int = 100,
                     graph=None) -> np.ndarray:
    """Retrieval by diffusion (Iscen et al., CVPR 2017) [S3 §2.4, Table 4.1 "+D"].

    1. the kNN graph of the database (:func:`rrlib.graph.knn_graph`, ``k``, ``gamma``, mutual),
       normalised to ``S`` -- built once, offline (or passed as ``graph``);
    2. per query, ``y`` from its ``kq`` nearest database items (:func:`query_vector`);
    3. ``f = (I - alpha S)^{-1} y`` by CG; with ``truncate = t`` only on the subgraph of the
       query's ``t`` nearest items (the paper's truncation: faster, and often better).

    Returns scores of shape ``(n_db, n_queries)`` (the layout of
    :func:`rrlib.evaluate.evaluate_revisited`). With truncation the items outside the subgraph
    keep their original order below every diffused item (score ``cos - 10``; diffusion scores
    are non-negative).

    Non-finite descriptors raise a ValueError naming ``X`` or ``Q``; zero rows (no similarity to
    anything: all their scores tie at 0) a RuntimeWarning saying how many.
    """
    X = np.asarray(X, dtype=np.float32)
    Q = np.asarray(Q, dtype=np.float32)
    n = len(X)
    if truncate is not None:
        truncate = check_integer(truncate, "truncate")
    if graph is not None:
        W = sp.csr_matrix(graph)
        if W.shape != (n, n):
            raise ValueError(f"graph must be ({n}, {n}) for {n} database items, got {W.shape}")
        _check_finite(W, "graph")
    else:
        W = knn_graph(X, k, gamma=gamma)
    q_sims, q_idx = knn(X, kq, Q)
    _warn_zero_rows(Q, "Q", "a zero query has similarity 0 to every item, so all its diffusion scores are 0 (ties)")
    Y = query_vector(q_sims, q_idx, n, gamma)
    if truncate is None or truncate >= n:
        return diffuse_cg(sym_normalize(W), Y, alpha, rtol=rtol, maxiter=maxiter)
    scores = (X @ Q.T).astype(np.float64) - 10.0
    _, near = knn(X, truncate, Q)
    for q in range(len(Q)):
        sub, S_sub = subgraph(W, near[q])
        scores[sub, q] = diffuse_cg(S_sub, Y[sub, q], alpha, rtol=rtol, maxiter=maxiter)
    return scores


def subgraph(W, items):
    """The graph induced on ``items`` (truncation): ``(sub, S_sub)`` with ``sub`` the sorted distinct
    items (negative ids -- a neighbour an approximate search did not find -- left out) and ``S_sub``
    the normalised affinities among them, ``sym_normalize(W[sub][:, sub])``."""
    items = np.asarray(items)
    sub = np.unique(items[items >= 0])
    return sub, sym_normalize(sp.csr_matrix(W)[sub][:, sub])


def truncated_columns(W, items, near, *, alpha: float = 0.99, keep: int = 100, rtol: float = 1e-6,
                      maxiter: int = 100) -> sp.csc_matrix:
    """Columns of the offline diffusion ``F`` with truncation (Yang et al., AAAI 2019; fyang93/diffusion).

    For each database item ``i`` in ``items`` with its ``t`` nearest items ``near[j]`` (an
    ``(len(items), t)`` array; ``-1`` entries are skipped): ``F[:, i] = (I - alpha S_t)^{-1} e_i`` on
    the subgraph of ``{i} + near[j]`` (:func:`subgraph`), its ``keep`` largest entries stored. The
    cost per item is that of a ``t``-node system, whatever the database size: this is what makes
    offline diffusion possible at R1M. Returns an ``n x n`` CSC matrix with only these columns filled.
    """
    _check_alpha(alpha)
    keep = check_integer(keep, "keep")
    n = W.shape[0]
    W = sp.csr_matrix(W)
    rows, cols, vals = [], [], []
    for item, nn in zip(items, near):
        sub, S = subgraph(W, np.append(nn, item))
        f = diffuse_cg(S, (sub == item).astype(np.float64), alpha, rtol=rtol, maxiter=maxiter)
        top = np.argpartition(-f, min(keep, len(f)) - 1)[:keep]
        rows.append(sub[top])
        cols.append(np.full(len(top), item))
        vals.append(f[top])
    if not rows:
        return sp.csc_matrix((n, n))
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


class OfflineDiffusion:
    """Offline diffusion with late truncation (Yang, Hamamoto, ... , AAAI 2019).

    Offline, the diffusion of every database item, ``F[:, i] = (I - alpha S)^{-1} e_i``, is
    computed and only its ``keep`` largest entries are stored: a sparse ``n x n`` matrix. Online,
    by linearity and symmetry, a query with vector ``y`` scores ``f = F y`` -- one sparse product,
    no linear solve.

    Without ``truncate`` each column is solved on the whole graph (CG, all columns at once in
    blocks of ``block``). With ``truncate = t`` (the paper's setting at scale, and
    fyang93/diffusion's ``truncation_size``) column ``i`` is solved on the subgraph of item i's
    ``t`` nearest items only (:func:`truncated_columns`): a ``t``-node system per item, so the
    offline cost grows linearly with ``n``. ``keep``, ``block`` and ``truncate`` are integers ``>= 1``.
    """

    def __init__(self, X, *, k: int = 50, alpha: float = 0.99, gamma: float = 3.0, keep: int = 100,
                 truncate: int | None = None, rtol: float = 1e-6, maxiter: int = 100, block: int = 512):
        _check_alpha(alpha)
        keep = check_integer(keep, "keep")  # keep = 0 stored nothing: every score was 0
        block = check_integer(block, "block")
        if truncate is not None:
            truncate = check_integer(truncate, "truncate")
        self.X = np.asarray(X, dtype=np.float32)
        self.gamma = gamma
        n = len(self.X)
        keep = min(keep, n)
        W = knn_graph(self.X, k, gamma=gamma)
        if truncate is not None and truncate < n:
            _, near = knn(self.X, truncate)
            self.F = truncated_columns(W, np.arange(n), near, alpha=alpha, keep=keep, rtol=rtol,
                                       maxiter=maxiter).tocsr()
            return
        S = sym_normalize(W)
        rows, cols, vals = [], [], []
        for s in range(0, n, block):
            e = min(n, s + block)
            E = np.zeros((n, e - s))
            E[np.arange(s, e), np.arange(e - s)] = 1.0
            F = diffuse_cg(S, E, alpha, rtol=rtol, maxiter=maxiter)
            top = np.argpartition(-F, keep - 1, axis=0)[:keep]
            rows.append(top.T.ravel())
            cols.append(np.repeat(np.arange(s, e), keep))
            vals.append(np.take_along_axis(F, top, axis=0).T.ravel())
        self.F = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(n, n))

    def search(self, Q, kq: int = 10) -> np.ndarray:
        """Scores ``(n_db, n_queries)`` of the queries ``Q`` (their ``kq`` NN form ``y``)."""
        Q = np.asarray(Q, dtype=np.float32)
        sims, idx = knn(self.X, kq, Q)
        _warn_zero_rows(Q, "Q", "a zero query has similarity 0 to every item, so all its scores are 0 (ties)")
        return (self.F @ query_matrix(sims, idx, len(self.X), self.gamma)).toarray()

"""Acquisition functions of active learning: which unlabeled examples to send to the oracle.

Notation of [S3 ch. 3] (Siméoni, Budnik, Avrithis, Gravier, ICPR 2020): ``n`` examples, ``c``
classes, a boolean mask ``labeled`` of the set ``L`` (``U`` is the rest), a budget ``b``. Every
function here is pure: it returns ``b`` indices of *unlabeled* examples, in the order acquired, and
changes nothing. Acquisition is greedy [S3 eq 3.3]: ``S <- S + {a(X, L + S, U - S)}`` until
``|S| = b``; for Random and Uncertainty the scores do not depend on ``S``, so greedy is top-``b``.

* Random.
* Uncertainty [S3 eqs 3.5-3.6]: ``argmax_{i in U} H(p_i)``, ``H(p) = -sum_k p_k log p_k``.
* CEAL (Wang et al., TCSVT 2017) [S3 eq 3.7]: Uncertainty, plus pseudo-labels ``pi(p_i)`` for the
  most certain unlabeled examples ``{i in U: H(p_i) <= eps}``.
* CoreSet (Sener & Savarese, ICLR 2018) [S3 eq 3.4]: greedy k-center,
  ``argmax_{i in U} min_{k in L + S} ||phi(x_i) - phi(x_k)||``.
* jLP, joint label propagation [S3 eqs 3.11-3.12]: ``argmin_{i in U} h(delta(L + S))_i``, the
  example least *manifold*-similar to the labeled set, ``h(y) = (1 - alpha) L_alpha^{-1} y`` the
  diffusion of notebook 05 with the indicator of ``L`` as its query vector.
"""
from __future__ import annotations

import numpy as np

from ..checks import check_integer
from ..graph import diffuse_cg

__all__ = ["ACQUISITIONS", "ceal", "certainty", "coreset", "entropy", "jlp", "random", "uncertainty"]


def entropy(P) -> np.ndarray:
    """``H(p_i) = -sum_k p_ik log p_ik`` of each row of ``P`` (nats; ``0 log 0 = 0``), in ``[0, log c]`` [S3 eq 3.5]."""
    P = _probabilities(P)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 0, P * np.log(P), 0.0)
    return np.maximum(-terms.sum(axis=1), 0.0)


def certainty(P) -> np.ndarray:
    """``beta(p_i) = 1 - H(p_i) / log c`` of each row [S3 eq 3.10]: 1 for a one-hot row, 0 for a uniform one."""
    P = _probabilities(P)
    if P.shape[1] < 2:
        raise ValueError(f"certainty needs c >= 2 classes, got {P.shape[1]}")
    return np.clip(1.0 - entropy(P) / np.log(P.shape[1]), 0.0, 1.0)


def random(labeled, b: int, rng) -> np.ndarray:
    """``b`` unlabeled indices drawn uniformly without replacement."""
    U = _unlabeled(labeled, b)
    return np.random.default_rng(rng).choice(U, size=b, replace=False)


def uncertainty(P, labeled, b: int) -> np.ndarray:
    """The ``b`` unlabeled examples of largest prediction entropy [S3 eq 3.6]; ties by index."""
    U = _unlabeled(labeled, b, n=len(P))
    H = entropy(P)[U]
    return U[np.argsort(-H, kind="stable")[:b]]


def ceal(P, labeled, b: int, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CEAL [S3 eq 3.7]: ``(picked, pseudo_idx, pseudo_labels)``.

    ``picked`` is :func:`uncertainty`'s; ``pseudo_idx`` are the other unlabeled examples with
    ``H(p_i) <= eps`` (nats; the seed gives no value), ``pseudo_labels`` their ``argmax_k p_ik``.
    The caller trains the next cycle on ``L`` plus these pseudo-labels (once per cycle).
    """
    if not eps >= 0:
        raise ValueError(f"eps must be a non-negative entropy (nats), got {eps}")
    picked = uncertainty(P, labeled, b)
    H = entropy(P)
    sure = ~np.asarray(labeled, bool) & (H <= eps)
    sure[picked] = False
    pseudo_idx = np.flatnonzero(sure)
    return picked, pseudo_idx, _probabilities(P)[pseudo_idx].argmax(axis=1)


def coreset(features, labeled, b: int) -> np.ndarray:
    """Greedy k-center [S3 eq 3.4]: each pick is the unlabeled example farthest (Euclidean, in
    ``features`` = ``phi(X)``) from its nearest labeled-or-picked one; then it counts as picked."""
    F = np.asarray(features, dtype=np.float64)
    U = _unlabeled(labeled, b, n=len(F))
    L = np.flatnonzero(np.asarray(labeled, bool))
    if len(L) == 0:
        raise ValueError("CoreSet needs at least one labeled example")
    sq = (F * F).sum(axis=1)
    dist = np.full(len(F), np.inf)
    for start in range(0, len(L), 1024):  # min over L in chunks: O(n |L|) time, O(n 1024) memory
        block = L[start:start + 1024]
        d2 = sq[:, None] + sq[None, block] - 2 * F @ F[block].T
        dist = np.minimum(dist, d2.min(axis=1))
    return _greedy(-np.maximum(dist, 0.0), U, b,
                   lambda d, i: np.maximum(d, -np.maximum(sq + sq[i] - 2 * F @ F[i], 0.0)))


def jlp(S, labeled, b: int, alpha: float = 0.99) -> np.ndarray:
    """jLP [S3 eqs 3.11-3.12]: the unlabeled examples least manifold-similar to ``L``, greedily.

    ``S`` is the normalised affinity ``D^{-1/2} W D^{-1/2}`` of the kNN graph on ``phi(X)``. The
    similarity is ``h(delta(L)) = (1 - alpha) (I - alpha S)^{-1} delta(L)`` (notebook 05's solver,
    the indicator of ``L`` as query). h is linear, so after each pick ``i`` the greedy rule (3.3)
    adds ``h(e_i)``: one more CG solve per pick. Ties (e.g. the nodes of a graph component that
    holds no labeled example, all with ``h = 0``) go to the lowest index.
    """
    n = S.shape[0]
    mask = np.asarray(labeled, bool)
    U = _unlabeled(labeled, b, n=n)  # validate the mask as given, before any conversion
    if not mask.any():
        raise ValueError("jLP needs at least one labeled example")

    def h_of(y):
        return (1 - alpha) * diffuse_cg(S, y, alpha, maxiter=1000)

    return _greedy(h_of(mask.astype(np.float64)), U, b, lambda h, i: h + h_of(np.eye(1, n, i).ravel()))


def _greedy(score: np.ndarray, U: np.ndarray, b: int, update) -> np.ndarray:
    """The greedy batch of [S3 eq 3.3]: ``b`` times, pick the free example of lowest ``score`` (ties:
    lowest index), then ``score = update(score, pick)`` (skipped after the last pick)."""
    free = np.zeros(len(score), bool)
    free[U] = True
    picked = []
    for step in range(b):
        i = int(np.flatnonzero(free)[np.argmin(score[free])])
        picked.append(i)
        free[i] = False
        if step + 1 < b:
            score = update(score, i)
    return np.array(picked, dtype=np.int64)


ACQUISITIONS = ("random", "uncertainty", "ceal", "coreset", "jlp")
"""The five strategies of [S3 §3.5.1], in the thesis's order of presentation."""


def _probabilities(P) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2:
        raise ValueError(f"probabilities must be an (n, c) array, got shape {P.shape}")
    if not np.isfinite(P).all() or (P < 0).any():
        raise ValueError("probabilities must be finite and non-negative")
    return P


def _unlabeled(labeled, b: int, n: int | None = None) -> np.ndarray:
    mask = np.asarray(labeled)
    if mask.dtype != bool or mask.ndim != 1:
        raise ValueError(f"labeled must be a 1-D boolean mask, got dtype {mask.dtype} and shape {mask.shape}")
    if n is not None and len(mask) != n:
        raise ValueError(f"labeled has {len(mask)} entries for {n} examples")
    b = check_integer(b, "b")
    U = np.flatnonzero(~mask)
    if b > len(U):
        raise ValueError(f"budget b = {b} exceeds the {len(U)} unlabeled examples")
    return U

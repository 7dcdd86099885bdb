"""Label propagation with certainty weights, SEMI's weighted mini-batches, and the agreement of
two strategies' pseudo-labels.

Label propagation (Zhou et al., NIPS 2003; inductive use: Iscen et al., CVPR 2019) [S3 eqs
3.8-3.10]: labels of ``L`` as the ``n x c`` one-hot matrix ``Y = chi(L, y)`` (zero rows for
``U``), spread over the kNN graph of the embeddings ``phi(X)``:

    h(Y) = (1 - alpha) L_alpha^{-1} Y,   L_alpha = I - alpha S,   S = D^{-1/2} W D^{-1/2},
    P = eta[h(Y)] (rows l1-normalised),  pseudo-label y^_i = argmax_k P_ik,
    certainty weight w_i = 1 - H(p_i) / log c.

This is the diffusion of notebook 05 with the ``c`` class indicators as ``c`` query vectors: one
:func:`rrlib.graph.diffuse_cg` call solves all columns together -- no second kNN, graph or solver.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import check_integer
from ..graph import diffuse_cg, knn_graph, sym_normalize
from .acquisition import certainty

__all__ = ["Propagation", "agreement", "feature_graph", "label_matrix", "label_propagation", "propagate", "semi_batches"]


def label_matrix(labeled_idx, labels, n: int, n_classes: int) -> np.ndarray:
    """``Y = chi(L, y)`` [S3 eq 3.8]: ``Y[i, y_i] = 1`` for each labeled ``i``, every other entry 0."""
    idx = np.asarray(labeled_idx, dtype=np.int64).ravel()
    y = np.asarray(labels).ravel()
    if len(idx) != len(y):
        raise ValueError(f"{len(idx)} labeled indices but {len(y)} labels")
    if len(np.unique(idx)) != len(idx):
        raise ValueError("labeled indices must be distinct")
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"labeled indices must lie in [0, {n})")
    if len(y) and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be integers in [0, {n_classes})")
    Y = np.zeros((n, n_classes))
    Y[idx, y.astype(np.int64)] = 1.0
    return Y


def propagate(S, Y, alpha: float = 0.99) -> np.ndarray:
    """``P = eta[h(Y)]``, ``h(Y) = (1 - alpha)(I - alpha S)^{-1} Y`` [S3 eq 3.9], all columns in one CG.

    A row that receives nothing (a node in a component without labels) has no class
    probabilities: it gets the uniform row, hence certainty 0.
    """
    H = (1 - alpha) * diffuse_cg(S, Y, alpha, maxiter=1000)
    H = np.maximum(H, 0.0)  # exact h(Y) is non-negative; CG may leave -1e-12
    sums = H.sum(axis=1, keepdims=True)
    P = np.full_like(H, 1.0 / H.shape[1])
    np.divide(H, sums, out=P, where=sums > 0)
    return P


@dataclass(frozen=True)
class Propagation:
    """What label propagation gives every example: class probabilities ``probs`` (n, c), the
    pseudo-label ``pseudo`` (n,) and certainty ``weights`` (n,) in [0, 1]; labeled examples keep
    their true label and weight 1. ``S`` is the normalised graph it ran on (jLP reuses it)."""

    probs: np.ndarray
    pseudo: np.ndarray
    weights: np.ndarray
    S: object


def feature_graph(features, *, k: int = 50, gamma: float = 3.0):
    """``S = D^{-1/2} W D^{-1/2}`` of the reciprocal kNN graph of the l2-normalised ``features``
    with weights ``[cos]_+^gamma`` [S3 §3.3, eqs 2.1-2.3]: :func:`rrlib.graph.knn_graph` and
    :func:`rrlib.graph.sym_normalize`, with ``k`` capped at ``n - 1``."""
    F = np.asarray(features, dtype=np.float32)
    if F.ndim != 2 or len(F) < 2:
        raise ValueError(f"features must be an (n, d) array with n >= 2, got shape {F.shape}")
    F = F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
    return sym_normalize(knn_graph(F, k=min(k, len(F) - 1), gamma=gamma, mutual=True))


def label_propagation(features, labeled_idx, labels, n_classes: int, *, k: int = 50, gamma: float = 3.0,
                      alpha: float = 0.99) -> Propagation:
    """LP of Algorithm 1 [S3 §3.3]: the reciprocal kNN graph of ``features`` (``[cos]_+^gamma``
    weights, :func:`rrlib.graph.knn_graph`), then :func:`propagate` of ``chi(L, y)``.
    Defaults are [S3 §3.5.1]'s: k = 50, exponent 3 (Iscen et al. 2019), alpha = 0.99.

    Each column of ``chi(L, y)`` is divided by its class's number of labels, as Iscen et al. do
    (CVPR 2019, their eq. 5 "normalized with the class size", in ahmetius/LP-DeepSSL); [S3 eq
    3.8] leaves it out. Without it a class that acquisition favoured floods the graph: on digits
    with SEMI, Uncertainty fell from 88 % after cycle 0 to 38-58 % in later cycles.
    """
    S = feature_graph(features, k=k, gamma=gamma)
    n = S.shape[0]
    Y = label_matrix(labeled_idx, labels, n, n_classes)
    P = propagate(S, Y / np.maximum(Y.sum(axis=0), 1), alpha)
    pseudo = P.argmax(axis=1)
    weights = certainty(P)
    idx = np.asarray(labeled_idx, dtype=np.int64)
    pseudo[idx] = np.asarray(labels)
    weights[idx] = 1.0
    return Propagation(P, pseudo, weights, S)


def semi_batches(labeled_idx, unlabeled_idx, weights, batch_size: int, n_labeled: int, rng) -> list[np.ndarray]:
    """One epoch of SEMI's mini-batches [S3 §3.3, §3.5.1]: index arrays of ``batch_size`` examples,
    ``n_labeled`` drawn uniformly from ``L`` and the rest drawn *with replacement* from ``U`` by
    ``eta[w]`` (the certainty weights of the unlabeled examples, l1-normalised). The epoch ends
    when ``ceil(|U| / 2)`` pseudo-labeled examples have been drawn (the last batch is cut short)."""
    L = np.asarray(labeled_idx, dtype=np.int64)
    U = np.asarray(unlabeled_idx, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    batch_size, n_labeled = check_integer(batch_size, "batch_size"), check_integer(n_labeled, "n_labeled")
    if n_labeled >= batch_size:
        raise ValueError(f"n_labeled ({n_labeled}) must be smaller than batch_size ({batch_size})")
    if len(L) == 0 or len(U) == 0:
        raise ValueError("SEMI needs labeled and unlabeled examples")
    if w.shape != U.shape or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be one finite non-negative weight per unlabeled example, not all zero")
    rng = np.random.default_rng(rng)
    p = w / w.sum()
    left = (len(U) + 1) // 2
    batches = []
    while left > 0:
        m = min(batch_size - n_labeled, left)
        lab = rng.choice(L, size=n_labeled, replace=len(L) < n_labeled)
        batches.append(np.concatenate([lab, rng.choice(U, size=m, replace=True, p=p)]))
        left -= m
    return batches


def agreement(z1, z2, weights) -> float:
    """The weighted accuracy ``A_{U,w}(z, z') = sum_i eta[w]_i [z_i = z'_i]`` [S3 eq 3.13] over the
    given examples (the caller passes the rows of ``U``)."""
    z1, z2, w = np.asarray(z1).ravel(), np.asarray(z2).ravel(), np.asarray(weights, np.float64).ravel()
    if not len(z1) == len(z2) == len(w):
        raise ValueError(f"z, z' and w must have one entry per example, got {len(z1)}, {len(z2)}, {len(w)}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return float((w * (z1 == z2)).sum() / w.sum())

"""Whitening of global descriptors: PCA-whitening and the supervised L_w.

Descriptors are rows of a numpy array ``X`` of shape ``(N, D)`` (L2-normalised by the pooling).
A learned whitening is an affine map ``x -> P (x - m)`` followed by L2 normalisation,

    w(x) = nu( P[:d] (x - m) ),        nu(v) = v / ||v||_2,

kept as a :class:`Whitening` (``m``, ``P``) so it can be learned on one set (the train split,
or the *other* benchmark: Oxford's whitening from Paris and vice versa) and applied to another,
keeping only the first ``d`` rows of ``P`` to reduce the dimension.

References
----------
H. Jegou, O. Chum, "Negative evidences and co-occurrences in image retrieval: the benefit of
PCA and whitening", ECCV 2012 -- PCA-whitening [S4 "PCA_w"].
K. Mikolajczyk, J. Matas, "Improving descriptors for fast tree matching by optimal linear
projection", ICCV 2007; F. Radenovic, G. Tolias, O. Chum, "CNN image retrieval learns from BoW",
ECCV 2016 / TPAMI 2019 -- the supervised L_w [S4][S3 eq 5.11-5.12].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..vectors import normalize_rows

__all__ = ["Whitening", "learn_lw", "learn_pca_whitening", "pairs_from_labels"]


def _rows(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array of descriptors, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf")
    return X


@dataclass
class Whitening:
    """An affine whitening ``x -> nu(P[:d] (x - mean))`` learned on some descriptors.

    Attributes
    ----------
    mean : ndarray (D,)
    projection : ndarray (D_out, D)
        Rows sorted by decreasing variance of the training data, so ``projection[:d]`` keeps
        the ``d`` most significant directions.
    """

    mean: np.ndarray
    projection: np.ndarray

    def __call__(self, X, dim: int | None = None) -> np.ndarray:
        """Whiten the rows of ``X``, keep ``dim`` dimensions (default all), L2-normalise."""
        X = _rows(X)
        if X.shape[1] != len(self.mean):
            raise ValueError(f"descriptors have dimension {X.shape[1]}, the whitening was learned on {len(self.mean)}")
        if dim is not None and not 1 <= dim <= len(self.projection):
            raise ValueError(f"dim must lie in [1, {len(self.projection)}], got {dim}")
        return normalize_rows((X - self.mean) @ self.projection[:dim].T)


def _sorted_eigh(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns) of a symmetric matrix."""
    values, vectors = np.linalg.eigh(C)
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]


def learn_pca_whitening(X, *, power: float = 0.5, eps: float = 1e-9) -> Whitening:
    """PCA-whitening learned on the rows of ``X`` (Jegou & Chum, ECCV 2012).

    With the mean ``m``, the covariance ``C = (1/N) sum_i (x_i - m)(x_i - m)^T = E diag(lambda) E^T``
    (eigenvalues in decreasing order),

        P = diag(lambda + eps)^(-power) E^T.

    ``power = 0.5`` is full whitening (the training covariance becomes the identity); ``0``
    is a plain PCA rotation; values in between shrink the whitening, as some pipelines do.
    The whitening down-weights directions that co-occur often ("negative evidence").
    """
    X = _rows(X)
    if len(X) < 2:
        raise ValueError("PCA-whitening needs at least two descriptors")
    m = X.mean(axis=0)
    C = (X - m).T @ (X - m) / len(X)
    values, vectors = _sorted_eigh(C)
    P = (np.clip(values, 0, None) + eps)[:, None] ** (-power) * vectors.T
    return Whitening(m, P)


def learn_lw(X, query_idx, positive_idx, *, reduce: int | None = None, eps: float = 1e-9) -> Whitening:
    """Supervised whitening L_w from matching pairs (Mikolajczyk & Matas; Radenovic et al.).

    With matching pairs ``(x_q, x_p)``, ``m`` the mean of the query descriptors and
    ``C_S = (1/|pairs|) sum (x_q - x_p)(x_q - x_p)^T`` the covariance of matching differences:

    1. ``T = L^{-1}`` with ``C_S = L L^T`` (Cholesky): whitens the *intra-class* variation,
       ``T C_S T^T = I``;
    2. ``E`` = eigenvectors, by decreasing eigenvalue, of the covariance of ``T (x - m)`` over
       all descriptors: the *inter-class* PCA;
    3. ``P = E^T T``.

    After it, differences of matching pairs have identity covariance (they are "noise" of unit
    variance in every direction) and the dimensions are sorted by how much the descriptors
    vary overall. [S4]: this L_w beats the unsupervised PCA_w and end-to-end learned whitening.

    ``reduce = r`` first projects on the top ``r`` principal directions of ``X`` (a PCA rotation
    learned on the same descriptors) and learns L_w there; the two maps are returned composed.
    Use it when the pairs are few for the dimension (the pair covariance is then poorly
    estimated and its smallest directions, whitened, are noise): cirtorch learns L_w in 2048
    dimensions from the ~90k pairs of SfM-30k; a small training split needs a smaller space.
    """
    X = _rows(X)
    if reduce is not None:
        if not 1 <= reduce <= X.shape[1]:
            raise ValueError(f"reduce must lie in [1, {X.shape[1]}], got {reduce}")
        pca = learn_pca_whitening(X, power=0.0)  # rows: orthonormal principal directions
        E = pca.projection[:reduce]
        inner = learn_lw((X - pca.mean) @ E.T, query_idx, positive_idx, eps=eps)
        # P_lw (E (x - m1) - m2) = (P_lw E)(x - (m1 + E^T m2)) since E E^T = I
        return Whitening(pca.mean + E.T @ inner.mean, inner.projection @ E)
    q = np.asarray(query_idx, dtype=np.int64).ravel()
    p = np.asarray(positive_idx, dtype=np.int64).ravel()
    if len(q) != len(p) or len(q) == 0:
        raise ValueError(f"need equally many query and positive indices (got {len(q)} and {len(p)})")
    if min(q.min(), p.min()) < 0 or max(q.max(), p.max()) >= len(X):
        raise ValueError(f"pair indices must lie in [0, {len(X)})")
    if len(q) < X.shape[1]:
        raise ValueError(
            f"L_w needs at least as many matching pairs ({len(q)}) as the descriptor dimension "
            f"({X.shape[1]}): the pair covariance is singular otherwise; reduce the dimension first"
        )
    m = X[q].mean(axis=0)
    diff = X[q] - X[p]
    rank = np.linalg.matrix_rank(diff)
    if rank < X.shape[1]:
        # more pairs than dimensions is not enough: pairs within c classes of N pictures span at most
        # N - c dimensions; whitening the others divides by noise (the result then changes with the
        # rounding of the machine)
        raise ValueError(
            f"the {len(q)} matching pairs span only {rank} of the {X.shape[1]} dimensions (at most the number "
            f"of pictures minus the number of classes): the pair covariance is singular; learn L_w in at most "
            f"{rank} dimensions (reduce) or from more pictures"
        )
    C_s = diff.T @ diff / len(diff) + eps * np.eye(X.shape[1])
    try:
        L = np.linalg.cholesky(C_s)
    except np.linalg.LinAlgError:
        raise ValueError(
            "the matching-pair covariance is singular: use more pairs than the descriptor "
            f"dimension ({X.shape[1]}), or reduce the dimension first"
        ) from None
    T = np.linalg.inv(L)
    Z = (X - m) @ T.T
    _, E = _sorted_eigh(Z.T @ Z / len(Z))
    return Whitening(m, E.T @ T)


def pairs_from_labels(labels) -> tuple[np.ndarray, np.ndarray]:
    """All matching pairs ``(i, j)``, ``i < j``, of items with the same label (e.g. landmark ids),
    as the ``query_idx, positive_idx`` of :func:`learn_lw`."""
    labels = np.asarray(labels)
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    return i[same], j[same]

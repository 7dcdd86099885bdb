r"""Transforms of the plane and how well they map one point set onto another.

Conventions of :mod:`rrlib.geometry`
------------------------------------
* Points are ``(n, 2)`` float arrays of ``(x, y)`` pixel coordinates (``x`` right, ``y`` down).
* A transform is a ``3 x 3`` homogeneous matrix ``T`` acting on ``(x, y, 1)^T``: an affine map
  ``[[A, t], [0, 0, 1]]`` or a homography (see :mod:`rrlib.geometry.fitters` for the models).

Here: the input checks shared by the package, :func:`apply`, the reprojection errors that make
a correspondence an inlier, and :func:`local_scale`, the scale sanity bound of the verifiers.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["apply", "inlier_mask", "local_scale", "reprojection_errors"]

# Relative tolerance of the degeneracy tests: det(C) <= _DEGENERATE * trace(C)^2 of a 2 x 2
# scatter matrix C means the points are collinear (or coincident) up to rounding.
_DEGENERATE = 1e-12


# ------------------------------------------------------------------------------------ checks
def _rows(a, width: int, name: str, what: str, rows: str = "n") -> np.ndarray:
    """``a`` as a finite float64 ``(n, width)`` array, or a ValueError naming it."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"{name} must be an ({rows}, {width}) array of {what}, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has non-finite values")
    return a


def _points(p, name: str) -> np.ndarray:
    return _rows(p, 2, name, "(x, y) points")


def _pairs(p1, p2, min_points: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    p1, p2 = _points(p1, "p1"), _points(p2, "p2")
    if len(p1) != len(p2):
        raise ValueError(f"p1 and p2 must hold the same number of points, got {len(p1)} and {len(p2)}")
    if len(p1) < min_points:
        raise ValueError(f"{what} needs at least {min_points} correspondence(s), got {len(p1)}")
    return p1, p2


def _transform(T, name: str = "T") -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (3, 3):
        raise ValueError(f"{name} must be a 3 x 3 homogeneous matrix, got shape {T.shape}")
    return T


def _transforms(T) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape[-2:] != (3, 3) or T.ndim not in (2, 3):
        raise ValueError(f"T must be 3 x 3 or (m, 3, 3), got shape {T.shape}")
    return T


def _real(value, name: str) -> float:
    """``value`` as a float; a TypeError naming it if it is not a real number (or is a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def _homogeneous(A: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` matrices ``[[A, t], [0, 0, 1]]`` from ``(..., 2, 2)`` and ``(..., 2)``."""
    T = np.zeros(A.shape[:-2] + (3, 3))
    T[..., :2, :2] = A
    T[..., :2, 2] = t
    T[..., 2, 2] = 1.0
    return T


def _flat(C: np.ndarray) -> bool:
    """Is the 2 x 2 scatter matrix ``C`` of (centred) points rank-deficient: collinear points?"""
    tr = C[0, 0] + C[1, 1]
    return tr <= 0.0 or C[0, 0] * C[1, 1] - C[0, 1] * C[1, 0] <= _DEGENERATE * tr * tr


# ------------------------------------------------------------------------------------ apply
def apply(T, pts) -> np.ndarray:
    r"""Map points by a homogeneous transform: ``(n, 2)`` points of image 2.

    .. math:: (u', v', w)^T = T (x, y, 1)^T, \qquad x \mapsto (u'/w, v'/w).

    For the affine models ``T[2] = (0, 0, 1)`` and ``w = 1``; for a homography a point on the
    line ``w = 0`` maps to infinity (``inf``/``nan``, without a warning).
    """
    T = _transform(T)
    pts = _points(pts, "pts")
    uv = pts @ T[:2, :2].T + T[:2, 2]
    w = pts @ T[2, :2] + T[2, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return uv / w[:, None]


# ------------------------------------------------------------------------------------ scoring
def _squared_errors(T: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """``(m, n)`` squared reprojection errors of ``(m, 3, 3)`` transforms, without checks."""
    m, n = len(T), len(p1)
    P = np.empty((3, n))
    P[:2], P[2] = p1.T, 1.0
    # einsum, not @: BLAS is slow for an inner dimension of 3
    D = np.einsum("mk,kn->mn", T[:, :2, :].reshape(2 * m, 3), P).reshape(m, 2, n)
    projective = T[:, 2, :2].any() or (T[:, 2, 2] != 1).any()
    if projective:  # divide by w
        with np.errstate(divide="ignore", invalid="ignore"):
            D /= np.einsum("mk,kn->mn", T[:, 2, :], P)[:, None, :]
    D -= p2.T
    np.square(D, out=D)
    e = D[:, 0] + D[:, 1]
    if projective:
        e[np.isnan(e)] = np.inf
    return e


def reprojection_errors(T, p1, p2) -> np.ndarray:
    r"""Reprojection errors ``||T(p1_i) - p2_i||`` in pixels of image 2.

    ``T`` is ``3 x 3`` (gives ``(n,)``) or ``(m, 3, 3)`` (gives ``(m, n)``, all hypotheses on all
    correspondences). A point mapped to infinity has an infinite error.
    """
    T = _transforms(T)
    p1, p2 = _pairs(p1, p2, 0, "reprojection_errors")
    e = np.sqrt(_squared_errors(T.reshape(-1, 3, 3), p1, p2))
    return e[0] if T.ndim == 2 else e


def inlier_mask(T, p1, p2, threshold: float) -> np.ndarray:
    """Boolean ``(n,)`` mask of the correspondences with ``||T(p1_i) - p2_i|| < threshold``
    (``threshold`` positive and finite)."""
    if not 0 < _real(threshold, "threshold") < np.inf:
        raise ValueError(f"threshold must be a positive finite number of pixels, got {threshold}")
    return reprojection_errors(_transform(T), p1, p2) < threshold


def local_scale(T) -> np.ndarray | float:
    r"""The scale change of ``T`` at the origin: ``sqrt|det J|``, with ``J`` the Jacobian.

    For an affine ``T = [[A, t], [0, 1]]`` it is ``sqrt|det A|`` everywhere; for a homography
    ``det J(x) = det H / w(x)^3``, so at the origin ``sqrt|det H / H_33^3|``. ``T`` is ``3 x 3``
    (a float) or ``(m, 3, 3)`` (an array).
    """
    T = _transforms(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sqrt(np.abs(np.linalg.det(T) / T[..., 2, 2] ** 3))
    return float(s) if T.ndim == 2 else s


def _plausible(T: np.ndarray, max_scale: float | None) -> np.ndarray:
    """Scale sanity bound of Philbin et al.: ``1/max_scale <= local_scale(T) <= max_scale``."""
    if max_scale is None:
        return np.ones(T.shape[:-2], bool)
    s = local_scale(T)
    return (s >= 1.0 / max_scale) & (s <= max_scale)

r"""Least-squares fitters of the transform models, and the models' table.

  ==============  ===  ===========  =====================================================
  model           dof  min samples  ``T``
  ==============  ===  ===========  =====================================================
  translation     2    1            ``[[1, 0, tx], [0, 1, ty], [0, 0, 1]]``
  similarity      4    2            ``[[a, -b, tx], [b, a, ty], [0, 0, 1]]``, ``a + ib = s e^{i theta}``
  affine          6    3            ``[[a11, a12, tx], [a21, a22, ty], [0, 0, 1]]``
  homography      8    4            any invertible ``H``, defined up to scale (``H[2, 2] = 1`` here)
  ==============  ===  ===========  =====================================================

Fitters return ``None`` for a degenerate configuration (coincident points, collinear points for
the affine map and the homography) rather than raising, so that the sampling loops just skip it;
wrong shapes and too few points raise :class:`ValueError`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..checks import check_integer
from .transforms import _DEGENERATE, _flat, _homogeneous, _pairs

__all__ = ["MODELS", "Model", "fit_affine", "fit_homography", "fit_similarity", "fit_translation", "get_model"]


# ----------------------------------------------------------------------------------- fitters
# The private solvers take validated float64 arrays with enough points; the public fit_* check.
def _solve_translation(p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    return _homogeneous(np.eye(2), (p2 - p1).mean(axis=0))


def _solve_similarity(p1: np.ndarray, p2: np.ndarray) -> np.ndarray | None:
    z1 = p1[:, 0] + 1j * p1[:, 1]
    z2 = p2[:, 0] + 1j * p2[:, 1]
    m1, m2 = z1.mean(), z2.mean()
    z1, z2 = z1 - m1, z2 - m2
    energy = float(np.vdot(z1, z1).real)
    if energy <= _DEGENERATE * max(1.0, abs(m1) ** 2):  # all points of image 1 coincide
        return None
    a = np.vdot(z1, z2) / energy  # vdot conjugates its first argument
    b = m2 - a * m1
    return _homogeneous(np.array([[a.real, -a.imag], [a.imag, a.real]]), np.array([b.real, b.imag]))


def _solve_affine(p1: np.ndarray, p2: np.ndarray) -> np.ndarray | None:
    m1, m2 = p1.mean(axis=0), p2.mean(axis=0)
    X, Y = p1 - m1, p2 - m2
    C = X.T @ X
    if _flat(C):
        return None
    A = np.linalg.solve(C, X.T @ Y).T
    return _homogeneous(A, m2 - A @ m1)


def _hartley(p: np.ndarray) -> np.ndarray | None:
    """Hartley's normalisation: the similarity moving the centroid to 0, mean distance to sqrt 2."""
    m = p.mean(axis=0)
    d = np.sqrt(((p - m) ** 2).sum(axis=1)).mean()
    if d <= _DEGENERATE * max(1.0, float(np.abs(m).max())):
        return None
    s = math.sqrt(2.0) / d
    return np.array([[s, 0.0, -s * m[0]], [0.0, s, -s * m[1]], [0.0, 0.0, 1.0]])


def _solve_homography(p1: np.ndarray, p2: np.ndarray) -> np.ndarray | None:
    N1, N2 = _hartley(p1), _hartley(p2)
    if N1 is None or N2 is None:
        return None
    q1 = p1 * N1[0, 0] + N1[:2, 2]
    q2 = p2 * N2[0, 0] + N2[:2, 2]
    if _flat(q1.T @ q1) or _flat(q2.T @ q2):  # centred by the normalisation
        return None
    n = len(q1)
    x, y, u, v = q1[:, 0], q1[:, 1], q2[:, 0], q2[:, 1]
    one, zero = np.ones(n), np.zeros(n)
    M = np.empty((2 * n, 9))
    M[0::2] = np.stack([zero, zero, zero, -x, -y, -one, v * x, v * y, v], axis=1)
    M[1::2] = np.stack([x, y, one, zero, zero, zero, -u * x, -u * y, -u], axis=1)
    if len(M) < 9:  # a minimal sample: 8 equations, pad to a square matrix to get all of V
        M = np.vstack([M, np.zeros((9 - len(M), 9))])
    _, sv, Vt = np.linalg.svd(M, full_matrices=False)
    if sv[7] <= 1e-10 * sv[0]:  # a second null vector: the solution is not unique
        return None
    Hn = Vt[-1].reshape(3, 3)  # unit Frobenius norm
    if abs(np.linalg.det(Hn)) <= 1e-10:  # rank-deficient: collapses the plane onto a line
        return None
    H = np.linalg.solve(N2, Hn @ N1)
    if abs(H[2, 2]) <= 1e-12 * np.abs(H).max():  # the origin maps to infinity
        return None
    return H / H[2, 2]


def fit_translation(p1, p2) -> np.ndarray:
    r"""Least-squares translation: ``t = mean(p2 - p1)`` (one correspondence suffices)."""
    return _solve_translation(*_pairs(p1, p2, 1, "fit_translation"))


def fit_similarity(p1, p2) -> np.ndarray | None:
    r"""Least-squares similarity (scale, rotation, translation) from ``n >= 2`` correspondences.

    With points as complex numbers ``z = x + iy``, a similarity is ``z' = a z + b`` with
    ``a = s e^{i theta}``. Minimising ``sum |a z1 + b - z2|^2`` gives, with ``mu`` the means,

    .. math:: a = \frac{\sum_i \overline{(z_{1i} - \mu_1)} (z_{2i} - \mu_2)}{\sum_i |z_{1i} - \mu_1|^2},
              \qquad b = \mu_2 - a \mu_1,

    the same solution as Umeyama's SVD method (Umeyama, TPAMI 1991) for 2-D, without the
    reflection case. Returns ``None`` if all points of image 1 coincide.
    """
    return _solve_similarity(*_pairs(p1, p2, 2, "fit_similarity"))


def fit_affine(p1, p2) -> np.ndarray | None:
    r"""Least-squares affine map from ``n >= 3`` correspondences.

    With ``X, Y`` the centred points (rows), the normal equations of ``min ||X A^T - Y||^2`` give

    .. math:: A^T = (X^T X)^{-1} X^T Y, \qquad t = \mu_2 - A \mu_1 .

    Returns ``None`` if the points of image 1 are collinear (``X^T X`` singular).
    """
    return _solve_affine(*_pairs(p1, p2, 3, "fit_affine"))


def fit_homography(p1, p2) -> np.ndarray | None:
    r"""Homography by the normalised DLT from ``n >= 4`` correspondences (Hartley & Zisserman,
    *Multiple View Geometry*, Alg. 4.2; Hartley, TPAMI 1997).

    Both point sets are normalised (centroid at 0, mean distance ``sqrt 2``) by similarities
    ``N1, N2``; each correspondence ``(x, y) -> (u, v)`` gives two rows of ``M h = 0``,

    .. math:: (0, 0, 0, -x, -y, -1, vx, vy, v), \qquad (x, y, 1, 0, 0, 0, -ux, -uy, -u),

    ``h`` is the right singular vector of ``M`` of the smallest singular value, and
    ``H = N2^{-1} H_n N1``, scaled to ``H[2, 2] = 1``. This minimises the algebraic error (OpenCV's
    ``findHomography(..., 0)`` refines it further to the geometric error). Returns ``None`` for
    degenerate configurations: coincident or collinear points in either image, a solution that is
    not unique (three collinear points of a minimal sample), or a singular ``H``.
    """
    return _solve_homography(*_pairs(p1, p2, 4, "fit_homography"))


@dataclass(frozen=True)
class Model:
    """A transform model for :func:`ransac`: its least-squares ``fit(p1, p2) -> T | None`` and the
    size of a minimal sample (``solve``: the same fit without input checks, for the inner loops)."""

    name: str
    fit: Callable[[np.ndarray, np.ndarray], np.ndarray | None]
    min_samples: int
    solve: Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None = field(repr=False, default=None)

    def __post_init__(self) -> None:
        if not callable(self.fit) or not (self.solve is None or callable(self.solve)):
            raise TypeError(f"Model {self.name!r}: fit and solve must be callables")
        check_integer(self.min_samples, "min_samples", 1)
        if self.solve is None:  # the solver the loops call: ``fit`` itself unless a faster one is given
            object.__setattr__(self, "solve", self.fit)


MODELS: dict[str, Model] = {
    "translation": Model("translation", fit_translation, 1, _solve_translation),
    "similarity": Model("similarity", fit_similarity, 2, _solve_similarity),
    "affine": Model("affine", fit_affine, 3, _solve_affine),
    "homography": Model("homography", fit_homography, 4, _solve_homography),
}


def get_model(model: str | Model) -> Model:
    """The :class:`Model` of a name in :data:`MODELS` (a :class:`Model` is passed through)."""
    if isinstance(model, Model):
        return model
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
    return MODELS[model]

r"""2-D geometry of spatial verification: transforms, fitters, RANSAC and fast spatial matching.

Two images of the same (planar, or distant) object are related by a geometric transform ``T``
that maps the pixels of image 1 onto those of image 2. Spatial verification fits ``T`` to the
*tentative* correspondences of two images (most of them wrong) and counts the *inliers*, the
correspondences that ``T`` explains up to a reprojection error of a few pixels.

Conventions
-----------
* Points are ``(n, 2)`` float arrays of ``(x, y)`` pixel coordinates (``x`` right, ``y`` down).
* A transform is a ``3 x 3`` homogeneous matrix ``T`` acting on ``(x, y, 1)^T``; the models,
  from least to most degrees of freedom:

  ==============  ===  ===========  =====================================================
  model           dof  min samples  ``T``
  ==============  ===  ===========  =====================================================
  translation     2    1            ``[[1, 0, tx], [0, 1, ty], [0, 0, 1]]``
  similarity      4    2            ``[[a, -b, tx], [b, a, ty], [0, 0, 1]]``, ``a + ib = s e^{i theta}``
  affine          6    3            ``[[a11, a12, tx], [a21, a22, ty], [0, 0, 1]]``
  homography      8    4            any invertible ``H``, defined up to scale (``H[2, 2] = 1`` here)
  ==============  ===  ===========  =====================================================

* A local-feature *frame* is ``(x, y, scale, angle)``, angle in radians (SIFT keypoints).

Methods
-------
* :func:`ransac` -- RANSAC (Fischler & Bolles, CACM 1981) with local optimisation, LO-RANSAC
  (Chum, Matas & Kittler, DAGM 2003): minimal samples, adaptive number of iterations, and a
  least-squares refit on the inliers of every new best model.
* :func:`fast_spatial_matching` -- Philbin, Chum, Isard, Sivic & Zisserman, "Object retrieval
  with large vocabularies and fast spatial matching", CVPR 2007: a single correspondence of two
  frames already fixes a similarity (:func:`frame_transforms`), so all ``m`` hypotheses are
  enumerated and scored -- no sampling -- and the best one is refined by least squares.
* :func:`verify_hypotheses` -- the same scoring for any one-correspondence hypotheses, e.g. the
  affine ones of two elliptical regions (:func:`region_transforms`), as in deep spatial matching
  (Simeoni, Avrithis & Chum, "Local features and visual words emerge in activations", CVPR 2019).

Fitters return ``None`` for a degenerate configuration (coincident points, collinear points for
the affine map and the homography) rather than raising, so that the sampling loops just skip it;
wrong shapes and too few points raise :class:`ValueError`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = [
    "GeometricMatch", "Model", "MODELS", "get_model",
    "apply", "fit_translation", "fit_similarity", "fit_affine", "fit_homography",
    "frame_transform", "frame_transforms", "ellipse_from_points", "upright_frame", "region_transforms",
    "reprojection_errors", "inlier_mask", "local_scale", "required_iterations",
    "ransac", "verify_hypotheses", "fast_spatial_matching",
]

# Relative tolerance of the degeneracy tests: det(C) <= _DEGENERATE * trace(C)^2 of a 2 x 2
# scatter matrix C means the points are collinear (or coincident) up to rounding.
_DEGENERATE = 1e-12
# LO: the refits after the first use the inliers at thresholds from _LO_WIDEN * threshold down to
# threshold (Chum et al. 2003, "iterative" local optimisation).
_LO_WIDEN = 2.0
# fast spatial matching scores hypotheses in blocks of at most this many (hypothesis, point) pairs.
_BLOCK = 1 << 21


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


# ----------------------------------------------------------------- one-correspondence hypotheses
def _frames(F, name: str) -> np.ndarray:
    F = _rows(F, 4, name, "(x, y, scale, angle) frames", rows="m")
    if (F[:, 2] <= 0).any():
        raise ValueError(f"{name} has non-positive scales")
    return F


def frame_transforms(F1, F2) -> np.ndarray:
    r"""The similarities mapping each frame of ``F1`` onto the same row of ``F2``: ``(m, 3, 3)``.

    Fast spatial matching (Philbin et al., CVPR 2007): a frame ``(x, y, s, a)`` is a centre, a
    scale and an orientation, so one correspondence fixes a similarity,

    .. math:: T(p) = \frac{s_2}{s_1} R(a_2 - a_1) (p - c_1) + c_2, \qquad
              R(\theta) = \begin{pmatrix} \cos\theta & -\sin\theta \\ \sin\theta & \cos\theta \end{pmatrix}.

    ``R`` acts on pixel coordinates (``y`` down, so a positive angle turns clockwise on screen).
    """
    F1, F2 = _frames(F1, "F1"), _frames(F2, "F2")
    if F1.shape != F2.shape:
        raise ValueError(f"F1 and F2 must have the same shape, got {F1.shape} and {F2.shape}")
    s = F2[:, 2] / F1[:, 2]
    theta = F2[:, 3] - F1[:, 3]
    c, si = s * np.cos(theta), s * np.sin(theta)
    A = np.stack([np.stack([c, -si], axis=1), np.stack([si, c], axis=1)], axis=1)
    t = F2[:, :2] - np.einsum("mij,mj->mi", A, F1[:, :2])
    return _homogeneous(A, t)


def frame_transform(f1, f2) -> np.ndarray:
    """The similarity ``3 x 3`` mapping one frame ``(x, y, scale, angle)`` onto another
    (:func:`frame_transforms` of a single correspondence)."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if f1.shape != (4,) or f2.shape != (4,):
        raise ValueError(f"frames must be (x, y, scale, angle), got shapes {f1.shape} and {f2.shape}")
    return frame_transforms(f1[None], f2[None])[0]


def ellipse_from_points(coords) -> tuple[np.ndarray, np.ndarray]:
    r"""The ellipse of a region: mean ``mu`` (2,) and covariance ``Sigma`` (2, 2) of its pixels.

    ``coords`` is ``(n, 2)`` in ``(x, y)`` order (note that ``np.nonzero(mask)`` gives rows, i.e.
    ``y``, first). ``Sigma = (1/n) sum_i (p_i - mu)(p_i - mu)^T`` (the population covariance: a
    uniform disc of radius ``r`` has ``Sigma = (r^2 / 4) I``); the region is then approximated by
    the ellipse ``(p - mu)^T Sigma^{-1} (p - mu) <= 4``, as for the MSER-like regions of deep
    spatial matching (Simeoni et al., CVPR 2019).
    """
    p = _points(coords, "coords")
    if len(p) == 0:
        raise ValueError("ellipse_from_points needs at least one point")
    mu = p.mean(axis=0)
    d = p - mu
    return mu, d.T @ d / len(p)


def upright_frame(Sigma) -> np.ndarray:
    r"""The upright affine frame of an ellipse: the lower-triangular Cholesky factor ``L`` of its
    covariance, ``L L^T = Sigma``.

    ``L`` maps the unit disc onto the ellipse ``mu + L u``; being lower triangular it keeps the
    vertical direction (gravity vector assumption: no rotation is estimated). ``Sigma`` is
    ``(2, 2)`` or ``(m, 2, 2)``, symmetric positive definite (a region with collinear pixels is not).
    """
    S = np.asarray(Sigma, dtype=np.float64)
    if S.ndim not in (2, 3) or S.shape[-2:] != (2, 2):
        raise ValueError(f"Sigma must be (2, 2) or (m, 2, 2), got shape {S.shape}")
    if not np.allclose(S, np.swapaxes(S, -1, -2)):
        raise ValueError("Sigma must be symmetric")
    try:
        return np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise ValueError("Sigma must be positive definite (a region of collinear pixels has no ellipse)") from None


def region_transforms(mu1, L1, mu2, L2) -> np.ndarray:
    r"""The affine maps taking each region (ellipse) of image 1 onto the matching one of image 2.

    One-correspondence hypothesis of deep spatial matching (Simeoni et al., CVPR 2019), the affine
    analogue of :func:`frame_transforms`: with frames ``L`` (:func:`upright_frame`, or any 2 x 2
    shape matrices ``A`` of affine regions),

    .. math:: T(x) = \mu_2 + L_2 L_1^{-1} (x - \mu_1),

    so ``mu1 -> mu2`` and the ellipse ``mu1 + L1 u`` (``|u| <= 1``) -> ``mu2 + L2 u``. Batched
    ``(m, 2)``, ``(m, 2, 2)`` inputs give ``(m, 3, 3)``; a single ``(2,)``, ``(2, 2)`` gives ``3 x 3``.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    L1, L2 = np.asarray(L1, np.float64), np.asarray(L2, np.float64)
    single = mu1.ndim == 1
    if single:
        mu1, mu2, L1, L2 = mu1[None], mu2[None], L1[None], L2[None]
    m = len(mu1)
    for name, a, shape in (("mu1", mu1, (m, 2)), ("mu2", mu2, (m, 2)), ("L1", L1, (m, 2, 2)), ("L2", L2, (m, 2, 2))):
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape[1:] if single else shape}, got {a.shape[1:] if single else a.shape}")
    det1 = L1[:, 0, 0] * L1[:, 1, 1] - L1[:, 0, 1] * L1[:, 1, 0]
    if (np.abs(det1) <= 1e-12 * np.abs(L1).reshape(m, -1).max(axis=1, initial=0.0) ** 2).any():
        raise ValueError("L1 has a singular frame")
    A = L2 @ np.linalg.inv(L1)
    T = _homogeneous(A, mu2 - np.einsum("mij,mj->mi", A, mu1))
    return T[0] if single else T


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
    """Boolean ``(n,)`` mask of the correspondences with ``||T(p1_i) - p2_i|| < threshold``."""
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


def required_iterations(inlier_ratio: float, sample_size: int, confidence: float) -> float:
    r"""RANSAC's adaptive stopping rule: the number of samples ``N`` after which an all-inlier
    sample has been drawn with probability ``confidence`` (Fischler & Bolles 1981),

    .. math:: N = \frac{\log(1 - \text{confidence})}{\log(1 - w^s)},

    ``w`` the inlier ratio and ``s`` the sample size. ``inf`` when ``w = 0``, 0 when ``w = 1``.
    """
    p_good = inlier_ratio ** sample_size
    if p_good <= 0.0:
        return math.inf
    if p_good >= 1.0:
        return 0.0
    return math.log(1.0 - confidence) / math.log1p(-p_good)


# --------------------------------------------------------------------------------- the result
@dataclass
class GeometricMatch:
    """The result of :func:`ransac`, :func:`fast_spatial_matching` and :func:`verify_hypotheses`.

    Attributes
    ----------
    T : (3, 3) array or None
        The transform mapping image-1 points onto image-2 points; ``None`` if no non-degenerate,
        plausible model was found.
    inliers : (n,) bool array
        The correspondences with a reprojection error below the threshold (all ``False`` without
        a model).
    iterations : int
        Hypotheses drawn (RANSAC samples, including degenerate ones) or scored (one per
        correspondence for fast spatial matching).
    model : str
        The model that was asked for (fast spatial matching keeps its similarity hypothesis when
        no least-squares refit explains as many correspondences).
    n_inliers : int
        ``inliers.sum()``.
    """

    T: np.ndarray | None
    inliers: np.ndarray
    iterations: int
    model: str
    n_inliers: int = field(init=False)

    def __post_init__(self) -> None:
        self.inliers = np.asarray(self.inliers, bool)
        self.n_inliers = int(self.inliers.sum())


def _local_optimisation(solve, min_samples: int, p1, p2, T, mask, threshold: float, iters: int,
                        max_scale: float | None):
    """LO step of Chum, Matas & Kittler (DAGM 2003): least-squares refits on the inliers.

    The first refit uses the inliers of ``T``; the next ones the inliers of the previous refit at
    thresholds decreasing from ``_LO_WIDEN * threshold`` to ``threshold``. A refit replaces the
    best model when it has at least as many inliers at ``threshold`` (never fewer: LO cannot lose).
    """
    best_T, best_mask, best = T, mask, int(mask.sum())
    support = mask
    widths = np.linspace(_LO_WIDEN * threshold, threshold, max(iters - 1, 1))
    for k in range(iters):
        if support.sum() < min_samples:
            break
        R = solve(p1[support], p2[support])
        if R is None or not _plausible(R, max_scale):
            break
        e2 = _squared_errors(R[None], p1, p2)[0]
        inl = e2 < threshold * threshold
        if inl.sum() >= best:
            best_T, best_mask, best = R, inl, int(inl.sum())
        new_support = e2 < widths[min(k, len(widths) - 1)] ** 2
        if np.array_equal(new_support, support):
            break
        support = new_support
    return best_T, best_mask, best


def _check_params(threshold: float, max_scale: float | None, lo_iters: int) -> None:
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    if max_scale is not None and not max_scale >= 1:
        raise ValueError(f"max_scale must be >= 1 (or None), got {max_scale}")
    if lo_iters < 0:
        raise ValueError(f"lo_iters must be >= 0, got {lo_iters}")


# ------------------------------------------------------------------------------------- RANSAC
def _draw_samples(rng: np.random.Generator, n: int, s: int, k: int) -> np.ndarray:
    """``k`` samples of ``s`` distinct indices in ``range(n)``; rows with repeats are redrawn."""
    idx = rng.integers(0, n, size=(k, s))
    while s > 1:
        srt = np.sort(idx, axis=1)
        bad = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
        if not bad.any():
            break
        idx[bad] = rng.integers(0, n, size=(int(bad.sum()), s))
    return idx


def _minimal_fits(model: Model, P1: np.ndarray, P2: np.ndarray) -> np.ndarray:
    """Exact models of a batch of minimal samples ``(B, s, 2)``: ``(B, 3, 3)``, NaN where degenerate.

    Vectorised for the models of :data:`MODELS`; another :class:`Model` is solved sample by sample.
    """
    B = len(P1)
    T = np.full((B, 3, 3), np.nan)
    name = model.name if MODELS.get(model.name) is model else None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if name == "translation":
            T[:] = np.eye(3)
            T[:, :2, 2] = P2[:, 0] - P1[:, 0]
        elif name == "similarity":  # complex form: w = a z + b
            z = P1[..., 0] + 1j * P1[..., 1]
            w = P2[..., 0] + 1j * P2[..., 1]
            ok = np.abs(z[:, 1] - z[:, 0]) > 1e-9
            a = (w[ok, 1] - w[ok, 0]) / (z[ok, 1] - z[ok, 0])
            b = w[ok, 0] - a * z[ok, 0]
            T[ok] = _homogeneous(np.stack([np.stack([a.real, -a.imag], 1), np.stack([a.imag, a.real], 1)], 1),
                                 np.stack([b.real, b.imag], 1))
        elif name == "affine":
            X = np.concatenate([P1, np.ones((B, 3, 1))], axis=2)
            d1, d2 = P1[:, 1] - P1[:, 0], P1[:, 2] - P1[:, 0]
            cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
            ok = np.abs(cross) > 1e-9 * np.maximum((d1 ** 2).sum(1) + (d2 ** 2).sum(1), 1e-300)
            if ok.any():
                M = np.linalg.solve(X[ok], P2[ok])  # (b, 3, 2): [x y 1] M = [u v]
                T[ok] = _homogeneous(M[:, :2].swapaxes(1, 2), M[:, 2])
        elif name == "homography":  # normalised DLT per sample; the null vector by SVD (never raises)
            c1, c2 = P1.mean(1, keepdims=True), P2.mean(1, keepdims=True)
            s1 = np.sqrt(2) / np.maximum(np.linalg.norm(P1 - c1, axis=2).mean(1), 1e-300)
            s2 = np.sqrt(2) / np.maximum(np.linalg.norm(P2 - c2, axis=2).mean(1), 1e-300)
            a, b = (P1 - c1) * s1[:, None, None], (P2 - c2) * s2[:, None, None]
            x, y, u, v = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
            one, zero = np.ones_like(x), np.zeros_like(x)
            A = np.concatenate([np.stack([-x, -y, -one, zero, zero, zero, u * x, u * y, u], 2),
                                np.stack([zero, zero, zero, -x, -y, -one, v * x, v * y, v], 2)], axis=1)
            _, sv, Vt = np.linalg.svd(A)
            Hn = Vt[:, -1].reshape(B, 3, 3)
            N1 = _homogeneous(s1[:, None, None] * np.eye(2), -s1[:, None] * c1[:, 0])
            N2inv = _homogeneous(np.eye(2)[None] / s2[:, None, None], c2[:, 0])
            H = N2inv @ Hn @ N1
            H = H / H[:, 2:3, 2:3]
            unique = sv[:, -1] > 1e-9 * sv[:, 0]  # 4 points in general position: a 1-D null space
            invertible = np.abs(np.linalg.det(Hn)) > 1e-9
            ok = unique & invertible & np.isfinite(H).all(axis=(1, 2))
            T[ok] = H[ok]
        else:
            for i in range(B):
                R = model.solve(P1[i], P2[i])
                if R is not None:
                    T[i] = R
    return T


def ransac(p1, p2, model: str | Model = "affine", *, threshold: float = 8.0, max_iters: int = 1000,
           confidence: float = 0.99, lo: bool = True, lo_iters: int = 4, max_scale: float | None = None,
           seed=0, batch: int = 64) -> GeometricMatch:
    r"""RANSAC (Fischler & Bolles 1981) with local optimisation (LO-RANSAC, Chum et al. 2003).

    Fit ``model`` exactly to random minimal samples, count the correspondences with reprojection
    error below ``threshold`` (pixels of image 2) and keep the model with most inliers. With
    ``lo``, every new best model is refined by least-squares refits on its inliers
    (:func:`_local_optimisation`, ``lo_iters`` rounds); a refit replaces it only if it explains at
    least as many correspondences. Sampling stops after
    :func:`required_iterations` ``(w, s, confidence)`` samples -- ``w`` the best inlier ratio so far,
    ``s`` the sample size -- or ``max_iters``. Samples are drawn and scored ``batch`` at a time
    (vectorised minimal solvers); degenerate samples count as iterations and are skipped.
    ``max_scale`` drops hypotheses whose :func:`local_scale` is outside ``[1/max_scale, max_scale]``.
    ``seed`` (an int or a ``numpy.random.Generator``) makes the result deterministic.
    """
    m = get_model(model)
    _check_params(threshold, max_scale, lo_iters)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if max_iters < 1:
        raise ValueError(f"max_iters must be >= 1, got {max_iters}")
    p1, p2 = _pairs(p1, p2, m.min_samples, f"a {m.name} (RANSAC)")
    rng = np.random.default_rng(seed)
    n, s = len(p1), m.min_samples
    t2 = threshold * threshold
    best_T, best_mask, best = None, np.zeros(n, bool), 0
    needed, it = math.inf, 0
    while it < min(needed, max_iters):
        k = int(min(batch, max_iters - it, max(needed - it, 1)))
        it += k
        idx = _draw_samples(rng, n, s, k)
        T = _minimal_fits(m, p1[idx], p2[idx])
        ok = np.isfinite(T).all(axis=(1, 2))
        ok[ok] &= _plausible(T[ok], max_scale)
        if not ok.any():
            continue
        T = T[ok]
        counts = (_squared_errors(T, p1, p2) < t2).sum(1)
        h = int(np.argmax(counts))
        if counts[h] <= best:
            continue
        best_T = T[h]
        best_mask = _squared_errors(best_T[None], p1, p2)[0] < t2
        best = int(best_mask.sum())
        if lo and lo_iters:
            best_T, best_mask, best = _local_optimisation(m.solve, s, p1, p2, best_T, best_mask, threshold,
                                                          lo_iters, max_scale)
        needed = required_iterations(best / n, s, confidence)
    if best_T is None or best < s:
        return GeometricMatch(None, np.zeros(n, bool), it, m.name)
    return GeometricMatch(best_T, best_mask, it, m.name)


def verify_hypotheses(H, p1, p2, *, threshold: float = 8.0, model: str | Model = "affine",
                      max_scale: float | None = 10.0, lo_iters: int = 4) -> GeometricMatch:
    """Score every hypothesis ``H[i]`` (``(m, 3, 3)``) on all correspondences ``p1 <-> p2``, keep
    the one with most inliers (the first on ties), and refine it to ``model`` by least squares on
    its inliers (LO, ``lo_iters`` rounds; the hypothesis stays when no refit explains as much).

    The deterministic core of fast spatial matching and of deep spatial matching: the hypotheses
    come from single correspondences (:func:`frame_transforms`, :func:`region_transforms`), so all
    of them can be enumerated. Scored in blocks of at most ``_BLOCK`` (hypothesis, point) pairs;
    implausible scale changes (``max_scale``) are dropped first.
    """
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 3 or H.shape[1:] != (3, 3):
        raise ValueError(f"H must be (m, 3, 3) hypotheses, got shape {H.shape}")
    m = get_model(model)
    _check_params(threshold, max_scale, lo_iters)
    p1, p2 = _pairs(p1, p2, 1, "verify_hypotheses")
    t2 = threshold * threshold
    counts = np.full(len(H), -1, np.int64)
    plausible = _plausible(H, max_scale)
    step = max(1, _BLOCK // max(len(p1), 1))
    for a in range(0, len(H), step):
        keep = np.flatnonzero(plausible[a:a + step]) + a
        if keep.size:
            counts[keep] = (_squared_errors(H[keep], p1, p2) < t2).sum(1)
    h = int(np.argmax(counts)) if len(H) else -1
    if h < 0 or counts[h] < 1:  # no hypotheses, or none plausible
        return GeometricMatch(None, np.zeros(len(p1), bool), len(H), m.name)
    T = H[h]
    mask = _squared_errors(T[None], p1, p2)[0] < t2
    if lo_iters:
        T, mask, _ = _local_optimisation(m.solve, m.min_samples, p1, p2, T, mask, threshold, lo_iters, max_scale)
    return GeometricMatch(T, mask, len(H), m.name)


def fast_spatial_matching(F1, F2, *, threshold: float = 8.0, model: str | Model = "affine",
                          max_scale: float | None = 10.0, lo_iters: int = 4) -> GeometricMatch:
    r"""Fast spatial matching (Philbin, Chum, Isard, Sivic & Zisserman, CVPR 2007).

    ``F1[i]`` and ``F2[i]`` are the ``(x, y, scale, angle)`` frames of the ``i``-th tentative
    correspondence (``(m, 4)`` each). Every correspondence hypothesises the similarity
    ``T_i(p) = (s2/s1) R(a2 - a1)(p - c1) + c2`` (:func:`frame_transforms`); all ``m``
    hypotheses are scored on all ``m`` correspondences (no sampling, so the result is
    deterministic), those whose scale change ``s2/s1`` is outside ``[1/max_scale, max_scale]``
    are dropped, and the best one is refined by least squares to ``model`` on its inliers
    (:func:`verify_hypotheses`). ``threshold`` is the reprojection error (pixels of image 2) of an
    inlier.
    """
    H = frame_transforms(F1, F2)
    if len(H) == 0:
        raise ValueError("fast_spatial_matching needs at least 1 correspondence, got 0")
    F1, F2 = np.asarray(F1, np.float64), np.asarray(F2, np.float64)
    return verify_hypotheses(H, F1[:, :2], F2[:, :2], threshold=threshold, model=model,
                             max_scale=max_scale, lo_iters=lo_iters)

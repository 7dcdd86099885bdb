r"""One-correspondence hypotheses: the transform fixed by a single pair of local frames or regions.

* A local-feature *frame* is ``(x, y, scale, angle)``, angle in radians (SIFT keypoints): one
  correspondence fixes a similarity (:func:`frame_transforms`, fast spatial matching).
* An elliptical *region* (mean and covariance of its pixels, :func:`ellipse_from_points`) has an
  upright affine frame (:func:`upright_frame`): one correspondence fixes an affine map
  (:func:`region_transforms`, deep spatial matching).
"""
from __future__ import annotations

import numpy as np

from .transforms import _homogeneous, _points, _rows

__all__ = ["ellipse_from_points", "frame_transform", "frame_transforms", "region_transforms", "upright_frame"]


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
            want, got = (shape[1:], a.shape[1:]) if single else (shape, a.shape)
            raise ValueError(f"{name} must have shape {want}, got {got}")
    det1 = L1[:, 0, 0] * L1[:, 1, 1] - L1[:, 0, 1] * L1[:, 1, 0]
    if (np.abs(det1) <= 1e-12 * np.abs(L1).reshape(m, -1).max(axis=1, initial=0.0) ** 2).any():
        raise ValueError("L1 has a singular frame")
    A = L2 @ np.linalg.inv(L1)
    T = _homogeneous(A, mu2 - np.einsum("mij,mj->mi", A, mu1))
    return T[0] if single else T

r"""RANSAC with local optimisation, and the result type of every verifier.

* :func:`ransac` -- RANSAC (Fischler & Bolles, CACM 1981) with local optimisation, LO-RANSAC
  (Chum, Matas & Kittler, DAGM 2003): minimal samples, adaptive number of iterations, and a
  least-squares refit on the inliers of every new best model (:func:`_local_optimisation`, which
  fast spatial matching reuses).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .fitters import MODELS, Model, get_model
from ..checks import check_integer
from .transforms import _homogeneous, _pairs, _plausible, _real, _squared_errors

__all__ = ["GeometricMatch", "ransac", "required_iterations"]

# LO: the refits after the first use the inliers at thresholds from _LO_WIDEN * threshold down to
# threshold (Chum et al. 2003, "iterative" local optimisation).
_LO_WIDEN = 2.0


# ------------------------------------------------------------------------ parameter checks
def _check_confidence(confidence) -> None:
    if not 0 < _real(confidence, "confidence") < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check_params(threshold, max_scale, lo_iters) -> None:
    """The parameters shared by RANSAC and the hypothesis scorers: ``threshold`` finite and
    positive, ``max_scale >= 1`` (``inf`` or ``None``: no bound), ``lo_iters`` an integer >= 0."""
    if not 0 < _real(threshold, "threshold") < math.inf:
        raise ValueError(f"threshold must be a positive finite number of pixels, got {threshold}")
    if max_scale is not None and not _real(max_scale, "max_scale") >= 1:
        raise ValueError(f"max_scale must be >= 1 (or None), got {max_scale}")
    check_integer(lo_iters, "lo_iters", 0)


def required_iterations(inlier_ratio: float, sample_size: int, confidence: float) -> float:
    r"""RANSAC's adaptive stopping rule: the number of samples ``N`` after which an all-inlier
    sample has been drawn with probability ``confidence`` (Fischler & Bolles 1981),

    .. math:: N = \frac{\log(1 - \text{confidence})}{\log(1 - w^s)},

    ``w`` the inlier ratio and ``s`` the sample size. ``inf`` when ``w = 0``, 0 when ``w = 1``.
    ``0 <= w <= 1``, ``s >= 1`` and ``0 < confidence < 1``, else a ValueError.
    """
    if not 0 <= _real(inlier_ratio, "inlier_ratio") <= 1:
        raise ValueError(f"inlier_ratio must be in [0, 1], got {inlier_ratio}")
    sample_size = check_integer(sample_size, "sample_size", 1)
    _check_confidence(confidence)
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

    ``max_iters`` and ``batch`` are integers >= 1, ``lo_iters`` >= 0, ``threshold`` is positive
    and finite, ``0 < confidence < 1``, ``max_scale >= 1``: anything else raises (naming it).
    """
    m = get_model(model)
    _check_params(threshold, max_scale, lo_iters)
    _check_confidence(confidence)
    max_iters = check_integer(max_iters, "max_iters", 1)
    batch = check_integer(batch, "batch", 1)
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

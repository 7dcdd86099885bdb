r"""Fast spatial matching: every one-correspondence hypothesis scored, no sampling.

* :func:`fast_spatial_matching` -- Philbin, Chum, Isard, Sivic & Zisserman, "Object retrieval
  with large vocabularies and fast spatial matching", CVPR 2007: a single correspondence of two
  frames already fixes a similarity (:func:`rrlib.geometry.frame_transforms`), so all ``m``
  hypotheses are enumerated and scored, and the best one is refined by least squares.
* :func:`verify_hypotheses` -- the same scoring for any one-correspondence hypotheses, e.g. the
  affine ones of two elliptical regions (:func:`rrlib.geometry.region_transforms`), as in deep
  spatial matching (Simeoni, Avrithis & Chum, "Local features and visual words emerge in
  activations", CVPR 2019).
"""
from __future__ import annotations

import numpy as np

from .fitters import Model, get_model
from .hypotheses import frame_transforms
from .lo_ransac import GeometricMatch, _check_params, _local_optimisation
from .transforms import _pairs, _plausible, _squared_errors

__all__ = ["fast_spatial_matching", "verify_hypotheses"]

# fast spatial matching scores hypotheses in blocks of at most this many (hypothesis, point) pairs.
_BLOCK = 1 << 21


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

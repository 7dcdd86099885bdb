"""Shared cases of the rrlib.geometry tests: hand-made transforms and synthetic correspondences."""
from __future__ import annotations

import math

import numpy as np

from rrlib import geometry as g

AFFINE = np.array([[1.1, 0.2, 30.0], [-0.15, 0.95, -10.0], [0.0, 0.0, 1.0]])
HOMOGRAPHY = np.array([[1.0, 0.1, 20.0], [0.05, 0.9, -10.0], [2e-4, -1e-4, 1.0]])
SIMILARITY = np.array([[1.3 * math.cos(0.4), -1.3 * math.sin(0.4), 25.0],
                       [1.3 * math.sin(0.4), 1.3 * math.cos(0.4), -40.0], [0.0, 0.0, 1.0]])


def synthetic(T, n=300, noise=1.0, outliers=0.5, seed=0, size=640):
    """``n`` correspondences ``p1 -> T p1 + noise``, a fraction of them replaced by random points."""
    rng = np.random.default_rng(seed)
    p1 = rng.uniform(0, size, (n, 2))
    p2 = g.apply(T, p1) + rng.normal(0, noise, (n, 2))
    out = np.zeros(n, bool)
    out[rng.permutation(n)[: int(outliers * n)]] = True
    p2[out] = rng.uniform(0, size, (out.sum(), 2))
    return p1, p2, ~out


def synthetic_frames(T, n=300, noise=1.0, outliers=0.5, seed=0):
    """Frames ``(x, y, scale, angle)`` of correspondences under the affine ``T``: image-2 frames
    get the scale ``sqrt(det A)`` and the rotation of ``A`` (exact for a similarity), jittered."""
    rng = np.random.default_rng(seed + 1000)
    p1, p2, inl = synthetic(T, n, noise, outliers, seed)
    A = T[:2, :2]
    scale, rot = math.sqrt(abs(np.linalg.det(A))), math.atan2(A[1, 0] - A[0, 1], A[0, 0] + A[1, 1])
    s1, a1 = rng.uniform(2, 12, n), rng.uniform(-np.pi, np.pi, n)
    s2 = s1 * scale * np.exp(rng.normal(0, 0.05, n))
    a2 = a1 + rot + rng.normal(0, 0.05, n)
    s2[~inl], a2[~inl] = rng.uniform(2, 30, (~inl).sum()), rng.uniform(-np.pi, np.pi, (~inl).sum())
    return np.c_[p1, s1, a1], np.c_[p2, s2, a2], inl


def precision_recall(found, truth):
    tp = (found & truth).sum()
    return tp / max(found.sum(), 1), tp / truth.sum()


def normalised(H):
    return H / H[2, 2]

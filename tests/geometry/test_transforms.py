"""rrlib.geometry.transforms: apply, reprojection errors, inlier masks, local scale."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rrlib import geometry as g

from geometry_cases import AFFINE, HOMOGRAPHY


# ---------------------------------------------------------------------------------------- apply
def test_apply_hand_matrices():
    T = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, -1.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(g.apply(T, [[1.0, 1.0], [0.0, 0.0], [-1.0, 2.0]]), [[3, 2], [1, -1], [-1, 5]])
    H = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]])  # w = 0.5 x + 1
    np.testing.assert_allclose(g.apply(H, [[2.0, 4.0], [0.0, 3.0]]), [[1, 2], [0, 3]])


def test_apply_maps_points_at_infinity_without_warning():
    H = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    with np.errstate(all="raise"):
        out = g.apply(H, [[-1.0, 0.0]])
    assert not np.isfinite(out).all()
    assert np.isinf(g.reprojection_errors(H, [[-1.0, 0.0]], [[0.0, 0.0]])).all()


@pytest.mark.parametrize("T, pts", [(np.eye(2), np.zeros((3, 2))), (np.eye(3), np.zeros((3, 3))),
                                    (np.eye(3), np.zeros(2)), (np.eye(3), [[np.nan, 0.0]])])
def test_apply_rejects_bad_input(T, pts):
    with pytest.raises(ValueError):
        g.apply(T, pts)


# ------------------------------------------------------------------------------------ scoring
def test_reprojection_errors_and_inliers():
    T = np.array([[1.0, 0, 1.0], [0, 1.0, 0], [0, 0, 1.0]])
    p1 = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    p2 = np.array([[1.0, 0.0], [2.0, 4.0], [6.0, 6.0]])  # T p1 = (1,0), (2,1), (3,2)
    np.testing.assert_allclose(g.reprojection_errors(T, p1, p2), [0, 3, 5])
    np.testing.assert_array_equal(g.inlier_mask(T, p1, p2, 3.0), [True, False, False])  # strict <
    Ts = np.stack([T, np.eye(3)])
    np.testing.assert_allclose(g.reprojection_errors(Ts, p1, p2), [[0, 3, 5], [1, math.hypot(1, 3), math.hypot(4, 4)]])
    with pytest.raises(ValueError, match="same number"):
        g.reprojection_errors(T, p1, p2[:2])


def test_local_scale_of_affine_and_homography():
    assert g.local_scale(AFFINE) == pytest.approx(math.sqrt(1.1 * 0.95 + 0.2 * 0.15))
    H = HOMOGRAPHY * 3.0  # the scale of H does not matter
    eps = 1e-6  # numerical Jacobian at the origin
    J = np.stack([(g.apply(H, [[eps, 0.0]]) - g.apply(H, [[-eps, 0.0]]))[0],
                  (g.apply(H, [[0.0, eps]]) - g.apply(H, [[0.0, -eps]]))[0]], axis=1) / (2 * eps)
    assert g.local_scale(H) == pytest.approx(math.sqrt(abs(np.linalg.det(J))), rel=1e-6)


@pytest.mark.parametrize("threshold", [math.nan, 0.0, -1.0, math.inf])
def test_inlier_mask_rejects_a_meaningless_threshold(threshold):
    # a NaN threshold made every correspondence an outlier, silently
    with pytest.raises(ValueError, match="threshold"):
        g.inlier_mask(np.eye(3), [[0.0, 0.0]], [[0.0, 0.0]], threshold)

"""rrlib.geometry.hypotheses: one-correspondence transforms of frames and elliptical regions."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rrlib import geometry as g


# ------------------------------------------------------------------------------------ frames
def test_frame_transform_hand_example():
    # scale 4/2 = 2, rotation pi/2: (1, 0) -> (0, 2) and (0, 1) -> (-2, 0) around the centres
    T = g.frame_transform([10, 20, 2, 0], [30, 40, 4, np.pi / 2])
    np.testing.assert_allclose(g.apply(T, [[11.0, 20.0], [10.0, 20.0], [10.0, 21.0]]),
                               [[30, 42], [30, 40], [28, 40]], atol=1e-12)
    np.testing.assert_allclose(T, [[0, -2, 70], [2, 0, 20], [0, 0, 1]], atol=1e-12)
    assert g.local_scale(T) == pytest.approx(2.0)


def test_frame_transforms_vectorised_and_consistent():
    rng = np.random.default_rng(0)
    F1 = np.c_[rng.uniform(0, 100, (20, 2)), rng.uniform(1, 5, 20), rng.uniform(-3, 3, 20)]
    F2 = np.c_[rng.uniform(0, 100, (20, 2)), rng.uniform(1, 5, 20), rng.uniform(-3, 3, 20)]
    Ts = g.frame_transforms(F1, F2)
    assert Ts.shape == (20, 3, 3)
    for f1, f2, T in zip(F1, F2, Ts):
        np.testing.assert_allclose(T, g.frame_transform(f1, f2))
        # the centre goes to the centre; the point at distance s1 in direction a1 to the one at s2, a2
        tip1 = f1[:2] + f1[2] * np.array([math.cos(f1[3]), math.sin(f1[3])])
        tip2 = f2[:2] + f2[2] * np.array([math.cos(f2[3]), math.sin(f2[3])])
        np.testing.assert_allclose(g.apply(T, np.stack([f1[:2], tip1])), np.stack([f2[:2], tip2]), atol=1e-9)
    np.testing.assert_allclose(g.local_scale(Ts), F2[:, 2] / F1[:, 2])


def test_frame_transforms_reject_bad_frames():
    with pytest.raises(ValueError, match="non-positive scales"):
        g.frame_transforms([[0, 0, 0, 0]], [[0, 0, 1, 0]])
    with pytest.raises(ValueError, match="same shape"):
        g.frame_transforms(np.ones((3, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"\(m, 4\)"):
        g.frame_transforms(np.ones((3, 3)), np.ones((3, 3)))


# ------------------------------------------------------------------------------------ regions
def raster_ellipse(cx, cy, a, b):
    """``(x, y)`` of the pixels inside the axis-aligned ellipse of semi-axes ``a``, ``b``."""
    y, x = np.mgrid[0:400, 0:400].astype(float)
    inside = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1
    return np.c_[x[inside], y[inside]]


def test_ellipse_from_points_of_a_disc_and_an_ellipse():
    mu, S = g.ellipse_from_points(raster_ellipse(200, 150, 60, 60))
    np.testing.assert_allclose(mu, [200, 150], atol=1e-9)  # symmetric raster
    np.testing.assert_allclose(S, np.diag([60 ** 2 / 4] * 2), rtol=0.02, atol=1e-6)  # disc: r^2 / 4
    mu, S = g.ellipse_from_points(raster_ellipse(120, 200, 80, 30))
    np.testing.assert_allclose(mu, [120, 200], atol=1e-9)
    np.testing.assert_allclose(np.diag(S), [80 ** 2 / 4, 30 ** 2 / 4], rtol=0.02)
    assert abs(S[0, 1]) < 1e-9
    # the hand case: four corners of a 2 x 4 rectangle, population covariance diag(1, 4)
    mu, S = g.ellipse_from_points([[0, 0], [2, 0], [0, 4], [2, 4]])
    np.testing.assert_allclose(mu, [1, 2])
    np.testing.assert_allclose(S, [[1, 0], [0, 4]])
    with pytest.raises(ValueError):
        g.ellipse_from_points(np.zeros((0, 2)))


def test_upright_frame_is_the_cholesky_factor():
    S = np.array([[4.0, 2.0], [2.0, 5.0]])
    L = g.upright_frame(S)
    np.testing.assert_allclose(L, [[2, 0], [1, 2]])  # by hand: 2 = sqrt 4, 1 = 2/2, 2 = sqrt(5 - 1)
    Ls = g.upright_frame(np.stack([S, np.diag([9.0, 1.0])]))
    assert Ls.shape == (2, 2, 2) and (Ls[:, 0, 1] == 0).all()
    np.testing.assert_allclose(Ls @ np.swapaxes(Ls, 1, 2), np.stack([S, np.diag([9.0, 1.0])]))
    with pytest.raises(ValueError, match="positive definite"):
        g.upright_frame([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="symmetric"):
        g.upright_frame([[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError):
        g.upright_frame(np.eye(3))


def test_region_transform_recovers_an_upright_affine_map():
    # an upright (lower-triangular, positive diagonal) A keeps L2 = A L1, so one region pair
    # gives back the transform exactly
    coords = raster_ellipse(150, 120, 40, 15)
    A = np.array([[1.5, 0.0], [0.4, 0.8]])
    T_true = np.eye(3)
    T_true[:2, :2], T_true[:2, 2] = A, [-30.0, 12.0]
    mu1, S1 = g.ellipse_from_points(coords)
    mu2, S2 = g.ellipse_from_points(g.apply(T_true, coords))
    T = g.region_transforms(mu1, g.upright_frame(S1), mu2, g.upright_frame(S2))
    np.testing.assert_allclose(T, T_true, atol=1e-9)


def test_region_transforms_map_ellipse_onto_ellipse():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.uniform(0, 100, (5, 2)), rng.uniform(0, 100, (5, 2))
    M1, M2 = rng.normal(size=(5, 2, 2)), rng.normal(size=(5, 2, 2))
    S1, S2 = M1 @ np.swapaxes(M1, 1, 2) + np.eye(2), M2 @ np.swapaxes(M2, 1, 2) + np.eye(2)
    L1, L2 = g.upright_frame(S1), g.upright_frame(S2)
    Ts = g.region_transforms(mu1, L1, mu2, L2)
    assert Ts.shape == (5, 3, 3)
    u = np.c_[np.cos(np.linspace(0, 6, 7)), np.sin(np.linspace(0, 6, 7))]
    for i, T in enumerate(Ts):
        np.testing.assert_allclose(g.apply(T, mu1[i:i + 1]), mu2[i:i + 1], atol=1e-9)
        np.testing.assert_allclose(g.apply(T, mu1[i] + u @ L1[i].T), mu2[i] + u @ L2[i].T, atol=1e-9)
        np.testing.assert_allclose(T[:2, :2] @ S1[i] @ T[:2, :2].T, S2[i], atol=1e-9)
    np.testing.assert_allclose(g.region_transforms(mu1[0], L1[0], mu2[0], L2[0]), Ts[0])
    with pytest.raises(ValueError, match="singular"):
        g.region_transforms(mu1, np.zeros((5, 2, 2)), mu2, L2)
    with pytest.raises(ValueError, match="must have shape"):
        g.region_transforms(mu1, L1[:4], mu2, L2)

"""rrlib.geometry.lo_ransac: the stopping rule, LO-RANSAC on synthetic correspondences, parameter checks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rrlib import geometry as g

from geometry_cases import AFFINE, HOMOGRAPHY, precision_recall, synthetic


def test_required_iterations():
    # half inliers, affine samples of 3: log(0.01) / log(1 - 1/8) = 4.6052 / 0.13353 = 34.49
    assert g.required_iterations(0.5, 3, 0.99) == pytest.approx(math.log(0.01) / math.log(0.875))
    assert g.required_iterations(0.5, 3, 0.99) == pytest.approx(34.4875, abs=1e-4)
    assert g.required_iterations(0.0, 3, 0.99) == math.inf
    assert g.required_iterations(1.0, 3, 0.99) == 0


# ------------------------------------------------------------------------------------- RANSAC
@pytest.mark.parametrize("model, T", [("affine", AFFINE), ("homography", HOMOGRAPHY)])
def test_ransac_recovers_transform_with_half_outliers(model, T):
    p1, p2, truth = synthetic(T, seed=1)
    r = g.ransac(p1, p2, model, threshold=4.0, seed=0)
    precision, recall = precision_recall(r.inliers, truth)
    assert precision >= 0.95 and recall >= 0.95
    assert r.n_inliers == r.inliers.sum() and r.inliers.shape == (300,) and r.model == model
    corners = np.array([[0.0, 0.0], [640, 0], [0, 640], [640, 640]])
    assert np.abs(g.apply(r.T, corners) - g.apply(T, corners)).max() < 2.0
    assert r.iterations < 200  # adaptive stopping: about 35 samples for w = 1/2, s = 3


def test_ransac_is_deterministic_for_a_seed():
    p1, p2, _ = synthetic(HOMOGRAPHY, seed=2, noise=1.5)
    a = g.ransac(p1, p2, "homography", threshold=3.0, seed=7)
    b = g.ransac(p1, p2, "homography", threshold=3.0, seed=7)
    np.testing.assert_array_equal(a.T, b.T)
    np.testing.assert_array_equal(a.inliers, b.inliers)
    assert a.iterations == b.iterations
    c = g.ransac(p1, p2, "homography", threshold=3.0, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a.T, c.T)


@pytest.mark.parametrize("model, T", [("affine", AFFINE), ("homography", HOMOGRAPHY)])
def test_local_optimisation_never_loses_inliers(model, T):
    gains = []
    for seed in range(5):
        p1, p2, _ = synthetic(T, seed=seed, noise=1.0)
        # the same samples either way (fixed number of iterations): LO can only add inliers
        kw = dict(threshold=3.0, seed=seed, confidence=1 - 1e-15, max_iters=100)
        lo, plain = g.ransac(p1, p2, model, **kw), g.ransac(p1, p2, model, lo=False, **kw)
        assert lo.iterations == plain.iterations == 100
        assert lo.n_inliers >= plain.n_inliers
        # adaptive stopping: LO also stops earlier or at the same time
        lo, plain = g.ransac(p1, p2, model, threshold=3.0, seed=seed), g.ransac(p1, p2, model, threshold=3.0,
                                                                              seed=seed, lo=False)
        assert lo.n_inliers >= plain.n_inliers
        gains.append(lo.n_inliers - plain.n_inliers)
    assert max(gains) > 0  # minimal samples are noisy; their least-squares refits are not


def test_ransac_on_collinear_points_finds_no_model():
    x = np.linspace(0, 100, 30)
    line = np.c_[x, 0.5 * x + 3]
    for model in ("affine", "homography"):
        r = g.ransac(line, line + 1, model, max_iters=50)
        assert r.T is None and r.n_inliers == 0 and not r.inliers.any() and r.iterations == 50


def test_ransac_rejects_bad_input():
    p = np.random.default_rng(0).uniform(0, 10, (10, 2))
    with pytest.raises(ValueError, match="at least 3"):
        g.ransac(p[:2], p[:2], "affine")
    with pytest.raises(ValueError, match="at least 4"):
        g.ransac(p[:3], p[:3], "homography")
    with pytest.raises(ValueError, match="same number"):
        g.ransac(p, p[:9])
    with pytest.raises(ValueError, match="threshold"):
        g.ransac(p, p, threshold=0)
    with pytest.raises(ValueError, match="confidence"):
        g.ransac(p, p, confidence=1.0)


def test_ransac_scale_bound():
    T = np.diag([20.0, 20.0, 1.0])
    p1, p2, _ = synthetic(T, outliers=0.0, noise=0.0)
    assert g.ransac(p1, p2, "similarity", max_scale=10.0, max_iters=50).T is None
    np.testing.assert_allclose(g.ransac(p1, p2, "similarity", max_scale=30.0).T, T, atol=1e-9)


@pytest.mark.parametrize("kw, error, match", [
    (dict(batch=0), ValueError, "batch must be >= 1"),  # looped forever
    (dict(batch=-2), ValueError, "batch must be >= 1"),
    (dict(batch=2.5), TypeError, "batch must be an integer"),
    (dict(max_iters=0), ValueError, "max_iters must be >= 1"),
    (dict(max_iters=math.inf), TypeError, "max_iters must be an integer"),  # never stops on bad data
    (dict(max_iters=100.0), TypeError, "max_iters must be an integer"),
    (dict(threshold=math.inf), ValueError, "threshold must be a positive finite"),
    (dict(threshold=math.nan), ValueError, "threshold"),
    (dict(threshold=-1.0), ValueError, "threshold"),
    (dict(threshold="8"), TypeError, "threshold must be a number"),
    (dict(confidence=0.0), ValueError, "confidence"),
    (dict(confidence=math.nan), ValueError, "confidence"),
    (dict(confidence=True), TypeError, "confidence"),
    (dict(lo_iters=-1), ValueError, "lo_iters must be >= 0"),
    (dict(lo_iters=1.5), TypeError, "lo_iters must be an integer"),
    (dict(max_scale=0.5), ValueError, "max_scale"),
    (dict(max_scale=math.nan), ValueError, "max_scale"),
])
def test_ransac_rejects_bad_parameters(kw, error, match):
    p1, p2, _ = synthetic(AFFINE, n=20)
    with pytest.raises(error, match=match):
        g.ransac(p1, p2, "affine", **kw)


def test_ransac_accepts_numpy_integers_and_no_scale_bound():
    p1, p2, _ = synthetic(AFFINE, n=40, outliers=0.0, noise=0.0)
    r = g.ransac(p1, p2, "affine", batch=np.int64(8), max_iters=np.int32(50), max_scale=math.inf)
    np.testing.assert_allclose(r.T, AFFINE, atol=1e-9)


@pytest.mark.parametrize("args, match", [
    ((1.5, 3, 0.99), "inlier_ratio"), ((-0.1, 3, 0.99), "inlier_ratio"), ((math.nan, 3, 0.99), "inlier_ratio"),
    ((0.5, 0, 0.99), "sample_size"), ((0.5, 3, 1.0), "confidence"), ((0.5, 3, 0.0), "confidence")])
def test_required_iterations_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        g.required_iterations(*args)


def test_a_custom_model_needs_a_positive_sample_size():
    with pytest.raises(ValueError, match="min_samples must be >= 1"):
        g.Model("empty", g.fit_affine, 0)
    with pytest.raises(TypeError, match="min_samples must be an integer"):
        g.Model("half", g.fit_affine, 2.5)
    with pytest.raises(TypeError, match="callables"):
        g.Model("none", None, 3)

"""rrlib.geometry.fsm: fast spatial matching and the scoring of one-correspondence hypotheses."""
from __future__ import annotations

import numpy as np
import pytest

from rrlib import geometry as g
from rrlib.geometry import fsm

from geometry_cases import AFFINE, SIMILARITY, precision_recall, synthetic_frames


# -------------------------------------------------------------------------- fast spatial matching
def test_fast_spatial_matching_hand_example():
    # three frames translated by (5, 5), one wrong correspondence
    F1 = np.array([[0, 0, 1, 0], [10, 0, 1, 0], [0, 10, 1, 0], [20, 20, 1, 0]], float)
    F2 = np.array([[5, 5, 1, 0], [15, 5, 1, 0], [5, 15, 1, 0], [100, -50, 1, 0]], float)
    r = g.fast_spatial_matching(F1, F2, threshold=1.0, model="similarity")
    np.testing.assert_array_equal(r.inliers, [True, True, True, False])
    np.testing.assert_allclose(r.T, [[1, 0, 5], [0, 1, 5], [0, 0, 1]], atol=1e-12)
    assert r.n_inliers == 3 and r.iterations == 4


@pytest.mark.parametrize("model, T", [("similarity", SIMILARITY), ("affine", AFFINE)])
def test_fast_spatial_matching_recovers_transform(model, T):
    F1, F2, truth = synthetic_frames(T, seed=3)
    r = g.fast_spatial_matching(F1, F2, threshold=4.0, model=model)
    precision, recall = precision_recall(r.inliers, truth)
    assert precision >= 0.95 and recall >= 0.95
    np.testing.assert_allclose(r.T[:2, :2], T[:2, :2], atol=0.01)
    corners = np.array([[0.0, 0.0], [640, 0], [0, 640], [640, 640]])
    assert np.abs(g.apply(r.T, corners) - g.apply(T, corners)).max() < 2.0
    again = g.fast_spatial_matching(F1, F2, threshold=4.0, model=model)
    np.testing.assert_array_equal(again.T, r.T)


def test_fast_spatial_matching_refit_beats_the_single_hypothesis():
    # frame angles and scales are noisy: the best one-correspondence similarity explains part of
    # the inliers, the least-squares affine refit nearly all of them
    F1, F2, truth = synthetic_frames(AFFINE, seed=4)
    F2[:, 2:] *= np.exp(np.random.default_rng(0).normal(0, 0.1, (len(F2), 2)))
    bare = g.fast_spatial_matching(F1, F2, threshold=3.0, lo_iters=0)
    refit = g.fast_spatial_matching(F1, F2, threshold=3.0)
    assert refit.n_inliers > bare.n_inliers
    assert precision_recall(refit.inliers, truth)[1] >= 0.95


def test_fast_spatial_matching_scale_bound_and_bad_input():
    F1, F2, _ = synthetic_frames(np.diag([1.0, 1.0, 1.0]), outliers=0.0, noise=0.0, n=20)
    F2[:, 2] = F1[:, 2] * 20  # every hypothesis zooms by 20
    r = g.fast_spatial_matching(F1, F2, max_scale=10.0)
    assert r.T is None and r.n_inliers == 0 and r.iterations == 20
    assert g.fast_spatial_matching(F1, F2, max_scale=None).T is not None
    with pytest.raises(ValueError, match="at least 1"):
        g.fast_spatial_matching(np.zeros((0, 4)), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="same shape"):
        g.fast_spatial_matching(F1, F2[:-1])
    with pytest.raises(ValueError, match="unknown model"):
        g.fast_spatial_matching(F1, F2, model="rigid")


def test_fast_spatial_matching_with_collinear_inliers_keeps_the_hypothesis():
    # the affine refit of collinear inliers is degenerate: the similarity hypothesis stays
    x = np.linspace(0, 100, 10)
    F1 = np.c_[x, x, np.ones(10), np.zeros(10)]
    F2 = F1 + [3, 4, 0, 0]
    r = g.fast_spatial_matching(F1, F2, threshold=1.0, model="affine")
    assert r.n_inliers == 10
    np.testing.assert_allclose(r.T, [[1, 0, 3], [0, 1, 4], [0, 0, 1]], atol=1e-12)


def test_verify_hypotheses_with_region_hypotheses():
    # deep spatial matching: one affine hypothesis per pair of elliptical regions
    rng = np.random.default_rng(5)
    A = np.array([[1.2, 0.0], [0.3, 0.9]])  # upright: recovered exactly from one region pair
    T = np.eye(3)
    T[:2, :2], T[:2, 2] = A, [10.0, -5.0]
    mu1 = rng.uniform(0, 300, (40, 2))
    M = rng.normal(size=(40, 2, 2))
    S1 = M @ np.swapaxes(M, 1, 2) + np.eye(2)
    mu2, S2 = g.apply(T, mu1), A @ S1 @ A.T
    mu2[30:] = rng.uniform(0, 300, (10, 2))  # ten wrong matches
    H = g.region_transforms(mu1, g.upright_frame(S1), mu2, g.upright_frame(S2))
    r = g.verify_hypotheses(H, mu1, mu2, threshold=1.0, model="affine")
    np.testing.assert_array_equal(r.inliers, np.arange(40) < 30)
    np.testing.assert_allclose(r.T, T, atol=1e-9)
    with pytest.raises(ValueError, match=r"\(m, 3, 3\)"):
        g.verify_hypotheses(np.eye(3), mu1, mu2)
    empty = g.verify_hypotheses(np.zeros((0, 3, 3)), mu1, mu2)
    assert empty.T is None and empty.n_inliers == 0 and empty.iterations == 0


def test_fast_spatial_matching_in_blocks_matches_one_block(monkeypatch):
    F1, F2, _ = synthetic_frames(AFFINE, seed=6)
    whole = g.fast_spatial_matching(F1, F2, threshold=4.0)
    monkeypatch.setattr(fsm, "_BLOCK", 1000)  # 3 hypotheses at a time
    blocks = g.fast_spatial_matching(F1, F2, threshold=4.0)
    np.testing.assert_array_equal(whole.T, blocks.T)
    np.testing.assert_array_equal(whole.inliers, blocks.inliers)


@pytest.mark.parametrize("kw, error, match", [
    (dict(threshold=float("inf")), ValueError, "threshold must be a positive finite"),
    (dict(threshold=0.0), ValueError, "threshold"),
    (dict(lo_iters=1.5), TypeError, "lo_iters must be an integer"),
    (dict(lo_iters=-1), ValueError, "lo_iters"),
    (dict(max_scale=0.9), ValueError, "max_scale"),
])
def test_fast_spatial_matching_and_verify_hypotheses_reject_bad_parameters(kw, error, match):
    F1, F2, _ = synthetic_frames(AFFINE, n=20)
    with pytest.raises(error, match=match):
        g.fast_spatial_matching(F1, F2, **kw)
    with pytest.raises(error, match=match):
        g.verify_hypotheses(g.frame_transforms(F1, F2), F1[:, :2], F2[:, :2], **kw)

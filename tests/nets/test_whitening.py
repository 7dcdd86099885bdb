"""PCA-whitening and L_w: hand-computed 2-D cases and the identities that define them."""
import numpy as np
import pytest

from rrlib.nets.whitening import Whitening, learn_lw, learn_pca_whitening


def test_pca_whitening_by_hand_in_2d():
    # Four points with mean (1, 0); deviations x: 2, -2, 0, 0 (variance 2), y: 0, 0, 1, -1
    # (variance 0.5), uncorrelated: P = diag(2^-1/2, 0.5^-1/2), the larger variance first.
    X = np.array([[3.0, 0.0], [-1.0, 0.0], [1.0, 1.0], [1.0, -1.0]])
    w = learn_pca_whitening(X, eps=0.0)
    np.testing.assert_allclose(w.mean, [1.0, 0.0])
    np.testing.assert_allclose(np.abs(w.projection), [[2 ** -0.5, 0], [0, 0.5 ** -0.5]], atol=1e-12)


def test_pca_whitening_makes_the_training_covariance_identity():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8)) + 3.0
    w = learn_pca_whitening(X, eps=0.0)
    Y = (X - w.mean) @ w.projection.T
    np.testing.assert_allclose(Y.T @ Y / len(Y), np.eye(8), atol=1e-9)
    # rows are sorted by decreasing variance: power=0 keeps the PCA variances visible
    r = learn_pca_whitening(X, power=0.0)
    var = ((X - r.mean) @ r.projection.T).var(axis=0)
    assert np.all(np.diff(var) <= 1e-9)


def test_applying_a_whitening_normalises_and_reduces():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 6))
    w = learn_pca_whitening(X)
    Y = w(X, dim=3)
    assert Y.shape == (200, 3)
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1.0)
    with pytest.raises(ValueError, match="dimension 5"):
        w(X[:, :5])
    with pytest.raises(ValueError, match="dim must lie"):
        w(X, dim=7)


def test_lw_whitens_matching_differences_and_sorts_by_variance():
    rng = np.random.default_rng(2)
    n_classes, per_class, D = 60, 4, 5
    centres = rng.normal(size=(n_classes, D)) * [5, 4, 3, 2, 1]
    noise = rng.normal(size=(n_classes, per_class, D)) @ np.diag([0.1, 0.5, 0.2, 1.0, 0.3])
    X = (centres[:, None, :] + noise).reshape(-1, D)
    labels = np.repeat(np.arange(n_classes), per_class)
    q = np.flatnonzero(np.arange(len(X)) % per_class == 0)
    p = q + 1  # the next image of the same class
    assert (labels[q] == labels[p]).all()
    w = learn_lw(X, q, p, eps=0.0)
    diff = (X[q] - X[p]) @ w.projection.T
    np.testing.assert_allclose(diff.T @ diff / len(diff), np.eye(D), atol=1e-9)
    Z = (X - w.mean) @ w.projection.T
    var = (Z.T @ Z / len(Z)).diagonal()
    assert np.all(np.diff(var) <= 1e-9)
    np.testing.assert_allclose(w.mean, X[q].mean(axis=0))


def test_lw_errors():
    X = np.random.default_rng(0).normal(size=(10, 6))
    with pytest.raises(ValueError, match="at least as many matching pairs"):
        learn_lw(X, [0, 1], [2, 3])
    with pytest.raises(ValueError, match="equally many"):
        learn_lw(X, [0, 1], [2])
    with pytest.raises(ValueError, match="NaN"):
        learn_pca_whitening(np.full((3, 2), np.nan))


def test_whitening_is_a_plain_dataclass():
    w = Whitening(np.zeros(2), np.eye(2))
    np.testing.assert_allclose(w([[3.0, 4.0]]), [[0.6, 0.8]])


def test_lw_after_pca_reduction_is_the_composition():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12))
    q, p = np.arange(0, 300, 2), np.arange(1, 300, 2)
    w = learn_lw(X, q, p, reduce=6)
    assert w.projection.shape == (6, 12)
    pca = learn_pca_whitening(X, power=0.0)
    Z = (X - pca.mean) @ pca.projection[:6].T
    inner = learn_lw(Z, q, p)
    np.testing.assert_allclose(w(X), inner(Z), atol=1e-9)
    with pytest.raises(ValueError, match="reduce"):
        learn_lw(X, q, p, reduce=13)


def test_pairs_from_labels_by_hand():
    from rrlib.nets.whitening import pairs_from_labels

    q, p = pairs_from_labels([7, 3, 7, 7, 3])
    assert sorted(zip(q.tolist(), p.tolist())) == [(0, 2), (0, 3), (1, 4), (2, 3)]

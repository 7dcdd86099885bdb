"""PCA-whitening and L_w: hand-computed 2-D cases and the identities that define them."""
import numpy as np
import pytest
import scipy.linalg

from rrlib.nets.whitening import Whitening, learn_lw, learn_pca_whitening, pairs_from_labels

# A non-symmetric mixing with distinct singular values: the whitened directions are unique (up to
# sign), and a transposed projection, a wrong sort order or a missing power shows.
MIX = np.array([[2.0, 0.3, -0.5, 0.0, 0.1],
                [0.0, 1.2, 0.4, -0.2, 0.0],
                [0.7, 0.0, 0.6, 0.0, 0.3],
                [0.0, -0.4, 0.0, 0.35, 0.0],
                [0.1, 0.0, 0.2, 0.0, 0.15]])


def same_rows_up_to_sign(P, Q, **tol):
    """``P`` and ``Q`` agree row by row, each row up to its sign (eigenvectors have no sign)."""
    signs = np.sign((P * Q).sum(axis=1))
    assert (signs != 0).all()
    np.testing.assert_allclose(P * signs[:, None], Q, **tol)


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
    # nu(P (x - m)) by hand with a non-symmetric P: x - m = (2, 0) -> P (2, 0) = (4, 0) (P^T would
    # give (4, 2)); x - m = (0, 1) -> (1, 3) / sqrt(10); dim=1 keeps the first row only
    w = Whitening(np.array([1.0, 2.0]), np.array([[2.0, 1.0], [0.0, 3.0]]))
    np.testing.assert_allclose(w([[3.0, 2.0], [1.0, 3.0]]), [[1.0, 0.0], np.array([1.0, 3.0]) / np.sqrt(10)])
    np.testing.assert_allclose(w([[3.0, 2.0], [1.0, 1.0]], dim=1), [[1.0], [-1.0]])


@pytest.mark.parametrize("power", [0.5, 0.25, 0.0])
def test_pca_whitening_equals_numpys_svd_formula(power):
    # the oracle: the SVD of the centred data, X_c = U diag(s) V^T, gives the covariance's
    # eigenvalues s^2 / N (descending) and eigenvectors V: P = diag(s^2 / N)^(-power) V^T
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 5)) @ MIX + [3.0, -1.0, 0.5, 2.0, 0.0]
    _, sv, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    expected = (sv ** 2 / len(X))[:, None] ** (-power) * Vt
    w = learn_pca_whitening(X, power=power, eps=0.0)
    np.testing.assert_allclose(w.mean, X.mean(axis=0))
    same_rows_up_to_sign(w.projection, expected, rtol=1e-9, atol=1e-12)


def test_lw_equals_scipys_generalised_eigenvectors():
    # the oracle: P's rows are the generalised eigenvectors of (C_X, C_S), C_X v = lambda C_S v,
    # normalised to v^T C_S v = 1, by decreasing lambda (scipy.linalg.eigh(a, b)); C_S is the
    # covariance of matching differences, C_X the second moment of X about the queries' mean
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(80, 5)) @ MIX
    X = np.repeat(centres, 3, axis=0) + rng.normal(size=(240, 5)) @ MIX.T * 0.3
    q, p = pairs_from_labels(np.repeat(np.arange(80), 3))
    m = X[q].mean(axis=0)
    C_s = (X[q] - X[p]).T @ (X[q] - X[p]) / len(q)
    C_x = (X - m).T @ (X - m) / len(X)
    values, V = scipy.linalg.eigh(C_x, C_s)
    expected = V[:, np.argsort(values)[::-1]].T
    w = learn_lw(X, q, p, eps=0.0)
    np.testing.assert_allclose(w.mean, m)
    same_rows_up_to_sign(w.projection, expected, rtol=1e-7, atol=1e-9)


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


def test_lw_refuses_pairs_that_span_too_few_dimensions():
    # 10 pictures of 2 classes: 40 pairs (more than the 12 dimensions), but their differences span
    # only 10 - 2 = 8 dimensions; reduced to 12 by a PCA of 10 points the rest is rounding noise
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 30))
    q, p = pairs_from_labels(np.repeat([0, 1], 5))
    q, p = np.tile(q, 2), np.tile(p, 2)                     # 40 pairs
    with pytest.raises(ValueError, match="span only 8 of the 12 dimensions"):
        learn_lw(X, q, p, reduce=12)
    assert learn_lw(X, q, p, reduce=8).projection.shape == (8, 30)


def test_pairs_from_labels_by_hand():
    q, p = pairs_from_labels([7, 3, 7, 7, 3])
    assert sorted(zip(q.tolist(), p.tolist())) == [(0, 2), (0, 3), (1, 4), (2, 3)]

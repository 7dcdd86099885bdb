"""rrlib.graph.diffusion against an independent dense solve, and its input checks."""
import warnings

import numpy as np
import pytest

from rrlib.graph import OfflineDiffusion, diffuse_cg, diffuse_dense, diffusion_iterates, diffusion_search, knn_graph
from rrlib.graph import query_vector, subgraph, sym_normalize, truncated_columns


def sphere(n, dim, seed):
    X = np.random.default_rng(seed).normal(size=(n, dim))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def dense_normalised(W):
    """``D^{-1/2} W D^{-1/2}`` in numpy (zero rows for isolated nodes)."""
    d = W.sum(axis=1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0.0)
    return inv[:, None] * W * inv[None, :]


def dense_query_vectors(X, Q, kq, gamma):
    """Iscen et al.'s ``y`` in numpy: ``max(s, 0)^gamma`` on each query's ``kq`` most similar items."""
    S = X.astype(np.float64) @ Q.T.astype(np.float64)
    Y = np.zeros_like(S)
    for q in range(S.shape[1]):
        top = np.argsort(-S[:, q], kind="stable")[:kq]
        Y[top, q] = np.clip(S[top, q], 0, None) ** gamma
    return Y


@pytest.mark.parametrize("alpha", [0.9, 0.99])
def test_truncated_diffusion_equals_a_dense_solve_on_the_subgraph(alpha):
    # the oracle: numpy.linalg.solve of (I - alpha S_t) f = y_t on the graph induced by the
    # query's `truncate` nearest items, S_t normalised on that subgraph (Iscen et al. 2017)
    X, Q = sphere(150, 8, 0), sphere(3, 8, 1)
    k, kq, t, gamma = 6, 4, 40, 3.0
    W = knn_graph(X, k, gamma=gamma).toarray()
    scores = diffusion_search(X, Q, k=k, kq=kq, alpha=alpha, gamma=gamma, truncate=t, rtol=1e-12, maxiter=5000)
    Y = dense_query_vectors(X, Q, kq, gamma)
    cos = X.astype(np.float64) @ Q.T.astype(np.float64)
    for q in range(len(Q)):
        sub = np.sort(np.argsort(-cos[:, q], kind="stable")[:t])
        S_t = dense_normalised(W[np.ix_(sub, sub)])
        f = np.linalg.solve(np.eye(t) - alpha * S_t, Y[sub, q])
        assert np.count_nonzero(f) > kq  # the diffusion spread beyond the query's own neighbours
        np.testing.assert_allclose(scores[sub, q], f, rtol=1e-6)  # y from float32 similarities
        rest = np.setdiff1d(np.arange(len(X)), sub)
        np.testing.assert_allclose(scores[rest, q], cos[rest, q] - 10, rtol=1e-6)


def test_offline_diffusion_equals_the_truncated_dense_inverse():
    # the oracle: F = (I - alpha S)^{-1} by numpy, each column cut to its `keep` largest entries,
    # scores F y (Yang et al. 2019); with keep = n it is the full dense solve
    X, Q = sphere(120, 8, 2), sphere(4, 8, 3)
    k, kq, alpha, keep = 6, 4, 0.95, 15
    S = dense_normalised(knn_graph(X, k).toarray())
    F = np.linalg.inv(np.eye(len(X)) - alpha * S)
    Y = dense_query_vectors(X, Q, kq, 3.0)
    np.testing.assert_allclose(OfflineDiffusion(X, k=k, alpha=alpha, keep=len(X), rtol=1e-12, maxiter=5000)
                               .search(Q, kq=kq), F @ Y, rtol=1e-6, atol=1e-9)
    cut = np.zeros_like(F)
    for i in range(len(F)):
        top = np.argsort(-F[:, i])[:keep]
        cut[top, i] = F[top, i]
    late = OfflineDiffusion(X, k=k, alpha=alpha, keep=keep, rtol=1e-12, maxiter=5000).search(Q, kq=kq)
    np.testing.assert_allclose(late, cut @ Y, rtol=1e-6, atol=1e-9)
    assert not np.allclose(late, F @ Y, rtol=1e-3)  # the truncation does change the scores


def test_truncated_offline_column_by_hand():
    # three unit vectors at 0, 10 and 20 degrees, k = 2: a triangle. Truncated to t = 2, item 0's
    # subgraph is {0, 1}: one edge, S_t = [[0, 1], [1, 0]] whatever its weight, and
    # (I - alpha S_t)^{-1} e_0 = [1, alpha] / (1 - alpha^2) = [4/3, 2/3] at alpha = 1/2, item 2 untouched
    a = np.radians([0.0, 10.0, 20.0])
    X = np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)
    F = OfflineDiffusion(X, k=2, alpha=0.5, keep=3, truncate=2, rtol=1e-12, maxiter=100).F.toarray()
    np.testing.assert_allclose(F[:, 0], [4 / 3, 2 / 3, 0.0], rtol=1e-9)
    np.testing.assert_allclose(F[:, 2], [0.0, 2 / 3, 4 / 3], rtol=1e-9)  # item 2's nearest: 2 and 1
    full = OfflineDiffusion(X, k=2, alpha=0.5, keep=3, rtol=1e-12, maxiter=100).F.toarray()
    assert full[2, 0] > 0.1  # without truncation the diffusion of item 0 reaches item 2


def test_offline_diffusion_with_truncation_equals_dense_solves_on_each_subgraph():
    # the oracle (fyang93/diffusion's offline step): column i is the numpy solve on the subgraph of
    # item i's t nearest items, cut to its `keep` largest entries; scores are F y
    X, Q = sphere(120, 8, 2), sphere(4, 8, 3)
    k, kq, alpha, t, keep = 6, 4, 0.95, 30, 12
    W = knn_graph(X, k).toarray()
    cos = X.astype(np.float64) @ X.T.astype(np.float64)
    cut = np.zeros((len(X), len(X)))
    for i in range(len(X)):
        sub = np.sort(np.argsort(-cos[:, i], kind="stable")[:t])
        assert i in sub
        f = np.linalg.solve(np.eye(t) - alpha * dense_normalised(W[np.ix_(sub, sub)]), (sub == i).astype(float))
        top = np.argsort(-f)[:keep]
        cut[sub[top], i] = f[top]
    off = OfflineDiffusion(X, k=k, alpha=alpha, keep=keep, truncate=t, rtol=1e-12, maxiter=5000)
    np.testing.assert_allclose(off.F.toarray(), cut, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(off.search(Q, kq=kq), cut @ dense_query_vectors(X, Q, kq, 3.0), rtol=1e-6, atol=1e-9)
    whole = OfflineDiffusion(X, k=k, alpha=alpha, keep=keep, rtol=1e-12, maxiter=5000)
    assert not np.allclose(off.F.toarray(), whole.F.toarray(), rtol=1e-3)  # truncation changes F
    # t >= n is no truncation at all
    np.testing.assert_allclose(OfflineDiffusion(X, k=k, alpha=alpha, keep=keep, truncate=len(X), rtol=1e-12,
                                                maxiter=5000).F.toarray(), whole.F.toarray())


def test_truncated_columns_skip_missing_neighbours_and_fill_only_the_items_asked():
    X = sphere(60, 6, 12)
    W = knn_graph(X, 5)
    near = np.array([[10, 11, -1, 12], [40, 41, 42, -1]])  # -1: a neighbour an IVF search did not find
    F = truncated_columns(W, [10, 40], near, alpha=0.8, keep=10, rtol=1e-12, maxiter=500)
    assert F.shape == (60, 60) and set(np.flatnonzero(np.diff(F.indptr))) == {10, 40}
    assert set(F[:, 10].nonzero()[0]) <= {10, 11, 12}
    sub, S = subgraph(W, near[1])
    np.testing.assert_array_equal(sub, [40, 41, 42])
    np.testing.assert_allclose(S.toarray(), dense_normalised(W.toarray()[np.ix_(sub, sub)]))
    assert truncated_columns(W, [], np.zeros((0, 3), int)).nnz == 0


# ------------------------------------------------------------------ input checks
def test_query_vector_rejects_indices_outside_the_graph():
    # -1 used to wrap around to the last node
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 4\)"):
        query_vector([[0.9, 0.5]], [[-1, 2]], n=4)
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 4\)"):
        query_vector([[0.9, 0.5]], [[1, 4]], n=4)
    with pytest.raises(TypeError, match="integer"):
        query_vector([[0.9]], [[1.0]], n=4)
    with pytest.raises(ValueError, match="same shape"):
        query_vector([[0.9, 0.5]], [[1]], n=4)
    with pytest.raises(ValueError, match="sims contains NaN"):
        query_vector([[np.nan]], [[1]], n=4)


def test_non_finite_graphs_and_query_vectors_are_refused_by_name():
    # NaN affinities gave an empty graph and CG then asked to "raise maxiter"
    W = np.array([[0, 1.0, 0], [1.0, 0, np.nan], [0, np.nan, 0]])
    with pytest.raises(ValueError, match="W contains NaN or inf"):
        sym_normalize(W)
    S = sym_normalize(np.array([[0, 1.0, 0], [1.0, 0, 2.0], [0, 2.0, 0]]))
    y = np.array([1.0, np.nan, 0.0])
    for solve in (diffuse_cg, diffuse_dense, lambda S, y: next(diffusion_iterates(S, y, 0.5))):
        with pytest.raises(ValueError, match="y contains NaN or inf"):
            solve(S, y)
        with pytest.raises(ValueError, match="S contains NaN or inf"):
            solve(S * np.inf, np.ones(3))
        with pytest.raises(ValueError, match="n = 3"):
            solve(S, np.ones(4))


def test_non_finite_descriptors_are_refused_by_name():
    X, Q = sphere(30, 4, 4), sphere(2, 4, 5)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        knn_graph(bad, 5)
    with pytest.raises(ValueError, match=r"descriptors X contain NaN or inf \(1 rows\)"):
        diffusion_search(bad, Q, k=5, kq=3, graph=knn_graph(X, 5))
    with pytest.raises(ValueError, match="descriptors Q contain NaN"):
        diffusion_search(X, Q * np.inf, k=5, kq=3)
    with pytest.raises(ValueError, match="X contains NaN"):
        OfflineDiffusion(bad, k=5)


def test_zero_descriptors_warn_how_many():
    X, Q = sphere(30, 4, 6), sphere(3, 4, 7)
    X[:4] = 0
    with pytest.warns(RuntimeWarning, match="X has 4 zero row"):
        knn_graph(X, 5)
    Q[1] = 0
    with pytest.warns(RuntimeWarning) as record:
        scores = diffusion_search(X, Q, k=5, kq=3)
    assert sorted(str(w.message)[:15] for w in record) == ["Q has 1 zero ro", "X has 4 zero ro"]
    assert (scores[:, 1] == 0).all()  # what the warning is about: every score ties
    X[:4] = sphere(4, 4, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        off = OfflineDiffusion(X, k=5, keep=10)  # no zero rows left in X: no warning
    with pytest.warns(RuntimeWarning, match="Q has 1 zero row"):
        off.search(Q, kq=3)


@pytest.mark.parametrize("kw, error, match", [
    (dict(keep=0), ValueError, "keep must be >= 1"),  # stored nothing: all scores 0
    (dict(keep=-5), ValueError, "keep must be >= 1"),
    (dict(keep=2.5), TypeError, "keep must be an integer"),
    (dict(block=0), ValueError, "block must be >= 1"),
    (dict(truncate=0), ValueError, "truncate must be >= 1"),
    (dict(truncate=1.5), TypeError, "truncate must be an integer"),
])
def test_offline_diffusion_rejects_bad_sizes(kw, error, match):
    with pytest.raises(error, match=match):
        OfflineDiffusion(sphere(30, 4, 9), k=5, **kw)


def test_diffusion_search_rejects_bad_truncation_and_graph():
    X, Q = sphere(30, 4, 10), sphere(1, 4, 11)
    with pytest.raises(ValueError, match="truncate must be >= 1"):
        diffusion_search(X, Q, k=5, kq=3, truncate=0)
    with pytest.raises(ValueError, match=r"graph must be \(30, 30\)"):
        diffusion_search(X, Q, k=5, kq=3, graph=knn_graph(X[:20], 5))
    with pytest.raises(ValueError, match="graph contains NaN"):
        diffusion_search(X, Q, k=5, kq=3, graph=knn_graph(X, 5) * np.nan)

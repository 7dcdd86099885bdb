"""rrlib.graph: kNN equivalences, graphs by hand, diffusion solvers that must agree."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from rrlib.datasets import load
from rrlib.evaluate import compute_map, evaluate_revisited, ranks_from_scores
from rrlib.graph import (
    alpha_qe,
    dba,
    expand,
    OfflineDiffusion,
    diffuse_cg,
    diffuse_dense,
    diffusion_iterates,
    diffusion_search,
    knn,
    knn_brute,
    knn_graph,
    query_vector,
    sym_normalize,
)
from rrlib.nets import backbone, whitened_descriptors


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.fixture
def descriptors():
    return unit(np.random.default_rng(0).normal(size=(500, 32))).astype(np.float32)


# ------------------------------------------------------------------ kNN
def test_faiss_flat_equals_brute_force(descriptors):
    Q = descriptors[:40] + 0.01
    s1, i1 = knn(descriptors, 10, Q)
    s2, i2 = knn_brute(descriptors, 10, Q)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-5)


def test_ivf_with_every_cell_probed_is_exact(descriptors):
    s1, i1 = knn(descriptors, 5, index="ivf", nlist=8, nprobe=8)
    _, i2 = knn_brute(descriptors, 5)
    np.testing.assert_array_equal(i1, i2)
    assert (i1[:, 0] == np.arange(500)).all()  # self-search: each item first


def test_knn_errors(descriptors):
    with pytest.raises(ValueError, match="k must lie"):
        knn(descriptors, 501)
    with pytest.raises(ValueError, match="same dimension"):
        knn(descriptors, 3, descriptors[:, :5])
    with pytest.raises(ValueError, match="index must be"):
        knn(descriptors, 3, index="hnsw")


# ------------------------------------------------------------------ graphs by hand
ANGLES = np.deg2rad([0, 10, 25, 90])
LINE = np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1)


def test_mutual_and_union_knn_graphs_by_hand():
    # 1-NN: 0 -> 1, 1 -> 0 (10 deg < 15 deg), 2 -> 1, 3 -> 2. Only 0 - 1 is mutual.
    c10, c15, c65 = np.cos(np.deg2rad([10, 15, 65]))
    W = knn_graph(LINE, k=1, gamma=3.0, mutual=True).toarray()
    expected = np.zeros((4, 4))
    expected[0, 1] = expected[1, 0] = c10**3
    np.testing.assert_allclose(W, expected, rtol=1e-6)
    U = knn_graph(LINE, k=1, gamma=3.0, mutual=False).toarray()
    expected[1, 2] = expected[2, 1] = c15**3
    expected[2, 3] = expected[3, 2] = c65**3
    np.testing.assert_allclose(U, expected, rtol=1e-6)


def test_sym_normalize_by_hand_and_spectrum(descriptors):
    W = np.array([[0, 2, 0], [2, 0, 1], [0, 1, 0]], dtype=float)  # degrees 2, 3, 1
    S = sym_normalize(W).toarray()
    np.testing.assert_allclose(S[0, 1], 2 / np.sqrt(6))
    np.testing.assert_allclose(S[1, 2], 1 / np.sqrt(3))
    G = sym_normalize(knn_graph(descriptors, 10))
    assert abs(G - G.T).max() < 1e-12
    eig = np.linalg.eigvalsh(G.toarray())
    assert eig.min() >= -1 - 1e-9 and eig.max() <= 1 + 1e-9
    assert eig.max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="symmetric"):
        sym_normalize(np.triu(W))
    with pytest.raises(ValueError, match="non-negative"):
        sym_normalize(-W)


# ------------------------------------------------------------------ diffusion solvers agree
@pytest.fixture
def graph_and_queries(descriptors):
    S = sym_normalize(knn_graph(descriptors, 10))
    sims, idx = knn(descriptors, 5, descriptors[:6] + 0.05)
    return S, query_vector(sims, idx, len(descriptors))


@pytest.mark.parametrize("alpha", [0.5, 0.9, 0.99])
def test_iteration_dense_and_cg_agree(graph_and_queries, alpha):
    S, Y = graph_and_queries
    dense = diffuse_dense(S, Y, alpha)
    cg = diffuse_cg(S, Y, alpha, rtol=1e-10, maxiter=2000)
    np.testing.assert_allclose(cg, dense, atol=1e-6 * np.abs(dense).max())
    if alpha <= 0.9:  # the iteration converges like alpha^t: 0.99 needs thousands of steps
        it = diffusion_iterates(S, Y, alpha)
        for _ in range(400):
            f = next(it)
        np.testing.assert_allclose(f, dense, atol=1e-6 * np.abs(dense).max())


def test_batched_cg_equals_scipy_cg_per_column(graph_and_queries):
    S, Y = graph_and_queries
    batch = diffuse_cg(S, Y, 0.99, rtol=1e-10, maxiter=2000)
    A = sp.eye(S.shape[0]) - 0.99 * S
    for j in range(Y.shape[1]):
        x, info = spla.cg(A, Y[:, j], rtol=1e-10, maxiter=2000)
        assert info == 0
        np.testing.assert_allclose(batch[:, j], x, atol=1e-7 * np.abs(x).max())
        np.testing.assert_allclose(diffuse_cg(S, Y[:, j], 0.99, rtol=1e-10, maxiter=2000), x,
                                   atol=1e-7 * np.abs(x).max())


def test_alpha_outside_range_and_non_convergence(graph_and_queries):
    S, Y = graph_and_queries
    with pytest.raises(ValueError, match="alpha"):
        diffuse_cg(S, Y, 1.0)
    with pytest.raises(RuntimeError, match="maxiter"):
        diffuse_cg(S, Y, 0.99, rtol=1e-12, maxiter=2)


def test_query_vector_by_hand():
    Y = query_vector([[0.5, -0.2], [1.0, 0.5]], [[3, 1], [1, 0]], n=4, gamma=2.0)
    expected = np.zeros((4, 2))
    expected[3, 0], expected[1, 0] = 0.25, 0.0  # negative similarity clipped to 0
    expected[1, 1], expected[0, 1] = 1.0, 0.25
    np.testing.assert_allclose(Y, expected)


# ------------------------------------------------------------------ retrieval on a manifold
def _two_chains(seed=0, n_per=60, dim=16):
    """Two curved chains of points on the sphere that start close together: the far end of
    chain 0 is less similar to its start than chain 1's start is."""
    rng = np.random.default_rng(seed)
    basis = unit(rng.normal(size=(4, dim)))
    a0, b0, b1 = basis[0], basis[1], basis[2]
    a1 = unit(a0 + 0.4 * basis[3])
    theta = np.linspace(0, np.pi / 2, n_per)[:, None]
    chain0 = unit(np.cos(theta) * a0 + np.sin(theta) * b0 + 0.01 * rng.normal(size=(n_per, dim)))
    chain1 = unit(np.cos(theta) * a1 + np.sin(theta) * b1 + 0.01 * rng.normal(size=(n_per, dim)))
    X = np.vstack([chain0, chain1]).astype(np.float32)
    return X, a0[None].astype(np.float32), [{"ok": np.arange(n_per)}]


def test_diffusion_follows_the_manifold_where_cosine_does_not():
    X, q, gnd = _two_chains()
    base = compute_map(ranks_from_scores(X @ q.T), gnd)[0]
    diffused = compute_map(ranks_from_scores(diffusion_search(X, q, k=5, kq=3)), gnd)[0]
    assert base < 0.8 and diffused > 0.95 and diffused > base + 0.15


def test_truncation_and_offline_diffusion_agree_with_the_full_solve():
    X, q, gnd = _two_chains()
    full = diffusion_search(X, q, k=5, kq=3, rtol=1e-10, maxiter=2000)
    same = diffusion_search(X, q, k=5, kq=3, truncate=len(X), rtol=1e-10, maxiter=2000)
    np.testing.assert_allclose(same, full)
    trunc = diffusion_search(X, q, k=5, kq=3, truncate=30)
    near = np.argsort(-(X @ q.T)[:, 0])[:30]
    assert set(np.argsort(-trunc[:, 0])[:30]) == set(near)  # diffused items come first
    off = OfflineDiffusion(X, k=5, keep=len(X), rtol=1e-10, maxiter=2000).search(q, kq=3)
    np.testing.assert_allclose(off, full, atol=1e-6 * full.max())
    late = OfflineDiffusion(X, k=5, keep=40).search(q, kq=3)
    assert compute_map(ranks_from_scores(late), gnd)[0] > 0.9


# ------------------------------------------------------------------ query expansion
def test_alpha_qe_by_hand():
    X = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    # neighbours of q: x0 (sim 1), x1 (sim .6); alpha = 1: q + 1*x0 + .6*x1 = (2.36, .48)
    out = alpha_qe(q, X, k=2, alpha=1.0)
    np.testing.assert_allclose(out, unit(np.array([[2.36, 0.48]])), atol=1e-6)
    # alpha = 0 is the plain average query expansion
    np.testing.assert_allclose(alpha_qe(q, X, k=2, alpha=0.0), unit(np.array([[2.6, 0.8]])), atol=1e-6)


def test_dba_excludes_the_item_itself():
    X = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    out = dba(X, k=1, alpha=1.0)
    # x0's nearest other item is x1 (sim .6): x0 + .6 x1 = (1.36, .48)
    np.testing.assert_allclose(out[0], unit(np.array([1.36, 0.48])), atol=1e-6)
    # x2's nearest other is x1 (sim .8): (0.48, 1.64)
    np.testing.assert_allclose(out[2], unit(np.array([0.48, 1.64])), atol=1e-6)


def test_qe_helps_on_the_chains():
    X, q, gnd = _two_chains()
    base = compute_map(ranks_from_scores(X @ q.T), gnd)[0]
    expanded = compute_map(ranks_from_scores(X @ alpha_qe(q, X, k=5).T), gnd)[0]
    assert expanded > base


# ------------------------------------------------------------------ integration on synth-landmarks
def test_diffusion_and_qe_raise_map_on_synth_landmarks():
    """Directional check of [S3] Table 4.1's "+D" on the embedded benchmark: MobileNetV2-GeM
    descriptors with L_w; alpha-QE beats the baseline and diffusion beats alpha-QE (Medium, Hard).
    Uses the data root's cached descriptors (shared with notebooks 03 and 05)."""
    data = load("synth-landmarks")
    X, Q, _ = whitened_descriptors(data, backbone("mobilenet_v2"))
    base = evaluate_revisited(X @ Q.T, data.gnd).map
    qe = evaluate_revisited(X @ alpha_qe(Q, X, k=5).T, data.gnd).map
    diff = evaluate_revisited(diffusion_search(X, Q, k=10, kq=5), data.gnd).map
    for setup in ("medium", "hard"):
        assert base[setup] + 3 < qe[setup] < diff[setup] - 3, (base, qe, diff)


def test_expand_by_hand_dense_and_sparse():
    Q = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    X = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    out = expand(Q, X, [[0, 2], []], [[1.0, 2.0], []])
    # q0 + x0 + 2 x2 = (3, 2, 1) / sqrt(14); q1 has no neighbours and stays
    np.testing.assert_allclose(out, [np.array([3, 2, 1]) / np.sqrt(14), [0, 1, 0]])
    sparse = expand(sp.csr_matrix(Q), sp.csr_matrix(X), [[0, 2], []], [[1.0, 2.0], []])
    assert sp.issparse(sparse)
    np.testing.assert_allclose(sparse.toarray(), out)
    np.testing.assert_allclose(expand(Q[:1], X, [[1, 2]]), [np.array([2, 2, 0]) / np.sqrt(8)])  # weights 1
    with pytest.raises(ValueError):
        expand(Q, X, [[0]])
    with pytest.raises(ValueError):
        expand(Q, X, [[5], []])
    with pytest.raises(ValueError):
        expand(Q, X, [[0, 1], []], [[1.0], []])

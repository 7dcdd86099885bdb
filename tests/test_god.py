"""rrlib.god: graph-based object discovery ([S3] ch. 5) -- hand-computed maps, boxes and graphs,
naive loops against the vectorised functions, networkx and dense solves against the centralities."""
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from rrlib import god, graph
from rrlib.nets import crow_spatial_weights


def unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# ------------------------------------------------------------------ feature saliency (eqs 5.1-5.2)
def test_feature_saliency_on_a_hand_tensor():
    # channel 0 fires everywhere (a_0 = 1), channel 1 in one cell of four (a_1 = 1/4):
    # b_j = log((a_0 + a_1 + 2 eps) / (a_j + eps)) -> b_0 = log 1.25, b_1 = log 5 (eps -> 0)
    A = np.array([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 5.0]]])
    b = god.fs_channel_weights(A, eps=1e-12)
    np.testing.assert_allclose(b, [np.log(1.25), np.log(5.0)], rtol=1e-9)
    F = god.feature_saliency(A, eps=1e-12, normalize=False)
    np.testing.assert_allclose(F, [[np.log(1.25), 2 * np.log(1.25)], [3 * np.log(1.25), 4 * np.log(1.25) + 5 * np.log(5)]])
    # the sparse channel is amplified before the spatial sum: the cell where it fires dominates
    assert F.argmax() == 3 and F[1, 1] / F[0, 0] > 4 / 1 + 5
    # CroW's normalisation: (F / ||F||_2)^(1/2), the same as rrlib.nets' CroW spatial weights of F
    F_hat = god.feature_saliency(A, eps=1e-12)
    np.testing.assert_allclose(F_hat, np.sqrt(F / np.linalg.norm(F)))
    np.testing.assert_allclose((F_hat ** 4).sum(), 1.0)
    crow = crow_spatial_weights(torch.tensor(F[None, None]), 2.0, 2.0)[0].numpy()
    np.testing.assert_allclose(F_hat, crow, rtol=1e-6)


def test_feature_saliency_default_eps_and_a_silent_channel():
    A = np.zeros((3, 4, 4))
    A[0] = 1.0
    A[1, 0, 0] = 2.0                                            # channel 2 never fires
    a = np.array([1.0, 1 / 16, 0.0]) + 1e-6
    np.testing.assert_allclose(god.fs_channel_weights(A), np.log(a.sum() / a))
    assert np.isfinite(god.feature_saliency(A)).all()
    np.testing.assert_array_equal(god.feature_saliency(np.zeros((2, 3, 3))), np.zeros((3, 3)))


# ------------------------------------------------------------------ pre-processing (§5.4.1)
def test_preprocess_masks_below_tau_of_the_max_then_raises_to_rho():
    S = np.array([[0.0, 0.001, 0.5], [1.0, 2.0, 0.03]])
    # relative: S / 2 = [[0, .0005, .25], [.5, 1, .015]]; below 0.01 -> 0; squared
    np.testing.assert_allclose(god.preprocess(S, 0.01, 2.0), [[0, 0, 0.0625], [0.25, 1, 0.015 ** 2]])
    np.testing.assert_allclose(god.preprocess(S, 0.01, 1.0, relative=False), [[0, 0, 0.5], [1, 2, 0.03]])
    np.testing.assert_array_equal(god.preprocess(np.zeros((2, 2))), np.zeros((2, 2)))


# ------------------------------------------------------------------ EGM (eqs 5.3-5.8)
def test_gaussian_inner_product_in_closed_form_equals_the_integral():
    mu_a, var_a = np.array([[1.0, -0.5]]), np.array([[0.7, 1.3]])
    mu_b, var_b = np.array([[0.2, 0.4], [3.0, 1.0]]), np.array([[0.5, 0.9], [2.0, 0.3]])
    t = np.linspace(-12, 12, 1201)
    X, Y = np.meshgrid(t, t, indexing="ij")
    dx = t[1] - t[0]

    def density(mu, var):
        return np.exp(-0.5 * ((X - mu[0]) ** 2 / var[0] + (Y - mu[1]) ** 2 / var[1])) / (2 * np.pi * np.sqrt(var.prod()))

    numeric = [[(density(mu_a[0], var_a[0]) * density(m, v)).sum() * dx * dx for m, v in zip(mu_b, var_b)]]
    np.testing.assert_allclose(god.gaussian_inner(mu_a, var_a, mu_b, var_b), numeric, rtol=1e-6)
    np.testing.assert_allclose(god.gaussian_inner(mu_a, var_a, mu_b, var_b, log=True), np.log(numeric), rtol=1e-6)


def blobs(h=32, w=32, centres=((8.0, 9.0), (23.0, 22.0)), stds=(2.0, 2.5), heights=(1.0, 0.7)):
    y, x = np.mgrid[0:h, 0:w] + 0.5
    return sum(a * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s)) for (cx, cy), s, a in zip(centres, stds, heights))


@pytest.mark.parametrize("rho, sigma", [(1.0, 1.0), (2.0, 2.5), (7.0, 2.5)])
def test_egm_finds_one_box_around_each_of_two_separated_blobs(rho, sigma):
    centres = ((8.0, 9.0), (23.0, 22.0))
    S = blobs(centres=centres)
    r = god.detect_regions(S, tau=0.01, rho=rho, sigma=sigma, keep_history=True)
    assert r.boxes.shape == (2, 4) and r.converged
    inside = [[b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for cx, cy in centres] for b in r.boxes]
    assert sorted(map(tuple, inside)) == [(False, True), (True, False)]     # each box holds one centre
    assert not (r.boxes[0, 2] >= r.boxes[1, 0] and r.boxes[1, 2] >= r.boxes[0, 0]
                and r.boxes[0, 3] >= r.boxes[1, 1] and r.boxes[1, 3] >= r.boxes[0, 1])   # disjoint
    # snapshots: one component per positive cell at the start, the final mixture at the end
    assert r.history[0].m == int((god.preprocess(S, 0.01, rho) > 0).sum()) and r.history[-1].m == 2
    assert len(r.history) == r.n_iter + 1
    np.testing.assert_allclose(r.history[-1].boxes(S.shape), r.boxes)
    assert all(abs(s.pi.sum() - 1) < 1e-12 for s in r.history)
    np.testing.assert_allclose(r.pi.sum(), 1.0)
    assert r.pi[0] >= r.pi[1]


def naive_egm_iteration(S, sigma, purge):
    """One E-, M- and P-step of eqs 5.3-5.8 written with loops, from q_k <- s_k."""
    cells = [(r, c) for r in range(S.shape[0]) for c in range(S.shape[1]) if S[r, c] > 0]
    p = [np.array([c + 0.5, r + 0.5]) for r, c in cells]
    s = [S[r, c] for r, c in cells]
    ell = len(p)

    def inner(a, A, b, B):  # <N(a, diag A), N(b, diag B)> = N(a | b, A + B)
        v = A + B
        return np.exp(-0.5 * ((a - b) ** 2 / v).sum()) / (2 * np.pi * np.sqrt(v.prod()))

    pi = [si / sum(s) for si in s]
    mu = list(p)
    var = [np.full(2, sigma) for _ in range(ell)]
    # E-step (5.5): <s_i, q_k> = S_i pi_k N(p_i | mu_k, sigma I + Sigma_k)
    g = np.array([[s[i] * pi[k] * inner(p[i], np.full(2, sigma), mu[k], var[k]) for k in range(ell)] for i in range(ell)])
    gamma = g / g.sum(axis=1, keepdims=True)
    # M-step (5.6-5.8), sums weighted by S_i
    new = []
    for k in range(ell):
        lk = sum(s[i] * gamma[i, k] for i in range(ell))
        m = sum(s[i] * gamma[i, k] * p[i] for i in range(ell)) / lk
        v = sum(s[i] * gamma[i, k] * (p[i] - m) ** 2 for i in range(ell)) / lk
        new.append((lk / sum(s), m, np.maximum(v, 1 / 12)))
    # P-step by decreasing pi
    kept = []
    for pk, mk, vk in sorted(new, key=lambda t: -t[0]):
        self_ = pk * pk * inner(mk, vk, mk, vk)
        others = sum(pk * pj * inner(mk, vk, mj, vj) for pj, mj, vj in kept)
        if others / (self_ + others) <= purge:
            kept.append((pk, mk, vk))
    total = sum(t[0] for t in kept)
    return (np.array([t[0] / total for t in kept]), np.array([t[1] for t in kept]), np.array([t[2] for t in kept]))


def test_egm_one_iteration_equals_a_naive_loop():
    S = np.zeros((6, 7))
    S[1, 1], S[1, 2], S[2, 1], S[4, 5], S[3, 5], S[4, 4], S[0, 6] = 1.0, 0.8, 0.5, 0.9, 0.3, 0.2, 0.05
    for sigma in (0.3, 1.0, 2.5):
        r = god.egm(S, sigma, max_iter=1, keep_history=True)
        pi, mu, var = naive_egm_iteration(S, sigma, god.PURGE)
        assert 1 < len(pi) < 7
        state = r.history[1]
        np.testing.assert_allclose(state.pi, pi)
        np.testing.assert_allclose(state.mu, mu)
        np.testing.assert_allclose(state.var, var)


def test_egm_weights_the_m_step_by_the_map():
    # two isolated cells of values 3 and 1: pi = (3/4, 1/4) -- without the weights it would be (1/2, 1/2)
    S = np.zeros((10, 30))
    S[5, 3], S[5, 25] = 3.0, 1.0
    r = god.egm(S, 1.0)
    np.testing.assert_allclose(r.pi, [0.75, 0.25])
    np.testing.assert_allclose(r.mu, [[3.5, 5.5], [25.5, 5.5]])
    # one cell: variance floored at 1/12, box mu +- sqrt(3) sqrt(1/12) = the cell itself
    np.testing.assert_allclose(r.var, np.full((2, 2), 1 / 12))
    np.testing.assert_allclose(r.boxes, [[3, 5, 4, 6], [25, 5, 26, 6]])


def test_egm_on_a_uniform_rectangle_gives_the_rectangle():
    S = np.zeros((16, 20))
    S[4:8, 6:14] = 1.0                                             # 8 x 4 cells: x in [6, 14], y in [4, 8]
    r = god.egm(S, 2.5)
    assert len(r.pi) == 1
    # the variance of n cell centres is (n^2 - 1) / 12, so the box is sqrt(n^2 - 1) wide
    np.testing.assert_allclose(r.var, [[(64 - 1) / 12, (16 - 1) / 12]])
    np.testing.assert_allclose(r.boxes, [[10 - np.sqrt(63) / 2, 6 - np.sqrt(15) / 2, 10 + np.sqrt(63) / 2, 6 + np.sqrt(15) / 2]])
    assert len(god.egm(np.zeros((4, 4))).pi) == 0


def test_egm_purge_threshold_two_equal_components_merge_when_unimodal():
    # o = r / (1 + r), r = exp(-d^2 / 4v): two equal components at d = 2 sqrt(v) sit on the threshold
    mu = np.array([[0.0, 0.0], [2.0, 0.0]])
    var = np.ones((2, 2))
    g = god.gaussian_inner(mu, var, mu, var)
    o = g[1, 0] / (g[1, 1] + g[1, 0])
    np.testing.assert_allclose(o, god.PURGE)
    np.testing.assert_allclose(god.PURGE, 1 / (1 + np.e))


def test_component_boxes_are_clipped_to_the_map():
    boxes = god.component_boxes([[1.0, 2.0]], [[4.0, 1.0]], (5, 6), extent=2.0)
    np.testing.assert_allclose(boxes, [[0.0, 0.0, 5.0, 4.0]])


# ------------------------------------------------------------------ regions (eqs 5.9-5.10, §5.3.9)
def test_box_cells_and_pixel_boxes():
    assert god.box_cells([1.2, 0.0, 3.0, 2.5], (4, 5)) == (slice(0, 3), slice(1, 3))
    assert god.box_cells([2.0, 2.0, 2.0, 2.0], (4, 5)) == (slice(2, 3), slice(2, 3))   # at least one cell
    np.testing.assert_allclose(god.pixel_box_to_map([64, 32, 128, 96], (256, 128), (8, 16)), [4, 2, 8, 6])


def test_region_descriptors_equal_a_naive_loop():
    rng = np.random.default_rng(0)
    A = np.maximum(rng.normal(size=(5, 6, 7)), 0)
    boxes = np.array([[0.0, 0.0, 7.0, 6.0], [1.5, 2.2, 4.0, 3.0], [6.0, 5.0, 7.0, 6.0]])
    Z, f = god.region_descriptors(A, boxes, p=3.0)
    F_hat = god.feature_saliency(A)
    for b, z, fi in zip(boxes, Z, f):
        cells = [(r, c) for r in range(6) for c in range(7)
                 if b[0] < c + 1 and c < max(b[2], b[0] + 1e-9) and b[1] < r + 1 and r < max(b[3], b[1] + 1e-9)]
        gem = np.array([np.mean([max(A[j, r, c], 1e-6) ** 3 for r, c in cells]) ** (1 / 3) for j in range(5)])
        np.testing.assert_allclose(z, gem)
        np.testing.assert_allclose(fi, np.mean([F_hat[r, c] for r, c in cells]))
    # the whole map: global GeM
    np.testing.assert_allclose(Z[0], (np.maximum(A, 1e-6) ** 3).mean(axis=(1, 2)) ** (1 / 3))
    agg = god.aggregate_regions(A, boxes)
    np.testing.assert_allclose(agg, unit(Z).sum(axis=0))
    np.testing.assert_array_equal(god.aggregate_regions(A, np.zeros((0, 4))), np.zeros(5))


# ------------------------------------------------------------------ patches and object saliency (eq 5.14)
@pytest.mark.parametrize("pool", ["max", "gem"])
def test_patch_descriptors_equal_a_naive_loop(pool):
    rng = np.random.default_rng(1)
    A = np.maximum(rng.normal(size=(4, 5, 6)), 0)
    P = rng.normal(size=(3, 4))
    whiten = lambda X: X @ P.T  # noqa: E731 -- any (N, C) -> (N, d) map
    Z = god.patch_descriptors(A, 3, pool=pool, p=3.0, whiten=whiten)
    for r in range(5):
        for c in range(6):
            patch = A[:, max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].reshape(4, -1)
            z = patch.max(axis=1) if pool == "max" else (np.maximum(patch, 1e-6) ** 3).mean(axis=1) ** (1 / 3)
            z = P @ (z / np.linalg.norm(z))
            np.testing.assert_allclose(Z[r * 6 + c], z / np.linalg.norm(z), rtol=1e-9, atol=1e-12)


def test_object_saliency_equals_a_naive_loop():
    rng = np.random.default_rng(2)
    h, w, d, n, k, theta = 4, 5, 6, 30, 4, 3.0
    F_hat = rng.random((h, w))
    Z = unit(rng.normal(size=(h * w, d)))
    V = unit(rng.normal(size=(n, d)))
    f, u = rng.random(n), rng.random(n)
    S = god.object_saliency(F_hat, Z, V, f, u, k=k, theta=theta)
    naive = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            z = Z[r * w + c]
            sims = V @ z
            N = np.argsort(-sims)[:k]
            naive[r, c] = F_hat[r, c] ** theta * sum(max(sims[i], 0) * f[i] ** theta * u[i] for i in N)
    np.testing.assert_allclose(S, naive, rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------ saliency precision (§5.4.2)
def test_saliency_precision_on_a_hand_map():
    S = np.array([[0, 1, 2, 0], [0, 3, 4, 0], [1, 0, 0, 1], [0, 0, 0, 0]], float)   # total 12
    assert god.saliency_precision(S, [1, 0, 3, 2]) == pytest.approx(10 / 12)     # the 2 x 2 block
    assert god.saliency_precision(S, [0, 0, 4, 4]) == pytest.approx(1.0)
    # half of column 1 and all of column 2 of rows 0-1: (0.5 * (1 + 3) + 2 + 4) / 12
    assert god.saliency_precision(S, [1.5, 0, 3, 2]) == pytest.approx(8 / 12)
    # the same box in pixels of a 400 x 200 picture (100 px per column, 50 px per row)
    assert god.saliency_precision(S, [150, 0, 300, 100], image_size=(400, 200)) == pytest.approx(8 / 12)


# ------------------------------------------------------------------ centralities (§5.3.7)
def hand_graph(edges, V):
    n = len(V)
    W = np.zeros((n, n))
    for i, j in edges:
        W[i, j] = W[j, i] = 1.0
    return sp.csr_matrix(W), np.asarray(V, float)


def star():
    leaves = [[np.cos(t), np.sin(t)] for t in np.linspace(0, 2 * np.pi, 6)[:-1]]
    return hand_graph([(0, i) for i in range(1, 6)], [[0.0, 0.0]] + leaves)   # every edge costs 1


def path5():
    return hand_graph([(i, i + 1) for i in range(4)], [[float(i), 0.0] for i in range(5)])


def two_cliques():
    # cliques {0,1,2,3} and {4,5,6,7} (points in general position), bridge 3 - 4
    V = [[0, 0], [0, 1.1], [1.2, 0.1], [1.5, 1], [3.5, 1.2], [4.6, 0], [4.4, 1.9], [5.3, 1.1]]
    edges = [(i, j) for g in ((0, 1, 2, 3), (4, 5, 6, 7)) for i in g for j in g if i < j] + [(3, 4)]
    return hand_graph(edges, V)


def all_centralities(W, V):
    return {kind: god.centrality(W, kind, V if kind in ("betweenness", "closeness") else None) for kind in god.CENTRALITIES}


def test_star_by_hand_the_centre_is_the_most_central_for_all_six():
    W, V = star()
    c = all_centralities(W, V)
    np.testing.assert_allclose(c["degree"], [5, 1, 1, 1, 1, 1])
    np.testing.assert_allclose(c["eigenvector"], [1 / np.sqrt(2)] + [1 / np.sqrt(10)] * 5)    # lambda = sqrt(5)
    # PageRank: c = (1 - a)/6 + 5 a l, l = (1 - a)/6 + a c / 5 (sums to 1: c + 5 l = 1)
    a = god.PAGERANK_ALPHA
    M = np.array([[1, -5 * a], [-a / 5, 1]])
    cl = np.linalg.solve(M, np.full(2, (1 - a) / 6))                    # (centre, leaf)
    np.testing.assert_allclose(c["pagerank"], [cl[0]] + [cl[1]] * 5, atol=1e-10)
    np.testing.assert_allclose(c["betweenness"], [1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(c["closeness"], [5 * 5, 5 * (1 + 4 / 2)] + [15] * 4)           # (n-1) sum 1/d
    np.testing.assert_allclose(god.closeness(W, V, formula="textbook"), [1] + [5 / 9] * 5)    # (n-1) / sum d
    # Katz: u_c - 5 a u_l / sqrt 5 = 1 - a, u_l - a u_c / sqrt 5 = 1 - a
    a = god.KATZ_ALPHA
    uc = (1 + a * np.sqrt(5)) / (1 + a)
    np.testing.assert_allclose(c["katz"], [uc] + [(1 - a) + a * uc / np.sqrt(5)] * 5, rtol=1e-8)
    for kind, values in c.items():
        assert values[0] > values[1:].max(), kind


def test_path_of_five_by_hand():
    W, V = path5()
    c = all_centralities(W, V)
    np.testing.assert_allclose(c["degree"], [1, 2, 2, 2, 1])                  # the middle three tie
    s = np.sin(np.arange(1, 6) * np.pi / 6)                                    # eigenvector of the path, lambda = sqrt 3
    np.testing.assert_allclose(c["eigenvector"], s / np.linalg.norm(s), atol=1e-10)
    np.testing.assert_allclose(c["betweenness"], np.array([0, 3, 4, 3, 0]) / 6)  # pairs through i / C(4, 2)
    np.testing.assert_allclose(c["closeness"], 4 * np.array([25 / 12, 17 / 6, 3, 17 / 6, 25 / 12]))
    np.testing.assert_allclose(god.closeness(W, V, formula="textbook"), 4 / np.array([10, 7, 6, 7, 10]))
    for kind in ("eigenvector", "betweenness", "closeness"):
        assert c[kind].argmax() == 2 and np.sum(c[kind] == c[kind].max()) == 1, kind
    # PageRank and Katz are NOT largest in the middle: the ends hand all their mass to nodes 1 and 3
    for kind in ("pagerank", "katz"):
        assert c[kind][1] == pytest.approx(c[kind][3]) and c[kind][1] > c[kind][2] > c[kind][0], kind
    G = nx.path_graph(5)
    pr = nx.pagerank(G, alpha=god.PAGERANK_ALPHA, tol=1e-14, max_iter=10_000)
    np.testing.assert_allclose(c["pagerank"], [pr[i] for i in range(5)], atol=1e-10)


def test_two_cliques_bridge_ends_have_the_highest_betweenness():
    W, V = two_cliques()
    b = god.betweenness(W, V)
    # node 3 (and 4) lies on every shortest path between {0,1,2} and {4,...,7} (resp. {0..3} and {5,6,7}):
    # 3 * 4 = 12 of the C(7, 2) = 21 pairs of other nodes; nobody else is on a shortest path
    np.testing.assert_allclose(b, [0, 0, 0, 4 / 7, 4 / 7, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(god.betweenness(W, V, normalized=False), [0, 0, 0, 12, 12, 0, 0, 0], atol=1e-12)
    # with every vertex as a sampled source the estimate is exact; with 4 the bridge ends still lead
    np.testing.assert_allclose(god.betweenness(W, V, samples=8), b, atol=1e-12)
    assert set(np.argsort(-god.betweenness(W, V, samples=4))[:2]) == {3, 4}


def weighted_nx_graph(W, V):
    G = nx.Graph()
    G.add_nodes_from(range(W.shape[0]))
    Wc = sp.triu(W, 1).tocoo()
    for i, j, wij in zip(Wc.row, Wc.col, Wc.data):
        G.add_edge(int(i), int(j), weight=float(wij), cost=float(np.linalg.norm(V[i] - V[j])))
    return G


@pytest.mark.parametrize("case", ["star", "path", "cliques", "knn"])
def test_centralities_equal_networkx(case):
    if case == "knn":   # a weighted kNN graph of descriptors (union: connected), as in the region graph
        V = unit(np.random.default_rng(3).normal(size=(60, 5)))
        W = graph.knn_graph(V, 6, mutual=False)
        assert sp.csgraph.connected_components(W)[0] == 1
    else:
        W, V = {"star": star, "path": path5, "cliques": two_cliques}[case]()
    G = weighted_nx_graph(W, V)
    n = W.shape[0]
    as_array = lambda d: np.array([d[i] for i in range(n)])  # noqa: E731
    np.testing.assert_allclose(god.degree(W), as_array(dict(G.degree(weight="weight"))))
    np.testing.assert_allclose(god.eigenvector(W), as_array(nx.eigenvector_centrality_numpy(G, weight="weight")), atol=1e-8)
    pr = nx.pagerank(G, alpha=0.85, weight="weight", tol=1e-15, max_iter=100_000)
    np.testing.assert_allclose(god.pagerank(W, 0.85), as_array(pr), atol=1e-10)
    np.testing.assert_allclose(god.betweenness(W, V), as_array(nx.betweenness_centrality(G, weight="cost")), atol=1e-12)
    np.testing.assert_allclose(god.closeness(W, V, formula="textbook"),
                               as_array(nx.closeness_centrality(G, distance="cost")), rtol=1e-10)
    harmonic = as_array(nx.harmonic_centrality(G, distance="cost"))
    np.testing.assert_allclose(god.closeness(W, V), (n - 1) * harmonic, rtol=1e-10)
    np.testing.assert_allclose(god.closeness(W, V, chunk=7), (n - 1) * harmonic, rtol=1e-10)


def test_katz_by_cg_equals_the_dense_inverse_and_the_sum_of_diffusions():
    V = unit(np.random.default_rng(4).normal(size=(80, 6)))
    W = graph.knn_graph(V, 8)                                        # mutual: may leave isolated nodes
    Wd = W.toarray()
    d = Wd.sum(axis=1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0.0)
    S = inv[:, None] * Wd * inv[None, :]
    for alpha in (0.5, 0.9, 0.99):
        u = god.katz(W, alpha)
        dense = np.linalg.solve(np.eye(80) - alpha * S, (1 - alpha) * np.ones(80))
        np.testing.assert_allclose(u, dense, rtol=1e-7)
        # u* = sum_i x_i*, L_alpha x_i = (1 - alpha) e_i: the expected similarity to a random query vertex
        X = np.linalg.solve(np.eye(80) - alpha * S, (1 - alpha) * np.eye(80))
        np.testing.assert_allclose(u, X.sum(axis=1), rtol=1e-7)
    isolated = d == 0
    np.testing.assert_allclose(god.katz(W, 0.9)[isolated], 0.1)


def test_katz_tends_to_the_relative_degree_of_each_component():
    # a star of 6 and a single edge: as alpha -> 1, u_i -> sqrt(d_i) sum sqrt(d) / sum d per component
    W = sp.block_diag([star()[0], np.ones((2, 2)) - np.eye(2)]).tocsr()
    d = np.asarray(W.sum(axis=1)).ravel()
    limit = np.concatenate([np.sqrt(d[:6]) * np.sqrt(d[:6]).sum() / d[:6].sum(), [1.0, 1.0]])
    np.testing.assert_allclose(limit[:2], [(5 + 5 * np.sqrt(5)) / 10, (5 + np.sqrt(5)) / 10])
    np.testing.assert_allclose(god.katz(W, 0.999999, maxiter=10_000), limit, atol=1e-5)
    # blind to the component's size: the isolated pair outranks the star's leaves
    assert god.katz(W, 0.99)[6] > god.katz(W, 0.99)[1]


def test_closeness_seed_and_textbook_rank_differently():
    # a hub 0 at cost 1 from nodes 1, 2, 3; node 4 hangs on node 1 at cost 0.1
    W, V = hand_graph([(0, 1), (0, 2), (0, 3), (1, 4)], [[0, 0], [1, 0], [-1, 0], [0, 1], [1.1, 0]])
    seed, textbook = god.closeness(W, V), god.closeness(W, V, formula="textbook")
    # distances from 0: 1, 1, 1, 1.1; from 1: 1, 2, 2, 0.1. The seed's sum of inverse distances is
    # dominated by node 1's very near neighbour, the textbook's mean distance favours the hub
    np.testing.assert_allclose(seed[[0, 1]], [4 * (3 + 1 / 1.1), 4 * (1 + 0.5 + 0.5 + 10)])
    np.testing.assert_allclose(textbook[[0, 1]], [4 / 4.1, 4 / 5.1])
    assert seed[1] > seed[0] and textbook[0] > textbook[1]


# ------------------------------------------------------------------ bad inputs
def good_graph():
    return star()


@pytest.mark.parametrize("call, match", [
    (lambda: god.feature_saliency(np.ones((4, 4))), "A must be"),
    (lambda: god.feature_saliency(-np.ones((2, 4, 4))), "non-negative"),
    (lambda: god.feature_saliency(np.full((2, 3, 3), np.nan)), "NaN"),
    (lambda: god.fs_channel_weights(np.ones((2, 3, 3)), eps=0), "eps"),
    (lambda: god.preprocess(np.ones((3, 3)), rho=0), "rho"),
    (lambda: god.preprocess(-np.ones((3, 3))), "S must be non-negative"),
    (lambda: god.preprocess(np.ones(5)), "S must be"),
    (lambda: god.egm(np.ones((3, 3)), sigma=0), "sigma"),
    (lambda: god.egm(np.ones((3, 3)), purge=1.5), "purge"),
    (lambda: god.egm(np.ones((3, 3)), max_iter=-1), "max_iter"),
    (lambda: god.egm(np.ones((2, 3, 3))), "S must be"),
    (lambda: god.gaussian_inner([[0, 0]], [[1, 0]], [[0, 0]], [[1, 1]]), "variances"),
    (lambda: god.region_gem(np.ones((2, 3, 3)), [[0, 0, 1]]), "boxes"),
    (lambda: god.box_cells([], (3, 3)), "one"),
    (lambda: god.region_gem(np.ones((2, 3, 3)), [[2, 0, 1, 1]]), "x1 <= x2"),
    (lambda: god.region_gem(np.ones((2, 3, 3)), [[0, 0, 1, 1]], p=0), "p must"),
    (lambda: god.region_descriptors(np.ones((2, 3, 3)), [[0, 0, 1, 1]], F_hat=np.ones((2, 2))), "F_hat"),
    (lambda: god.patch_descriptors(np.ones((2, 5, 5)), a=2), "odd"),
    (lambda: god.patch_descriptors(np.ones((2, 5, 5)), pool="mean"), "pool"),
    (lambda: god.object_saliency(np.ones((2, 2)), np.ones((3, 4)), np.ones((5, 4)), np.ones(5), np.ones(5)), "Z must"),
    (lambda: god.object_saliency(np.ones((2, 2)), np.ones((4, 4)), np.ones((5, 3)), np.ones(5), np.ones(5)), "V must"),
    (lambda: god.object_saliency(np.ones((2, 2)), np.ones((4, 4)), np.ones((5, 4)), np.ones(4), np.ones(5)), "f must"),
    (lambda: god.object_saliency(np.ones((2, 2)), np.ones((4, 4)), np.ones((5, 4)), np.ones(5), -np.ones(5)), "u must"),
    (lambda: god.object_saliency(np.ones((2, 2)), np.ones((4, 4)), np.ones((5, 4)), np.ones(5), np.ones(5), k=6), "k must"),
    (lambda: god.saliency_precision(np.zeros((3, 3)), [0, 0, 1, 1]), "sums to 0"),
    (lambda: god.saliency_precision(np.ones((3, 3)), [0, 0, 1]), "box must"),
    (lambda: god.saliency_precision(np.ones((3, 3)), [0, 0, 1, 1], image_size=(0, 10)), "image_size"),
    (lambda: god.degree(np.ones((2, 3))), "W must be a square"),
    (lambda: god.degree(np.array([[0, 1], [2, 0]])), "symmetric"),
    (lambda: god.degree(np.array([[0, -1], [-1, 0]])), "non-negative"),
    (lambda: god.pagerank(good_graph()[0], alpha=1.0), "alpha"),
    (lambda: god.katz(good_graph()[0], alpha=0.0), "alpha"),
    (lambda: god.centrality(good_graph()[0], "harmonic"), "kind"),
    (lambda: god.centrality(good_graph()[0], "betweenness"), "pass the descriptors V"),
    (lambda: god.centrality(good_graph()[0], "katz", good_graph()[1]), "V is not used"),
    (lambda: god.closeness(*good_graph(), formula="mean"), "formula"),
    (lambda: god.betweenness(*good_graph(), samples=0), "samples"),
    (lambda: god.edge_costs(good_graph()[0], np.ones((5, 2))), "V must be"),
])
def test_bad_inputs_raise_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()

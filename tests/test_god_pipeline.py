"""rrlib.god.pipeline: the dataset-level glue of notebook 08, on tiny pictures and a tiny network."""
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from PIL import Image

from rrlib import god, graph
from rrlib.nets import learn_pca_whitening


def two_blobs(h=12, w=16):
    y, x = np.mgrid[0:h, 0:w] + 0.5
    return np.exp(-((x - 4) ** 2 + (y - 4) ** 2) / 3) + np.exp(-((x - 12) ** 2 + (y - 8) ** 2) / 3)


def test_sweep_grid_default_first_no_repeats():
    grid = god.sweep_grid(7, 2.5, (1, 7, 10), (1, 2.5))
    assert grid == [(7.0, 2.5), (1.0, 2.5), (10.0, 2.5), (7.0, 1.0)]


def test_config_checks_the_patch_side_and_scales():
    with pytest.raises(ValueError, match="patch_side"):
        god.GODConfig(patch_side=7, patch_sides=(1, 3))
    for bad in ((), (1.0, 0.0), (float("nan"),)):
        with pytest.raises(ValueError, match="scales"):
            god.GODConfig(scales=bad)
    assert god.GODConfig().katz_alpha == god.KATZ_ALPHA


def test_pool_scales_by_hand():
    # two scales: (3, 4) -> (0.6, 0.8), (1, 0) stays; p = 1 sums, p = 3 is GeM over scales
    v = np.array([[3.0, 4.0], [1.0, 0.0]])
    np.testing.assert_allclose(god.pool_scales(v, p=1), [1.6, 0.8])
    np.testing.assert_allclose(god.pool_scales(v, p=3), [(0.6 ** 3 + 1) ** (1 / 3), 0.8])
    np.testing.assert_allclose(god.pool_scales(v[:1], p=3), [0.6, 0.8])   # one scale: normalised
    np.testing.assert_array_equal(god.pool_scales(np.zeros((2, 3, 2))), np.zeros((3, 2)))  # no region stays zero


def test_split_maps_round_trip():
    maps = [np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(4, 3)]
    shapes = np.array([m.shape for m in maps])
    back = god.split_maps(np.concatenate([m.ravel() for m in maps]), shapes)
    for a, b in zip(maps, back):
        np.testing.assert_array_equal(a, b)
    rows = god.split_maps(np.arange(18 * 2).reshape(18, 2), shapes)   # per-cell rows keep their width
    assert [r.shape for r in rows] == [(6, 2), (12, 2)]


def test_os_map_equals_object_saliency():
    rng = np.random.default_rng(0)
    V = rng.normal(size=(30, 8))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    Z = rng.normal(size=(12, 8))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    F = rng.random((3, 4))
    f, u = rng.random(30), rng.random(30)
    sims, idx = graph.knn(V.astype(np.float32), 5, Z.astype(np.float32))
    np.testing.assert_allclose(god.os_map(F, sims, idx, f, u, theta=3),
                               god.object_saliency(F, Z, V, f, u, k=5, theta=3), rtol=1e-5)
    # naive eq 5.14, one cell
    p = 7
    naive = F.ravel()[p] ** 3 * sum(max(float(V[i] @ Z[p]), 0) * f[i] ** 3 * u[i] for i in idx[p])
    np.testing.assert_allclose(god.os_map(F, sims, idx, f, u).ravel()[p], naive, rtol=1e-5)


def test_whiten_rows_gives_unit_rows():
    rng = np.random.default_rng(1)
    X = np.abs(rng.normal(size=(50, 6)))
    w = learn_pca_whitening(X)
    Y = god.whiten_rows(X[:5] * 3.0, w)
    assert Y.dtype == np.float32 and Y.shape == (5, 6)
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(Y, god.whiten_rows(X[:5], w), rtol=1e-5)     # scale-free (L2 first)


def test_egm_vectors_match_detect_and_aggregate():
    S = two_blobs()
    rng = np.random.default_rng(2)
    A = rng.random((5,) + S.shape)
    grid = [(2.0, 1.0), (1.0, 2.5)]
    V, boxes = god.egm_vectors(S, A, grid)
    assert V.shape == (2, 5) and len(boxes) == 2
    for g, (rho, sigma) in enumerate(grid):
        b = god.detect_regions(S, rho=rho, sigma=sigma).boxes
        np.testing.assert_allclose(boxes[g], b)
        np.testing.assert_allclose(V[g], god.aggregate_regions(A, b))
    assert len(boxes[0]) == 2                                           # the two blobs


def tiny_net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, stride=4, padding=1), torch.nn.ReLU())
    return net.eval()


def test_feature_maps_shape_and_eval_mode():
    net = tiny_net().train()
    A = god.feature_maps(net, Image.new("RGB", (32, 24), (200, 30, 30)))
    assert A.shape == (6, 6, 8) and A.dtype == np.float32 and (A >= 0).all()
    assert net.training                                                  # restored


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    monkeypatch.setenv("RRLIB_DATA", str(tmp_path / "root"))
    rng = np.random.default_rng(3)
    paths = []
    for i in range(4):
        arr = (rng.random((24, 32, 3)) * 60).astype(np.uint8)
        arr[8:16, 8:16] = 250                                            # a bright square: something salient
        p = tmp_path / f"im{i}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return SimpleNamespace(name="tiny", imlist=[f"im{i}" for i in range(4)], qimlist=[], gnd=[], images=paths,
                           queries=[])


def test_two_passes_on_a_tiny_collection(tiny_data):
    net = tiny_net()
    X = np.abs(np.random.default_rng(4).normal(size=(40, 6)))
    w = learn_pca_whitening(X)
    cfg = god.GODConfig(rhos=(1.0,), sigmas=(1.0,), patch_sides=(1, 3), graph_k=2, os_k=2)
    R = god.collection_regions(tiny_data, net, w, cfg, progress=False)
    n_db = 4
    assert R["shapes"].tolist() == [[6, 8]] * n_db and R["sizes"].tolist() == [[32, 24]] * n_db
    assert len(R["V"]) == len(R["f"]) == len(R["owner"]) == len(R["boxes"]) > 0
    np.testing.assert_allclose(np.linalg.norm(R["V"], axis=1), 1, rtol=1e-5)
    assert R["vectors"].shape == (len(R["grid"]), n_db, 6)
    # the first region of picture 0 is its FS.EGM region, described as rrlib.god does
    A = god.feature_maps(net, tiny_data.images[0]).astype(np.float64)
    F = god.feature_saliency(A)
    np.testing.assert_allclose(god.split_maps(R["fs"], R["shapes"])[0], F, rtol=1e-5)
    b = god.detect_regions(F, rho=cfg.rho_fs, sigma=cfg.sigma_fs).boxes
    np.testing.assert_allclose(R["boxes"][R["owner"] == 0], b)
    # cached: a second call loads the same arrays
    R2 = god.collection_regions(tiny_data, net, w, cfg, progress=False)
    np.testing.assert_array_equal(R2["V"], R["V"])

    W = graph.knn_graph(R["V"], 2)
    U = god.collection_centralities(W, R["V"], katz_alpha=0.5)
    assert set(U) == set(god.CENTRALITIES) and all(len(u) == len(R["V"]) for u in U.values())
    np.testing.assert_allclose(U["katz"], god.katz(W, 0.5))

    P = god.patch_neighbours(tiny_data, net, w, R, U["katz"], cfg, progress=False)
    assert P["idx_1"].shape == P["sims_1"].shape == (n_db * 48, 2)
    sims = god.split_maps(P["sims_3"], R["shapes"])[0]
    idx = god.split_maps(P["idx_3"], R["shapes"])[0]
    Z = god.patch_descriptors(A, 3, whiten=w)
    S_direct = god.object_saliency(F, Z, R["V"], R["f"], U["katz"], k=2)
    np.testing.assert_allclose(god.os_map(F, sims, idx, R["f"], U["katz"]), S_direct, rtol=1e-4, atol=1e-12)
    assert P["vectors"].shape == (len(P["grid"]), n_db, 6)
    # R-MAC's uniform regions of picture 0, GeM-pooled and whitened
    ub = god.uniform_boxes(6, 8)
    np.testing.assert_allclose(P["uniform_V"][P["uniform_owner"] == 0], god.whiten_rows(god.region_gem(A, ub), w),
                               rtol=1e-5)
    np.testing.assert_allclose(P["uniform_vectors"][0], god.whiten_rows(god.aggregate_regions(A, ub)[None], w)[0],
                               rtol=1e-5)


def test_multi_scale_passes_keep_every_scale(tiny_data):
    net = tiny_net()
    w = learn_pca_whitening(np.abs(np.random.default_rng(4).normal(size=(40, 6))))
    scales = (1.0, 0.5)
    cfg = god.GODConfig(rhos=(1.0,), sigmas=(1.0,), patch_sides=(3,), graph_k=2, os_k=2, scales=scales)
    R = god.collection_regions(tiny_data, net, w, cfg, progress=False)
    assert R["shapes"].tolist() == [[6, 8], [3, 4]] * 4                 # picture by picture, its scales in order
    assert set(R["scale"].tolist()) <= {0, 1} and len(R["scale"]) == len(R["V"])
    # the regions of picture 1 at scale 1/2 are EGM's on that scale's FS map
    A = god.feature_maps(net, tiny_data.images[1], scale=0.5).astype(np.float64)
    F = god.feature_saliency(A)
    np.testing.assert_allclose(god.split_maps(R["fs"], R["shapes"])[3], F, rtol=1e-5)
    np.testing.assert_allclose(R["boxes"][(R["owner"] == 1) & (R["scale"] == 1)],
                               god.detect_regions(F, rho=cfg.rho_fs, sigma=cfg.sigma_fs).boxes)
    # the image vector pools both scales' FS.EGM vectors
    per_scale = []
    for s in scales:
        A_s = god.feature_maps(net, tiny_data.images[1], scale=s).astype(np.float64)
        per_scale.append(god.egm_vectors(god.feature_saliency(A_s), A_s, [(cfg.rho_fs, cfg.sigma_fs)])[0][0])
    expected = god.whiten_rows(god.pool_scales(per_scale, cfg.p)[None], w)[0]
    np.testing.assert_allclose(R["vectors"][0, 1], expected, rtol=1e-4, atol=1e-6)
    u = god.katz(graph.knn_graph(R["V"], 2), 0.5)
    P = god.patch_neighbours(tiny_data, net, w, R, u, cfg, progress=False)
    assert P["idx_3"].shape == (4 * (48 + 12), 2)                       # every cell of every scale
    assert P["vectors"].shape == (len(P["grid"]), 4, 6) and len(P["uniform_vectors"]) == 4


def test_uniform_boxes_are_rmac_squares():
    B = god.uniform_boxes(24, 32)
    assert len(B) == 20                                                   # a 3:4 map: 2 + 6 + 12
    assert (B[:, 2] - B[:, 0] == B[:, 3] - B[:, 1]).all() and B.min() >= 0 and B[:, 2].max() == 32


def test_centralities_accept_sparse_and_dense():
    W = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], float))
    V = np.eye(3)
    U = god.collection_centralities(W, V, kinds=("degree",), cache=False)
    np.testing.assert_allclose(U["degree"], [2, 1, 1])


def test_worker_processes_give_the_same_passes(tiny_data):
    net = tiny_net()
    w = learn_pca_whitening(np.abs(np.random.default_rng(4).normal(size=(40, 6))))
    cfg = god.GODConfig(rhos=(1.0,), sigmas=(1.0,), patch_sides=(1, 3), graph_k=2, os_k=2, scales=(1.0, 0.5))
    R1 = god.collection_regions(tiny_data, net, w, cfg, cache=False, progress=False)
    R2 = god.collection_regions(tiny_data, net, w, cfg, cache=False, progress=False, n_jobs=2)
    assert R1.keys() == R2.keys()
    for k in R1:
        np.testing.assert_allclose(R1[k], R2[k], rtol=1e-5, atol=1e-6, err_msg=k)
    u = god.katz(graph.knn_graph(R1["V"], 2), 0.5)
    P1 = god.patch_neighbours(tiny_data, net, w, R1, u, cfg, cache=False, progress=False)
    P2 = god.patch_neighbours(tiny_data, net, w, R1, u, cfg, cache=False, progress=False, n_jobs=2)
    for k in P1:
        np.testing.assert_allclose(P1[k], P2[k], rtol=1e-5, atol=1e-6, err_msg=k)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="n_jobs"):
            god.collection_regions(tiny_data, net, w, cfg, cache=False, progress=False, n_jobs=bad)

"""benchmarks/bench_scale.py (the R1M cost benchmark) at a tiny size (n ~ 5k, d = 64): the generated
descriptors have the requested dimension, unit norm and cosine spread; flat search is exact, IVF-PQ takes a
fraction of flat's memory and recalls no more than IVF at the same nprobe; the index memory formula is
faiss's own size; the truncated diffusions are those of rrlib.graph; the memory guard refuses what does not
fit; the projection is linear. No timing claims: timings on a shared machine are noise."""
import importlib.util
import re
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from rrlib import graph

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))           # it imports timing, scale_vectors, scale_parts
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_vectors_are_unit_rows_of_the_requested_dimension(bench, monkeypatch):
    monkeypatch.setattr(sys.modules["scale_vectors"], "CHUNK", 1000)
    src = bench.SphereMixture(2500, 64, seed=3)
    parts = [X for _, X in bench.chunks(src)]
    assert [len(X) for X in parts] == [1000, 1000, 500]
    for X in parts + [src.queries(7)]:
        assert X.dtype == np.float32 and X.shape[1] == 64
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(src.chunk(1), parts[1])            # a row is the same in every pass
    assert np.abs(parts[0] - parts[1]).max() > 0.1
    assert src.queries(7).shape == (7, 64)


@pytest.mark.parametrize("mean, std", [(0.05, 0.08), (0.2, 0.05)])
def test_generated_cosines_have_the_target_mean_and_spread(bench, mean, std, monkeypatch):
    """At R101-GeM's d = 2048 the pairwise cosine statistics are the requested ones (n = 100k: 2,000
    clusters, so pairs of one cluster are rare, as at R1M's scale)."""
    monkeypatch.setattr(sys.modules["scale_vectors"], "CHUNK", 2000)   # generate only the rows looked at
    src = bench.SphereMixture(100_000, 2048, mean, std, seed=0)
    got_mean, got_std = bench.pairwise_stats(bench.head(src, 2000))
    assert abs(got_mean - mean) < 0.01 and abs(got_std - std) < 0.1 * std, (got_mean, got_std)
    # and neighbours exist: a query's nearest item (among 6,000: 3 of its cluster on average) is far above
    X = bench.head(src, 6000)
    assert np.median((src.queries(20) @ X.T).max(axis=1)) > mean + 4 * std


@pytest.fixture
def tiny(bench):
    src = bench.SphereMixture(5000, 64, seed=0)
    Q = src.queries(20)
    r = bench.run(src, Q, nlist=bench.default_nlist(src.n), nprobe=8, pq_m=8, k=20, truncate=200, keep=50)
    return src, Q, r


def test_flat_is_exact_and_ivfpq_is_small(bench, tiny):
    src, Q, r = tiny
    X = bench.head(src, src.n)
    _, exact = graph.knn_brute(X, bench.TOP, Q)
    assert bench.recall(r["truth"], exact) == 1.0 and r["recall_flat"] == 1.0
    assert r["mem_flat"] == src.n * 64 * 4
    assert r["mem_ivfpq"] < 0.25 * r["mem_flat"]                      # 8 + 8 bytes a vector against 256
    assert r["mem_ivf"] > r["mem_flat"]                               # the vectors, their ids, the centroids
    assert 0.5 < r["recall_ivf"] <= 1.0 and 0.0 < r["recall_ivfpq"] <= r["recall_ivf"] + 0.02
    assert r["nnz"] > 0 and r["items"] <= 20 * r["kq"] and r["t_offline_all"] > 0


def test_index_bytes_is_faiss_own_size(bench):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 32)).astype(np.float32)
    q = faiss.IndexFlatIP(32)
    ivf = faiss.IndexIVFFlat(q, 32, 16, faiss.METRIC_INNER_PRODUCT)
    ivf.train(X)
    pq = faiss.IndexIVFPQ(q, 32, 16, 4, 8, faiss.METRIC_INNER_PRODUCT)
    pq.train(X)
    flat = faiss.IndexFlatIP(32)
    for ix in (flat, ivf, pq):
        ix.add(X)
        assert abs(bench.index_bytes(ix) - len(faiss.serialize_index(ix))) < 0.01 * len(faiss.serialize_index(ix))


def test_reserved_lists_and_given_cells_give_the_same_index(bench):
    """The IVF filled through reserve_lists + add_assigned (one coarse assignment) searches like faiss's add."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 16)).astype(np.float32)
    q = faiss.IndexFlatIP(16)
    a = faiss.IndexIVFFlat(q, 16, 10, faiss.METRIC_INNER_PRODUCT)
    a.train(X)
    b = faiss.IndexIVFFlat(q, 16, 10, faiss.METRIC_INNER_PRODUCT)
    cells = q.search(X, 1)[1][:, 0]
    bench.reserve_lists(b, np.bincount(cells, minlength=10))
    bench.add_assigned(b, X[:1200], cells[:1200])
    bench.add_assigned(b, X[1200:], cells[1200:])
    a.add(X)
    a.nprobe = b.nprobe = 3
    np.testing.assert_array_equal(a.search(X[:50], 10)[1], b.search(X[:50], 10)[1])


def test_truncated_online_diffusion_is_diffusion_search_with_truncation(bench):
    """Each query's scores on its subgraph are those of rrlib.graph.diffusion_search(truncate=t);
    the offline columns are rrlib.graph.truncated_columns itself (tested in tests/graph)."""
    src = bench.SphereMixture(600, 32, seed=2)
    X, Q = bench.head(src, 600), src.queries(4)
    k, kq, t = 10, 5, 80
    W = graph.knn_graph(X, k)
    q_sims, near = graph.knn(X, t, Q)
    out = bench.truncated_online(W, near, q_sims[:, :kq], near[:, :kq], alpha=0.9, gamma=3.0, rtol=1e-10,
                                 maxiter=500)
    ref = graph.diffusion_search(X, Q, k=k, kq=kq, alpha=0.9, truncate=t, rtol=1e-10, maxiter=500)
    for q, (sub, f) in enumerate(out):
        np.testing.assert_allclose(f, ref[sub, q], rtol=1e-6, atol=1e-9)


def test_the_index_is_freed_before_the_graph_is_built(bench, monkeypatch):
    """The memory estimate's graph phase holds the neighbours and the graph, not the IVF index (8 GB at
    1M x 2048): the first 1M run peaked at 11.5 GiB against its estimate of 8.75 because run() still held it."""
    import gc
    build = graph.knn_graph
    alive = []

    def knn_graph(*args, **kw):
        gc.collect()
        alive.append(sum(isinstance(o, faiss.Index) for o in gc.get_objects()))
        return build(*args, **kw)

    monkeypatch.setattr(graph, "knn_graph", knn_graph)
    src = bench.SphereMixture(3000, 32, seed=1)
    r = bench.run(src, src.queries(5), nlist=bench.default_nlist(src.n), nprobe=8, pq_m=4, k=10, truncate=100, keep=20)
    assert alive == [0] and r["nnz"] > 0


def test_memory_guard_refuses_what_does_not_fit(bench, monkeypatch, capsys):
    monkeypatch.setattr(sys.modules["scale_parts"], "available_memory", lambda: 2 * 2**30)
    with pytest.raises(SystemExit, match=r"n = 1,000,000, d = 2048 needs about \d+\.\d GiB .* only 2\.0 GiB"):
        bench.main(["--n", "1000000"])
    assert "R1M cost benchmark" not in capsys.readouterr().out      # refused before building anything
    # the 1M run planned for an idle 24 GiB machine fits, the flat or IVF index (8.2 GB) dominating
    p = sys.modules["scale_parts"].estimate_memory(1_000_000, 2048, nlist=4000, pq_m=64, k=50, ntrain=160_000, truncate=1000,
                              queries=70)
    assert 8e9 < max(p.values()) < 14 * 2**30


def test_projection_is_linear(bench):
    assert bench.project([1000], [3.0], 5000) == pytest.approx(15.0)
    # with several sizes: the line through the two largest (here exact: v = 2 + 0.01 n)
    assert bench.project([100, 1000, 2000], [0.0, 12.0, 22.0], 10_000) == pytest.approx(102.0)
    assert bench.project([2000, 1000], [22.0, 12.0], 1_005_994) == pytest.approx(2 + 0.01 * 1_005_994)


def test_main_prints_a_table_per_size_and_the_projection(bench, capsys):
    results = bench.main(["--n", "3000", "6000", "--d", "64", "--queries", "10", "--nprobe", "8",
                          "--truncate", "150", "--k", "10"])
    out = capsys.readouterr().out
    assert [r["n"] for r in results] == [3000, 6000]
    assert len(re.findall(r"^== n = ", out, re.M)) == 2
    assert "GENERATED vectors: a COST benchmark" in out
    for label in ("flat", "IVF", "IVF-PQ"):
        assert len(re.findall(rf"^{label} +[\d.]+ [MG]iB +[\d.]+ +[\d.]+ s", out, re.M)) == 2, out
    assert "PROJECTED to R1M (n = 1,005,994" in out and "not measured" in out
    assert re.search(r"^offline diffusion F +[\d.]+ MiB", out, re.M)

"""Smoke test of benchmarks/bench_active.py: its main runs end to end in ``--quick`` mode, the two label
propagations (all classes at once, one solve per class) agree at the CG tolerance, the printed output has one
block per size, the summary table and the scaling table -- and a per-class solve that is off is caught.
No timing claims: timings on a shared machine are noise."""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))           # it imports the shared timing helpers
    spec = importlib.util.spec_from_file_location("bench_active", ROOT / "benchmarks" / "bench_active.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_active_quick(capsys, monkeypatch):
    bench = _bench(monkeypatch)
    results = bench.main(["--quick", "--repeat", "1"])
    out = capsys.readouterr().out
    sizes = bench.QUICK_SIZES
    assert sorted(results) == sizes

    # the two propagations agree, relative to the solution's scale, at the CG tolerance (1e-6)
    for n, r in results.items():
        assert r["residual_all"] <= 2e-6 and r["residual_per"] <= 2e-6, (n, r)
        assert r["diff"] <= 2 * 1e-6 * np.sqrt(10), (n, r)             # 2 rtol max_j ||y_j||, 10 labeled a class
        assert r["diff"] / r["scale"] <= 1e-3, (n, r)
        assert r["accuracy"] > 0.8, (n, r)                              # sanity: the clusters are learnable

    # the header says how many threads ran; one block per size with (a), (b), (c)
    assert re.search(r"^threads: OMP_NUM_THREADS=\S+, faiss uses \d+", out, re.M), out
    for n in sizes:
        assert re.search(rf"^== n = {n:,}: kNN search [\d.]+ s \| knn_graph [\d.]+ s \| sym_normalize [\d.]+ s "
                         r"\([\d,]+ edges, [\d.]+% within-class", out, re.M), out
    assert len(re.findall(r"^== n = ", out, re.M)) == len(sizes)
    assert len(re.findall(r"^   \(a\) propagation of 10 classes: all at once [\d.]+ s \| one solve per class [\d.]+ s "
                          r"\(per-class / all-at-once x[\d.]+", out, re.M)) == len(sizes), out
    assert len(re.findall(r"max \|h_all - h_per\| [\d.e+-]+ = [\d.e+-]+ of max h", out)) == len(sizes), out
    assert len(re.findall(r"^   \(b\) graph \(kNN search \+ knn_graph \+ sym_normalize\) [\d.]+ s = x[\d.]+ the "
                          r"propagation all at once", out, re.M)) == len(sizes), out
    assert len(re.findall(r"^   \(c\) accuracy on the [\d,]+ unlabeled: label propagation [\d.]+% .*"
                          r"nearest labeled example \(1-NN\) [\d.]+%", out, re.M)) == len(sizes), out

    # the summary table: its header and one row per size
    assert re.search(r"^ +n \| kNN search \| knn_graph \| prop all \| prop per \| per/all \| graph/prop \| "
                     r"max\|diff\|/max h \| +bound \| accuracy \| 1-NN acc$", out, re.M), out
    for n in sizes:
        assert re.search(rf"^ +{n:,} \|( +[\d.]+ \|){{4}} +x[\d.]+ \| +x[\d.]+ \| +[\d.e+-]+ \| +[\d.e+-]+ \| "
                         r"+[\d.]+% \| +[\d.]+%$", out, re.M), out

    # the scaling table: every step, the reference and the exponent
    for step in ("kNN search (faiss, exact)", "knn_graph (reciprocal, from the search)", "sym_normalize",
                 "propagation, all classes at once", "propagation, one solve per class"):
        assert re.search(rf"^{re.escape(step)}\n  n = +{sizes[0]:,}: +[\d.]+ s +x1 \(reference\)\n"
                         rf"  n = +{sizes[1]:,}: +[\d.]+ s +x[\d.]+ .*n\^-?[\d.]+ from n = {sizes[0]:,}$",
                         out, re.M), (step, out)
    assert "machine check (a fixed faiss search" in out


def test_bench_active_catches_disagreement(monkeypatch, capsys):
    """The benchmark's check is live: a per-class solve that is off by 1e-3 (relative) fails it."""
    bench = _bench(monkeypatch)
    exact = bench.graph.diffuse_cg

    def off(S, y, alpha, **kw):
        f = exact(S, y, alpha, **kw)
        return f * (1 + 1e-3) if np.ndim(y) == 1 else f

    monkeypatch.setattr(bench.graph, "diffuse_cg", off)
    with pytest.raises(AssertionError, match="missed the CG tolerance|differ by"):
        bench.main(["--sizes", "1000", "--repeat", "1"])

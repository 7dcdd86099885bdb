"""Smoke test of benchmarks/bench_god.py: its main runs end to end on tiny collections and prints one
line per size, the scaling table, skips beyond the thresholds, and [S3]'s reported timings."""
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))           # it imports bench_mom's generator
    spec = importlib.util.spec_from_file_location("bench_god", ROOT / "benchmarks" / "bench_god.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_god_runs_on_tiny_sizes(capsys, monkeypatch):
    bench = _bench(monkeypatch)
    bench.main(["--sizes", "300", "600", "--images", "2", "--samples", "20",
                "--betweenness-max", "300", "--closeness-max", "600"])
    out = capsys.readouterr().out
    for n in ("300", "600"):
        assert re.search(rf"^== n = {n} regions: graph \d", out, re.M), out
    assert len(re.findall(r"^== n = ", out, re.M)) == 2
    # the scaling table: a line per size for the graph, the reference and the exponent
    assert re.search(r"^  n = +300: +[\d.]+ s +x1 \(reference\)", out, re.M), out
    assert re.search(r"^  n = +600: +[\d.]+ s +x[\d.]+ .*n\^-?[\d.]+ from n = 300", out, re.M), out
    # exact betweenness measured at 300 and honestly skipped at 600; closeness measured at both
    assert "betweenness exact skipped (n > 300)" in out
    assert re.search(r"^  n = +600: skipped \(n > 300\)", out, re.M), out
    assert "closeness skipped" not in out
    for kind in ("degree", "eigenvector", "pagerank", "betweenness (20 sources)", "closeness", "katz"):
        assert f"centrality {kind}" in out
    assert "OS + OS.EGM per picture" in out and "FS map + FS.EGM per picture" in out
    # [S3]'s timings, labelled as reported, with their source, and not claimed comparable
    assert re.search(r"^reported \(not measured here\): \[S3\].*5\.4\.1", out, re.M), out
    assert "36 s" in out and "0.02 s/image FS" in out and "0.23 s/image OS" in out
    assert "16-core Intel Xeon 2.00GHz" in out
    assert "NOT comparable in absolute terms" in out

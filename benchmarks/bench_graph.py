"""kNN graph with faiss vs numpy brute force, and CG diffusion vs a dense solve.

Synthetic L2-normalised descriptors (clustered, like real image descriptors) at the given sizes.
For each size it prints the largest disagreement and the speed ratio, both measured in this
run: kNN (faiss flat = exact, faiss IVF = approximate, with its recall against brute force), and
diffusion of a batch of queries by conjugate gradients against the dense solve (dense only where
an n x n matrix fits comfortably).

    python benchmarks/bench_graph.py [--sizes 5000 100000] [--dim 128] [--k 50] [--queries 20]
"""
import argparse
import time

import numpy as np

from rrlib.graph import diffuse_cg, diffuse_dense, knn, knn_brute, knn_graph, query_vector, sym_normalize


def clustered(n, dim, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, n // 50), dim))
    X = centres[rng.integers(0, len(centres), n)] + 0.7 * rng.normal(size=(n, dim))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 100000])
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--dense-max", type=int, default=6000, help="largest n for the dense solve")
    args = ap.parse_args()
    for n in args.sizes:
        X = clustered(n, args.dim)
        print(f"== n = {n:,}, d = {args.dim}, k = {args.k}")
        t_brute, (s_b, i_b) = timed(lambda: knn_brute(X, args.k + 1))
        t_flat, (s_f, i_f) = timed(lambda: knn(X, args.k + 1))
        t_ivf, (_, i_v) = timed(lambda: knn(X, args.k + 1, index="ivf"))
        recall = np.mean([len(np.intersect1d(a, b)) / len(a) for a, b in zip(i_v, i_b)])
        print(f"kNN  brute {t_brute:.2f} s | faiss flat {t_flat:.2f} s (x{t_brute / t_flat:.1f}, "
              f"max |sim diff| {np.abs(s_f - s_b).max():.1e}, same neighbours {np.mean(i_f == i_b):.4f}) | "
              f"faiss IVF {t_ivf:.2f} s (x{t_brute / t_ivf:.1f}, recall {recall:.3f})")
        W = knn_graph(X, args.k, neighbors=(s_f, i_f))
        S = sym_normalize(W)
        sims, idx = knn(X, 10, X[: args.queries])
        Y = query_vector(sims, idx, n)
        t_cg, F_cg = timed(lambda: diffuse_cg(S, Y, 0.99, rtol=1e-8, maxiter=1000))
        if n <= args.dense_max:
            t_dense, F_d = timed(lambda: diffuse_dense(S, Y, 0.99))
            rel = np.abs(F_cg - F_d).max() / np.abs(F_d).max()
            print(f"diffusion of {args.queries} queries: dense solve {t_dense:.2f} s | CG {t_cg:.3f} s "
                  f"(x{t_dense / t_cg:.0f}, max relative diff {rel:.1e})")
        else:
            print(f"diffusion of {args.queries} queries: CG {t_cg:.3f} s (dense {n}x{n} solve skipped: "
                  f"{8 * n * n / 2**30:.0f} GiB)")


if __name__ == "__main__":
    main()

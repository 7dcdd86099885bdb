"""Mining on manifolds at scale: 1,500 anchors on a 100k-node kNN graph of random descriptors
(overlapping clusters in a 32-D subspace of 128-D).

The released code (gtolias/mom ``posmine.m`` / ``negmine.m``) solves one diffusion per anchor.
rrlib solves a block of anchors at once: one batched conjugate-gradient run of
:func:`rrlib.graph.diffuse_cg`, one sparse matrix x dense block product per step. This script
measures, in one run on the same graph:

* the steps of :func:`rrlib.mom.mine_pools` (kNN graph, largest component, pi, anchors, pools);
* the manifold similarities of ``--sample`` anchors solved one by one (scipy's CG) against the
  same anchors solved as one block, as a per-anchor time ratio, with their largest difference;
* the peak memory of a block (``tracemalloc``: numpy's allocations), and what the code's one
  solve per anchor would hold.

    python benchmarks/bench_mom.py [--n 100000] [--dim 128] [--anchors 1500] [--chunk 256] [--sample 64]
"""
import argparse
import time
import tracemalloc

import numpy as np

from timing import timed
from rrlib import graph, mom


def clustered(n, dim, latent=32, seed=0):
    """Overlapping clusters in a ``latent``-dimensional subspace, rotated into ``dim`` dimensions:
    descriptors of low intrinsic dimension, as image descriptors are. (Isotropic clusters in all
    ``dim`` dimensions give a mutual kNN graph of tiny components: no manifold to mine.)"""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, n // 50), latent))
    Z = centres[rng.integers(0, len(centres), n)] + 0.7 * rng.normal(size=(n, latent))
    basis, _ = np.linalg.qr(rng.normal(size=(dim, latent)))
    X = Z @ basis.T
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--anchors", type=int, default=mom.N_ANCHORS_CODE)
    ap.add_argument("--chunk", type=int, default=256, help="anchors per batched CG run")
    ap.add_argument("--sample", type=int, default=64, help="anchors solved one by one for the ratio")
    args = ap.parse_args()
    X = clustered(args.n, args.dim)
    print(f"== n = {args.n:,}, d = {args.dim}, k = {mom.K_GRAPH}, {args.anchors} anchors, blocks of {args.chunk}")
    t_graph, W = timed(lambda: graph.knn_graph(X, mom.K_GRAPH, gamma=mom.GAMMA))
    t_cc, keep = timed(lambda: mom.largest_component(W))
    W = W[keep][:, keep]
    t_pi, pi = timed(lambda: mom.stationary_distribution(W))
    t_anchor, anchors = timed(lambda: mom.select_anchors(W, pi, args.anchors))
    S = graph.sym_normalize(W)
    print(f"kNN graph {t_graph:.1f} s ({W.nnz:,} edges) | largest component {t_cc:.2f} s ({len(keep):,} nodes) | "
          f"pi {t_pi:.3f} s | anchors {t_anchor:.2f} s ({len(anchors)} local maxima kept)")

    Xk = X[keep]

    def pools(block):
        M = mom.manifold_similarity(S, block)
        E = Xk @ Xk[block].T
        for a in range(len(block)):
            mom.positive_pool(M[:, a], E[:, a])
            mom.negative_pool(M[:, a], E[:, a])
        return M

    t_all = time.perf_counter()
    for start in range(0, len(anchors), args.chunk):
        pools(anchors[start:start + args.chunk])
    t_all = time.perf_counter() - t_all
    tracemalloc.start()                       # slows numpy down: measured on one block, apart
    pools(anchors[: args.chunk])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"pools of all {len(anchors)} anchors (batched CG + both pool rules): {t_all:.1f} s "
          f"({1000 * t_all / len(anchors):.0f} ms per anchor); peak {peak / 2**20:.0f} MiB of numpy arrays per block")

    sample = anchors[: args.sample]
    t_block, F_block = timed(lambda: mom.manifold_similarity(S, sample))
    def one_by_one():
        out = np.zeros((S.shape[0], len(sample)))
        for j, a in enumerate(sample):
            e = np.zeros(S.shape[0])
            e[a] = 1.0
            out[:, j] = graph.diffuse_cg(S, e, mom.ALPHA, rtol=1e-6, maxiter=200)
        return out
    t_single, F_single = timed(one_by_one)
    rel = np.abs(F_block - F_single).max() / np.abs(F_single).max()
    print(f"manifold similarity of {len(sample)} anchors: one by one {t_single:.2f} s "
          f"({1000 * t_single / len(sample):.0f} ms each) | one block {t_block:.2f} s "
          f"({1000 * t_block / len(sample):.0f} ms each): x{t_single / t_block:.1f}; max relative difference {rel:.1e}")
    print(f"memory: a block holds n x chunk float64 ({8 * len(keep) * args.chunk / 2**20:.0f} MiB per array); "
          f"one solve per anchor holds one column ({8 * len(keep) / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()

"""Label propagation of the active-learning chapter ([S3] chapter 3, eq 3.9): all classes at once vs one
solve per class, and what the kNN graph costs against the propagation.

The classifier of eq 3.9 is

    h(Y) = (1 - alpha) L_alpha^{-1} Y,   L_alpha = I - alpha S,   S = D^{-1/2} W D^{-1/2},

with W the reciprocal (mutual) kNN graph of the features, weights [cos]_+^gamma, k = 50, gamma = 3,
alpha = 0.99, and Y the n x c matrix of one-hot rows for the labeled examples (zero rows otherwise);
the prediction of example i is the argmax of row i of h(Y). The machinery is :mod:`rrlib.graph`:
:func:`~rrlib.graph.knn` (exact faiss self-search), :func:`~rrlib.graph.knn_graph`,
:func:`~rrlib.graph.sym_normalize` and :func:`~rrlib.graph.diffuse_cg`.

Synthetic features at each size n: ``--classes`` c Gaussian clusters on the unit sphere in ``--dim``
dimensions (random unit centres, isotropic noise of norm about ``--noise``, then L2-normalised; seeded),
``--labeled`` labeled examples per class. The default noise 2.25 makes the kNN graph mostly, not
entirely, within-class (about 93% of its edges at n = 10,000), so the labels have something to do.
For each size, measured in this run:

(a) the propagation of all c classes at once (one :func:`~rrlib.graph.diffuse_cg` call with the n x c
    Y: rrlib's column-wise CG, one sparse matrix x dense block product per step) against one solve per
    class (c calls with a 1-D column: scipy's ``cg``), both at the same ``--rtol``. Printed: their time
    ratio per-class / all-at-once (the two are run alternately ``--repeat`` times, the fastest of each
    kept), their true relative residuals ||L_alpha f - y|| / ||y||, and the largest absolute difference
    of the two h(Y), also relative to max h(Y). Checked (an AssertionError otherwise): every residual is
    at most 2 rtol, and the difference is at most 2 rtol max_j ||y_j|| -- the bound at the CG tolerance:
    two solutions with residuals below rtol ||y|| differ by at most 2 rtol ||y|| / lambda_min(L_alpha)
    in f, and lambda_min(L_alpha) >= 1 - alpha, which h's factor (1 - alpha) cancels. (The ratio compares
    two implementations as well as batching: scipy's cg with a Python matvec per step against numpy
    block updates.)
(b) the kNN graph -- the faiss self-search (k + 1 neighbours) and :func:`~rrlib.graph.knn_graph` on it,
    plus :func:`~rrlib.graph.sym_normalize` -- against the propagation: which step dominates. Each is
    timed once per size (the search at n = 100,000 took 34 s with one thread); only calls shorter than
    0.2 s, at small sizes, are repeated (5 calls, the fastest kept).
(c) as a sanity number, the accuracy of the propagated labels (argmax of h(Y) rows against the true
    cluster) on the unlabeled examples, next to the accuracy of the nearest labeled example (1-NN by
    cosine) on the same features; examples that no label reaches (isolated nodes, components without a
    labeled example: a zero row of h(Y)) count as errors and are reported.

Then a summary table (one row per size) and, as in bench_god.py, how each time scales between sizes:
seconds, ratio to the smallest size, exponent b of t ~ n^b. Absolute timings on a shared machine are
noisy: read the ratios, which come from one run; a fixed faiss workload timed before each size and at the
end shows whether the machine's speed changed during the run. Results are printed, nothing is written.

    OMP_NUM_THREADS=1 python benchmarks/bench_active.py [--sizes 10000 100000 | --quick] [--classes 10]
        [--dim 128] [--noise 2.25] [--labeled 10] [--k 50] [--gamma 3] [--alpha 0.99] [--rtol 1e-6]
        [--maxiter 1000] [--repeat 5] [--seed 0]

The default run (sizes 10,000 and 100,000) takes about a minute with one thread (52 s on 2 quiet cores),
most of it the exact kNN search at 100,000 (about quadratic in n, the propagation closer to linear);
``--quick`` (sizes 1,000 and 2,000) a few seconds. ``--sizes`` also takes a comma-separated list
(``--sizes 10000,100000``).

What one default run showed (OMP_NUM_THREADS=1, 2 cores; read the ratios, the absolute times are this
machine's): the two propagations agree to about 1e-15 of max h(Y) -- the same CG recurrences -- far below
the bound (4e-4 to 6e-4 of max h(Y)). One solve per class took x1.18 (10k) and x0.99 (100k) the time of
all classes at once: no real gain from the block at c = 10 (the block CG multiplies every column until
the last has converged; a sparse x (n x 10) product cost about six sparse x vector products in a separate
check, and the block's dense updates on n x 10 arrays take the rest). The graph took x8.6 (10k) and x29
(100k) the time of the propagation, 90% and 97% of graph + propagation: the search grew as n^1.84, the
propagation as n^1.3. Accuracy 99.1-99.2% (the nearest labeled example: 87-88%), with 93-97% of the
graph's edges within a class.
"""
import argparse
import math
import os

import faiss
import numpy as np
from scipy.sparse.csgraph import connected_components

from timing import machine_check, print_scaling, timed, timed_min
from rrlib import graph

QUICK_SIZES = [1000, 2000]
DEFAULT_SIZES = [10_000, 100_000]


def clustered_sphere(n, classes=10, dim=128, noise=2.25, seed=0):
    """``n`` L2-normalised features in ``classes`` Gaussian clusters on the unit sphere, and their labels:
    random unit centres (nearly orthogonal in high dimension), plus isotropic noise of expected norm
    ``noise``, normalised again. The cosine of two examples of a class is then about 1 / (1 + noise^2)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, classes, n)
    X = centres[labels] + noise * rng.normal(size=(n, dim)) / math.sqrt(dim)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), labels


def labeled_subset(labels, classes, per_class, seed=0):
    """``per_class`` examples of each class, drawn at random (seeded): the indices of the labeled set."""
    rng = np.random.default_rng(seed + 1)
    counts = np.bincount(labels, minlength=classes)
    if counts.min() < per_class:
        raise ValueError(f"a class has only {counts.min()} examples, fewer than {per_class} to label: raise n")
    return np.concatenate([rng.choice(np.flatnonzero(labels == j), per_class, replace=False)
                           for j in range(classes)])


def one_hot(n, classes, labeled, labels):
    """Y of eq 3.9: ``(n, classes)``, row i one-hot of ``labels[i]`` for the labeled i, zero otherwise."""
    Y = np.zeros((n, classes))
    Y[labeled, labels[labeled]] = 1.0
    return Y


def propagate_all(S, Y, alpha, rtol, maxiter):
    """h(Y) = (1 - alpha) (I - alpha S)^{-1} Y, all columns in one :func:`rrlib.graph.diffuse_cg` call."""
    return (1 - alpha) * graph.diffuse_cg(S, Y, alpha, rtol=rtol, maxiter=maxiter)


def propagate_per_class(S, Y, alpha, rtol, maxiter):
    """The same h(Y), one :func:`rrlib.graph.diffuse_cg` call (scipy's cg) per class column."""
    return (1 - alpha) * np.column_stack([graph.diffuse_cg(S, Y[:, j], alpha, rtol=rtol, maxiter=maxiter)
                                          for j in range(Y.shape[1])])


def relative_residuals(S, H, Y, alpha):
    """Per column, ||(I - alpha S) f - y|| / ||y|| with f = H / (1 - alpha): the true residual of the solve."""
    F = H / (1 - alpha)
    R = F - alpha * (S @ F) - Y
    return np.linalg.norm(R, axis=0) / np.maximum(np.linalg.norm(Y, axis=0), 1e-300)


def _sizes(text):
    """``--sizes`` values: integers, each possibly a comma-separated list (``10000,100000``)."""
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=_sizes, nargs="+", default=None,
                    help=f"numbers of examples n (default {DEFAULT_SIZES}; '10000,100000' also works)")
    ap.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES} (unless --sizes is given)")
    ap.add_argument("--classes", type=int, default=10, help="number of classes c (Gaussian clusters)")
    ap.add_argument("--dim", type=int, default=128, help="feature dimension d")
    ap.add_argument("--noise", type=float, default=2.25,
                    help="expected norm of each example's noise around its unit centre")
    ap.add_argument("--labeled", type=int, default=10, help="labeled examples per class")
    ap.add_argument("--k", type=int, default=50, help="neighbours of the reciprocal kNN graph ([S3] ch. 3: 50)")
    ap.add_argument("--gamma", type=float, default=3.0, help="weights [cos]_+^gamma ([S3] ch. 3: 3)")
    ap.add_argument("--alpha", type=float, default=0.99, help="alpha of eq 3.9 ([S3] ch. 3: 0.99)")
    ap.add_argument("--rtol", type=float, default=1e-6, help="CG tolerance: residual <= rtol ||y|| per column")
    ap.add_argument("--maxiter", type=int, default=1000, help="CG iteration limit")
    ap.add_argument("--repeat", type=int, default=5,
                    help="alternate runs of each propagation (all at once, per class); the fastest kept")
    ap.add_argument("--seed", type=int, default=0, help="seed of the features and of the labeled set")
    args = ap.parse_args(argv)
    sizes = sorted({n for group in args.sizes for n in group}) if args.sizes else \
        (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    c = args.classes
    if sizes[0] <= max(args.k, 2 * c * args.labeled):
        ap.error(f"every size must exceed k = {args.k} and twice the labeled set (2 x {c * args.labeled} examples)")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    print(f"label propagation ([S3] eq 3.9): sizes {', '.join(f'{n:,}' for n in sizes)}, c = {c} classes, "
          f"d = {args.dim}, noise {args.noise:g}, {args.labeled} labeled per class; reciprocal kNN graph k = {args.k}, "
          f"gamma = {args.gamma:g}, alpha = {args.alpha:g}; CG rtol {args.rtol:g}, maxiter {args.maxiter}")
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, faiss uses "
          f"{faiss.omp_get_max_threads()}, {os.cpu_count()} CPUs")

    T = {}          # step -> {n: seconds}
    results = {}    # n -> numbers, returned for the smoke test
    checks = {}

    def record(name, n, value):
        T.setdefault(name, {})[n] = value

    for n in sizes:
        checks[n] = machine_check(args.dim)
        X, labels = clustered_sphere(n, c, args.dim, args.noise, args.seed)
        labeled = labeled_subset(labels, c, args.labeled, args.seed)
        Y = one_hot(n, c, labeled, labels)

        # (b) the graph: exact kNN self-search, the reciprocal graph on it, the normalisation
        t_knn, (sims, idx) = timed_min(lambda: graph.knn(X, args.k + 1))
        t_graph, W = timed_min(lambda: graph.knn_graph(X, args.k, gamma=args.gamma, mutual=True,
                                                       neighbors=(sims, idx)))
        t_norm, S = timed_min(lambda: graph.sym_normalize(W))
        rows, cols = W.nonzero()
        within = float(np.mean(labels[rows] == labels[cols]))
        n_comp, _ = connected_components(W, directed=False)
        isolated = int((np.diff(W.indptr) == 0).sum())
        print(f"== n = {n:,}: kNN search {t_knn:.3f} s | knn_graph {t_graph:.3f} s | sym_normalize {t_norm:.4f} s "
              f"({W.nnz // 2:,} edges, {within:.1%} within-class, {n_comp:,} components, {isolated:,} isolated); "
              f"machine check {checks[n]:.3f} s (x{checks[n] / checks[sizes[0]]:.2f} of the first)")

        # (a) all classes at once vs one solve per class, alternately, the fastest of each kept
        runs_all, runs_per = [], []
        for _ in range(args.repeat):
            t, H_all = timed(lambda: propagate_all(S, Y, args.alpha, args.rtol, args.maxiter))
            runs_all.append(t)
            t, H_per = timed(lambda: propagate_per_class(S, Y, args.alpha, args.rtol, args.maxiter))
            runs_per.append(t)
        t_all, t_per = min(runs_all), min(runs_per)
        res_all = relative_residuals(S, H_all, Y, args.alpha).max()
        res_per = relative_residuals(S, H_per, Y, args.alpha).max()
        diff = float(np.abs(H_all - H_per).max())
        scale = float(np.abs(H_all).max())
        bound = 2 * args.rtol * float(np.linalg.norm(Y, axis=0).max())
        print(f"   (a) propagation of {c} classes: all at once {t_all:.4f} s | one solve per class {t_per:.4f} s "
              f"(per-class / all-at-once x{t_per / t_all:.2f}; fastest of {args.repeat})")
        print(f"       relative residuals: all at once {res_all:.1e}, per class {res_per:.1e} (rtol {args.rtol:g}); "
              f"max |h_all - h_per| {diff:.1e} = {diff / scale:.1e} of max h {scale:.3g} "
              f"(bound 2 rtol max||y_j|| = {bound:.1e} = {bound / scale:.1e} of max h)")
        if not (res_all <= 2 * args.rtol and res_per <= 2 * args.rtol):
            raise AssertionError(f"n = {n}: a propagation missed the CG tolerance: relative residuals "
                                 f"{res_all:.2e} (all at once), {res_per:.2e} (per class) > 2 rtol = {2 * args.rtol:g}")
        if not diff <= bound:
            raise AssertionError(f"n = {n}: all-at-once and per-class propagations differ by {diff:.2e} "
                                 f"> {bound:.2e} (2 rtol max||y_j||)")
        t_build = t_knn + t_graph + t_norm
        print(f"   (b) graph (kNN search + knn_graph + sym_normalize) {t_build:.3f} s = x{t_build / t_all:.1f} the "
              f"propagation all at once, x{t_build / t_per:.1f} per class; the graph is "
              f"{t_build / (t_build + t_all):.1%} of graph + propagation (all at once)")

        # (c) sanity: accuracy on the unlabeled examples
        unlabeled = np.setdiff1d(np.arange(n), labeled)
        unreached = ~H_all[unlabeled].any(axis=1)
        pred = H_all[unlabeled].argmax(axis=1)
        acc = float(np.mean((pred == labels[unlabeled]) & ~unreached))
        nearest = labeled[(X[unlabeled] @ X[labeled].T).argmax(axis=1)]
        acc_1nn = float(np.mean(labels[nearest] == labels[unlabeled]))
        print(f"   (c) accuracy on the {len(unlabeled):,} unlabeled: label propagation {acc:.1%} "
              f"({int(unreached.sum()):,} unreached, counted wrong) | nearest labeled example (1-NN) {acc_1nn:.1%}")

        record("kNN search (faiss, exact)", n, t_knn)
        record("knn_graph (reciprocal, from the search)", n, t_graph)
        record("sym_normalize", n, t_norm)
        record("propagation, all classes at once", n, t_all)
        record("propagation, one solve per class", n, t_per)
        results[n] = dict(t_knn=t_knn, t_graph=t_graph, t_norm=t_norm, t_all=t_all, t_per=t_per,
                          residual_all=float(res_all), residual_per=float(res_per), diff=diff, bound=bound,
                          scale=scale, accuracy=acc, accuracy_1nn=acc_1nn, unreached=int(unreached.sum()),
                          within=within, edges=W.nnz // 2)

    checks["end"] = machine_check(args.dim)
    print("\nsummary (times in s; ratios of times measured in this run; graph = kNN search + knn_graph + "
          "sym_normalize; prop = all classes at once)")
    head = (f"{'n':>9} | {'kNN search':>10} | {'knn_graph':>9} | {'prop all':>8} | {'prop per':>8} | "
            f"{'per/all':>7} | {'graph/prop':>10} | {'max|diff|/max h':>15} | {'bound':>7} | "
            f"{'accuracy':>8} | {'1-NN acc':>8}")
    print(head)
    print("-" * len(head))
    for n in sizes:
        r = results[n]
        t_build = r["t_knn"] + r["t_graph"] + r["t_norm"]
        print(f"{n:>9,} | {r['t_knn']:>10.3f} | {r['t_graph']:>9.3f} | {r['t_all']:>8.4f} | {r['t_per']:>8.4f} | "
              f"{'x%.2f' % (r['t_per'] / r['t_all']):>7} | {'x%.1f' % (t_build / r['t_all']):>10} | "
              f"{r['diff'] / r['scale']:>15.1e} | "
              f"{r['bound'] / r['scale']:>7.1e} | {r['accuracy']:>8.1%} | {r['accuracy_1nn']:>8.1%}")

    print("\nscaling with n (measured in this run)")
    for name, times in T.items():
        print_scaling(name, sizes, times)
    spread = max(checks.values()) / min(checks.values())
    print(f"machine check (a fixed faiss search before each size and at the end): {min(checks.values()):.3f} to "
          f"{max(checks.values()):.3f} s, x{spread:.2f}"
          + ("" if spread < 1.5 else ": the machine's speed changed during the run, so the ratios across sizes "
             "mix scaling and load -- rerun on a quieter machine (or with OMP_NUM_THREADS=1)"))
    return results


if __name__ == "__main__":
    main()

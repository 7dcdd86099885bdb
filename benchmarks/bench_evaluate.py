"""compute_map against revisitop's own algorithm, measured side by side in this run.

70 queries x 1M database items of random rankings, with revisitop-sized ground truth (tens to
hundreds of positives and junk per query). The baseline is ``revisitop_baseline.compute_map``,
a faithful copy of revisitop's ``python/evaluate.py`` (per query: two ``np.isin`` scans of the
ranking, a Python loop over the positives). ``rrlib.evaluate.compute_map`` includes all its
input checks (index range, an item listed twice in a ranking). Prints both times (best of
``--repeat``), their ratio and the largest difference between the two results.

``--order C`` (default) stores the ranks row-major, as revisitop's ``np.argsort(-S, axis=0)``
returns them; ``--order F`` column-major, as ``rrlib.evaluate.ranks_from_scores`` does.

    python benchmarks/bench_evaluate.py [--n-db 1000000] [--n-queries 70] [--repeat 3] [--order C]
"""
import argparse
import time

import numpy as np
from revisitop_baseline import compute_map as revisitop_compute_map

from rrlib.evaluate import compute_map


def make_case(n_db: int, nq: int, seed: int = 0, order: str = "C"):
    """Random rankings where each query's positives sit near the top (so AP is not ~0)."""
    rng = np.random.default_rng(seed)
    ranks = np.empty((n_db, nq), dtype=np.int64, order=order)
    gnd = []
    for q in range(nq):
        n_ok, n_junk = int(rng.integers(10, 400)), int(rng.integers(0, 200))
        items = rng.permutation(n_db)
        ok, junk, rest = items[:n_ok], items[n_ok : n_ok + n_junk], items[n_ok:]
        top = np.sort(rng.choice(min(n_db, 5 * n_ok + 10), n_ok, replace=False))
        is_top = np.zeros(n_db, dtype=bool)
        is_top[top] = True
        ranks[is_top, q] = ok
        ranks[~is_top, q] = rest  # junk and negatives, in random order
        gnd.append({"ok": ok, "junk": junk})
    return ranks, gnd


def best_time(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-db", type=int, default=1_000_000)
    ap.add_argument("--n-queries", type=int, default=70)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--order", choices=("C", "F"), default="C")
    args = ap.parse_args()

    ranks, gnd = make_case(args.n_db, args.n_queries, order=args.order)
    kappas = (1, 5, 10)
    t_ref, ref = best_time(lambda: revisitop_compute_map(ranks, gnd, kappas), args.repeat)
    t_new, got = best_time(lambda: compute_map(ranks, gnd, kappas), args.repeat)
    diff = max(abs(got[0] - ref[0]), np.abs(got[1] - ref[1]).max(),
               np.abs(got[2] - ref[2]).max(), np.abs(got[3] - ref[3]).max())
    print(f"ranks: {args.n_queries} queries x {args.n_db:,} items, order {args.order}; "
          f"mAP = {100 * got[0]:.2f}, mP@{list(kappas)} = {np.round(100 * got[2], 2).tolist()}")
    print(f"max |difference| rrlib vs revisitop: {diff:.3e}")
    print(f"revisitop compute_map: {t_ref:.3f} s   rrlib compute_map (with checks): {t_new:.3f} s   "
          f"(best of {args.repeat})")
    print(f"speed ratio revisitop / rrlib: {t_ref / t_new:.1f}x")


if __name__ == "__main__":
    main()

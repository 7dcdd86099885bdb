"""compute_map (vectorised) against the per-query loop of revisitop's algorithm.

70 queries x 1M database items of random rankings, with revisitop-sized ground truth (tens to
hundreds of positives and junk per query). Prints the largest difference between the two
results and the speed ratio, both measured in this run.

    python benchmarks/bench_evaluate.py [--n-db 1000000] [--n-queries 70] [--repeat 3]
"""
import argparse
import time

import numpy as np

from rrlib.evaluate import compute_map, compute_map_loop


def make_case(n_db: int, nq: int, seed: int = 0):
    """Random rankings where each query's positives sit near the top (so AP is not ~0)."""
    rng = np.random.default_rng(seed)
    ranks = np.empty((n_db, nq), dtype=np.int64)
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
    args = ap.parse_args()

    ranks, gnd = make_case(args.n_db, args.n_queries)
    kappas = (1, 5, 10)
    t_loop, ref = best_time(lambda: compute_map_loop(ranks, gnd, kappas), args.repeat)
    t_vec, got = best_time(lambda: compute_map(ranks, gnd, kappas), args.repeat)
    diff = max(abs(got[0] - ref[0]), np.abs(got[1] - ref[1]).max(),
               np.abs(got[2] - ref[2]).max(), np.abs(got[3] - ref[3]).max())
    print(f"ranks: {args.n_queries} queries x {args.n_db:,} items; mAP = {100 * got[0]:.2f}, "
          f"mP@{list(kappas)} = {np.round(100 * got[2], 2).tolist()}")
    print(f"max |difference| vectorised vs loop: {diff:.3e}")
    print(f"loop (revisitop algorithm): {t_loop:.3f} s   vectorised: {t_vec:.3f} s   "
          f"(best of {args.repeat})")
    print(f"speed ratio loop / vectorised: {t_loop / t_vec:.1f}x")


if __name__ == "__main__":
    main()

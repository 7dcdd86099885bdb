"""Inverted file vs dense BoW scoring, and the cost of one spatially verified image pair.

1. Synthetic bag-of-words databases (``N`` images of ``n`` features each, words drawn from a
   Zipf-like distribution over ``K`` words, as real visual words are) with their tf-idf vectors:
   all queries scored by the inverted file (sparse product, reads only the query words' lists)
   and by a dense ``(N, K)`` matrix product over the *same* vectors. Prints both times, the ratio
   and whether the rankings agree.
2. synth-landmarks (if generated, or ``--generate``): SIFT + vocabulary as notebook 02, the top
   shortlist of every query verified by fast spatial matching and by LO-RANSAC; time per pair.

    python benchmarks/bench_bow.py [--sizes 5000 20000] [--words 16384] [--features 400] [--queries 50]
"""
import argparse
import time

import numpy as np

from rrlib.local import InvertedFile


def zipf_words(rng, n_images, n_features, n_words):
    p = 1.0 / np.arange(1, n_words + 1) ** 0.8
    p /= p.sum()
    perm = rng.permutation(n_words)  # frequent words spread over the ids
    return [perm[rng.choice(n_words, n_features, p=p)] for _ in range(n_images)]


def timed(fn, repeat=3):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_inverted_file(sizes, n_words, n_features, n_queries):
    rng = np.random.default_rng(0)
    for n in sizes:
        db = zipf_words(rng, n, n_features, n_words)
        queries = zipf_words(rng, n_queries, n_features, n_words)
        ivf = InvertedFile(db, n_words, tf_power=0.5)
        Q = ivf.vectorize(queries)
        dense_X = ivf.vectors.toarray().astype(np.float32)
        dense_Q = Q.toarray().astype(np.float32)
        t_ivf, s_ivf = timed(lambda: ivf.search(Q))
        t_dense, s_dense = timed(lambda: dense_Q @ dense_X.T)
        same = np.mean(np.argsort(-s_ivf, 1, kind="stable")[:, :100] == np.argsort(-s_dense, 1, kind="stable")[:, :100])
        print(f"N = {n:,}, K = {n_words:,}, {n_features} features/image, {n_queries} queries: "
              f"inverted file {t_ivf * 1e3:.1f} ms | dense {t_dense * 1e3:.1f} ms "
              f"(x{t_dense / t_ivf:.1f}); max |diff| {np.abs(s_ivf - s_dense).max():.1e}, "
              f"same top-100 {same:.4f}; dense matrix {dense_X.nbytes / 2**20:.0f} MiB vs "
              f"postings {(ivf.lists.data.nbytes + ivf.lists.indices.nbytes) / 2**20:.1f} MiB")


def bench_verification(top, generate):
    from rrlib.datasets import load
    from rrlib.datasets.registry import DatasetNotFoundError
    from rrlib.local import build_bow

    try:
        data = load("synth-landmarks", download=generate)
    except DatasetNotFoundError:
        print("synth-landmarks is not generated: pass --generate (about 30 s) for the verification timing")
        return
    bow = build_bow(data)
    scores = bow.search()
    for method in ("fsm", "ransac"):
        t0 = time.perf_counter()
        v = bow.rerank(scores, top=top, method=method)
        dt = time.perf_counter() - t0
        pairs = v.shortlist.size
        print(f"spatial verification ({method}): {pairs} pairs in {dt:.1f} s = {dt / pairs * 1e3:.2f} ms per pair "
              f"(mean {v.tentative.mean():.0f} tentative correspondences, mean {v.inliers.mean():.1f} inliers)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    ap.add_argument("--words", type=int, default=16384)
    ap.add_argument("--features", type=int, default=400)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--top", type=int, default=100, help="shortlist verified per query")
    ap.add_argument("--generate", action="store_true", help="generate synth-landmarks if absent")
    args = ap.parse_args()
    bench_inverted_file(args.sizes, args.words, args.features, args.queries)
    bench_verification(args.top, args.generate)


if __name__ == "__main__":
    main()

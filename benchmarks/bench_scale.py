"""Retrieval at the scale of R1M: what search and offline diffusion *cost* when a million
distractors join the database (the "+R1M" setting of [S3] and revisitop: ROxford5k / RParis6k
plus 1,001,001 distractor images, R101-GeM descriptors of d = 2048).

For each ``--n`` it measures, in one run, on one set of n L2-normalised descriptors and
``--queries`` queries (70, the ROxf count):

* faiss **flat** (exact), **IVF** (inverted file, k-means coarse quantiser) and **IVF-PQ** (the
  same cells, vectors compressed by product quantisation): index memory (bytes of the index's
  content: codes, ids, centroids, PQ codebooks), build time (train + add), query time, and recall
  of the exact top-100 (flat's result is the ground truth), with IVF and IVF-PQ as ratios to flat;
* the **kNN graph** of diffusion (k = 50 as in notebook 05's paper mode) from an IVF self-search:
  search time, graph time, nnz, bytes, peak memory of the graph construction (numpy/scipy,
  ``tracemalloc``);
* **diffusion with truncation** at ``--truncate`` t: online (Iscen et al. CVPR 2017: per query a CG
  solve on the subgraph of its t nearest items) for the queries, and offline (Yang et al. AAAI 2019:
  each database item's diffusion on its own t-neighbourhood, its ``--keep`` largest scores stored;
  a query then costs one sparse product ``f = F y``), measured on the items the queries touch and
  projected to all n items (labelled);
* a **projection to R1M** (n = 1,001,001 + 4,993 ROxf images) of memory and time, linear in n
  from the measured sizes (the line through the two largest, or the ratio from one), labelled
  "projected", beside the projection of the cost model ``n^b`` of each quantity.

Parameters by rule (each an argument): ``nlist = min(4 sqrt(n), n / 39)`` cells (rrlib.graph.knn's
rule; 39 training points per cell is faiss's minimum), k-means trained on 40 points per cell,
``nprobe = 32``; PQ ``m = d / 32`` sub-vectors of 32 dimensions x 8 bits (64 bytes per vector at
d = 2048, 128x less than float32).

Descriptors. ``--features PATH.npy`` reads an (n, d) float32 array (memory-mapped; e.g. the R1M
distractors' descriptors, which the dataset registry does not hold), queried by revisitop's 70 ROxf
queries when they are in the data root with the same d, else by rows of the file. Otherwise they are
**generated** (``scale_vectors.SphereMixture``) with the real dimension and norm, and a spread of pairwise
cosine similarities matched to revisitop's R101-GeM ROxf descriptors when they are in the data
root, else to an assumed mean 0.05 / std 0.08 (``scale_vectors.TARGET_MEAN``). Generated vectors make
this a COST benchmark: memory and time are those of the real setting, recall and diffusion scores
say nothing about retrieval accuracy. Vectors are generated in fixed chunks from a per-chunk seed
(row i is the same in every pass), so no full copy of the n x d matrix exists outside faiss's.

Memory. Before building, the peak of the run is estimated (``scale_parts.estimate_memory``) and compared
to MemAvailable in /proc/meminfo: a size that would not fit is refused with a message. At
n = 1M, d = 2048 the peak is the flat index (8.2 GB) or the IVF index (8.2 GB) -- never both: flat
gives the ground truth and is freed before the IVF lists are filled, reserved at their exact size.

Modules: ``scale_vectors`` (the descriptors), ``scale_parts`` (rules, memory, index helpers, truncated
diffusion), this script (the run, the tables, the projection).

    python benchmarks/bench_scale.py [--n 100000 1000000] [--d 2048] [--queries 70] [--quick]
        [--features PATH.npy] [--nprobe 32] [--pq-m 64] [--truncate 1000] [--keep 100] [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import tracemalloc

import faiss
import numpy as np

from timing import timed
from rrlib import graph
from scale_parts import (PQ_ENCODE_BATCH, add_assigned, check_fits, default_nlist, default_pq_m, estimate_memory,
                         index_bytes, peak_rss, peak_rss_reset, query_matrix, recall, reserve_lists, rss, sparse_bytes,
                         truncated_online)
from scale_vectors import (TARGET_MEAN, TARGET_STD, FileVectors, SphereMixture, chunks, head, pairwise_stats,
                           revisitop_targets, training_sample)

#: R1M: ROxford5k's 4,993 database images + revisitop's 1,001,001 distractors, R101-GeM (d = 2048)
R1M_N = 1_001_001 + 4_993
R1M_D = 2048
ROXF_QUERIES = 70
QUICK_N = 20_000
TOP = 100                 # recall of the exact top-100
GiB, MiB = 2.0 ** 30, 2.0 ** 20


# ------------------------------------------------------------------------------------------------
# One size
# ------------------------------------------------------------------------------------------------
def run(source, Q, *, nlist: int, nprobe: int, pq_m: int, train_per_cell: int = 40, kmeans_iter: int = 10,
        k: int = 50, kq: int = 10, truncate: int = 1000, keep: int = 100, alpha: float = 0.99,
        gamma: float = 3.0, seed: int = 0, diffusion: bool = True) -> dict:
    """Build flat, IVF and IVF-PQ over ``source``, search ``Q`` (:func:`search_costs`), then the IVF searches
    of diffusion (:func:`neighbour_search`); free the index; then the kNN graph and truncated diffusion
    (:func:`diffusion_costs`). Returns a dict of measurements (seconds, bytes, recalls; see
    :func:`print_result`)."""
    r = {"n": source.n, "d": source.d, "nlist": nlist, "nprobe": min(nprobe, nlist), "pq_m": pq_m, "k": k,
         "kq": kq, "truncate": min(truncate, source.n), "keep": keep, "queries": len(Q),
         "ntrain": min(source.n, train_per_cell * nlist)}
    r["rss_reset"] = peak_rss_reset()
    r["rss_start"] = rss()
    batch = faiss.cvar.product_quantizer_compute_codes_bs
    faiss.cvar.product_quantizer_compute_codes_bs = PQ_ENCODE_BATCH
    try:
        ivf = search_costs(source, Q, r, kmeans_iter=kmeans_iter, seed=seed)
        found = neighbour_search(source, Q, ivf, r) if diffusion else None
        del ivf                   # the last reference: the index (n d 4 bytes) is freed before the graph is built
        if diffusion:
            diffusion_costs(found, r, alpha=alpha, gamma=gamma)
    finally:
        faiss.cvar.product_quantizer_compute_codes_bs = batch
    r["peak_rss"] = peak_rss() if r["rss_reset"] else None
    return r


def search_costs(source, Q, r: dict, *, kmeans_iter: int, seed: int):
    """Flat, IVF, IVF-PQ: memory, build, query time, recall of flat's top-100 (into ``r``); returns the IVF.

    The coarse quantiser is trained once and shared (IVF and IVF-PQ have the same cells: their recalls
    differ by the compression only); each row's cell is computed once, in the pass that fills the flat
    index, and the IVF lists are filled after flat is freed, at their final size (:func:`reserve_lists`)."""
    n, d, nlist = source.n, source.d, r["nlist"]
    sample = training_sample(source, r["ntrain"], seed)
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.seed, ivf.cp.niter = seed, kmeans_iter
    r["t_train_coarse"], _ = timed(lambda: ivf.train(sample))
    ivfpq = faiss.IndexIVFPQ(quantizer, d, nlist, r["pq_m"], 8, faiss.METRIC_INNER_PRODUCT)
    ivfpq.pq.cp.seed = seed
    r["t_train_pq"], _ = timed(lambda: ivfpq.train(sample))      # the quantiser is trained: PQ only
    del sample

    flat = faiss.IndexFlatIP(d)                                    # pass 1: flat, cells, IVF-PQ
    cells = np.empty(n, dtype=np.int64)
    t = dict(flat=0.0, assign=0.0, pq=0.0)
    for start, X in chunks(source):
        t["flat"] += timed(lambda: flat.add(X))[0]
        dt, (_, a) = timed(lambda: quantizer.search(X, 1))
        t["assign"] += dt
        cells[start: start + len(X)] = a[:, 0]
        t["pq"] += timed(lambda: add_assigned(ivfpq, X, a[:, 0]))[0]
    r["mem_flat"], r["build_flat"], r["t_assign"], r["t_add_pq"] = index_bytes(flat), t["flat"], t["assign"], t["pq"]
    r["t_q_flat"], (_, truth) = timed(lambda: flat.search(Q, min(TOP, n)))
    r["recall_flat"], r["truth"] = recall(truth, truth), truth
    del flat

    reserve_lists(ivf, np.bincount(cells, minlength=nlist))        # pass 2: the IVF lists
    r["t_add_ivf"] = sum(timed(lambda: add_assigned(ivf, X, cells[start: start + len(X)]))[0]
                         for start, X in chunks(source))
    r["mem_ivf"], r["mem_ivfpq"] = index_bytes(ivf), index_bytes(ivfpq)
    r["build_ivf"] = r["t_train_coarse"] + r["t_assign"] + r["t_add_ivf"]
    r["build_ivfpq"] = r["t_train_coarse"] + r["t_train_pq"] + r["t_assign"] + r["t_add_pq"]
    for name, ix in (("ivf", ivf), ("ivfpq", ivfpq)):
        ix.nprobe = r["nprobe"]
        r[f"t_q_{name}"], (_, found) = timed(lambda: ix.search(Q, min(TOP, n)))
        r[f"recall_{name}"] = recall(found, truth)
    return ivf


def neighbour_search(source, Q, ivf, r: dict):
    """The IVF searches diffusion needs (into ``r`` their times): the queries' t nearest items (truncation)
    and kq nearest (their y), every item's k + 1 nearest (the self-search of the kNN graph), and the t
    nearest of the items the queries touch (their offline truncation). Returns them as a dict; the caller
    frees the index before :func:`diffusion_costs` builds the graph."""
    n, d, k, kq, t = source.n, source.d, r["k"], r["kq"], r["truncate"]
    r["t_q_trunc"], (q_sims, near_q) = timed(lambda: ivf.search(Q, t))
    q_sims, q_idx = q_sims[:, :kq], near_q[:, :kq]
    items = np.unique(q_idx[q_idx >= 0])
    item_rows = np.empty((len(items), d), dtype=np.float32)
    sims = np.empty((n, k + 1), dtype=np.float32)
    idx = np.empty((n, k + 1), dtype=np.int64)
    r["t_selfknn"] = 0.0                                           # pass 3: the self-search
    for start, X in chunks(source):
        dt, (s, i) = timed(lambda: ivf.search(X, k + 1))
        r["t_selfknn"] += dt
        sims[start: start + len(X)], idx[start: start + len(X)] = s, i
        inside = items[(items >= start) & (items < start + len(X))]
        item_rows[np.searchsorted(items, inside)] = X[inside - start]
    r["t_items_trunc"], (_, near_items) = timed(lambda: ivf.search(item_rows, t))
    return dict(sims=sims, idx=idx, near_q=near_q, q_sims=q_sims, q_idx=q_idx, items=items, near_items=near_items)


def diffusion_costs(found: dict, r: dict, *, alpha: float, gamma: float) -> None:
    """kNN graph from the self-search's neighbours (:func:`neighbour_search`, taken out of ``found`` so
    that they are freed once the graph is built), then truncated diffusion online and offline (into ``r``)."""
    sims, idx = found.pop("sims"), found.pop("idx")
    near_q, q_sims, q_idx, items, near_items = (found[key] for key in ("near_q", "q_sims", "q_idx", "items",
                                                                        "near_items"))
    n, k = len(sims), r["k"]
    missing = idx < 0                      # IVF found fewer than k + 1 (rare): a self-loop of weight 0, dropped
    sims[missing], idx[missing] = 0.0, np.nonzero(missing)[0]
    tracemalloc.start()                    # knn_graph reads only X's row count when given the neighbours
    r["t_graph"], W = timed(lambda: graph.knn_graph(np.broadcast_to(np.float32(1), (n, 1)), k, gamma=gamma,
                                                     neighbors=(sims, idx)))
    r["peak_graph"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del sims, idx
    r["nnz"], r["mem_graph"] = W.nnz, sparse_bytes(W)

    r["t_online"], _ = timed(lambda: truncated_online(W, near_q, q_sims, q_idx, alpha=alpha, gamma=gamma))
    r["items"] = len(items)
    t_off, F = timed(lambda: graph.truncated_columns(W, items, near_items, alpha=alpha, keep=r["keep"]))
    r["t_offline_item"] = t_off / len(items)
    r["t_offline_all"] = r["t_offline_item"] * n
    r["mem_F"] = int((F.data.nbytes + F.indices.nbytes) / len(items) * n + (n + 1) * F.indptr.itemsize)
    Y = query_matrix(q_sims, q_idx, n, gamma)
    r["t_F_query"], _ = timed(lambda: F @ Y)


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def _bytes(b):
    return f"{b / GiB:.2f} GiB" if b >= GiB else f"{b / MiB:.1f} MiB"


def print_result(r: dict, estimate: int | None = None) -> None:
    print(f"{'index':<8} {'memory':>12} {'x flat':>8} {'build':>10} {'query (' + str(r['queries']) + ')':>12} "
          f"{'speed-up':>9} {'recall@' + str(TOP):>11}")
    for name, label in (("flat", "flat"), ("ivf", "IVF"), ("ivfpq", "IVF-PQ")):
        print(f"{label:<8} {_bytes(r['mem_' + name]):>12} {r['mem_' + name] / r['mem_flat']:>8.3f} "
              f"{r['build_' + name]:>8.2f} s {r['t_q_' + name]:>10.3f} s {r['t_q_flat'] / r['t_q_' + name]:>9.1f} "
              f"{r['recall_' + name]:>11.3f}")
    print(f"nlist = {r['nlist']:,} (min(4 sqrt n, n / 39)), nprobe = {r['nprobe']}, PQ m = {r['pq_m']} x 8 bits; "
          f"k-means on {r['ntrain']:,} vectors (coarse {r['t_train_coarse']:.1f} s, shared by IVF and IVF-PQ; "
          f"PQ {r['t_train_pq']:.1f} s); flat's result is the ground truth")
    if "nnz" not in r:
        return
    print(f"kNN graph (k = {r['k']}, IVF self-search): search {r['t_selfknn']:.1f} s, graph {r['t_graph']:.1f} s, "
          f"nnz {r['nnz']:,}, {_bytes(r['mem_graph'])}, peak {_bytes(r['peak_graph'])} (numpy/scipy, tracemalloc)")
    print(f"diffusion, truncation t = {r['truncate']:,}: online (per-query CG on its t-subgraph) {r['queries']} "
          f"queries {r['t_online']:.2f} s + their t-NN search {r['t_q_trunc']:.2f} s")
    print(f"  offline (per-item diffusion on its t-subgraph, keep {r['keep']}): {1000 * r['t_offline_item']:.1f} ms "
          f"per item measured on the {r['items']} items the queries touch -> all {r['n']:,} items "
          f"{r['t_offline_all']:.0f} s (projected), F {_bytes(r['mem_F'])} (projected); online f = F y for "
          f"{r['queries']} queries {1000 * r['t_F_query']:.2f} ms")
    if r.get("peak_rss") is not None:
        est = f"; estimate of faiss + numpy at the peak {_bytes(estimate)}" if estimate else ""
        print(f"process peak RSS for this size: {_bytes(r['peak_rss'])} ({_bytes(r['peak_rss'] - r['rss_start'])} "
              f"above the RSS at its start{est})")


#: quantity -> (label, kind, exponent b of the cost model ~ n^b with nlist ~ sqrt n and t, kq, k fixed)
QUANTITIES = {
    "mem_flat": ("flat index memory", "bytes", 1.0),
    "mem_ivf": ("IVF index memory", "bytes", 1.0),
    "mem_ivfpq": ("IVF-PQ index memory", "bytes", 1.0),
    "build_flat": ("flat build (add)", "s", 1.0),
    "t_train_coarse": ("k-means, shared (train)", "s", 1.0),      # ntrain ~ nlist, times nlist cells
    "t_train_pq": ("PQ codebooks (train)", "s", 0.5),            # ntrain ~ sqrt n (faiss caps it at 65,536)
    "t_assign": ("cell of every vector, shared", "s", 1.5),       # n vectors x nlist centroids
    "t_add_ivf": ("IVF add (given cells)", "s", 1.0),
    "t_add_pq": ("IVF-PQ add (given cells)", "s", 1.0),
    "t_q_flat": ("flat query (all queries)", "s", 1.0),
    "t_q_ivf": ("IVF query", "s", 0.5),                         # nlist + nprobe n / nlist ~ sqrt n
    "t_q_ivfpq": ("IVF-PQ query", "s", 0.5),
    "t_selfknn": ("kNN self-search (IVF)", "s", 1.5),            # n queries of ~ sqrt n each
    "t_graph": ("kNN graph", "s", 1.0),
    "mem_graph": ("kNN graph memory", "bytes", 1.0),
    "peak_graph": ("kNN graph build peak", "bytes", 1.0),
    "t_q_trunc": ("t-NN search of the queries", "s", 0.5),
    "t_online": ("online truncated diffusion", "s", 0.0),      # t fixed: independent of n
    "t_offline_all": ("offline diffusion, all items", "s", 1.0),
    "mem_F": ("offline diffusion F", "bytes", 1.0),
}
#: build times as sums of projected parts
BUILDS = {"IVF build": ("t_train_coarse", "t_assign", "t_add_ivf"),
          "IVF-PQ build": ("t_train_coarse", "t_train_pq", "t_assign", "t_add_pq")}


def project(sizes, values, target: int) -> float:
    """Linear extrapolation in n: ``v target / n`` from one size, the line through the two largest
    sizes from several (``v2 + (v2 - v1) (target - n2) / (n2 - n1)``)."""
    pairs = sorted(zip(sizes, values))
    if len(pairs) == 1 or pairs[-1][0] == pairs[-2][0]:
        n, v = pairs[-1]
        return v * target / n
    (n1, v1), (n2, v2) = pairs[-2], pairs[-1]
    return v2 + (v2 - v1) * (target - n2) / (n2 - n1)


def print_projection(results: list[dict], target: int = R1M_N) -> None:
    sizes = [r["n"] for r in results]
    d = results[-1]["d"]
    base = "the line through n = " + " and ".join(f"{s:,}" for s in sorted(sizes)[-2:]) if len(sizes) > 1 \
        else f"x {target / sizes[0]:.2f} from n = {sizes[0]:,}"
    print(f"\n== PROJECTED to R1M (n = {target:,}: ROxf's 4,993 + 1,001,001 distractors) at d = {d}: linear in n "
          f"({base}), and by each quantity's cost model n^b from the largest size; not measured")
    if d != R1M_D:
        print(f"   (measured at d = {d}; run with --d {R1M_D} for R1M's R101-GeM dimension)")
    largest = max(results, key=lambda r: r["n"])
    print(f"{'quantity':<32} {'measured (n = ' + format(largest['n'], ',') + ')':>24} {'projected (linear)':>20} "
          f"{'cost model':>11} {'projected (n^b)':>16}")
    linear, model = {}, {}
    for key, (label, kind, b) in QUANTITIES.items():
        if key not in largest:
            continue
        fmt = _bytes if kind == "bytes" else (lambda s: f"{s:.3g} s")
        linear[key] = project(sizes, [r[key] for r in results], target)
        model[key] = largest[key] * (target / largest["n"]) ** b
        print(f"{label:<32} {fmt(largest[key]):>24} {fmt(linear[key]):>20} {'n^' + format(b, 'g'):>11} "
              f"{fmt(model[key]):>16}")
    for label, parts in BUILDS.items():
        print(f"{label + ' (sum of its parts)':<32} {sum(largest[p] for p in parts):>22.3g} s "
              f"{sum(linear[p] for p in parts):>18.3g} s {'':>11} {sum(model[p] for p in parts):>14.3g} s")


# ------------------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=None, help="database sizes (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help=f"n = {QUICK_N:,} (a smoke run), unless --n is given")
    ap.add_argument("--d", type=int, default=R1M_D, help="dimension of generated descriptors (R101-GeM: 2048)")
    ap.add_argument("--queries", type=int, default=ROXF_QUERIES, help="number of queries (ROxf: 70)")
    ap.add_argument("--features", help="an (n, d) float32 .npy of real descriptors (memory-mapped) instead")
    ap.add_argument("--nlist", type=int, default=None, help="IVF cells (default min(4 sqrt n, n / 39))")
    ap.add_argument("--nprobe", type=int, default=32, help="cells visited per query (IVF and IVF-PQ)")
    ap.add_argument("--pq-m", type=int, default=None, help="PQ sub-vectors of 8 bits (default d / 32: 64 at 2048)")
    ap.add_argument("--train-per-cell", type=int, default=40, help="k-means training vectors per cell")
    ap.add_argument("--kmeans-iter", type=int, default=10, help="k-means iterations (faiss's IVF default)")
    ap.add_argument("--k", type=int, default=50, help="kNN graph neighbours (notebook 05's paper mode: 50)")
    ap.add_argument("--kq", type=int, default=10, help="query neighbours forming y (paper mode: 10)")
    ap.add_argument("--truncate", type=int, default=1000, help="truncation: subgraph of the t nearest items")
    ap.add_argument("--keep", type=int, default=100, help="offline diffusion: scores kept per item")
    ap.add_argument("--alpha", type=float, default=0.99)
    ap.add_argument("--gamma", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows = np.load(args.features, mmap_mode="r").shape[0] if args.features else None
    sizes = sorted(set(args.n)) if args.n else ([QUICK_N] if args.quick else [rows or 1_000_000])
    if rows is not None:
        sizes = sorted({min(n, rows) for n in sizes})
    if min(sizes) <= max(args.k + 1, args.truncate, TOP, args.queries):
        ap.error(f"every n must exceed k + 1, --truncate, {TOP} and --queries")

    real = revisitop_targets()
    if args.features:
        d = np.load(args.features, mmap_mode="r").shape[1]
        qs = real[1] if real is not None and real[1].shape[1] == d and args.queries == ROXF_QUERIES else None
    else:
        d = args.d
    mean, std = (real[0] if real is not None else (TARGET_MEAN, TARGET_STD))
    m = args.pq_m or default_pq_m(d)
    if d % m:
        ap.error(f"--pq-m {m} must divide d = {d}")

    def params(n):
        nlist = args.nlist or default_nlist(n)
        return dict(nlist=nlist, pq_m=m, k=args.k, ntrain=min(n, args.train_per_cell * nlist),
                    truncate=args.truncate, queries=args.queries)

    estimates = {n: estimate_memory(n, d, **params(n)) for n in sizes}
    need = max(max(p.values()) for p in estimates.values())
    available = check_fits(need, estimates[max(sizes)], f"n = {max(sizes):,}, d = {d}")
    print(f"R1M cost benchmark: sizes {', '.join(f'{n:,}' for n in sizes)}, d = {d}, {args.queries} queries; "
          f"memory estimate at the peak {_bytes(need)} of {_bytes(available)} available")
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, faiss uses "
          f"{faiss.omp_get_max_threads()}")
    if real is not None:
        print(f"pairwise cosine of revisitop's R101-GeM ROxf descriptors: mean {mean:.3f}, std {std:.3f} (matched)")
    results = []
    for n in sizes:
        if args.features:
            source = FileVectors(args.features, n, seed=args.seed, qs=qs)
            print(f"\n== n = {source.n:,}, d = {d}: descriptors {source.describe()}")
        else:
            source = SphereMixture(n, d, mean, std, seed=args.seed)
            got = pairwise_stats(head(source, min(n, 2000)))
            print(f"\n== n = {n:,}, d = {d}: descriptors {source.describe()}; measured mean {got[0]:.3f}, "
                  f"std {got[1]:.3f}")
            print("   GENERATED vectors: a COST benchmark (memory, time) -- recall and scores say nothing about "
                  "retrieval accuracy")
        p = params(source.n)
        r = run(source, source.queries(args.queries), nlist=p["nlist"], nprobe=args.nprobe, pq_m=m,
                train_per_cell=args.train_per_cell, kmeans_iter=args.kmeans_iter, k=args.k, kq=args.kq,
                truncate=args.truncate, keep=args.keep, alpha=args.alpha, gamma=args.gamma, seed=args.seed)
        print_result(r, max(estimates[n].values()))
        results.append(r)
    print_projection(results)
    return results


if __name__ == "__main__":
    main()

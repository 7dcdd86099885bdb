"""The measured parts of benchmarks/bench_scale.py: parameter rules, the memory estimate and guard,
faiss index helpers (memory, adding with given cells, exact list capacity, recall) and diffusion with
truncation (online per query, offline per item) on the kNN graph."""
from __future__ import annotations

import math
import re

import faiss
import numpy as np
import scipy.sparse as sp

from rrlib import graph
from scale_vectors import CHUNK

GRAPH_BYTES_PER_ENTRY = 90    # knn_graph's tracemalloc peak per neighbour entry, n (k + 1): 76-83 measured
#: vectors PQ-encoded at once: faiss's default (262,144) makes a table of bs x m x 256 floats (1 GiB for a
#: 16k chunk at m = 64: measured); 1,024 keeps it at 64 MiB, no slower (measured)
PQ_ENCODE_BATCH = 1024
SAFETY = 0.9                  # use at most this fraction of MemAvailable
GiB = 2.0 ** 30


# ------------------------------------------------------------------------------------------------
# Parameters, memory
# ------------------------------------------------------------------------------------------------
def default_nlist(n: int) -> int:
    """``min(4 sqrt(n), n / 39)``: rrlib.graph.knn's rule (faiss wants 39 training points per cell)."""
    return max(1, min(int(4 * math.sqrt(n)), n // 39))


def default_pq_m(d: int) -> int:
    """``d / 32`` sub-vectors of 32 dimensions (64 at d = 2048); the largest divisor of d not above it."""
    target = max(1, d // 32)
    return max(m for m in range(1, target + 1) if d % m == 0)


def available_memory() -> int:
    """MemAvailable of /proc/meminfo, in bytes (what can be allocated without swapping)."""
    with open("/proc/meminfo") as f:
        match = re.search(r"^MemAvailable:\s+(\d+) kB", f.read(), re.M)
    if not match:
        raise RuntimeError("/proc/meminfo has no MemAvailable line")
    return int(match.group(1)) * 1024


def estimate_memory(n: int, d: int, *, nlist: int, pq_m: int, k: int, ntrain: int, truncate: int,
                    queries: int) -> dict[str, int]:
    """Bytes held at the peak of each phase (faiss's content + numpy arrays alive; Python itself not counted).

    * train: the sample (``ntrain d`` float32) three times (its residuals for PQ, faiss's copies) + centroids;
    * flat: the flat index ``n d 4`` + IVF-PQ lists ``n (m + 8)`` + the cell of each row ``n 8`` + 3 chunks
      (generation, PQ residuals) + PQ's encoding table ``PQ_ENCODE_BATCH m 256 4``;
    * ivf: IVF lists ``n (4 d + 8)`` (reserved exactly) + IVF-PQ + cells + the self-search's
      neighbours ``n (k + 1) (4 + 8)`` + 3 chunks;
    * graph: the neighbours + knn_graph's peak, GRAPH_BYTES_PER_ENTRY per neighbour entry;
    * diffusion: the graph + dense per-query work (small) + the t-neighbourhoods of the touched items.
    """
    chunk = 3 * CHUNK * d * 4 + PQ_ENCODE_BATCH * pq_m * 256 * 4
    pq = n * (pq_m + 8) + 256 * d * 4
    cells = n * 8
    neighbours = n * (k + 1) * 12
    phases = {
        "train": 3 * ntrain * d * 4 + nlist * d * 4,
        "flat": n * d * 4 + pq + cells + chunk,
        "ivf": n * (4 * d + 8) + nlist * d * 4 + pq + cells + neighbours + chunk,
        "graph": neighbours + n * (k + 1) * GRAPH_BYTES_PER_ENTRY,
        "diffusion": n * k * 12 + queries * 10 * truncate * 12 + n * 8 * 4,
    }
    return phases


def check_fits(need: int, phases: dict[str, int], what: str, available=None) -> int:
    """``available`` (default :func:`available_memory`) if ``need`` bytes fit in SAFETY of it, else SystemExit."""
    available = available_memory() if available is None else available
    if need > SAFETY * available:
        worst = max(phases, key=phases.get)
        raise SystemExit(f"{what} needs about {need / GiB:.1f} GiB at its peak (phase '{worst}'), but only "
                         f"{available / GiB:.1f} GiB is available (MemAvailable in /proc/meminfo; at most "
                         f"{SAFETY:.0%} is used): lower --n or --d, or free memory")
    return available


def peak_rss_reset() -> bool:
    """Reset the process's peak RSS (VmHWM) so the next read is this size's peak; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def proc_status(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+) kB", f.read()).group(1)) * 1024


def peak_rss() -> int:
    """The process's peak resident memory (VmHWM) since the last :func:`peak_rss_reset`."""
    return proc_status("VmHWM")


def rss() -> int:
    return proc_status("VmRSS")


# ------------------------------------------------------------------------------------------------
# Indexes
# ------------------------------------------------------------------------------------------------
def index_bytes(ix) -> int:
    """Bytes of an index's content: codes and ids of every vector, coarse centroids, PQ codebooks.

    Flat: ``n d 4``. IVF: ``n (code + 8)`` (code = ``4 d`` for IVF-Flat, ``m`` bytes for IVF-PQ) +
    ``nlist d 4`` + for PQ ``256 d 4``. Equal, up to headers, to the length of faiss's serialisation.
    """
    if isinstance(ix, faiss.IndexFlat):
        return ix.ntotal * ix.code_size
    ivf = faiss.downcast_index(faiss.extract_index_ivf(ix))
    total = ivf.ntotal * (ivf.code_size + 8) + index_bytes(faiss.downcast_index(ivf.quantizer))
    if isinstance(ivf, faiss.IndexIVFPQ):
        total += ivf.pq.M * ivf.pq.ksub * ivf.pq.dsub * 4
    return total


def add_assigned(ix, X, cells) -> None:
    """Add ``X`` to an IVF index with each row's cell given (the coarse assignment computed once)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    cells = np.ascontiguousarray(cells, dtype=np.int64)
    ix.add_core(len(X), faiss.swig_ptr(X), None, faiss.swig_ptr(cells))


def reserve_lists(ix, counts) -> None:
    """Give each inverted list its final capacity before adding (std::vector keeps its capacity when
    shrunk): lists grown by appends hold up to 2x their content (measured 1.4x)."""
    lists = ix.invlists
    for cell, size in enumerate(counts):
        lists.resize(cell, int(size))
        lists.resize(cell, 0)


def recall(found, truth) -> float:
    """Mean over queries of ``|found_q & truth_q| / |truth_q|`` (missing results, id -1, never match)."""
    return float(np.mean([len(np.intersect1d(f[f >= 0], t)) / len(t) for f, t in zip(found, truth)]))


# ------------------------------------------------------------------------------------------------
# Diffusion with truncation
# ------------------------------------------------------------------------------------------------
def truncated_online(W, near, q_sims, q_idx, *, alpha, gamma, rtol=1e-6, maxiter=100):
    """Per query: ``f = (I - alpha S_t)^{-1} y`` on the subgraph of its t nearest items ``near[q]``
    (:func:`rrlib.graph.subgraph`, as :func:`rrlib.graph.diffusion_search` with ``truncate``); ``y``
    from its nearest items ``q_idx[q]`` with weights ``max(s, 0)^gamma`` (:func:`rrlib.graph.query_vector`).
    Returns the list of ``(items, scores)``."""
    out = []
    for q in range(len(near)):
        sub, S = graph.subgraph(W, near[q])
        keep = q_idx[q] >= 0
        local = np.searchsorted(sub, q_idx[q][keep])
        y = graph.query_vector(q_sims[q][keep][None], local[None], len(sub), gamma)[:, 0]
        out.append((sub, graph.diffuse_cg(S, y, alpha, rtol=rtol, maxiter=maxiter)))
    return out


def query_matrix(q_sims, q_idx, n: int, gamma: float) -> sp.csc_matrix:
    """The queries' ``y`` as a sparse ``(n, m)`` matrix (:func:`rrlib.graph.query_matrix`), the
    neighbours IVF did not find (-1, which the graph's function rightly rejects) left out."""
    ok = q_idx >= 0
    return sp.hstack([graph.query_matrix(s[k][None], i[k][None], n, gamma) for s, i, k in zip(q_sims, q_idx, ok)],
                     format="csc")


def sparse_bytes(A) -> int:
    return A.data.nbytes + A.indices.nbytes + A.indptr.nbytes

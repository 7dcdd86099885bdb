r"""Centrality of the vertices of the region graph, [S3] §5.3.7: six measures of how "significant"
a region is in the whole collection.

The graph is the weighted undirected kNN graph ``W`` of the region descriptors
(:func:`rrlib.graph.knn_graph`: sparse, symmetric, non-negative, zero diagonal), with
``D = diag(W 1)``, ``S = D^{-1/2} W D^{-1/2}`` and :math:`\mathcal L_\alpha = I - \alpha S` as in
notebook 05 ([S3] §2.4, eqs 2.3-2.7). Four measures read the edge *weights* (similarities): degree,
eigenvector, PageRank, Katz. Two read edge *costs*, the Euclidean distances
:math:`\lVert \mathbf v_i - \mathbf v_j\rVert` between the descriptors at the ends of each edge
(:func:`edge_costs`): betweenness and closeness.

:func:`katz` is notebook 05's diffusion with the all-ones right-hand side, solved by
:func:`rrlib.graph.diffuse_cg` -- the same solver, not another one.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from ..graph import diffuse_cg, sym_normalize

__all__ = [
    "CENTRALITIES", "KATZ_ALPHA", "PAGERANK_ALPHA", "betweenness", "centrality", "closeness", "degree",
    "edge_costs", "eigenvector", "katz", "pagerank",
]

#: the six measures of [S3] §5.3.7, in the order of Figure 5.6
CENTRALITIES = ("degree", "eigenvector", "pagerank", "betweenness", "closeness", "katz")
#: Katz's alpha is not given in [S3] §5.3.7; 0.99 is the diffusion alpha of notebook 05 [EXT Iscen et al.]
KATZ_ALPHA = 0.99
#: PageRank's alpha is not given in [S3]; 0.85 is Page et al.'s damping factor (networkx's default)
PAGERANK_ALPHA = 0.85


def _graph(W) -> sp.csr_matrix:
    """``W`` as a CSR matrix after checking it is a square, finite, non-negative, symmetric graph."""
    W = sp.csr_matrix(W, dtype=np.float64)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square (n, n) matrix, got shape {W.shape}")
    if W.nnz and (not np.isfinite(W.data).all() or W.data.min() < 0):
        raise ValueError("W must hold finite, non-negative weights")
    if W.nnz and abs(W - W.T).max() > 1e-12 * abs(W).max():
        raise ValueError("W must be symmetric (an undirected graph: knn_graph, or (W + W.T) / 2)")
    W.eliminate_zeros()  # a stored zero weight is no edge
    return W


def degree(W) -> np.ndarray:
    r"""Degree centrality: the weighted degree :math:`d_i = \sum_j w_{ij}`, the diagonal of ``D``.
    High for a region strongly similar to many others."""
    return np.asarray(_graph(W).sum(axis=1)).ravel()


def eigenvector(W) -> np.ndarray:
    r"""Eigenvector centrality (Bonacich 1987): the dominant eigenvector of ``W``,
    :math:`W \mathbf u = \lambda_{\max} \mathbf u`, non-negative, unit L2 norm (as networkx's).
    A region is central when its neighbours are.

    Computed by ``scipy.sparse.linalg.eigsh`` (the largest *algebraic* eigenvalue: on a bipartite
    graph :math:`-\lambda_{\max}` is an eigenvalue too), started from the all-ones vector so the result
    is reproducible. On a connected graph the Perron vector is positive and unique; on a disconnected
    one it lives on the component(s) of largest :math:`\lambda_{\max}` and is 0 elsewhere (keep the
    largest component, or prefer Katz, which has no such problem).
    """
    W = _graph(W)
    n = W.shape[0]
    if n < 3 or W.nnz == 0:
        values, vectors = np.linalg.eigh(W.toarray())
        v = vectors[:, -1]
    else:
        _, vectors = spla.eigsh(W, k=1, which="LA", v0=np.ones(n), tol=1e-12, maxiter=100 * n)
        v = vectors[:, 0]
    v = np.abs(v)  # the Perron vector is one-signed; abs fixes the sign and rounding noise
    return v / np.linalg.norm(v)


def pagerank(W, alpha: float = PAGERANK_ALPHA, *, tol: float = 1e-12, maxiter: int = 10_000) -> np.ndarray:
    r"""PageRank (Page et al. 1999): the dominant left eigenvector of the transition matrix
    :math:`\alpha D^{-1} W + (1 - \alpha) J / n` ([S3] §5.3.7; ``J`` all ones), by power iteration
    :math:`\boldsymbol\pi \leftarrow \alpha \boldsymbol\pi D^{-1} W + (1 - \alpha) \mathbf 1^\top / n`
    from the uniform vector until the L1 change is below ``tol``. Sums to 1: the probability that a
    random walk with restarts is at a region.

    ``alpha`` is not given in [S3] (0.85, Page et al.'s, by default). A vertex with no edge has a zero
    row in :math:`D^{-1}W`, which makes the matrix not stochastic; its walker restarts uniformly (as in
    networkx). ``0 < alpha < 1``.
    """
    W = _graph(W)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    n = W.shape[0]
    d = np.asarray(W.sum(axis=1)).ravel()
    dangling = d == 0
    inv = np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, d))
    PT = (sp.diags(inv) @ W).T.tocsr()                            # (D^{-1} W)^T
    x = np.full(n, 1.0 / n)
    for _ in range(maxiter):
        new = alpha * (PT @ x) + (alpha * x[dangling].sum() + 1.0 - alpha) / n
        if np.abs(new - x).sum() < tol:
            return new
        x = new
    raise RuntimeError(f"PageRank did not converge to tol={tol} in {maxiter} iterations")


def edge_costs(W, V) -> sp.csr_matrix:
    r"""The cost of every edge of ``W``: :math:`\lVert \mathbf v_i - \mathbf v_j\rVert`, the Euclidean
    distance between the descriptors (rows of ``V``) at its ends -- what betweenness and closeness walk
    on in [S3] §5.3.7. Same sparsity pattern as ``W`` (every edge stored, even a zero-cost one)."""
    W = _graph(W).tocoo()
    V = np.asarray(V, dtype=np.float64)
    if V.ndim != 2 or len(V) != W.shape[0]:
        raise ValueError(f"V must be (n, d) with one descriptor per vertex (n = {W.shape[0]}), got {V.shape}")
    if not np.isfinite(V).all():
        raise ValueError("V contains NaN or inf")
    cost = np.linalg.norm(V[W.row] - V[W.col], axis=1)
    return sp.csr_matrix((cost, (W.row, W.col)), shape=W.shape)


def betweenness(W, V, *, normalized: bool = True, samples: int | None = None, seed: int = 0) -> np.ndarray:
    r"""Betweenness centrality (Freeman 1977): for each vertex, the fraction of shortest paths between
    two other vertices that pass through it, :math:`\sum_{s \ne i \ne t} \sigma_{st}(i) / \sigma_{st}`,
    on the edge costs of :func:`edge_costs`. With ``normalized`` divided by :math:`(n-1)(n-2)/2`, the
    number of pairs of other vertices (so a star's centre has 1).

    Brandes' algorithm from networkx (``betweenness_centrality``, weight = cost): O(n m + n^2 log n) in
    pure Python, by far the slowest of the six (benchmarks/bench_god.py: 0.6 s for 1,000 regions of a
    mutual 10-NN graph, already minutes at 10,000 as its largest component grows). ``samples = s`` estimates it from ``s`` random source vertices (networkx's ``k``, seeded
    by ``seed``; Brandes & Pich 2007), ``s / n`` of the time.
    """
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, (int, np.integer))
                                or not 1 <= samples <= np.shape(W)[0]):
        raise ValueError(f"samples must be None or an integer in [1, n], got {samples!r}")
    import networkx as nx  # networkx comes with torch; imported here so that rrlib.god loads without it

    C = edge_costs(W, V)
    upper = sp.triu(C, k=1).tocoo()
    G = nx.Graph()
    G.add_nodes_from(range(C.shape[0]))
    G.add_weighted_edges_from(zip(upper.row.tolist(), upper.col.tolist(), upper.data.tolist()), weight="cost")
    b = nx.betweenness_centrality(G, k=None if samples is None else int(samples), weight="cost",
                                  normalized=normalized, seed=seed)
    return np.array([b[i] for i in range(C.shape[0])])


def closeness(W, V, *, formula: str = "seed", min_cost: float = 1e-9, chunk: int = 256) -> np.ndarray:
    r"""Closeness centrality on the edge costs of :func:`edge_costs`, with :math:`d(i, j)` the length of
    the shortest path (Dijkstra, ``scipy.sparse.csgraph``, ``chunk`` sources at a time).

    * ``formula="seed"``: [S3] §5.3.7 writes :math:`\sum_{j \ne i} \frac{n-1}{d(i, j)}` -- a sum of
      *inverse* distances, i.e. :math:`(n-1)^2` times the normalised *harmonic* centrality
      (Marchiori & Latora 2000; networkx's ``harmonic_centrality`` is :math:`\sum_{j \ne i} 1/d(i,j)`).
      Unreachable vertices add 0.
    * ``formula="textbook"``: Bavelas / Sabidussi's :math:`\frac{n-1}{\sum_{j \ne i} d(i, j)}`, the
      inverse of the *mean* distance (networkx's ``closeness_centrality``; on a disconnected graph
      with its Wasserman-Faust scaling: :math:`\frac{r-1}{\sum_j d(i,j)} \cdot \frac{r-1}{n-1}` over the
      :math:`r` vertices that ``i`` reaches, itself included).

    How they differ: both are large for a vertex near everything, and they rank the vertices of a
    path or a star alike, but the harmonic form is dominated by the *nearest* vertices (a term :math:`1/d` per
    vertex) and the textbook form by the *farthest* (a term :math:`d` in the denominator); the harmonic
    form stays defined on a disconnected graph, the kNN graph's usual case. The seed's formula grows
    with :math:`n` where the textbook's stays in (0, 1].

    A zero-cost edge (two identical descriptors) would make the seed's term infinite: costs are
    floored at ``min_cost``.
    """
    if formula not in ("seed", "textbook"):
        raise ValueError(f"formula must be 'seed' or 'textbook', got {formula!r}")
    if not 0 < min_cost < np.inf:
        raise ValueError(f"min_cost must be a finite number > 0, got {min_cost}")
    C = edge_costs(W, V)
    C.data = np.maximum(C.data, min_cost)
    n = C.shape[0]
    out = np.zeros(n)
    if n < 2:
        return out
    for s in range(0, n, chunk):
        idx = np.arange(s, min(n, s + chunk))
        dist = csgraph.dijkstra(C, directed=False, indices=idx)
        dist[np.arange(len(idx)), idx] = np.inf                  # j != i
        reach = np.isfinite(dist)
        if formula == "seed":
            out[idx] = (n - 1) * np.where(reach, 1.0 / np.where(reach, dist, 1.0), 0.0).sum(axis=1)
        else:
            r = reach.sum(axis=1)                                 # reachable others (r - 1 above)
            total = np.where(reach, dist, 0.0).sum(axis=1)
            ok = total > 0
            out[idx] = np.where(ok, r / np.where(ok, total, 1.0) * r / (n - 1), 0.0)
    return out


def katz(W, alpha: float = KATZ_ALPHA, *, rtol: float = 1e-10, maxiter: int = 1000) -> np.ndarray:
    r"""Katz centrality as [S3] writes it, eq 5.13: the solution of
    :math:`\mathcal L_\alpha \mathbf u = (1 - \alpha) \mathbf 1`, :math:`\mathcal L_\alpha = I - \alpha S`.

    :func:`rrlib.graph.diffuse_cg` solves :math:`(I - \alpha S) \mathbf f = \mathbf y` by conjugate
    gradients -- exactly :math:`\mathcal L_\alpha \mathbf f = \mathbf y` of [S3] eq 2.7 / spec §7.1,
    without the :math:`(1 - \alpha)` factor of Zhou et al. -- so
    :math:`\mathbf u^* = (1 - \alpha)\,` ``diffuse_cg(sym_normalize(W), ones, alpha)``: notebook 05's
    diffusion with the all-ones right-hand side instead of a query's neighbours. By linearity it is
    the sum of the diffusions from every vertex, :math:`\mathbf u^* = \sum_i \mathbf x_i^*` with
    :math:`\mathcal L_\alpha \mathbf x_i = (1-\alpha) \mathbf e_i`: the "expected manifold similarity" to
    a random query vertex ([S3] §5.3.7).

    This is Katz's index on the *normalised* graph; Katz's own (1953) is
    :math:`(I - \alpha W)^{-1}\mathbf 1` on the raw weights with :math:`\alpha < 1/\lambda_{\max}(W)`. The
    unnormalised :math:`L_\alpha = D - \alpha W` (eq 2.6) gives the same system in other variables:
    :math:`\mathcal L_\alpha \mathbf u = \mathbf y \iff L_\alpha (D^{-1/2}\mathbf u) = D^{1/2}\mathbf y`. A vertex
    without edges gets :math:`1 - \alpha`. ``alpha`` is not given in [S3] §5.3.7 (0 < alpha < 1; [S3]
    §2.4's "alpha = 0" is a typo, spec §17).

    Mind the limit: :math:`S` has the eigenvector :math:`\sqrt{\mathbf d}` with eigenvalue 1 on each
    connected component, so as :math:`\alpha \to 1`, :math:`u_i^* \to \sqrt{d_i}\, \sum_j \sqrt{d_j} / \sum_j d_j`
    (sums over :math:`i`'s component): a degree *relative to the component*, about 1 on every
    component whatever its size -- a 2-vertex component of clutter scores like a large cluster of
    repeated objects. Smaller ``alpha`` weighs the local structure more; sweep it.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    W = _graph(W)
    ones = np.ones(W.shape[0])
    return (1.0 - alpha) * diffuse_cg(sym_normalize(W), ones, alpha, rtol=rtol, maxiter=maxiter)


_MEASURES = {"degree": degree, "eigenvector": eigenvector, "pagerank": pagerank,
             "betweenness": betweenness, "closeness": closeness, "katz": katz}


def centrality(W, kind: str, V=None, **params) -> np.ndarray:
    """One of the six centralities of :data:`CENTRALITIES` by name; ``V`` (the descriptors, for the
    edge costs) is needed by ``"betweenness"`` and ``"closeness"``; ``params`` go to the measure
    (``alpha`` of PageRank or Katz, ``formula`` of closeness, ...). Returns ``(n,)``."""
    if kind not in _MEASURES:
        raise ValueError(f"kind must be one of {CENTRALITIES}, got {kind!r}")
    if kind in ("betweenness", "closeness"):
        if V is None:
            raise ValueError(f"{kind} centrality walks on edge costs ||v_i - v_j||: pass the descriptors V")
        return _MEASURES[kind](W, V, **params)
    if V is not None:
        raise ValueError(f"{kind} centrality reads the weights of W only; V is not used (pass V=None)")
    return _MEASURES[kind](W, **params)

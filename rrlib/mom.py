"""Mining on manifolds (MoM): training tuples for metric learning from *unlabelled* images.

Iscen, Tolias, Avrithis, Chum, "Mining on manifolds: metric learning without labels", CVPR 2018
([S1] poster; [S0] slides "mining on manifolds"). The approach, step by step ([S1] "Approach"):

1. an unordered collection of ``n`` images, described by a pre-trained network (rows of ``X``);
2. an affinity matrix ``A``: the mutual kNN graph of notebook 05, ``a_ij = max(x_i^T x_j, 0)^gamma``
   (:func:`rrlib.graph.knn_graph`);
3. the stationary distribution ``pi`` of the random walk on ``A`` (:func:`stationary_distribution`;
   on the symmetric kNN graph ``pi`` is proportional to the weighted degree);
4. **anchors**: local maxima of ``pi`` on the graph (:func:`local_maxima`, :func:`select_anchors`);
5. for each anchor ``y``: its top-k **manifold** neighbours ``M(y)`` (diffusion from ``y``,
   :func:`manifold_similarity`) and top-k **Euclidean** neighbours ``E(y)``;
   positives ``S+(y) = M(y) \\ E(y)`` -- on ``y``'s manifold but far in descriptor space (hard
   positives); negatives ``S-(y) = E(y) \\ M(y)`` -- near in descriptor space, on another
   manifold (hard negatives) (:func:`positive_pool`, :func:`negative_pool`).

No label is read anywhere: :class:`MoMMiner` turns the pools into the training tuples of
:func:`rrlib.learn.finetune`, exactly where notebook 04's :class:`~rrlib.learn.TupleMiner` (which
reads landmark labels) plugs in. The baselines MoM is measured against build the same
:class:`Pools`: :func:`euclidean_pools` (no label, descriptor similarity alone) and
:func:`label_pools` (the supervised reference); :mod:`rrlib.learn.embedding` trains a small
embedding from any of them (the fine-grained application).

Parameters: the constants below are those of the authors' released code [EXT gtolias/mom
``mat/mom_1M.m``, ``mat/mom_CUB.m``, ``mat/posmine.m``, ``mat/negmine.m``, ``mat/powiter.m``,
``mat/graphlmax.m``]; where the poster says otherwise it is noted beside them. Graph and solver are
:mod:`rrlib.graph`'s, the same as notebook 05's diffusion: only the right-hand side differs (one
indicator vector ``e_y`` per anchor instead of a query's neighbours).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from . import graph
from .cache import digest
from .checks import check_integer
from .learn.mining import Tuples

__all__ = [
    "ALPHA", "GAMMA", "K_GRAPH", "K_NEGATIVE_FINE_GRAINED", "K_NEGATIVE_RETRIEVAL", "K_POSITIVE",
    "N_ANCHORS_CODE", "N_ANCHORS_POSTER", "POOL_SIZE",
    "MoMMiner", "Pools", "euclidean_pools", "label_pools", "largest_component", "local_maxima", "manifold_similarity",
    "mine_pools", "negative_pool", "positive_pool", "select_anchors", "stationary_distribution",
]

#: kNN graph: 30 neighbours ("30 nearest neighbors used in CVPR18", ``knn_wrap(V, V, 30)``; the
#: list includes the image itself, so 29 others -- rrlib's ``k`` excludes it). The poster gives no k.
K_GRAPH = 30
#: affinities ``s^3`` ("similarity^3 as in CVPR18 and CVPR17"); notebook 05's gamma
GAMMA = 3.0
#: diffusion ``L = I - 0.99 W`` ("alpha = 0.99 used in CVPR18")
ALPHA = 0.99
#: anchors for retrieval: 1,500 in the released code (``Na = 1500``) -- the poster says "Mine 1k anchors"
N_ANCHORS_CODE = 1500
N_ANCHORS_POSTER = 1000
#: ``k`` of the positive rule (CVPR'18 eq. 6): the top 50 manifold neighbours with Euclidean rank > 50
K_POSITIVE = 50
#: ``k`` of the negative rule: 10,000 for retrieval (1M images), 100 for fine-grained (CUB)
K_NEGATIVE_RETRIEVAL = 10000
K_NEGATIVE_FINE_GRAINED = 100
#: at most 50 images per pool (poster: "50 images per pool"; code: ``maxpoolsize = 50``)
POOL_SIZE = 50


# ------------------------------------------------------------------------------ the graph
def _square_sparse(W, name: str = "W") -> sp.csr_matrix:
    W = sp.csr_matrix(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {W.shape}")
    if W.nnz and (not np.isfinite(W.data).all() or W.data.min() < 0):
        raise ValueError(f"{name} must hold finite, non-negative affinities")
    return W


def largest_component(W) -> np.ndarray:
    """Indices of the nodes of the largest connected component of the graph ``W`` (sorted).

    The released code keeps only this component before it computes ``pi`` (``largecc``): on a
    disconnected graph the random walk has one stationary distribution per component, and their
    relative mass is arbitrary.
    """
    W = _square_sparse(W)
    _, component = csgraph.connected_components(W, directed=False)
    return np.flatnonzero(component == np.bincount(component).argmax())


def stationary_distribution(W, *, method: str = "degree", maxiter: int = 100_000,
                            tol: float = 1e-12) -> np.ndarray:
    """Stationary distribution ``pi`` of the random walk on the graph ``W``: ``pi P = pi``.

    The walk moves from node ``i`` to ``j`` with probability ``P_ij = w_ij / d_i`` (``P = D^{-1} W``,
    row-stochastic, ``d_i = sum_j w_ij``). Nodes with many strong edges -- dense regions of
    descriptor space, e.g. popular objects photographed from many views -- are visited most.

    * ``method="power"``: power iteration from the uniform distribution, ``pi <- pi P`` (summing
      to 1), until the L1 change is below ``tol`` (``powiter``, which stops after 1,000 steps);
      a walk that does not settle in ``maxiter`` steps -- a periodic one (bipartite graph), or
      one that mixes slowly, as along a thin chain -- is a ``RuntimeError``.
    * ``method="degree"`` (default): the limit in closed form. For a symmetric ``W``,
      ``pi_i = d_i / sum_j d_j``, since ``(pi P)_j = sum_i (d_i / vol) w_ij / d_i = d_j / vol``.
      A non-symmetric ``W`` is refused here (use ``"power"``).

    Every node needs an edge: keep the largest connected component first
    (:func:`largest_component`), as the code does; on a disconnected graph the mass of each
    component would be arbitrary.
    """
    W = _square_sparse(W)
    if method not in ("degree", "power"):
        raise ValueError(f"method must be 'degree' or 'power', got {method!r}")
    maxiter = check_integer(maxiter, "maxiter")
    d = np.asarray(W.sum(axis=1)).ravel()
    if (d <= 0).any():
        raise ValueError(f"node {int(np.flatnonzero(d <= 0)[0])} has no edge: keep the largest "
                         "connected component first (largest_component)")
    if method == "degree":
        if W.nnz and abs(W - W.T).max() > 1e-12 * abs(W).max():
            raise ValueError("W is not symmetric: pi = d / sum(d) holds only for an undirected graph; "
                             "use method='power'")
        return d / d.sum()
    PT = (sp.diags(1 / d) @ W).T.tocsr()
    pi = np.full(W.shape[0], 1 / W.shape[0])
    for _ in range(maxiter):
        new = PT @ pi
        new /= new.sum()
        if np.abs(new - pi).sum() < tol:
            return new
        pi = new
    raise RuntimeError(f"the power iteration did not settle in {maxiter} steps (a periodic or "
                       "slowly mixing walk); on a symmetric graph use method='degree'")


def local_maxima(W, values) -> np.ndarray:
    """Nodes whose value is *strictly* larger than that of every graph neighbour (``graphlmax``).

    With ``values = pi`` these are the candidate anchors: each stands at the centre of a dense
    region, and two anchors are never adjacent. A node without neighbours is no local maximum.
    """
    W = _square_sparse(W)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (W.shape[0],):
        raise ValueError(f"values must have one entry per node ({W.shape[0]}), got shape {values.shape}")
    A = (W + W.T).tocsr()
    A.data[:] = 1.0
    A.setdiag(0)
    A.eliminate_zeros()
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    best = np.full(A.shape[0], np.inf)                      # max over neighbours (inf: none)
    best[np.diff(A.indptr) > 0] = -np.inf
    np.maximum.at(best, rows, values[A.indices])
    return np.flatnonzero(values > best)


def select_anchors(W, pi, n_anchors: int | None = N_ANCHORS_CODE) -> np.ndarray:
    """The ``n_anchors`` local maxima of ``pi`` with the largest ``pi``, by decreasing ``pi``.

    ``None`` makes every node an anchor (the fine-grained setup of [S1]: "set each training image
    as anchor"). Fewer local maxima than ``n_anchors`` gives them all.
    """
    pi = np.asarray(pi, dtype=np.float64)
    if n_anchors is None:
        return np.arange(len(pi))
    n_anchors = check_integer(n_anchors, "n_anchors")
    lmax = local_maxima(W, pi)
    return lmax[np.argsort(-pi[lmax], kind="stable")][:n_anchors]


# ------------------------------------------------------------------------------ similarities
def manifold_similarity(S, anchors, alpha: float = ALPHA, *, rtol: float = 1e-6,
                        maxiter: int = 200) -> np.ndarray:
    """Diffusion from each anchor: column ``a`` of the result solves ``(I - alpha S) f = e_a``.

    ``S = D^{-1/2} W D^{-1/2}`` (:func:`rrlib.graph.sym_normalize`); notebook 05's solver, with
    one indicator vector per anchor as right-hand side, all anchors in one batched CG. The code
    stops CG after 20 iterations (tolerance 1e-10, ``dfs(L, e, 1e-10, 20)``); rrlib solves to
    ``rtol`` instead, so the similarities are converged ones. Returns ``(n, len(anchors))``.
    """
    anchors = np.asarray(anchors, dtype=np.int64)
    n = S.shape[0]
    if anchors.ndim != 1 or (len(anchors) and (anchors.min() < 0 or anchors.max() >= n)):
        raise ValueError(f"anchors must be a 1-D array of node indices in 0..{n - 1}")
    Y = np.zeros((n, len(anchors)))
    Y[anchors, np.arange(len(anchors))] = 1.0
    return graph.diffuse_cg(S, Y, alpha, rtol=rtol, maxiter=maxiter)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best items by decreasing score, ties in index order -- the first ``k`` of
    ``np.argsort(-scores, kind="stable")`` -- in O(n + k log k) instead of a full sort."""
    n = len(scores)
    if k >= n:
        return np.argsort(-scores, kind="stable")
    threshold = np.partition(scores, n - k)[n - k]                  # the k-th largest value
    above = np.flatnonzero(scores > threshold)
    ties = np.flatnonzero(scores == threshold)[: k - len(above)]   # lowest indices first
    top = np.concatenate([above, ties])
    return top[np.lexsort((top, -scores[top]))]


def _member(n: int, indices: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[indices] = True
    return mask


def positive_pool(manifold: np.ndarray, euclidean: np.ndarray, k: int = K_POSITIVE,
                  pool_size: int = POOL_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``S+(y) = M(y) \\ E(y)`` for one anchor: indices and weights, by decreasing manifold similarity.

    ``manifold`` and ``euclidean`` are the similarities of every image to the anchor. ``M(y)`` =
    the ``k`` best by manifold similarity, ``E(y)`` = the ``k`` best by Euclidean (cosine)
    similarity -- both include the anchor itself, which is thus never its own positive
    (``posmine``). At most ``pool_size`` are kept; the weights are their manifold similarities.
    """
    k, pool_size = check_integer(k, "k"), check_integer(pool_size, "pool_size")
    manifold, euclidean = np.asarray(manifold, np.float64), np.asarray(euclidean, np.float64)
    top_m = _top_k(manifold, k)                                     # M(y), sorted
    keep = top_m[~_member(len(euclidean), _top_k(euclidean, k))[top_m]]   # ... not in E(y)
    keep = keep[:pool_size]
    return keep, manifold[keep]


def negative_pool(manifold: np.ndarray, euclidean: np.ndarray, k: int = K_NEGATIVE_RETRIEVAL,
                  pool_size: int = POOL_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``S-(y) = E(y) \\ M(y)`` for one anchor: indices and weights, by decreasing Euclidean similarity.

    As :func:`positive_pool` with the roles swapped; ``k`` is capped at half the collection
    (``negmine``: "in case too large wrt graph size"). The weights are the negatives' *manifold*
    similarities, as the code writes them (``negw.txt``); its training loss uses only the
    positives' weights.
    """
    k, pool_size = check_integer(k, "k"), check_integer(pool_size, "pool_size")
    manifold, euclidean = np.asarray(manifold, np.float64), np.asarray(euclidean, np.float64)
    k = min(int(np.ceil(0.5 * len(euclidean))), k)
    top_e = _top_k(euclidean, k)                                    # E(y), sorted
    keep = top_e[~_member(len(manifold), _top_k(manifold, k))[top_e]]     # ... not in M(y)
    keep = keep[:pool_size]
    return keep, manifold[keep]


# ------------------------------------------------------------------------------ the whole mining
@dataclass
class Pools:
    """Anchors and their positive / negative pools, as indices into the mined collection."""

    anchors: np.ndarray
    positives: list[np.ndarray]
    negatives: list[np.ndarray]
    positive_weights: list[np.ndarray] = field(repr=False)
    negative_weights: list[np.ndarray] = field(repr=False)
    pi: np.ndarray | None = field(default=None, repr=False)
    component: np.ndarray | None = field(default=None, repr=False)
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.anchors)

    def sizes(self) -> tuple[np.ndarray, np.ndarray]:
        """Pool sizes per anchor: ``(len(S+), len(S-))``."""
        return (np.array([len(p) for p in self.positives]), np.array([len(n) for n in self.negatives]))


def _check_descriptors(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) < 3:
        raise ValueError(f"X must be (n, d) descriptors with n >= 3, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X has NaN or inf entries")
    return X


def mine_pools(X, *, k_graph: int = K_GRAPH, gamma: float = GAMMA, alpha: float = ALPHA,
               n_anchors: int | None = N_ANCHORS_CODE, k_positive: int = K_POSITIVE,
               k_negative: int = K_NEGATIVE_RETRIEVAL, pool_size: int = POOL_SIZE,
               chunk: int = 256) -> Pools:
    """Steps 2-5 of MoM on the unit descriptors ``X`` (rows): graph, ``pi``, anchors, pools.

    With ``n_anchors`` a number (retrieval), the graph is first cut to its largest connected
    component, ``pi`` is computed there and the top local maxima are the anchors (``mom_1M.m``);
    with ``None`` every image is an anchor and the whole graph is used (``mom_CUB.m``). Anchors
    are processed ``chunk`` at a time (one batched CG each), so memory stays ``O(n * chunk)``.
    Returned indices refer to the rows of ``X``.
    """
    X = _check_descriptors(X)
    chunk = check_integer(chunk, "chunk")
    W = graph.knn_graph(X, k_graph, gamma=gamma)
    if n_anchors is None:
        keep, pi = np.arange(len(X)), None
        anchors_local = np.arange(len(X))
    else:
        keep = largest_component(W)
        W = W[keep][:, keep]
        pi = stationary_distribution(W)
        anchors_local = select_anchors(W, pi, n_anchors)
    S = graph.sym_normalize(W)
    Xk = X[keep]
    pos, neg, pos_w, neg_w = [], [], [], []
    for start in range(0, len(anchors_local), chunk):
        block = anchors_local[start:start + chunk]
        M = manifold_similarity(S, block, alpha)
        E = Xk @ Xk[block].T
        for a in range(len(block)):
            p, pw = positive_pool(M[:, a], E[:, a], k_positive, pool_size)
            n, nw = negative_pool(M[:, a], E[:, a], k_negative, pool_size)
            pos.append(keep[p]); pos_w.append(pw); neg.append(keep[n]); neg_w.append(nw)
    params = dict(k_graph=k_graph, gamma=gamma, alpha=alpha, n_anchors=n_anchors, k_positive=k_positive,
                  k_negative=k_negative, pool_size=pool_size)
    return Pools(keep[anchors_local], pos, neg, pos_w, neg_w, pi, keep, params)


def _pool_sizes(value, n: int, name: str) -> np.ndarray:
    """One pool size per anchor: an int for all, or a sequence of ``n`` non-negative ints."""
    if np.ndim(value) == 0:
        return np.full(n, check_integer(value, name), dtype=np.int64)
    sizes = np.asarray(value)
    if sizes.shape != (n,) or not np.issubdtype(sizes.dtype, np.integer) or (sizes < 0).any():
        raise ValueError(f"{name} must be an integer or {n} non-negative integers (one per anchor), "
                         f"got shape {sizes.shape}, dtype {sizes.dtype}")
    return sizes.astype(np.int64)


def _size_param(sizes: np.ndarray) -> int | str:
    """A pool size as recorded in ``Pools.params``: the int, or "per anchor" when they differ."""
    return int(sizes[0]) if len(sizes) and (sizes == sizes[0]).all() else "per anchor"


def euclidean_pools(X, anchors, *, n_positives=POOL_SIZE, n_negatives=POOL_SIZE, skip: int = 0) -> Pools:
    """The label-free baseline MoM is compared with: pools from descriptor similarity alone.

    Positives = the ``n_positives`` nearest neighbours of each anchor (itself excluded), negatives
    = the next ``n_negatives`` after ``skip`` more -- "near, but not the nearest". Without a
    manifold there is no other signal to tell a hard positive from a hard negative. A size is
    an int (every anchor) or one int per anchor -- e.g. ``Pools.sizes()`` of MoM's pools, for a
    baseline of exactly the same pool sizes.
    """
    X = _check_descriptors(X)
    anchors = np.asarray(anchors, dtype=np.int64)
    n_pos = _pool_sizes(n_positives, len(anchors), "n_positives")
    n_neg = _pool_sizes(n_negatives, len(anchors), "n_negatives")
    skip = check_integer(skip, "skip", minimum=0)
    pos, neg, pos_w, neg_w = [], [], [], []
    for a, n_p, n_n in zip(anchors, n_pos, n_neg):
        s = X @ X[a]
        order = np.argsort(-s, kind="stable")
        order = order[order != a]
        p, n = order[:n_p], order[n_p + skip:n_p + skip + n_n]
        pos.append(p); pos_w.append(s[p]); neg.append(n); neg_w.append(s[n])
    params = dict(rule="euclidean", n_positives=_size_param(n_pos), n_negatives=_size_param(n_neg), skip=skip)
    return Pools(anchors, pos, neg, pos_w, neg_w, params=params)


def label_pools(X, labels, anchors=None, *, pool_size: int = POOL_SIZE, negatives: str = "random",
                seed: int = 0) -> Pools:
    """The *supervised* reference MoM is compared with: pools from class labels.

    Positives = up to ``pool_size`` other images of the anchor's label, by decreasing descriptor
    similarity; negatives = ``pool_size`` images of other labels, drawn at random
    (``negatives="random"``, seeded) or the nearest to the anchor (``"nearest"``: the hardest;
    with a triplet loss from a random start they can collapse the embedding, the warning of
    Schroff et al., CVPR'15). All weights are 1. ``anchors=None``: every image is an anchor.
    """
    X = _check_descriptors(X)
    labels = np.asarray(labels)
    if labels.shape != (len(X),):
        raise ValueError(f"labels must hold one label per row of X ({len(X)}), got shape {labels.shape}")
    if negatives not in ("random", "nearest"):
        raise ValueError(f"negatives must be 'random' or 'nearest', got {negatives!r}")
    anchors = np.arange(len(X)) if anchors is None else np.asarray(anchors, dtype=np.int64)
    pool_size = check_integer(pool_size, "pool_size")
    rng = np.random.default_rng(seed)
    pos, neg = [], []
    for a in anchors:
        order = np.argsort(-(X @ X[a]), kind="stable")
        same = labels[order] == labels[a]
        pos.append(order[same & (order != a)][:pool_size])
        others = order[~same]
        neg.append(others[:pool_size] if negatives == "nearest" else
                   np.sort(rng.choice(others, min(pool_size, len(others)), replace=False)))
    return Pools(anchors, pos, neg, [np.ones(len(p)) for p in pos], [np.ones(len(n)) for n in neg],
                 params=dict(rule="labels", pool_size=pool_size, negatives=negatives, seed=seed))


# ------------------------------------------------------------------------------ the miner
class MoMMiner:
    """Training tuples ``(anchor, positive, n_1..n_k)`` from mined pools, for :func:`rrlib.learn.finetune`.

    Every epoch draws ``n_queries`` anchors (seeded per epoch) among those with a non-empty
    positive pool and at least ``n_negatives`` negatives; the positive is a random member of
    the anchor's positive pool (``cub2011.py``: "random pos from the pool") and the negatives are
    the ``n_negatives`` members of its negative pool nearest to the anchor under the *current*
    network (``embed``; the code picks among the 10 nearest), or the first ones of the pool (by
    initial descriptor similarity) without ``embed``. No label is read: the miner only knows
    the pools.
    """

    def __init__(self, pools: Pools, *, n_queries: int = 200, n_negatives: int = 5, seed: int = 0):
        self.pools = pools
        self.n_queries = check_integer(n_queries, "n_queries")
        self.n_negatives = check_integer(n_negatives, "n_negatives")
        self.seed = int(seed)
        n_pos, n_neg = pools.sizes()
        self.usable = np.flatnonzero((n_pos > 0) & (n_neg >= self.n_negatives))
        if len(self.usable) == 0:
            raise ValueError(f"no anchor has a positive and {self.n_negatives} negatives: mine with "
                             "larger k or pools, or ask for fewer negatives")

    def describe(self) -> str:
        digest_of_pools = [self.pools.anchors.tolist(), [p.tolist() for p in self.pools.positives],
                           [n.tolist() for n in self.pools.negatives]]
        return json.dumps(dict(miner="mom", params=self.pools.params, pools=digest(digest_of_pools),
                               n_queries=self.n_queries, n_negatives=self.n_negatives, seed=self.seed),
                          sort_keys=True)

    def epoch(self, epoch: int, embed: Callable[[np.ndarray], np.ndarray] | None = None) -> Tuples:
        rng = np.random.default_rng([self.seed, epoch])
        chosen = rng.choice(self.usable, size=min(self.n_queries, len(self.usable)), replace=False)
        queries = self.pools.anchors[chosen]
        positives = np.array([rng.choice(self.pools.positives[i]) for i in chosen], dtype=np.int64)
        negatives = np.empty((len(chosen), self.n_negatives), dtype=np.int64)
        if embed is not None:   # one call: the chosen anchors and all their negative pools
            wanted = np.unique(np.concatenate([queries] + [self.pools.negatives[i] for i in chosen]))
            vectors = np.asarray(embed(wanted), np.float32)
            where = {int(j): r for r, j in enumerate(wanted)}
        for row, i in enumerate(chosen):
            pool = self.pools.negatives[i]
            if embed is not None:
                v = vectors[[where[int(j)] for j in pool]] @ vectors[where[int(queries[row])]]
                pool = pool[np.argsort(-v, kind="stable")]
            negatives[row] = pool[:self.n_negatives]
        return Tuples(queries, positives, negatives)

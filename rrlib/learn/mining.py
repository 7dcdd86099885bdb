"""Training tuples for siamese learning: positives and hard negatives, re-mined every epoch [S4].

Radenovic, Tolias & Chum ("CNN image retrieval learns from BoW", ECCV'16) build each epoch's
tuples ``(q, p, n_1..n_k)`` from a training set grouped into landmarks (3D models there, landmark
ids here):

* **positives** come from the query's landmark; which one matters [S4]: the most similar
  descriptor (``"descriptor"``, the easiest, as NetVLAD), the one with most geometric support
  (``"inliers"``: most BoW inliers / co-observed 3D points), a random one among the ``top`` with
  most support (``"relaxed"``, harder positives, the best in [S4]) or any (``"random"``);
* **negatives** are the images of *other* landmarks nearest to the query in the *current*
  descriptor space, searched in a random pool re-drawn every epoch, **at most one per landmark**
  ("diverse hard negatives"); ``"random"`` negatives are the baseline.

The geometric support is a score matrix given by the caller: co-observed texture cells of
synth-landmarks (:func:`co_observed_cells`, the analogue of SfM's shared 3D points) or BoW
spatial-verification inlier counts. A miner is any object with ``epoch(epoch, embed) -> Tuples``;
mining on manifolds plugs in the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = ["Tuples", "TupleMiner", "hard_negatives", "co_observed_cells", "POSITIVE_STRATEGIES"]

POSITIVE_STRATEGIES = ("random", "descriptor", "inliers", "relaxed")


@dataclass
class Tuples:
    """One epoch of training tuples: ``queries (B,)``, ``positives (B,)``, ``negatives (B, k)``
    (indices into the training set)."""

    queries: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray

    def __len__(self) -> int:
        return len(self.queries)

    def images(self, i: int) -> np.ndarray:
        """The ``2 + k`` image indices of tuple ``i`` in loss order ``(q, p, n_1..n_k)``."""
        return np.r_[self.queries[i], self.positives[i], self.negatives[i]]


def hard_negatives(query_vectors: np.ndarray, query_labels: Sequence[int], pool_vectors: np.ndarray,
                   pool_labels: Sequence[int], n_negatives: int = 5) -> np.ndarray:
    """For each query, the ``n_negatives`` pool items most similar to it (dot product) whose label
    differs from the query's, **at most one per label**, hardest first: ``(n_q, n_negatives)``
    pool positions (``-1`` where the pool has too few other labels).

    cirtorch's ``create_epoch_tuples``: scan the pool by decreasing similarity, skip the query's
    cluster and clusters already taken, stop at ``n_negatives``.
    """
    Qv, Pv = np.asarray(query_vectors, np.float32), np.asarray(pool_vectors, np.float32)
    ql, pl = np.asarray(query_labels), np.asarray(pool_labels)
    if len(Qv) != len(ql) or len(Pv) != len(pl):
        raise ValueError("one label per query and per pool item is needed")
    order = np.argsort(-(Qv @ Pv.T), axis=1, kind="stable")
    out = np.full((len(Qv), n_negatives), -1, np.int64)
    for i in range(len(Qv)):
        taken, seen = 0, {ql[i]}
        for j in order[i]:
            if pl[j] in seen:
                continue
            out[i, taken] = j
            seen.add(pl[j])
            taken += 1
            if taken == n_negatives:
                break
    return out


def co_observed_cells(records: Sequence[dict]) -> np.ndarray:
    """``(N, N)`` number of facade texture cells seen by both images (0 across landmarks and on
    the diagonal), from synth-landmarks' per-image visibility grids (``vis_grid``: packed bits,
    one grid per plane). The analogue of the 3D points two SfM images share [S4]."""
    landmarks = np.array([r["landmark"] for r in records])
    out = np.zeros((len(records), len(records)), np.int32)
    for lid in np.unique(landmarks):
        idx = np.flatnonzero(landmarks == lid)
        bits = np.stack([np.concatenate([np.unpackbits(np.asarray(g, np.uint8)) for g in records[i]["vis_grid"]])
                         for i in idx]).astype(np.int32)
        out[np.ix_(idx, idx)] = bits @ bits.T
    np.fill_diagonal(out, 0)
    return out


class TupleMiner:
    """The per-epoch tuple construction of [S4] / cirtorch.

    Parameters
    ----------
    labels : (N,) ints
        Landmark (cluster) of every training image.
    n_queries : int
        Queries per epoch (drawn at random, among images that have a positive).
    pool_size : int
        Size of the random negative pool, re-drawn every epoch.
    n_negatives : int
        Negatives per tuple (cirtorch: 5).
    positives : {"random", "descriptor", "inliers", "relaxed"}
        Positive strategy (see the module docstring). "inliers" and "relaxed" need ``support``.
    negatives : {"hard", "random"}
        Hard negatives from the pool (current network, one per landmark) or random ones (also one
        per landmark).
    support : (N, N) array, optional
        Geometric support of every pair (inliers, co-observed cells); pairs with ``support <=
        min_support`` are not positives. Without it every same-landmark pair is a positive.
    relaxed_top : int
        "relaxed": the positive is drawn among the ``relaxed_top`` with most support.
    seed : int
        Epoch ``e`` uses ``default_rng([seed, e])``: reproducible, and independent of call order.
    """

    def __init__(self, labels, *, n_queries: int = 200, pool_size: int = 400, n_negatives: int = 5,
                 positives: str = "relaxed", negatives: str = "hard", support=None, min_support: float = 0,
                 relaxed_top: int = 5, seed: int = 0):
        self.labels = np.asarray(labels)
        if positives not in POSITIVE_STRATEGIES:
            raise ValueError(f"positives must be one of {POSITIVE_STRATEGIES}, got {positives!r}")
        if negatives not in ("hard", "random"):
            raise ValueError(f"negatives must be 'hard' or 'random', got {negatives!r}")
        if positives in ("inliers", "relaxed") and support is None:
            raise ValueError(f"the {positives!r} positives need a support matrix (inliers or co-observations)")
        n = len(self.labels)
        if support is not None:
            support = np.asarray(support)
            if support.shape != (n, n):
                raise ValueError(f"support must be ({n}, {n}), got {support.shape}")
        same = self.labels[:, None] == self.labels[None, :]
        np.fill_diagonal(same, False)
        self.candidates = same if support is None else same & (support > min_support)
        self.support = support
        self.n_queries, self.pool_size, self.n_negatives = int(n_queries), int(pool_size), int(n_negatives)
        self.positives, self.negatives, self.relaxed_top, self.seed = positives, negatives, int(relaxed_top), seed

    def _positive(self, rng, q: int, vectors) -> int:
        cand = np.flatnonzero(self.candidates[q])
        if self.positives == "random":
            return int(rng.choice(cand))
        if self.positives == "descriptor":
            return int(cand[np.argmax(vectors[cand] @ vectors[q])])
        ranked = cand[np.argsort(-self.support[q, cand], kind="stable")]
        if self.positives == "inliers":
            return int(ranked[0])
        return int(rng.choice(ranked[: self.relaxed_top]))

    def epoch(self, epoch: int, embed: Callable[[np.ndarray], np.ndarray] | None = None) -> Tuples:
        """Tuples of one epoch. ``embed(indices) -> (len, D)`` unit descriptors from the current
        network (needed by hard negatives and "descriptor" positives; called once, on the queries,
        their candidates and the pool)."""
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.labels)
        has_pos = np.flatnonzero(self.candidates.any(1))
        queries = np.sort(rng.choice(has_pos, min(self.n_queries, len(has_pos)), replace=False))
        need_vectors = self.negatives == "hard" or self.positives == "descriptor"
        pool = np.sort(rng.choice(n, min(self.pool_size, n), replace=False))
        vectors = None
        if need_vectors:
            if embed is None:
                raise ValueError("hard negatives and descriptor positives need an embed function")
            wanted = np.union1d(np.union1d(queries, pool), np.flatnonzero(self.candidates[queries].any(0))
                                if self.positives == "descriptor" else [])
            wanted = wanted.astype(np.int64)
            emb = np.asarray(embed(wanted), np.float32)
            vectors = np.zeros((n, emb.shape[1]), np.float32)
            vectors[wanted] = emb
        positives = np.array([self._positive(rng, q, vectors) for q in queries], np.int64)
        if self.negatives == "hard":
            found = hard_negatives(vectors[queries], self.labels[queries], vectors[pool], self.labels[pool],
                                   self.n_negatives)
            if (found < 0).any():
                raise ValueError("the pool holds too few other landmarks: enlarge pool_size")
            negatives = pool[found]
        else:
            negatives = np.empty((len(queries), self.n_negatives), np.int64)
            for i, q in enumerate(queries):
                others = np.flatnonzero(self.labels != self.labels[q])
                picked, seen = [], set()
                for j in rng.permutation(others):
                    if self.labels[j] not in seen:
                        picked.append(j)
                        seen.add(self.labels[j])
                        if len(picked) == self.n_negatives:
                            break
                negatives[i] = picked
        return Tuples(queries, positives, negatives)

"""Training tuples for siamese learning: positives and hard negatives, re-mined every epoch [S4].

Radenović, Tolias & Chum ("CNN image retrieval learns from BoW", ECCV'16) build each epoch's
tuples ``(q, p, n_1..n_k)`` from a training set grouped into landmarks (3D models there,
landmark ids here):

* **positives** come from the query's landmark and share 3D points with it; *which* one matters
  [S4]: ``"descriptor"`` -- the most similar descriptor of the current network (top-1 CNN, the
  easiest; NetVLAD's choice); ``"inliers"`` -- the one with most geometric support (top-1 BoW:
  most inliers / co-observed 3D points, also easy); ``"relaxed"`` -- a *random* one among those
  that share at least a fraction ``t_i`` of the query's points and whose scale differs by at most
  ``t_s`` ("relaxed inliers", harder positives, the best in [S4]); ``"random"`` -- any image
  sharing a point; ``"given"`` -- fixed query-positive pairs (cirtorch's ``qidxs``/``pidxs``);
* **negatives** are the images of *other* landmarks nearest to the query in the *current*
  descriptor space, searched in a random pool re-drawn every epoch, **at most one per landmark**
  (``"hard"``, [S4]'s "diverse hard negatives"); ``"naive"`` keeps the nearest ones even when
  several come from one landmark (redundant, [S4]); ``"random"`` is the baseline.

The geometric support is a ``(N, N)`` score matrix given by the caller: co-observed facade cells
on synth-landmarks (:func:`synth_geometry`, the analogue of SfM's shared 3D points), or BoW
spatial-verification inlier counts. Its diagonal holds each image's own count (``|P(q)|``: its
points, or features), which the relaxed criterion divides by.

A *miner* is any object with ``epoch(epoch, embed) -> Tuples`` and ``describe() -> str``
(:class:`Miner`); :func:`rrlib.learn.finetune` takes one, so mining on manifolds (notebook 06)
plugs in beside :class:`TupleMiner`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from rrlib.cache import digest
from rrlib.datasets.pickles import load_pickle

__all__ = ["POSITIVE_STRATEGIES", "NEGATIVE_STRATEGIES", "Miner", "TupleMiner", "Tuples", "co_observed_cells",
           "hard_negatives", "random_negatives", "scale_changes", "select_positives", "synth_geometry"]

POSITIVE_STRATEGIES = ("random", "descriptor", "inliers", "relaxed", "given")
NEGATIVE_STRATEGIES = ("hard", "naive", "random")

#: [EXT Radenović et al. ECCV'16 §3.3, verify] relaxed inliers: at least t_i = 0.2 of the query's
#: points co-observed, scale change at most t_s = 1.5.
RELAXED_MIN_FRACTION = 0.2
RELAXED_MAX_SCALE_CHANGE = 1.5


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


class Miner(Protocol):
    """What the training loop needs from a miner."""

    def epoch(self, epoch: int, embed: Callable[[np.ndarray], np.ndarray] | None = None) -> Tuples:
        """The tuples of ``epoch``; ``embed(indices) -> (len, D)`` gives unit descriptors of
        training images from the current network."""

    def describe(self) -> str:
        """A stable text of every parameter that changes the tuples (names the saved run)."""


def hard_negatives(query_vectors: np.ndarray, query_labels: Sequence[int], pool_vectors: np.ndarray,
                   pool_labels: Sequence[int], n_negatives: int = 5, *, diverse: bool = True) -> np.ndarray:
    """For each query, the ``n_negatives`` pool items most similar to it (dot product) whose
    label differs from the query's, hardest first: ``(n_q, n_negatives)`` pool positions
    (``-1`` where the pool has too few).

    ``diverse`` (the default, [S4]): **at most one per label** -- cirtorch's
    ``create_epoch_tuples`` scans the pool by decreasing similarity, skips the query's cluster
    and clusters already taken, and stops at ``n_negatives``. ``diverse=False``: the "naive"
    top-k, several of which may show the same landmark.
    """
    Qv, Pv = np.asarray(query_vectors, np.float32), np.asarray(pool_vectors, np.float32)
    ql, pl = np.asarray(query_labels), np.asarray(pool_labels)
    if Qv.ndim != 2 or Pv.ndim != 2 or Qv.shape[1] != Pv.shape[1]:
        raise ValueError(f"query vectors {Qv.shape} and pool vectors {Pv.shape} must be (n, D) with the same D")
    if len(Qv) != len(ql) or len(Pv) != len(pl):
        raise ValueError("one label per query and per pool item is needed")
    if n_negatives < 1:
        raise ValueError(f"n_negatives must be >= 1, got {n_negatives}")
    order = np.argsort(-(Qv @ Pv.T), axis=1, kind="stable")
    out = np.full((len(Qv), n_negatives), -1, np.int64)
    for i in range(len(Qv)):
        taken, seen = 0, {ql[i]}
        for j in order[i]:
            if pl[j] in seen:
                continue
            out[i, taken] = j
            taken += 1
            if diverse:
                seen.add(pl[j])
            if taken == n_negatives:
                break
    return out


def random_negatives(rng: np.random.Generator, query_labels: Sequence[int], labels: Sequence[int],
                     n_negatives: int = 5) -> np.ndarray:
    """Random negatives (the baseline): for each query, ``n_negatives`` random images of other
    labels, at most one per label. ``(n_q, n_negatives)`` indices into ``labels``."""
    labels, ql = np.asarray(labels), np.asarray(query_labels)
    if len(np.unique(labels)) <= n_negatives:
        raise ValueError(f"need more than {n_negatives} labels for {n_negatives} negatives of distinct labels")
    out = np.empty((len(ql), n_negatives), np.int64)
    for i, lab in enumerate(ql):
        picked, seen = [], {lab}
        for j in rng.permutation(len(labels)):
            if labels[j] not in seen:
                picked.append(j)
                seen.add(labels[j])
                if len(picked) == n_negatives:
                    break
        out[i] = picked
    return out


def select_positives(strategy: str, queries: np.ndarray, candidates: np.ndarray, *, support=None, scale_change=None,
                     vectors=None, rng: np.random.Generator | None = None,
                     min_fraction: float = RELAXED_MIN_FRACTION,
                     max_scale_change: float = RELAXED_MAX_SCALE_CHANGE) -> np.ndarray:
    """One positive per query by ``strategy`` (see the module docstring).

    Parameters
    ----------
    queries : (B,) ints
    candidates : (N, N) bool
        ``candidates[q, i]``: ``i`` may be a positive of ``q`` (same landmark, shares points).
    support : (N, N), optional
        Geometric support (co-observed points, inliers); its diagonal is each image's own count.
        Needed by "inliers" and "relaxed".
    scale_change : (N, N), optional
        Scale change ``>= 1`` of every pair ("relaxed" bounds it when given).
    vectors : (N, D), optional
        Current unit descriptors (rows of ``queries`` and their candidates), for "descriptor".
    rng : numpy Generator
        For "random" and "relaxed".

    "relaxed" falls back to "inliers" for a query none of whose candidates passes its test.
    """
    if strategy not in POSITIVE_STRATEGIES or strategy == "given":
        raise ValueError(f"strategy must be one of {POSITIVE_STRATEGIES[:-1]}, got {strategy!r}")
    if strategy in ("inliers", "relaxed") and support is None:
        raise ValueError(f"{strategy!r} positives need a support matrix (inliers or co-observed points)")
    if strategy == "descriptor" and vectors is None:
        raise ValueError("'descriptor' positives need the current descriptors")
    if strategy in ("random", "relaxed") and rng is None:
        raise ValueError(f"{strategy!r} positives need a random generator")
    out = np.empty(len(queries), np.int64)
    for k, q in enumerate(queries):
        cand = np.flatnonzero(candidates[q])
        if len(cand) == 0:
            raise ValueError(f"query {q} has no positive candidate")
        if strategy == "random":
            out[k] = rng.choice(cand)
        elif strategy == "descriptor":
            out[k] = cand[np.argmax(vectors[cand] @ vectors[q])]
        else:
            s = np.asarray(support[q, cand], np.float64)
            best = cand[np.argmax(s)]  # first of the maxima: deterministic
            if strategy == "inliers":
                out[k] = best
                continue
            ok = s >= min_fraction * float(support[q, q])
            if scale_change is not None:
                ok &= np.asarray(scale_change[q, cand]) <= max_scale_change
            out[k] = rng.choice(cand[ok]) if ok.any() else best
    return out


class TupleMiner:
    """The per-epoch tuple construction of [S4] / cirtorch.

    Every epoch ``e`` (with ``default_rng([seed, e])``: reproducible, independent of call order):
    draw ``n_queries`` queries among the images that have a positive, one positive each
    (:func:`select_positives`), a random pool of ``pool_size`` training images, embed queries and
    pool with the current network, and take each query's ``n_negatives`` hardest negatives from
    the pool (:func:`hard_negatives`).

    Parameters
    ----------
    labels : (N,) ints
        Landmark (cluster, 3D model) of every training image.
    n_queries, pool_size, n_negatives : int
        Per epoch; cirtorch's defaults are 2000, 20000 and 5 (for 91k images of SfM-120k).
    positives : str
        One of :data:`POSITIVE_STRATEGIES`.
    negatives : str
        One of :data:`NEGATIVE_STRATEGIES`.
    support : (N, N) array, optional
        Geometric support of every pair (co-observed points, inliers), diagonal = own count.
        Pairs with ``support <= min_support`` are never positives. Without it every other image
        of the landmark is a candidate.
    scale_change : (N, N) array, optional
        Scale change of every pair, bounded by "relaxed".
    pairs : (qidxs, pidxs), optional
        Fixed query-positive pairs for ``positives="given"`` (cirtorch's SfM-120k lists): queries
        are drawn among the pairs.
    relaxed_fraction, relaxed_max_scale : float
        The "relaxed" thresholds ``t_i``, ``t_s``.
    seed : int
    """

    def __init__(self, labels, *, n_queries: int = 200, pool_size: int = 500, n_negatives: int = 5,
                 positives: str = "relaxed", negatives: str = "hard", support=None, scale_change=None,
                 pairs=None, min_support: float = 0, relaxed_fraction: float = RELAXED_MIN_FRACTION,
                 relaxed_max_scale: float = RELAXED_MAX_SCALE_CHANGE, seed: int = 0):
        self.labels = np.asarray(labels)
        n = len(self.labels)
        if positives not in POSITIVE_STRATEGIES:
            raise ValueError(f"positives must be one of {POSITIVE_STRATEGIES}, got {positives!r}")
        if negatives not in NEGATIVE_STRATEGIES:
            raise ValueError(f"negatives must be one of {NEGATIVE_STRATEGIES}, got {negatives!r}")
        if positives in ("inliers", "relaxed") and support is None:
            raise ValueError(f"the {positives!r} positives need a support matrix (inliers or co-observed points)")
        if (positives == "given") != (pairs is not None):
            raise ValueError("pairs are given exactly when positives='given'")
        if min(n_queries, pool_size, n_negatives) < 1:
            raise ValueError("n_queries, pool_size and n_negatives must be positive")
        for name, m in (("support", support), ("scale_change", scale_change)):
            if m is not None and np.shape(m) != (n, n):
                raise ValueError(f"{name} must be ({n}, {n}), got {np.shape(m)}")
        self.support = None if support is None else np.asarray(support)
        self.scale_change = None if scale_change is None else np.asarray(scale_change)
        if pairs is not None:
            q, p = (np.asarray(a, np.int64).ravel() for a in pairs)
            if len(q) != len(p) or len(q) == 0:
                raise ValueError("pairs must be two equally long, non-empty index lists")
            if (self.labels[q] != self.labels[p]).any():
                raise ValueError("a given pair joins two different landmarks")
            self.pairs = (q, p)
        else:
            same = self.labels[:, None] == self.labels[None, :]
            np.fill_diagonal(same, False)
            self.candidates = same if support is None else same & (self.support > min_support)
            self.has_positive = np.flatnonzero(self.candidates.any(1))
            if len(self.has_positive) == 0:
                raise ValueError("no training image has a positive")
        self.n_queries, self.pool_size, self.n_negatives = int(n_queries), int(pool_size), int(n_negatives)
        self.positives, self.negatives, self.seed = positives, negatives, int(seed)
        self.min_support = float(min_support)
        self.relaxed_fraction, self.relaxed_max_scale = float(relaxed_fraction), float(relaxed_max_scale)

    def describe(self) -> str:
        params = {"miner": "tuples", "positives": self.positives, "negatives": self.negatives,
                  "n_queries": self.n_queries, "pool_size": self.pool_size, "n_negatives": self.n_negatives,
                  "seed": self.seed, "n": len(self.labels)}
        if self.positives == "relaxed":
            params.update(relaxed_fraction=self.relaxed_fraction, relaxed_max_scale=self.relaxed_max_scale,
                          scale=self.scale_change is not None)
        if self.support is not None:
            params.update(min_support=self.min_support, support=digest(self.support))
        if self.scale_change is not None and self.positives == "relaxed":
            params["scale_change"] = digest(self.scale_change)
        if self.positives == "given":
            params["pairs"] = digest(np.stack(self.pairs))
        params["labels"] = digest(self.labels)
        return json.dumps(params, sort_keys=True)

    def _queries(self, rng) -> tuple[np.ndarray, np.ndarray | None]:
        if self.positives == "given":
            q, p = self.pairs
            pick = np.sort(rng.choice(len(q), min(self.n_queries, len(q)), replace=False))
            return q[pick], p[pick]
        pool = self.has_positive
        return np.sort(rng.choice(pool, min(self.n_queries, len(pool)), replace=False)), None

    def epoch(self, epoch: int, embed: Callable[[np.ndarray], np.ndarray] | None = None) -> Tuples:
        """Tuples of one epoch. ``embed(indices) -> (len, D)`` unit descriptors from the current
        network (needed by hard negatives and "descriptor" positives; called once, on the
        queries, their candidates and the pool)."""
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.labels)
        queries, given = self._queries(rng)
        pool = np.sort(rng.choice(n, min(self.pool_size, n), replace=False))
        vectors = None
        if self.negatives in ("hard", "naive") or self.positives == "descriptor":
            if embed is None:
                raise ValueError("hard negatives and descriptor positives need an embed function")
            wanted = queries
            if self.negatives != "random":
                wanted = np.union1d(wanted, pool)
            if self.positives == "descriptor":
                wanted = np.union1d(wanted, np.flatnonzero(self.candidates[queries].any(0)))
            wanted = wanted.astype(np.int64)
            emb = np.asarray(embed(wanted), np.float32)
            if emb.shape[0] != len(wanted):
                raise ValueError(f"embed returned {emb.shape[0]} vectors for {len(wanted)} images")
            vectors = np.zeros((n, emb.shape[1]), np.float32)
            vectors[wanted] = emb
        if given is not None:
            positives = given
        else:
            positives = select_positives(self.positives, queries, self.candidates, support=self.support,
                                         scale_change=self.scale_change, vectors=vectors, rng=rng,
                                         min_fraction=self.relaxed_fraction, max_scale_change=self.relaxed_max_scale)
        if self.negatives == "random":
            negatives = random_negatives(rng, self.labels[queries], self.labels, self.n_negatives)
        else:
            found = hard_negatives(vectors[queries], self.labels[queries], vectors[pool], self.labels[pool],
                                   self.n_negatives, diverse=self.negatives == "hard")
            if (found < 0).any():
                raise ValueError("the pool holds too few images of other landmarks: enlarge pool_size")
            negatives = pool[found]
        return Tuples(queries, positives, negatives)


# ------------------------------------------------------------------------------------------------
# The geometry of synth-landmarks' training split: what SfM gives [S4]
# ------------------------------------------------------------------------------------------------
def _cells(record: dict) -> np.ndarray:
    return np.concatenate([np.unpackbits(np.asarray(g, np.uint8)) for g in record["vis_grid"]]).astype(bool)


def co_observed_cells(records: Sequence[dict]) -> np.ndarray:
    """``(N, N)`` number of facade texture cells seen by both images (0 across landmarks; the
    diagonal is each image's own number of visible cells), from synth-landmarks' per-image
    visibility grids (``vis_grid``: packed bits, one grid per plane). The analogue of the 3D
    points two SfM images share [S4]."""
    landmarks = np.array([r["landmark"] for r in records])
    out = np.zeros((len(records), len(records)), np.int32)
    for lid in np.unique(landmarks):
        idx = np.flatnonzero(landmarks == lid)
        bits = np.stack([_cells(records[i]) for i in idx]).astype(np.int32)
        out[np.ix_(idx, idx)] = bits @ bits.T
    return out


def _cell_scales(record: dict, texture_sizes, grid: int) -> np.ndarray:
    """Log of the local scale (image pixels per texture pixel) of every facade cell in the image:
    ``0.5 log |det J|`` with ``det J = det(H) / w^3`` for the texture-to-image homography ``H``."""
    out = []
    for H, (tw, th) in zip(record["H"], texture_sizes):
        c = (np.arange(grid) + 0.5) / grid
        u, v = np.meshgrid(c * tw, c * th)  # rows: v, columns: u (the vis_grid layout)
        w = H[2, 0] * u + H[2, 1] * v + H[2, 2]
        det = abs(np.linalg.det(H)) / np.maximum(np.abs(w), 1e-12) ** 3
        out.append(0.5 * np.log(np.maximum(det, 1e-30)).ravel())
    return np.concatenate(out)


def scale_changes(records: Sequence[dict], texture_sizes: dict, grid: int) -> np.ndarray:
    """``(N, N)`` scale change ``>= 1`` between two views of a landmark: ``exp |median log
    ratio|`` of the local scales of the cells both see (``inf`` across landmarks or without a
    shared cell). ``texture_sizes[landmark]`` lists each plane's ``(width, height)``."""
    landmarks = np.array([r["landmark"] for r in records])
    out = np.full((len(records), len(records)), np.inf)
    for lid in np.unique(landmarks):
        idx = np.flatnonzero(landmarks == lid)
        seen = np.stack([_cells(records[i]) for i in idx])
        logs = np.stack([_cell_scales(records[i], texture_sizes[lid], grid) for i in idx])
        for a in range(len(idx)):
            for b in range(a, len(idx)):
                both = seen[a] & seen[b]
                if both.any():
                    r = float(np.exp(abs(np.median(logs[a, both] - logs[b, both]))))
                    out[idx[a], idx[b]] = out[idx[b], idx[a]] = r
    return out


def synth_geometry(data, part: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Co-observed cells and scale changes of every pair of a synth-landmarks split: the "3D
    reconstruction" the positives are chosen from.

    ``part="train"`` (the default): the training split (``train_<name>.pkl``), in
    :func:`rrlib.datasets.training_split`'s order. ``part="db"``: the *test* database
    (``meta_<name>.pkl``), in ``data.imlist`` order; an image of no test landmark (a distractor
    or a scene) co-observes nothing (0 cells, scale change ``inf``, its own diagonal included).
    The test part exists for one experiment only: [S4]'s over-fitting check, which adds the test
    landmarks to the training data on purpose (notebook 04); never train on it otherwise.
    """
    if part not in ("train", "db"):
        raise ValueError(f"part must be 'train' or 'db', got {part!r}")
    path = data.folder / (f"train_{data.name}.pkl" if part == "train" else f"meta_{data.name}.pkl")
    if not path.is_file():
        raise FileNotFoundError(f"{data.name} has no {part} split with geometry ({path} is absent)")
    split = load_pickle(path)  # plain data only: a crafted file runs no code
    key = "records" if part == "train" else "db"
    if key not in split:
        raise ValueError(f"{path} has no per-image records (only synth-landmarks' splits have them)")
    records = split[key]
    sizes = {lid: info["texture_size"] for lid, info in split["landmarks"].items()}
    if part == "train":
        return co_observed_cells(records), scale_changes(records, sizes, int(split["grid"]))
    names = [r["name"] for r in records]
    if names != list(data.imlist):
        raise ValueError(f"{path} lists other database images than {data.name}'s ground truth")
    keep = np.array([i for i, r in enumerate(records) if r["landmark"] in sizes], np.int64)
    cells = np.zeros((len(records), len(records)), np.int32)
    scale = np.full((len(records), len(records)), np.inf)
    if len(keep):
        kept = [records[i] for i in keep]
        cells[np.ix_(keep, keep)] = co_observed_cells(kept)
        scale[np.ix_(keep, keep)] = scale_changes(kept, sizes, int(split["grid"]))
    return cells, scale

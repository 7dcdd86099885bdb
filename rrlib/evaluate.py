"""Evaluation of ranked retrieval: precision, recall, average precision, mAP and mP@k.

Everything in the course is judged by the functions in this module, so they are written to be
read: each docstring gives the formula and where it comes from.

Conventions
-----------
* A *relevance* sequence is a ranked list of 0/1 (or bool) labels: ``relevance[k - 1]`` says
  whether the item at rank ``k`` is relevant to the query.
* ``ranks`` has shape ``(n_db, n_queries)``: column ``q`` holds the 0-based database indices
  sorted by decreasing similarity to query ``q`` -- the revisitop / cirtorch layout, obtained
  from a similarity matrix ``scores = X.T @ Q`` of the same shape by :func:`ranks_from_scores`.
* Ground truth in the *old* protocol is one dict per query with ``'ok'`` (positives) and
  optionally ``'junk'`` (ignored) index arrays; the *revisited* protocol (Radenovic et al.,
  CVPR 2018) has ``'easy'``, ``'hard'`` and ``'junk'``, turned into the three setups by
  :func:`revisited_gnd`.

References
----------
[S0] lecture slides "Computer vision - Retrieval": AP and the 12-item worked example.
[S3] O. Simeoni, PhD thesis (2019), section 2.5: mAP and mP@k.
Philbin et al., "Object retrieval with large vocabularies and fast spatial matching", CVPR 2007:
the Oxford ``compute_ap`` (trapezoid rule).
Radenovic et al., "Revisiting Oxford and Paris", CVPR 2018: Easy/Medium/Hard, junk, mP@k
(reference code: revisitop ``python/evaluate.py``).
Everingham et al., "The PASCAL VOC challenge", IJCV 2010: 11-point interpolated AP.
Song et al., "Deep metric learning via lifted structured feature embedding", CVPR 2016: R@K.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "AP_METHODS",
    "SETUPS",
    "EmptyQueryWarning",
    "RevisitedResult",
    "average_precision",
    "compute_map",
    "compute_map_loop",
    "evaluate_revisited",
    "precision_at_k",
    "precision_recall_curve",
    "ranks_from_scores",
    "recall_at_k",
    "revisited_gnd",
]

AP_METHODS = ("standard", "trapezoid", "interpolated", "voc11")
SETUPS = ("easy", "medium", "hard")


class EmptyQueryWarning(UserWarning):
    """Some queries have no positive at all and were left out of the mean."""


# --------------------------------------------------------------------------------------------
# One ranked list
# --------------------------------------------------------------------------------------------
def _relevance_array(relevance) -> np.ndarray:
    """Validate a ranked relevance sequence and return it as a 1-D bool array."""
    try:
        rel = np.asarray(relevance)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"relevance must be a flat sequence of 0/1 labels: {err}") from None
    if rel.ndim != 1:
        raise ValueError(f"relevance must be 1-D (one ranked list), got shape {rel.shape}")
    if rel.dtype == bool:
        return rel
    if not np.issubdtype(rel.dtype, np.number):
        raise ValueError(f"relevance must hold 0/1 or booleans, got dtype {rel.dtype}")
    if np.isnan(rel.astype(float)).any():
        raise ValueError("relevance contains NaN; labels must be 0 or 1")
    if not np.isin(rel, (0, 1)).all():
        bad = rel[~np.isin(rel, (0, 1))][:5]
        raise ValueError(f"relevance must hold only 0/1 labels, found {bad.tolist()}")
    return rel.astype(bool)


def _n_relevant(rel: np.ndarray, n_relevant: int | None) -> int:
    retrieved = int(rel.sum())
    if n_relevant is None:
        n_relevant = retrieved
    if int(n_relevant) != n_relevant:
        raise ValueError(f"n_relevant must be an integer, got {n_relevant!r}")
    n_relevant = int(n_relevant)
    if n_relevant < retrieved:
        raise ValueError(
            f"n_relevant={n_relevant} is smaller than the {retrieved} relevant items in the list"
        )
    if n_relevant == 0:
        raise ValueError("the query has no relevant item: precision/recall and AP are undefined")
    return n_relevant


def precision_recall_curve(relevance, n_relevant: int | None = None):
    """Precision and recall after each rank of one ranked list [S0].

    With ``t(k)`` the number of relevant items among the top ``k`` and ``n`` the number of
    relevant items for the query (``n_relevant``, default: those in the list),

        p(k) = t(k) / k,        r(k) = t(k) / n.

    Returns
    -------
    precision, recall : ndarray of shape (len(relevance),)
    """
    rel = _relevance_array(relevance)
    n = _n_relevant(rel, n_relevant)
    t = np.cumsum(rel)
    return t / np.arange(1, len(rel) + 1), t / n


def average_precision(relevance, n_relevant: int | None = None, method: str = "standard") -> float:
    """Average precision of one ranked list, in one of four conventions.

    ``n`` is the number of relevant items (``n_relevant``; relevant items never retrieved
    contribute precision 0), ``k_1 < k_2 < ...`` the ranks of the retrieved relevant ones,
    ``p`` and ``r`` as in :func:`precision_recall_curve`.

    ``"standard"`` -- non-interpolated AP, the mean of the precision at each relevant item [S0]::

        AP = (1/n) sum_j p(k_j)

    ``"trapezoid"`` -- the Oxford ``compute_ap`` / revisitop convention: the area under the
    PR curve by trapezoids between the precision just before and at each relevant item::

        AP = (1/n) sum_j (p0_j + p1_j) / 2,  p0_j = (j-1)/(k_j-1) (1 if k_j = 1),  p1_j = j/k_j

    ``"interpolated"`` -- precision replaced by its upper envelope
    ``p_int(r) = max_{r' >= r} p(r')`` (the "filled-in" curve of [S0]), averaged at the
    relevant items::

        AP = (1/n) sum_j max_{k >= k_j} p(k)

    ``"voc11"`` -- PASCAL VOC 2007 11-point AP: the envelope sampled at recall
    0, 0.1, ..., 1 (0 where that recall is never reached)::

        AP = (1/11) sum_{i=0..10} max{p(k) : r(k) >= i/10}

    Example
    -------
    The 12-item list of [S0] (T T F T F F T F T T F F, 6 relevant) has standard AP
    (1/6)(1/1 + 2/2 + 3/4 + 4/7 + 5/9 + 6/10) = 5641/7560 = 0.746164...

    >>> round(average_precision([1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0]), 6)
    0.746164
    """
    if method not in AP_METHODS:
        raise ValueError(f"unknown AP method {method!r}; choose one of {AP_METHODS}")
    rel = _relevance_array(relevance)
    n = _n_relevant(rel, n_relevant)
    t = np.cumsum(rel)
    precision = t / np.arange(1, len(rel) + 1)
    if method == "standard":
        return float(precision[rel].sum() / n)
    if method == "trapezoid":
        k = np.flatnonzero(rel)  # 0-based positions of the relevant items
        j = np.arange(len(k))  # how many relevant items come before each
        p0 = np.where(k == 0, 1.0, j / np.maximum(k, 1))
        p1 = (j + 1) / (k + 1)
        return float(((p0 + p1) / 2).sum() / n)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(rel) else precision
    if method == "interpolated":
        return float(envelope[rel].sum() / n)
    # voc11: recall t/n >= i/10  <=>  10 t >= i n, compared in integers (no rounding at 0.3).
    total = 0.0
    for i in range(11):
        reached = np.flatnonzero(10 * t >= i * n)
        total += envelope[reached[0]] if len(reached) else 0.0
    return float(total / 11)


def precision_at_k(relevance, k: int) -> float:
    """Precision among the top ``k`` items, P@k = t(k) / k.

    A list shorter than ``k`` counts the missing ranks as not relevant.
    """
    rel = _relevance_array(relevance)
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return float(rel[: int(k)].sum() / int(k))


# --------------------------------------------------------------------------------------------
# Many queries: mAP and mP@k, revisitop semantics
# --------------------------------------------------------------------------------------------
def ranks_from_scores(scores) -> np.ndarray:
    """Rankings from a similarity matrix of shape ``(n_db, n_queries)`` (higher = closer).

    Column ``q`` of the result lists database indices by decreasing ``scores[:, q]``; ties keep
    the database order, so the result is deterministic. ``-inf`` may mark items to rank last;
    NaN is an error.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D (n_db, n_queries) array, got shape {scores.shape}")
    if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(scores.dtype, np.complexfloating):
        raise ValueError(f"scores must be real numbers, got dtype {scores.dtype}")
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        bad = np.argwhere(np.isnan(scores))[0]
        raise ValueError(
            f"scores contain NaN (first at db item {bad[0]}, query {bad[1]}); "
            "check the descriptors (e.g. a zero vector normalised to NaN)"
        )
    return np.argsort(-scores, axis=0, kind="stable")


def _index_array(values, name: str) -> np.ndarray:
    if values is None:
        return np.zeros(0, dtype=np.int64)
    try:
        arr = np.asarray(values).ravel()
    except ValueError:
        raise ValueError(f"{name} must be a flat array of indices") from None
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.isfinite(arr).all() and (arr == np.round(arr)).all():
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer indices, got {arr[:5].tolist()}...")
    return arr.astype(np.int64)


def _check_ranks(ranks, n_queries: int, n_db: int | None) -> tuple[np.ndarray, int]:
    ranks = np.asarray(ranks)
    if ranks.dtype == object:
        raise ValueError("ranks is ragged: every query must rank the same number of items")
    if ranks.ndim == 1 and n_queries == 1:
        ranks = ranks[:, None]
    if ranks.ndim != 2:
        raise ValueError(f"ranks must be a 2-D (n_db, n_queries) array, got shape {ranks.shape}")
    if not np.issubdtype(ranks.dtype, np.integer):
        raise ValueError(
            f"ranks must hold integer indices, got dtype {ranks.dtype}; for a similarity matrix use "
            "ranks_from_scores(scores) or evaluate_revisited(scores, gnd)"
        )
    if ranks.shape[1] != n_queries:
        hint = " (it looks transposed: pass ranks.T)" if ranks.shape[0] == n_queries else ""
        raise ValueError(
            f"ranks has {ranks.shape[1]} columns (queries) but gnd has {n_queries} entries{hint}"
        )
    if n_db is None:
        n_db = ranks.shape[0]
    elif ranks.shape[0] > n_db:
        raise ValueError(f"ranks has {ranks.shape[0]} rows but n_db={n_db}")
    if ranks.size:
        lo, hi = ranks.min(), ranks.max()
        if lo < 0 or hi >= n_db:
            raise ValueError(
                f"ranks contain index {lo if lo < 0 else hi} outside [0, {n_db}); "
                "if every column ranks only the top of the database, pass n_db=<database size>"
            )
    return ranks, int(n_db)


def _gnd_lists(gnd, n_db: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if isinstance(gnd, Mapping) or not isinstance(gnd, Sequence | np.ndarray):
        raise ValueError("gnd must be a list with one dict per query")
    ok_lists, junk_lists = [], []
    for q, g in enumerate(gnd):
        if not isinstance(g, Mapping) or "ok" not in g:
            keys = list(g) if isinstance(g, Mapping) else type(g).__name__
            hint = (
                "; for revisited easy/hard/junk ground truth use evaluate_revisited or revisited_gnd"
                if isinstance(g, Mapping) and "easy" in g else ""
            )
            raise ValueError(f"gnd[{q}] must be a dict with an 'ok' array, got {keys}{hint}")
        ok = np.unique(_index_array(g["ok"], f"gnd[{q}]['ok']"))
        junk = np.unique(_index_array(g.get("junk"), f"gnd[{q}]['junk']"))
        for name, arr in (("ok", ok), ("junk", junk)):
            if arr.size and (arr[0] < 0 or arr[-1] >= n_db):
                raise ValueError(
                    f"gnd[{q}]['{name}'] has index {arr[0] if arr[0] < 0 else arr[-1]} outside the "
                    f"database [0, {n_db}); do the ground truth and the descriptors match?"
                )
        both = np.intersect1d(ok, junk, assume_unique=True)
        if both.size:
            raise ValueError(f"gnd[{q}]: items {both[:5].tolist()} are both positive and junk")
        ok_lists.append(ok)
        junk_lists.append(junk)
    return ok_lists, junk_lists


def _labelled_positions(ranks: np.ndarray, ok_lists, junk_lists, n_db: int):
    """Find every positive (+1) and junk (-1) item in the rankings.

    Returns ``(query, position, label)`` arrays sorted by query then position. One pass over
    ``ranks`` in row blocks, with no per-query set operation: a boolean table of the items that
    are labelled for *some* query (a few percent of a large database; small enough to stay in
    cache) picks the candidates, whose exact label is read from a small
    ``(labelled item, query)`` table.
    """
    n_ranked, nq = ranks.shape
    items = np.unique(np.concatenate(ok_lists + junk_lists))
    compact = np.full(n_db, -1, dtype=np.int64)  # database index -> row of the label table
    compact[items] = np.arange(len(items))
    table = np.zeros((len(items), nq), dtype=np.int8)
    for q, (ok, junk) in enumerate(zip(ok_lists, junk_lists)):
        table[compact[junk], q] = -1
        table[compact[ok], q] = 1
    labelled = compact >= 0

    queries, positions, labels = [], [], []
    row_block = max(1, (1 << 20) // nq)
    for r0 in range(0, n_ranked, row_block):
        block = ranks[r0 : r0 + row_block]
        rows, cols = np.nonzero(labelled[block])
        lab = table[compact[block[rows, cols]], cols]
        hit = lab != 0
        queries.append(cols[hit])
        positions.append(rows[hit] + r0)
        labels.append(lab[hit])
    q, p, lab = (np.concatenate(a) for a in (queries, positions, labels))
    order = np.lexsort((p, q))
    return q[order], p[order], lab[order]


def compute_map(ranks, gnd, kappas: Iterable[int] = (1, 5, 10), *, n_db: int | None = None,
                on_empty: str = "warn"):
    """Mean average precision and mean precision at k, exactly as revisitop's ``compute_map``.

    Call-compatible with ``revisitop/python/evaluate.py``: ``map, aps, pr, prs =
    compute_map(ranks, gnd, kappas)``, vectorised (one pass over ``ranks``; 70 queries x 1M
    items in about 0.4 s on 2 CPU cores; see ``benchmarks/bench_evaluate.py``).

    For each query with positives ``gnd[q]['ok']`` and ignored items ``gnd[q]['junk']``:

    1. junk items are deleted from the ranking, so every positive moves up by the number of
       junk items ranked before it;
    2. AP is the trapezoid rule of the Oxford ``compute_ap`` (see :func:`average_precision`,
       ``method="trapezoid"``) over ``n = |ok|`` positives; positives not in the ranking
       contribute 0;
    3. P@k with 1-based positions ``pos`` of the positives: ``k_q = min(max(pos), k)`` and
       ``P@k = |{pos <= k_q}| / k_q`` -- revisitop caps ``k`` at the rank of the last positive,
       so a query with 3 positives at ranks 1-3 has P@10 = 1, not 0.3;
    4. a query without positives gets AP = NaN and is left out of both means.

    Stricter than revisitop on malformed input: an index listed twice in ``gnd`` counts once,
    an item both positive and junk is an error, and so is an item ranked twice.

    Parameters
    ----------
    ranks : int array (n_db, n_queries)
        Column ``q`` = database indices sorted by decreasing similarity to query ``q``.
    gnd : list of dict
        One dict per query with ``'ok'`` and optionally ``'junk'`` 0-based index arrays.
    kappas : iterable of int
        The ``k`` of mP@k.
    n_db : int, optional
        Database size, when ``ranks`` keeps only the top of each list (default ``ranks.shape[0]``).
        A query with no positive in its truncated list gets P@k = 0.
    on_empty : {"warn", "raise", "exclude"}
        What to do with queries that have no positive: warn (:class:`EmptyQueryWarning`, naming
        them) and exclude them, raise ``ValueError``, or exclude them silently (the caller reports).

    Returns
    -------
    map : float
        Mean AP over the queries with positives.
    aps : ndarray (n_queries,)
        AP per query (NaN for excluded ones).
    pr : ndarray (len(kappas),)
        mP@k, mean over the queries with positives.
    prs : ndarray (n_queries, len(kappas))
        P@k per query (NaN for excluded ones).
    """
    if on_empty not in ("warn", "raise", "exclude"):
        raise ValueError(f"on_empty must be 'warn', 'raise' or 'exclude', got {on_empty!r}")
    kappas = [int(k) for k in kappas]
    if any(k < 1 for k in kappas):
        raise ValueError(f"kappas must be positive integers, got {kappas}")
    nq = len(gnd)
    if nq == 0:
        raise ValueError("gnd is empty: there is no query to evaluate")
    ranks, n_db = _check_ranks(ranks, nq, n_db)
    ok_lists, junk_lists = _gnd_lists(gnd, n_db)

    n_pos = np.array([len(ok) for ok in ok_lists])
    empty = np.flatnonzero(n_pos == 0)
    if len(empty) == nq:
        raise ValueError("no query has a positive: mAP is undefined")
    if len(empty) and on_empty == "raise":
        raise ValueError(f"queries {empty.tolist()} have no positive in the ground truth")
    if len(empty) and on_empty == "warn":
        warnings.warn(
            f"{len(empty)} of {nq} queries have no positive and are excluded from the mean: "
            f"{empty.tolist()}", EmptyQueryWarning, stacklevel=2,
        )

    q, pos, lab = _labelled_positions(ranks, ok_lists, junk_lists, n_db)
    is_junk = lab < 0
    # Junk ranked before each item, within its own query.
    junk_cum = np.cumsum(is_junk)
    first = np.searchsorted(q, np.arange(nq))  # start of each query's run in the sorted arrays
    junk_before_query = np.concatenate(([0], junk_cum))[first]
    keep = ~is_junk
    q, pos = q[keep], pos[keep] - (junk_cum[keep] - is_junk[keep] - junk_before_query[q[keep]])
    found = np.bincount(q, minlength=nq)
    if (found > n_pos).any():
        bad = int(np.flatnonzero(found > n_pos)[0])
        raise ValueError(f"ranks column {bad} lists some database items more than once")
    # j = how many positives of the same query come before (0-based).
    j = np.arange(len(q)) - np.searchsorted(q, q)
    p0 = np.where(pos == 0, 1.0, j / np.maximum(pos, 1))
    p1 = (j + 1) / (pos + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        aps = np.bincount(q, weights=(p0 + p1) / 2, minlength=nq) / n_pos

    prs = np.zeros((nq, len(kappas)))
    last = np.zeros(nq, dtype=np.int64)  # 1-based rank of the last retrieved positive (0: none)
    np.maximum.at(last, q, pos + 1)
    for i, k in enumerate(kappas):
        kq = np.where(last > 0, np.minimum(last, k), k)
        prs[:, i] = np.bincount(q, weights=(pos + 1 <= kq[q]), minlength=nq) / kq
    aps[empty] = np.nan
    prs[empty] = np.nan
    return float(np.nanmean(aps)), aps, np.nanmean(prs, axis=0), prs


def compute_map_loop(ranks, gnd, kappas: Iterable[int] = (1, 5, 10)):
    """The same numbers as :func:`compute_map`, one query at a time -- the readable reference.

    A line-by-line rendering of revisitop's published algorithm (``compute_map`` and
    ``compute_ap`` in ``python/evaluate.py``), kept as the oracle the vectorised version is
    tested and benchmarked against. Slow on large databases (two set-membership scans of the
    whole ranking per query); no input validation. Queries without positives are excluded.
    """
    kappas = list(kappas)
    nq = len(gnd)
    aps = np.full(nq, np.nan)
    prs = np.full((nq, len(kappas)), np.nan)
    for i in range(nq):
        ok = np.asarray(gnd[i]["ok"], dtype=np.int64)
        if len(ok) == 0:
            continue
        junk = np.asarray(gnd[i].get("junk", []), dtype=np.int64)
        ranking = np.asarray(ranks)[:, i]
        pos = np.flatnonzero(np.isin(ranking, ok))  # sorted 0-based positions of positives
        junk_pos = np.flatnonzero(np.isin(ranking, junk))
        # Delete junk from the list: each positive moves up by the junk ranked before it.
        shifted = []
        n_junk_before, ij = 0, 0
        for p in pos:
            while ij < len(junk_pos) and junk_pos[ij] < p:
                n_junk_before += 1
                ij += 1
            shifted.append(p - n_junk_before)
        # Trapezoid AP (Oxford compute_ap).
        ap = 0.0
        for j, r in enumerate(shifted):
            precision_0 = 1.0 if r == 0 else j / r
            precision_1 = (j + 1) / (r + 1)
            ap += (precision_0 + precision_1) / 2 / len(ok)
        aps[i] = ap
        # Precision at k, k capped at the 1-based rank of the last positive.
        one_based = np.array(shifted, dtype=np.int64) + 1
        for c, k in enumerate(kappas):
            kq = min(one_based.max(), k) if len(one_based) else k
            prs[i, c] = (one_based <= kq).sum() / kq
    return float(np.nanmean(aps)), aps, np.nanmean(prs, axis=0), prs


# --------------------------------------------------------------------------------------------
# The revisited Oxford / Paris protocol
# --------------------------------------------------------------------------------------------
def revisited_gnd(gnd, setup: str) -> list[dict]:
    """Old-protocol ground truth (``ok`` / ``junk``) for one setup of the revisited protocol.

    Radenovic et al., CVPR 2018 (revisitop ``example_evaluate.py``)::

        Easy   : ok = easy          junk = junk + hard
        Medium : ok = easy + hard   junk = junk
        Hard   : ok = hard          junk = junk + easy
    """
    setup = setup.lower()
    aliases = {"e": "easy", "m": "medium", "h": "hard"}
    setup = aliases.get(setup, setup)
    if setup not in SETUPS:
        raise ValueError(f"unknown setup {setup!r}; choose one of {SETUPS}")
    out = []
    for q, g in enumerate(gnd):
        missing = [key for key in ("easy", "hard", "junk") if key not in g]
        if missing:
            raise ValueError(
                f"gnd[{q}] lacks {missing}: revisited ground truth has 'easy', 'hard' and 'junk'"
                + ("; for ok/junk ground truth call compute_map directly" if "ok" in g else "")
            )
        easy, hard, junk = (_index_array(g[key], f"gnd[{q}]['{key}']") for key in ("easy", "hard", "junk"))
        ok, ignore = {
            "easy": (easy, np.concatenate([junk, hard])),
            "medium": (np.concatenate([easy, hard]), junk),
            "hard": (hard, np.concatenate([junk, easy])),
        }[setup]
        out.append({"ok": ok, "junk": ignore})
    return out


@dataclass
class RevisitedResult:
    """mAP and mP@k of the three revisited setups, in percent (as in the papers' tables)."""

    map: dict[str, float]
    mpk: dict[str, np.ndarray]
    aps: dict[str, np.ndarray] = field(repr=False)
    kappas: tuple[int, ...] = (1, 5, 10)
    excluded: dict[str, list[int]] = field(default_factory=dict)
    name: str = ""

    def __str__(self) -> str:
        head = f">> {self.name}: " if self.name else ">> "
        maps = ", ".join(f"{s[0].upper()}: {self.map[s]:.2f}" for s in SETUPS)
        mpks = ", ".join(
            f"{s[0].upper()}: [{' '.join(f'{v:.2f}' for v in self.mpk[s])}]" for s in SETUPS
        )
        lines = [f"{head}mAP {maps}", f"{head}mP@k{list(self.kappas)} {mpks}"]
        for s in SETUPS:
            if self.excluded.get(s):
                lines.append(f"   ({s}: queries {self.excluded[s]} have no positive, excluded)")
        return "\n".join(lines)


def evaluate_revisited(ranks_or_scores, gnd, kappas: Iterable[int] = (1, 5, 10), *,
                       n_db: int | None = None, name: str = "") -> RevisitedResult:
    """Evaluate rankings (or similarities) on the revisited protocol: Easy, Medium, Hard.

    ``ranks_or_scores`` is either integer ``ranks`` of shape ``(n_db, n_queries)`` or a real
    similarity matrix of the same shape (``scores = X.T @ Q``, higher = more similar), which is
    ranked with :func:`ranks_from_scores`. Each setup is built by :func:`revisited_gnd` and
    scored by :func:`compute_map`; results are in percent. Queries without positives in the
    Easy or Hard setup are excluded and listed in ``result.excluded``; in Medium every query
    must have a positive (otherwise the ground truth is broken and ``ValueError`` is raised).
    """
    arr = np.asarray(ranks_or_scores)
    ranks = arr if np.issubdtype(arr.dtype, np.integer) else ranks_from_scores(arr)
    kappas = tuple(int(k) for k in kappas)
    maps, mpks, aps, excluded = {}, {}, {}, {}
    for setup in SETUPS:
        m, ap, pr, _ = compute_map(
            ranks, revisited_gnd(gnd, setup), kappas, n_db=n_db,
            on_empty="raise" if setup == "medium" else "exclude",
        )
        maps[setup], mpks[setup], aps[setup] = 100 * m, 100 * pr, 100 * ap
        excluded[setup] = np.flatnonzero(np.isnan(ap)).tolist()
    return RevisitedResult(maps, mpks, aps, kappas, excluded, name)


# --------------------------------------------------------------------------------------------
# Metric learning: Recall@K on embeddings
# --------------------------------------------------------------------------------------------
def recall_at_k(embeddings, labels, ks: Iterable[int] = (1, 2, 4, 8), *, metric: str = "cosine",
                chunk: int = 1024) -> dict[int, float]:
    """Recall@K of deep metric learning [S2] (Song et al., CVPR 2016).

    Every item is a query against all the others (itself excluded): R@K is the fraction of
    queries that have at least one item of their own label among their K nearest neighbours::

        R@K = (1/N) sum_i [ exists j in NN_K(i), j != i : y_j = y_i ]

    ``metric`` is ``"cosine"`` (dot product of L2-normalised rows; equal to Euclidean ranking on
    the normalised embeddings) or ``"euclidean"`` (on the raw rows). Ties are broken by index.
    """
    X = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(labels)
    if X.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (N, d), got shape {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"labels must be 1-D with one label per embedding ({len(X)}), got shape {y.shape}")
    if not np.isfinite(X).all():
        raise ValueError("embeddings contain NaN or inf")
    if len(X) < 2:
        raise ValueError("recall@K needs at least two embeddings")
    ks = sorted({int(k) for k in ks})
    if ks[0] < 1 or ks[-1] > len(X) - 1:
        raise ValueError(f"every K must lie in [1, N-1] = [1, {len(X) - 1}], got {ks}")
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ValueError("a zero embedding has no cosine similarity; check the model output")
        X = X / norms
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    kmax = ks[-1]
    hit_rank = np.full(len(X), np.inf)  # 1-based rank of the first same-label neighbour
    sq = (X**2).sum(1)
    for s in range(0, len(X), chunk):
        e = min(len(X), s + chunk)
        if metric == "cosine":
            sim = X[s:e] @ X.T
        else:
            sim = -(sq[s:e, None] - 2 * X[s:e] @ X.T + sq[None, :])
        sim[np.arange(e - s), np.arange(s, e)] = -np.inf
        nn = np.argsort(-sim, axis=1, kind="stable")[:, :kmax]
        same = y[nn] == y[s:e, None]
        any_hit = same.any(axis=1)
        hit_rank[s:e][any_hit] = same[any_hit].argmax(axis=1) + 1
    return {k: float((hit_rank <= k).mean()) for k in ks}

"""Evaluation of ranked retrieval: precision, recall, average precision, mAP and mP@k.

Everything in the course is judged by the functions in this module, so they are written to be
read: each docstring gives the formula and where it comes from.

Conventions
-----------
* A *relevance* sequence is a ranked list of 0/1 (or bool) labels: ``relevance[k - 1]`` says
  whether the item at rank ``k`` is relevant to the query.
* ``scores`` has shape ``(n_db, n_queries)``: ``scores[i, q]`` is the similarity of database
  item ``i`` to query ``q`` (higher = closer), e.g. ``X.T @ Q``, inlier counts or votes; any
  real dtype, booleans included.
* ``ranks`` has the same shape: column ``q`` holds distinct 0-based database indices sorted by
  decreasing similarity to query ``q`` -- the revisitop / cirtorch layout, obtained from
  ``scores`` by :func:`ranks_from_scores`. :func:`compute_map` takes ranks.
* The revisited protocol has one function for each: :func:`evaluate_revisited` takes scores,
  :func:`evaluate_revisited_ranks` takes ranks. The dtype never decides which is which: an
  integer matrix may be inlier counts as well as ranks.
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

__all__ = [
    "AP_METHODS",
    "SETUPS",
    "EmptyQueryWarning",
    "ITEM_LABELS",
    "RanksAsScoresWarning",
    "RevisitedResult",
    "average_precision",
    "compute_map",
    "compute_map_loop",
    "evaluate_revisited",
    "evaluate_revisited_ranks",
    "item_labels",
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
    n_relevant = retrieved if n_relevant is None else _positive_int(n_relevant, "n_relevant")
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
    k = _positive_int(k, "k")
    return float(rel[:k].sum() / k)


# --------------------------------------------------------------------------------------------
# Many queries: mAP and mP@k, revisitop semantics
# --------------------------------------------------------------------------------------------
def ranks_from_scores(scores) -> np.ndarray:
    """Rankings from a similarity matrix of shape ``(n_db, n_queries)`` (higher = closer).

    Column ``q`` of the result lists database indices by decreasing ``scores[:, q]``; equal scores
    keep the database order (lower index first), so the result is deterministic. Any real dtype
    is accepted: floats (``-inf`` may mark items to rank last; NaN is an error), signed and
    unsigned integers (inlier counts, votes) and booleans (``True`` first).

    The order is found without negating the scores (``-scores`` wraps around for unsigned
    integers and for the most negative signed one): each column is reversed, sorted ascending
    with a stable sort (equal scores: the later database index first) and read backwards.
    The result is column-major (each ranking contiguous in memory), the layout
    :func:`compute_map` reads fastest.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D (n_db, n_queries) array, got shape {scores.shape}")
    real = scores.dtype == bool or (
        np.issubdtype(scores.dtype, np.number) and not np.issubdtype(scores.dtype, np.complexfloating)
    )
    if not real:
        raise ValueError(f"scores must be real numbers or booleans, got dtype {scores.dtype}")
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        bad = np.argwhere(np.isnan(scores))[0]
        raise ValueError(
            f"scores contain NaN (first at db item {bad[0]}, query {bad[1]}); "
            "check the descriptors (e.g. a zero vector normalised to NaN)"
        )
    n_db = scores.shape[0]
    ascending_reversed = np.argsort(scores.T[:, ::-1], axis=1, kind="stable")
    return (n_db - 1 - ascending_reversed[:, ::-1]).T


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


def _positive_int(value, name: str) -> int:
    """``value`` as an int if it is a whole number >= 1 (``5`` or ``5.0``; not ``2.7``, not a bool)."""
    whole = not isinstance(value, bool | np.bool_) and (
        isinstance(value, Integral) or (isinstance(value, Real) and float(value).is_integer())
    )
    if not whole or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_ints(values, name: str) -> tuple[int, ...]:
    """The ``k`` of mP@k (or R@K) as a tuple of positive ints (``2.7`` is an error, not 2)."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a sequence of positive integers such as (1, 5, 10), got {values!r}")
    values = list(values)
    return tuple(_positive_int(k, f"every k of {name}={values!r}") for k in values)


def _n_queries(gnd) -> int:
    if isinstance(gnd, Mapping | str | bytes) or not isinstance(gnd, Sequence | np.ndarray):
        raise ValueError(f"gnd must be a list with one dict per query, got {type(gnd).__name__}")
    if len(gnd) == 0:
        raise ValueError("gnd is empty: there is no query to evaluate")
    return len(gnd)


def _check_ranks(ranks, gnd, n_db: int | None) -> tuple[np.ndarray, int]:
    """Shape and dtype of ``ranks`` against ``gnd``; the index range is checked by :func:`_scan`."""
    n_queries = _n_queries(gnd)
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
    if ranks.shape[0] == 0:
        raise ValueError("ranks has no rows: every query must rank at least one database item")
    n_db = ranks.shape[0] if n_db is None else _positive_int(n_db, "n_db")
    if ranks.shape[0] > n_db:
        raise ValueError(f"ranks has {ranks.shape[0]} rows but n_db={n_db}")
    if n_db >= 2**31:
        raise ValueError(f"n_db={n_db}: databases of 2**31 items or more are not supported")
    if ranks.dtype.itemsize < 4:  # int8/int16 ranks: widen, so that every check sees 4+ bytes
        ranks = ranks.astype(np.int32)
    return ranks, n_db


def _gnd_lists(gnd, n_db: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Sorted unique ``ok`` and ``junk`` index arrays per query, checked against ``n_db``."""
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


def _empty_queries(ok_lists, on_empty: str) -> np.ndarray:
    """Indices of the queries without positives, handled as ``on_empty`` says."""
    if on_empty not in ("warn", "raise", "exclude"):
        raise ValueError(f"on_empty must be 'warn', 'raise' or 'exclude', got {on_empty!r}")
    nq = len(ok_lists)
    empty = np.flatnonzero([len(ok) == 0 for ok in ok_lists])
    if len(empty) == nq:
        raise ValueError("no query has a positive: mAP is undefined")
    if len(empty) and on_empty == "raise":
        raise ValueError(f"queries {empty.tolist()} have no positive in the ground truth")
    if len(empty) and on_empty == "warn":
        warnings.warn(
            f"{len(empty)} of {nq} queries have no positive and are excluded from the mean: "
            f"{empty.tolist()}", EmptyQueryWarning, stacklevel=3,
        )
    return empty


# Reading row-major ranks column by column: chunks of _ROW_CHUNK rows, small enough to stay in
# the cache, are transposed into a buffer of whole int32 columns of at most _MAX_BUFFER elements
# (512 MB); the columns are then inverted in slices of _SLICE indices cast back to intp.
_ROW_CHUNK = 512
_MAX_BUFFER = 1 << 27
_SLICE = 1 << 17


def _out_of_range(block: np.ndarray, n_db: int) -> bool:
    """Whether an index of ``block`` (4- or 8-byte integers) is outside ``[0, n_db)``, in one
    pass: read as unsigned, a negative index is at least 2**31, more than any ``n_db``."""
    return bool(block.view(f"u{block.itemsize}").max() >= n_db)


def _raise_out_of_range(block: np.ndarray, n_db: int, r0: int, q0: int):
    r, q = np.argwhere((block < 0) | (block >= n_db))[0]
    raise ValueError(
        f"ranks[{r0 + r}, {q0 + q}] = {block[r, q]} is outside the database [0, {n_db}); "
        "if every column ranks only the top of the database, pass n_db=<database size>"
    )


def _columns(ranks: np.ndarray, n_db: int):
    """Yield ``(q, ranks[:, q])`` as contiguous arrays.

    Column-major ``ranks`` (from :func:`ranks_from_scores`) are yielded as they are. In the
    row-major revisitop layout (``np.argsort(-S, axis=0)``) a column is spread over the whole
    array, and reading one at a time would load all of it once per query: row chunks of (ideally)
    all columns are transposed into an int32 buffer instead, which halves the memory traffic
    (each chunk is checked to be in ``[0, n_db)`` first, so that the cast is exact).
    The yielded arrays may be views of that buffer: use each before asking for the next.
    """
    n, nq = ranks.shape
    if ranks.flags.f_contiguous:
        yield from enumerate(ranks.T)
        return
    group = max(1, min(nq, _MAX_BUFFER // n))
    buffer = np.empty((group, n), dtype=np.int32)  # n_db < 2**31: exact
    for q0 in range(0, nq, group):
        cols = buffer[: min(group, nq - q0)]
        for r0 in range(0, n, _ROW_CHUNK):
            chunk = ranks[r0 : r0 + _ROW_CHUNK, q0 : q0 + len(cols)]
            if _out_of_range(chunk, n_db):
                _raise_out_of_range(chunk, n_db, r0, q0)
            cols[:, r0 : r0 + _ROW_CHUNK] = chunk.T
        yield from enumerate(cols, start=q0)


def _duplicate_error(column: np.ndarray, q: int) -> ValueError:
    items, counts = np.unique(column, return_counts=True)
    repeated = items[counts > 1]
    first = np.flatnonzero(np.isin(column, repeated))[0]  # the earliest ranked repeated item
    item = int(column[first])
    where = np.flatnonzero(column == item)
    return ValueError(
        f"ranks column {q} (query {q}) lists database item {item} more than once: {len(where)} "
        f"times, at 0-based ranks {where[:5].tolist()}; a ranking lists each item at most once"
    )


def _scan(ranks: np.ndarray, n_db: int, items: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Position of each item of ``items[q]`` in column ``q`` of ``ranks`` (-1 if not ranked).

    One pass over each ranking and no sort: the inverse table ``where[ranks[:, q]] = 0..n-1``
    maps every database item to its 0-based position. The same table checks the ranking: the
    ``n`` indices of a column, each checked to be in ``[0, n_db)``, are distinct exactly when
    they fill ``n`` entries of the table, so a duplicate is found at the cost of counting them.
    """
    n = ranks.shape[0]
    where = np.empty(n_db, dtype=np.int32)
    order = np.arange(n, dtype=np.int32)
    index = np.empty(min(n, _SLICE), dtype=np.intp)  # numpy scatters twice as fast with intp
    checked = not ranks.flags.f_contiguous  # _columns checks row-major ranks as it transposes
    positions = []
    for q, column in _columns(ranks, n_db):
        where.fill(-1)
        for a in range(0, n, _SLICE):
            part = index[: min(_SLICE, n - a)]
            part[...] = column[a : a + _SLICE]
            if not checked and _out_of_range(part, n_db):
                _raise_out_of_range(part[:, None], n_db, a, q)
            where[part] = order[a : a + _SLICE]
        if np.count_nonzero(where >= 0) != n:
            raise _duplicate_error(column, q)
        positions.append(where[items[q]])
    return positions


def _ap_and_pk(ok_pos: np.ndarray, junk_pos: np.ndarray, n_ok: int, kappas) -> tuple[float, np.ndarray]:
    """Trapezoid AP and capped P@k of one query from the 0-based positions of its positives and
    junk items in the ranking (-1: not ranked), revisitop's ``compute_map`` for one query.

    Junk is deleted first: ``r = pos - (junk ranked before pos)``. With ``j`` the 0-based count
    of earlier positives, ``AP = (1/n_ok) sum_j (p0 + p1)/2`` with ``p0 = j/r`` (1 if r = 0) and
    ``p1 = (j+1)/(r+1)``; ``P@k = |{r + 1 <= k_q}| / k_q`` with ``k_q = min(r_last + 1, k)``.
    """
    found = np.sort(ok_pos[ok_pos >= 0])
    junk = np.sort(junk_pos[junk_pos >= 0])
    r = found - np.searchsorted(junk, found)  # strictly increasing
    j = np.arange(len(r))
    p0 = np.where(r == 0, 1.0, j / np.maximum(r, 1))
    p1 = (j + 1) / (r + 1)
    ap = float(((p0 + p1) / 2).sum() / n_ok)
    k = np.asarray(kappas, dtype=np.int64)
    kq = np.minimum(r[-1] + 1, k) if len(r) else k
    return ap, np.searchsorted(r, kq) / kq  # r < kq  <=>  1-based rank r + 1 <= kq


def _ap_table(ok_lists, junk_lists, items, positions, kappas) -> tuple[np.ndarray, np.ndarray]:
    """AP and P@k of every query (NaN without positives) from :func:`_scan`'s positions of
    ``items[q]`` (sorted, containing ``ok_lists[q]`` and ``junk_lists[q]``)."""
    nq = len(ok_lists)
    aps, prs = np.full(nq, np.nan), np.full((nq, len(kappas)), np.nan)
    for q, (ok, junk, its, pos) in enumerate(zip(ok_lists, junk_lists, items, positions)):
        if len(ok):
            aps[q], prs[q] = _ap_and_pk(pos[np.searchsorted(its, ok)], pos[np.searchsorted(its, junk)],
                                        len(ok), kappas)
    return aps, prs


def compute_map(ranks, gnd, kappas: Iterable[int] = (1, 5, 10), *, n_db: int | None = None,
                on_empty: str = "warn"):
    """Mean average precision and mean precision at k, exactly as revisitop's ``compute_map``.

    Call-compatible with ``revisitop/python/evaluate.py``: ``map, aps, pr, prs =
    compute_map(ranks, gnd, kappas)``; one pass over each ranking with no sort and no set
    operation (see :func:`_scan`; 70 queries x 1M items in about 0.25 s on one CPU core, about
    10x less than revisitop's own code: ``benchmarks/bench_evaluate.py``).

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

    Stricter than revisitop on malformed input, with a ``ValueError`` that names the query: a
    column that lists an item twice (revisitop counts a positive listed twice as two
    positives), an index outside ``[0, n_db)``, a ``k`` that is not a positive integer, an item
    both positive and junk. An index listed twice in ``gnd`` counts once.

    Parameters
    ----------
    ranks : int array (n_db, n_queries)
        Column ``q`` = distinct database indices sorted by decreasing similarity to query ``q``.
    gnd : list of dict
        One dict per query with ``'ok'`` and optionally ``'junk'`` 0-based index arrays.
    kappas : iterable of int
        The ``k`` of mP@k, positive integers.
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
    kappas = _positive_ints(kappas, "kappas")
    ranks, n_db = _check_ranks(ranks, gnd, n_db)
    ok_lists, junk_lists = _gnd_lists(gnd, n_db)
    _empty_queries(ok_lists, on_empty)
    items = [np.union1d(ok, junk) for ok, junk in zip(ok_lists, junk_lists)]
    aps, prs = _ap_table(ok_lists, junk_lists, items, _scan(ranks, n_db, items), kappas)
    return float(np.nanmean(aps)), aps, np.nanmean(prs, axis=0), prs


def compute_map_loop(ranks, gnd, kappas: Iterable[int] = (1, 5, 10), *, n_db: int | None = None):
    """The same numbers as :func:`compute_map`, one query at a time -- the readable version.

    A line-by-line rendering of revisitop's published algorithm (``compute_map`` and
    ``compute_ap`` in ``python/evaluate.py``), kept as the second implementation the fast one
    is tested against (``benchmarks/revisitop_baseline.py`` is the faithful copy that the speed
    is measured against). Slow on large databases (two set-membership scans of the whole
    ranking per query). Input is checked as in :func:`compute_map`; queries without positives
    are excluded silently.
    """
    kappas = _positive_ints(kappas, "kappas")
    ranks, n_db = _check_ranks(ranks, gnd, n_db)
    ok_lists, junk_lists = _gnd_lists(gnd, n_db)
    nq = len(gnd)
    aps = np.full(nq, np.nan)
    prs = np.full((nq, len(kappas)), np.nan)
    for i in range(nq):
        ok, junk = ok_lists[i], junk_lists[i]
        ranking = ranks[:, i]
        if ranking.min() < 0 or ranking.max() >= n_db:
            _raise_out_of_range(ranks[:, i : i + 1], n_db, 0, i)
        if len(np.unique(ranking)) != len(ranking):
            raise _duplicate_error(ranking, i)
        if len(ok) == 0:
            continue
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
    if np.isnan(aps).all():
        raise ValueError("no query has a positive: mAP is undefined")
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


#: the labels of :func:`item_labels`, in the order they are written (a later one never overwrites)
ITEM_LABELS = ("easy", "hard", "ok", "junk", "negative")


def item_labels(gnd, n_db: int) -> np.ndarray:
    """The label of every database item for every query: a ``(n_queries, n_db)`` array of strings.

    ``labels[q, i]`` is ``"easy"``, ``"hard"`` or ``"junk"`` (revisited ground truth), ``"ok"`` or
    ``"junk"`` (old-protocol ground truth), and ``"negative"`` for an item ``gnd[q]`` does not list
    -- the keys of :data:`rrlib.viz.LABEL_COLORS`. Masks follow with numpy, e.g. the Medium
    positives ``np.isin(labels, ("easy", "hard"))``. An item listed under two labels of one query
    is a ``ValueError`` (the ground truth is broken), as is an index outside ``0..n_db-1``.
    """
    n_db = _positive_int(n_db, "n_db")
    n_queries = _n_queries(gnd)
    labels = np.full((n_queries, n_db), "negative", dtype="<U8")
    for q, g in enumerate(gnd):
        if not isinstance(g, Mapping):
            raise ValueError(f"gnd[{q}] must be a dict of index lists, got {type(g).__name__}")
        keys = [key for key in ITEM_LABELS[:-1] if key in g]
        if not keys:
            raise ValueError(f"gnd[{q}] has none of the keys {ITEM_LABELS[:-1]}")
        for key in keys:
            idx = _index_array(g[key], f"gnd[{q}]['{key}']")
            if len(idx) and (idx.min() < 0 or idx.max() >= n_db):
                raise ValueError(f"gnd[{q}]['{key}'] has an index outside 0..{n_db - 1}")
            taken = labels[q, idx] != "negative"
            if taken.any():
                i = int(idx[taken][0])
                raise ValueError(f"gnd[{q}] lists item {i} as both {str(labels[q, i])!r} and {key!r}")
            labels[q, idx] = key
    return labels


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


class RanksAsScoresWarning(UserWarning):
    """``evaluate_revisited`` got scores whose every column is a permutation of 0..n_db-1."""


def evaluate_revisited(scores, gnd, kappas: Iterable[int] = (1, 5, 10), *,
                       name: str = "") -> RevisitedResult:
    """Evaluate a similarity matrix on the revisited protocol: Easy, Medium, Hard.

    ``scores`` has shape ``(n_db, n_queries)`` (``scores = X.T @ Q``, higher = more similar) and
    any real dtype: floats, integers (inlier counts, votes) or booleans. It is ranked by
    :func:`ranks_from_scores` (ties in database order); rankings go to
    :func:`evaluate_revisited_ranks` instead -- the dtype never decides which is which. Each
    setup is built by :func:`revisited_gnd` and scored as by :func:`compute_map`, from one pass
    over the rankings; results are in percent. Queries without positives in the Easy or Hard
    setup are excluded and listed in ``result.excluded``; in Medium every query must have a
    positive (otherwise the ground truth is broken and ``ValueError`` is raised).

    An integer matrix whose every column is a permutation of ``0..n_db-1`` looks like ranks
    passed by mistake: it is still evaluated as scores, with a :class:`RanksAsScoresWarning`.
    """
    kappas, scores, n_queries = _positive_ints(kappas, "kappas"), np.asarray(scores), _n_queries(gnd)
    if scores.ndim == 2 and scores.shape[1] != n_queries and scores.shape[0] == n_queries:
        raise ValueError(
            f"scores has {scores.shape[1]} columns (queries) but gnd has {n_queries} entries "
            "(it looks transposed: pass scores.T)"
        )
    ranks = ranks_from_scores(scores)
    if _looks_like_ranks(scores, ranks):
        warnings.warn(
            "every column of scores is a permutation of 0..n_db-1, as ranks are; they are "
            "evaluated as similarities (higher = closer). For rankings call "
            "evaluate_revisited_ranks(ranks, gnd).", RanksAsScoresWarning, stacklevel=2,
        )
    return _evaluate_revisited(ranks, gnd, kappas, None, name)


def _looks_like_ranks(scores: np.ndarray, ranks: np.ndarray) -> bool:
    """Whether integer ``scores`` sorted by ``ranks`` read n_db-1, ..., 1, 0 in every column."""
    n_db = len(scores)
    if not np.issubdtype(scores.dtype, np.integer) or scores.size == 0:
        return False
    if scores.min() != 0 or scores.max() != n_db - 1:
        return False
    descending = np.take_along_axis(scores, ranks, axis=0)
    return bool((descending == np.arange(n_db - 1, -1, -1)[:, None]).all())


def evaluate_revisited_ranks(ranks, gnd, kappas: Iterable[int] = (1, 5, 10), *,
                             n_db: int | None = None, name: str = "") -> RevisitedResult:
    """:func:`evaluate_revisited` for rankings: integer ``ranks`` of shape ``(n_db, n_queries)``.

    Column ``q`` lists distinct database indices by decreasing similarity to query ``q`` (the
    revisitop / cirtorch layout, checked as in :func:`compute_map`); ``n_db`` is the database
    size when the columns rank only its top.
    """
    return _evaluate_revisited(ranks, gnd, kappas, n_db, name)


def _evaluate_revisited(ranks, gnd, kappas, n_db, name) -> RevisitedResult:
    kappas = _positive_ints(kappas, "kappas")
    ranks, n_db = _check_ranks(ranks, gnd, n_db)
    setups = {s: _gnd_lists(revisited_gnd(gnd, s), n_db) for s in SETUPS}
    for setup, (ok_lists, _) in setups.items():
        _empty_queries(ok_lists, "raise" if setup == "medium" else "exclude")
    # Medium's ok + junk is every labelled item (easy + hard + junk): one scan serves all setups.
    items = [np.union1d(ok, junk) for ok, junk in zip(*setups["medium"])]
    positions = _scan(ranks, n_db, items)
    maps, mpks, aps, excluded = {}, {}, {}, {}
    for setup, (ok_lists, junk_lists) in setups.items():
        ap, pr = _ap_table(ok_lists, junk_lists, items, positions, kappas)
        maps[setup], aps[setup] = 100 * float(np.nanmean(ap)), 100 * ap
        mpks[setup] = 100 * np.nanmean(pr, axis=0)
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
    ks = sorted(set(_positive_ints(ks, "ks")))
    chunk = _positive_int(chunk, "chunk")
    if not ks or ks[-1] > len(X) - 1:
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

"""revisitop's evaluation algorithm, rewritten by us as the baseline of ``bench_evaluate.py``.

A faithful rendering of ``compute_ap`` and ``compute_map`` in revisitop's ``python/evaluate.py``
(Radenovic et al., CVPR 2018; github.com/filipradenovic/revisitop, commit be39832): the same
per-query steps, loops and numpy calls, so that timing it measures revisitop's own cost. The one
change is ``np.isin`` for ``np.in1d`` (deprecated in numpy 2, same algorithm). Not part of the
package: ``rrlib.evaluate.compute_map_loop`` is the readable per-query version that rrlib teaches.

Per query ``i`` with positives ``ok`` and ``junk``:

1. ``pos`` / ``junk`` = sorted 0-based positions in ``ranks[:, i]`` of the items in ``ok`` /
   ``junk`` (a set-membership test of the whole column, twice);
2. each positive moves up by the number of junk items before it (a two-pointer walk);
3. AP by trapezoids: ``sum_j (p0_j + p1_j) / (2 |ok|)`` with ``p0_j = j / r_j`` (1 if ``r_j = 0``)
   and ``p1_j = (j + 1) / (r_j + 1)``, one Python iteration per positive;
4. ``P@k`` with ``k_q = min(max(pos + 1), k)``: ``|{pos + 1 <= k_q}| / k_q``.

Queries with no positive get NaN and are left out of both means. Like revisitop, this version
does not validate its input (a duplicate in a ranking is silently counted twice) and fails on a
query none of whose positives is in the ranking.
"""
import numpy as np


def compute_ap(positions, n_positives):
    """Trapezoid AP from the sorted 0-based (junk-shifted) positions of the retrieved positives."""
    ap = 0.0
    recall_step = 1.0 / n_positives
    for j in np.arange(len(positions)):
        rank = positions[j]
        precision_0 = 1.0 if rank == 0 else float(j) / rank
        precision_1 = float(j + 1) / (rank + 1)
        ap += (precision_0 + precision_1) * recall_step / 2.0
    return ap


def compute_map(ranks, gnd, kappas=()):
    """``map, aps, pr, prs`` of ``ranks`` (n_db, n_queries) against ``gnd`` (list of ok/junk dicts)."""
    total = 0.0
    nq = len(gnd)
    aps = np.zeros(nq)
    pr = np.zeros(len(kappas))
    prs = np.zeros((nq, len(kappas)))
    nempty = 0
    for i in np.arange(nq):
        qgnd = np.array(gnd[i]["ok"])
        if qgnd.shape[0] == 0:
            aps[i] = float("nan")
            prs[i, :] = float("nan")
            nempty += 1
            continue
        try:
            qgndj = np.array(gnd[i]["junk"])
        except KeyError:
            qgndj = np.empty(0)

        pos = np.arange(ranks.shape[0])[np.isin(ranks[:, i], qgnd)]
        junk = np.arange(ranks.shape[0])[np.isin(ranks[:, i], qgndj)]

        k = 0
        ij = 0
        if len(junk):
            ip = 0
            while ip < len(pos):
                while ij < len(junk) and pos[ip] > junk[ij]:
                    k += 1
                    ij += 1
                pos[ip] = pos[ip] - k
                ip += 1

        ap = compute_ap(pos, len(qgnd))
        total = total + ap
        aps[i] = ap

        pos += 1  # 1-based
        for j in np.arange(len(kappas)):
            kq = min(max(pos), kappas[j])
            prs[i, j] = (pos <= kq).sum() / kq
        pr = pr + prs[i, :]

    return total / (nq - nempty), aps, pr / (nq - nempty), prs

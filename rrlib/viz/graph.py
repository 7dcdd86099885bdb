"""Graphs and diffusion scores on 2-D toy data (notebook 05)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from matplotlib.collections import LineCollection
from scipy.stats import rankdata

from .style import LABEL_COLORS

__all__ = ["plot_graph_2d", "plot_scores_2d"]


def _graph_inputs(points, values, name: str, W):
    """``points`` (n, 2), one of ``values`` per point and ``W`` (n, n) or None, as arrays / CSR;
    a ValueError naming the argument whose shape does not fit."""
    points, values = np.asarray(points), np.asarray(values)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points of shape {points.shape}: expected (n, 2)")
    n = len(points)
    if values.shape != (n,):
        raise ValueError(f"{name} of shape {values.shape}: expected one per point, ({n},)")
    if W is not None:
        W = sp.csr_matrix(W)
        if W.shape != (n, n):
            raise ValueError(f"W of shape {W.shape}: expected ({n}, {n}), one row per point")
    return points, values, W


def plot_scores_2d(points, scores, *, query=None, W=None, ax=None, title: str | None = None):
    """2-D points coloured by their *rank* under ``scores`` (yellow = ranked first; equal scores
    share a colour), with optional graph edges (the nonzeros of the ``(n, n)`` affinity ``W``)
    and the query. Ranks, not raw scores: diffusion scores span orders of magnitude."""
    ax = ax or plt.gca()
    points, scores, W = _graph_inputs(points, scores, "scores", W)
    if W is not None:
        i, j = sp.triu(W, k=1).nonzero()
        for a, b in zip(i, j):
            ax.plot(points[[a, b], 0], points[[a, b], 1], color="0.55", lw=0.7, zorder=1)
    order = np.argsort(scores, kind="stable")
    # 0 = lowest score; tied scores share their lowest rank (items a diffusion has not reached yet
    # all score 0: they get one colour, not a gradient by their index)
    rank = rankdata(scores, method="min") - 1.0
    ax.scatter(points[order, 0], points[order, 1], c=rank[order], cmap="viridis", s=14, zorder=2)
    if query is not None:
        ax.scatter(*np.asarray(query), marker="*", s=180, c=LABEL_COLORS["query"], zorder=3)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def plot_graph_2d(points, W, labels, *, ax=None, title: str | None = None):
    """A graph on 2-D points: its edges (the nonzeros of the ``(n, n)`` affinity ``W``) as dark
    lines, edges between items of different ``labels`` in red and thicker (where a diffusion
    leaks from one class into another), and the points coloured by their label (the colours of
    ``tab10``, one legend entry per label)."""
    ax = ax or plt.gca()
    points, labels, W = _graph_inputs(points, labels, "labels", W)
    i, j = sp.triu(W, k=1).nonzero()
    cross = labels[i] != labels[j]
    segments = np.stack([points[i], points[j]], axis=1)
    ax.add_collection(LineCollection(segments[~cross], colors="0.35", linewidths=0.8, zorder=1))
    if cross.any():
        ax.add_collection(LineCollection(segments[cross], colors=LABEL_COLORS["F"], linewidths=2.0, zorder=2,
                                         label=f"{int(cross.sum())} edges between labels"))
    cmap = plt.get_cmap("tab10")
    for c, lab in enumerate(np.unique(labels)):
        sel = labels == lab
        ax.scatter(points[sel, 0], points[sel, 1], s=16, color=cmap(c % 10), zorder=3, label=str(lab))
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize="medium")
    if title:
        ax.set_title(title)
    return ax

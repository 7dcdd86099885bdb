"""Graphs and diffusion scores on 2-D toy data (notebook 05)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

from .style import LABEL_COLORS

__all__ = ["plot_scores_2d"]


def plot_scores_2d(points, scores, *, query=None, W=None, ax=None, title: str | None = None):
    """2-D points coloured by their *rank* under ``scores`` (yellow = ranked first), with optional
    graph edges (the nonzeros of the ``(n, n)`` affinity ``W``) and the query. Ranks, not raw
    scores: diffusion scores span orders of magnitude."""
    ax = ax or plt.gca()
    points = np.asarray(points)
    scores = np.asarray(scores)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points of shape {points.shape}: expected (n, 2)")
    if scores.shape != (len(points),):
        raise ValueError(f"scores of shape {scores.shape}: expected one per point, ({len(points)},)")
    if W is not None:
        W = sp.csr_matrix(W)
        if W.shape != (len(points),) * 2:
            raise ValueError(f"W of shape {W.shape}: expected ({len(points)}, {len(points)}), one row per point")
        i, j = sp.triu(W, k=1).nonzero()
        for a, b in zip(i, j):
            ax.plot(points[[a, b], 0], points[[a, b], 1], color="0.8", lw=0.5, zorder=1)
    order = np.argsort(scores, kind="stable")
    rank = np.empty(len(order))
    rank[order] = np.arange(len(order))  # 0 = lowest score
    ax.scatter(points[order, 0], points[order, 1], c=rank[order], cmap="viridis", s=14, zorder=2)
    if query is not None:
        ax.scatter(*np.asarray(query), marker="*", s=180, c=LABEL_COLORS["query"], zorder=3)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return ax

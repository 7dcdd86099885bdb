"""Mining on manifolds on 2-D toy data (notebook 06): the sets of [S0]'s slide sequence, and ``pi``.

[S0] "mining on manifolds" shows, one slide each, the data points, a query ``x``, its Euclidean
neighbours ``E(x)``, its manifold neighbours ``M(x)``, the hard positives ``S+ = M(x) \\ E(x)``
and the hard negatives ``S- = E(x) \\ M(x)``: :func:`plot_set_2d` draws one such panel.
:func:`plot_pi_2d` draws the stationary distribution of the random walk with the anchors.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import LABEL_COLORS

__all__ = ["SET_COLORS", "plot_pi_2d", "plot_set_2d"]

#: colours of the sets of [S0]'s sequence (positives green, negatives red, as the ranked items)
SET_COLORS = {"E": "#ff7f0e", "M": "#1f77b4", "S+": LABEL_COLORS["T"], "S-": LABEL_COLORS["F"]}


def _points(points) -> np.ndarray:
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points of shape {points.shape}: expected (n, 2)")
    return points


def _indices(members, n: int, name: str) -> np.ndarray:
    members = np.asarray(members, dtype=np.int64).ravel()
    if len(members) and (members.min() < 0 or members.max() >= n):
        raise ValueError(f"{name} holds indices outside 0..{n - 1}")
    return members


def plot_set_2d(points, members=(), *, query: int | None = None, color: str | None = None,
                label: str | None = None, ax=None, title: str | None = None):
    """All ``points`` (n, 2) as small grey circles, the ``members`` (indices) filled with
    ``color`` (legend entry ``label``, with their count), and the point ``query`` as a star."""
    ax = ax or plt.gca()
    points = _points(points)
    members = _indices(members, len(points), "members")
    ax.scatter(*points.T, s=14, facecolors="none", edgecolors="0.6", linewidths=0.7, label="data points", zorder=1)
    if len(members):
        ax.scatter(*points[members].T, s=22, color=color or SET_COLORS["M"], zorder=2,
                   label=f"{label or 'members'} ({len(members)})")
    if query is not None:
        q = int(_indices([query], len(points), "query")[0])
        ax.scatter(*points[q], marker="*", s=240, color=LABEL_COLORS["query"], edgecolors="k", linewidths=0.6,
                   zorder=3, label="query x")
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="lower left", frameon=False, fontsize="small", handletextpad=0.2, borderaxespad=0.2)
    if title:
        ax.set_title(title)
    return ax


def plot_pi_2d(points, pi, anchors=(), *, ax=None, title: str | None = None):
    """``points`` (n, 2) coloured by ``pi`` (one value per point, a colour bar beside), with the
    ``anchors`` (indices) circled in red."""
    ax = ax or plt.gca()
    points = _points(points)
    pi = np.asarray(pi, dtype=float)
    if pi.shape != (len(points),):
        raise ValueError(f"pi of shape {pi.shape}: expected one value per point, ({len(points)},)")
    anchors = _indices(anchors, len(points), "anchors")
    order = np.argsort(pi, kind="stable")
    sc = ax.scatter(*points[order].T, c=pi[order], cmap="viridis", s=18, zorder=1)
    plt.colorbar(sc, ax=ax, label=r"$\pi_i$", shrink=0.8)
    if len(anchors):
        ax.scatter(*points[anchors].T, s=160, facecolors="none", edgecolors=LABEL_COLORS["F"], linewidths=2,
                   zorder=2, label=f"anchors: local maxima of $\\pi$ ({len(anchors)})")
        ax.legend(loc="lower left", frameon=False, fontsize="small")
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax

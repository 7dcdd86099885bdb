"""Ranked lists and precision-recall curves (notebook 01).

The numbers come from :mod:`rrlib.evaluate`; these functions only draw them.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch, Rectangle

from ..evaluate import average_precision, precision_recall_curve
from .style import LABEL_COLORS

__all__ = ["plot_ap_build_up", "plot_pr_curve", "plot_ranking"]


def plot_pr_curve(relevance, n_relevant: int | None = None, *, ax=None, upto: int | None = None,
                  envelope: bool = True, annotate: bool = True, title: str | None = None):
    """Precision-recall curve of one ranked list, the [S0] way.

    Draws the (recall, precision) point after every rank (filled where the item is relevant),
    the step curve joining them and, with ``envelope=True``, the shaded interpolated envelope
    ``max_{r' >= r} p(r')`` whose area is the interpolated AP. ``upto`` draws only the first
    ``upto`` ranks (the slide's build-up, one item at a time).
    """
    ax = ax or plt.gca()
    precision, recall = precision_recall_curve(relevance, n_relevant)
    rel = np.asarray(relevance, dtype=bool)
    k = len(rel) if upto is None else int(upto)
    if not 0 <= k <= len(rel):
        raise ValueError(f"upto={upto} must lie in [0, {len(rel)}], the length of the ranked list")
    p, r, rl = precision[:k], recall[:k], rel[:k]
    if envelope and k:
        # Between the recall of two consecutive relevant items the envelope is flat, at the best
        # precision reached from the second one on: one bar per relevant item.
        env = np.maximum.accumulate(p[::-1])[::-1][rl]
        left = np.concatenate(([0.0], r[rl][:-1]))
        ax.bar(left, env, width=r[rl] - left, align="edge", color=LABEL_COLORS["T"], alpha=0.15,
               lw=0, label="interpolated envelope")
    ax.plot(r, p, "-", color="0.5", lw=1)
    ax.scatter(r[rl], p[rl], c=LABEL_COLORS["T"], s=30, zorder=3, label="relevant")
    ax.scatter(r[~rl], p[~rl], facecolors="none", edgecolors=LABEL_COLORS["F"], s=30, zorder=3,
               label="not relevant")
    if annotate:
        for i in range(k):
            ax.annotate(str(i + 1), (r[i], p[i]), textcoords="offset points", xytext=(4, 3),
                        fontsize="small", color="0.3")
    ax.set(xlim=(-0.02, 1.05), ylim=(0, 1.08), xlabel="recall", ylabel="precision")
    if title is None and k == len(rel) and rel.any():
        title = f"AP = {average_precision(relevance, n_relevant):.4f}"
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_ranking(labels: Sequence, *, ax=None, scores: Sequence[float] | None = None,
                 title: str | None = None, max_items: int = 40):
    """A ranked list as a strip of coloured cells, rank 1 on the left.

    ``labels`` holds per-rank labels: booleans / 0-1 (relevant or not) or the revisited names
    ``"easy"``, ``"hard"``, ``"junk"``, ``"negative"`` (and ``"query"``); ``scores``, if given,
    one per label.
    """
    ax = ax or plt.gca()
    labels = list(labels)
    if scores is not None and len(scores) != len(labels):
        raise ValueError(f"scores has {len(scores)} entries for {len(labels)} labels: one per rank")
    labels = labels[:max_items]
    names = [("T" if bool(v) else "F") if not isinstance(v, str) else v for v in labels]
    unknown = sorted(set(names) - set(LABEL_COLORS))
    if unknown:
        raise ValueError(f"labels holds {unknown}: each label is a boolean or one of {sorted(LABEL_COLORS)}")
    for i, name in enumerate(names):
        ax.add_patch(Rectangle((i, 0), 0.92, 1, color=LABEL_COLORS[name]))
        ax.text(i + 0.46, 0.5, name[0].upper(), ha="center", va="center", fontsize="small", color="white")
        ax.text(i + 0.46, -0.25, str(i + 1), ha="center", va="center", fontsize="x-small", color="0.3")
        if scores is not None:
            ax.text(i + 0.46, 1.2, f"{scores[i]:.2f}", ha="center", va="center", fontsize="x-small",
                    color="0.3", rotation=90)
    ax.set(xlim=(-0.1, len(names)), ylim=(-0.5, 1.6 if scores is not None else 1.1))
    ax.set_aspect("equal")
    ax.axis("off")
    present = [n for n in LABEL_COLORS if n in set(names)]
    if any(n not in ("T", "F") for n in present):
        ax.legend(handles=[Patch(color=LABEL_COLORS[n], label=n) for n in present],
                  loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    if title:
        ax.set_title(title, fontsize="medium", loc="left")
    return ax


def plot_ap_build_up(relevance, n_relevant: int | None = None, *, ncols: int = 6, size: float = 1.9):
    """The [S0] slide sequence: the PR curve after each of the ranked items, then the filled curve."""
    rel = np.asarray(relevance, dtype=bool)
    n = len(rel)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), sharex=True,
                             sharey=True, squeeze=False)
    precision, recall = precision_recall_curve(rel, n_relevant)
    for k, ax in enumerate(axes.flat, start=1):
        if k > n:
            ax.axis("off")
            continue
        plot_pr_curve(rel, n_relevant, ax=ax, upto=k, envelope=k == n, annotate=False, title="")
        mark = "T" if rel[k - 1] else "F"
        ax.set_title(f"rank {k}: {mark}  p={precision[k - 1]:.2f} r={recall[k - 1]:.2f}", fontsize="small")
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.supxlabel("recall", fontsize="medium")
    fig.supylabel("precision", fontsize="medium")
    fig.tight_layout()
    return fig

"""Deep active learning with unlabeled data (notebook 09; [S3] ch. 3, Siméoni et al. ICPR'20).

:func:`plot_active_loop` draws Algorithm 1 ([S3] Fig 3.1); :func:`plot_picks` and
:func:`plot_propagation` show one cycle on 2-D toy data (which examples an acquisition function
picks; the pseudo-labels and certainty weights of label propagation); :func:`plot_accuracy_curves`
draws accuracy against the number of labels (mean +- std over repetitions);
:func:`plot_rank_scatter` compares the ranks two acquisition functions give the unlabeled
examples ([S3] Fig 3.6); :func:`plot_agreement_bars` draws the agreement study as bars.
Classes are coloured by ``tab10`` with colour ``label % 10``, the same in every panel.
"""
from __future__ import annotations

import textwrap
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch
from scipy.stats import rankdata, spearmanr

from .style import LABEL_COLORS

__all__ = ["plot_accuracy_curves", "plot_active_loop", "plot_agreement_bars", "plot_picks", "plot_propagation",
           "plot_rank_scatter"]

_BOX = {"PRE": ("#efe3f6", "#9467bd"), "SUP": ("#dbe9f6", "#1f77b4"), "LP": ("#fde7d3", "#ff7f0e"),
        "SEMI": ("#fde7d3", "#ff7f0e"), "AL": ("#dff0da", "#2ca02c"), "ORACLE": ("#eeeeee", "0.4")}


def _class_colors(labels) -> np.ndarray:
    """One RGBA row per label: ``tab10`` colour number ``label % 10``."""
    return plt.get_cmap("tab10")(np.asarray(labels, dtype=np.int64) % 10)


def _points_and(X, **per_point):
    """``X`` as an (n, 2) array and each of ``per_point`` as an (n,) array; ValueError otherwise."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X of shape {X.shape}: expected (n, 2)")
    out = []
    for name, value in per_point.items():
        value = np.asarray(value)
        if value.shape != (len(X),):
            raise ValueError(f"{name} of shape {value.shape}: expected one per point, ({len(X)},)")
        out.append(value)
    return X, *out


def _finish_2d(ax, title):
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)


def plot_active_loop(ax=None):
    """Algorithm 1 of [S3] (Fig 3.1) as boxes and arrows: PRE once, then per cycle SUP, the
    per-epoch loop LP <-> SEMI, the acquisition of ``b`` examples and the oracle, back to SUP.
    Drawn on a 10 x 4 data frame: readable at ``figsize=(10, 4)`` (the default when ``ax`` is None)."""
    if ax is None:
        ax = plt.figure(figsize=(10, 4)).add_axes([0.01, 0.01, 0.98, 0.98])
    ax.set(xlim=(0, 10), ylim=(0, 4))
    ax.axis("off")
    boxes = {  # name: (x0, y0, width, height, text)
        "PRE": (0.1, 1.55, 2.2, 0.9, "PRE: unsupervised\npre-training\n(k-means pseudo-labels)"),
        "SUP": (3.0, 2.9, 2.1, 0.8, "SUP: train on $L$\n(from $\\theta_0$)"),
        "LP": (5.9, 2.9, 4.0, 0.8, "LP: label propagation on the kNN graph\nof $\\phi_\\theta(X)$"
                                   " $\\to$ pseudo-labels $\\hat y$, weights $w$"),
        "SEMI": (5.9, 1.6, 4.0, 0.8, "SEMI: train on $L \\cup U$,\nbatches sampled by $\\eta[w]$"),
        "AL": (5.9, 0.25, 4.0, 0.85,
               "acquire $S \\subset U$, $|S| = b$\n(Random / Uncertainty / CEAL / CoreSet / jLP)"),
        "ORACLE": (3.0, 0.3, 2.1, 0.8, "oracle labels $S$;\n$L \\leftarrow L \\cup S$"),
    }
    for name, (x, y, w, h, text) in boxes.items():
        fc, ec = _BOX[name]
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.04,rounding_size=0.12", fc=fc, ec=ec, lw=1.5))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize="small", linespacing=1.3)

    def arrow(xy_from, xy_to, label=None, at=None, **kw):
        ax.annotate("", xy=xy_to, xytext=xy_from,
                    arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.4, shrinkA=2, shrinkB=2, **kw))
        if label:
            ax.text(*at, label, fontsize="small", color="0.3", ha="center", va="center")

    arrow((2.34, 2.35), (2.96, 3.1), "$\\theta_0$, once", at=(2.0, 3.05), connectionstyle="arc3,rad=-0.2")
    arrow((5.14, 3.3), (5.86, 3.3))                                                   # SUP -> LP
    arrow((7.1, 2.86), (7.1, 2.44))                                                   # LP -> SEMI
    arrow((8.7, 2.44), (8.7, 2.86))                                                   # SEMI -> LP
    ax.text(7.9, 2.65, "every epoch", fontsize="small", color="0.3", ha="center", va="center")
    arrow((7.9, 1.56), (7.9, 1.14), "after the last epoch", at=(8.95, 1.35))          # SEMI -> acquire
    arrow((5.86, 0.7), (5.14, 0.7))                                                   # acquire -> oracle
    arrow((4.05, 1.14), (4.05, 2.86), "next cycle", at=(4.55, 2.0))                   # oracle -> SUP
    return ax


def plot_picks(X, labels, labeled, picked, ax=None, title=None):
    """2-D toy data ``X`` (n, 2) of true classes ``labels`` (n,): the unlabeled points small and
    faint, the ``labeled`` ones (bool mask (n,)) coloured by class with a black edge, the
    ``picked`` ones (indices, e.g. the set ``S`` an acquisition function returned) as large stars
    with a red edge. Legend: labeled / unlabeled / picked, with their counts."""
    ax = ax or plt.gca()
    X, labels, labeled = _points_and(X, labels=labels, labeled=labeled)
    labeled = labeled.astype(bool)
    picked = np.asarray(picked, dtype=np.int64).ravel()
    if len(picked) and (picked.min() < 0 or picked.max() >= len(X)):
        raise ValueError(f"picked holds indices outside 0..{len(X) - 1}")
    colors = _class_colors(labels)
    red = LABEL_COLORS["F"]
    ax.scatter(*X[~labeled].T, s=10, c=colors[~labeled], alpha=0.3, linewidths=0, zorder=1)
    ax.scatter(*X[labeled].T, s=55, c=colors[labeled], edgecolors="k", linewidths=1.0, zorder=2)
    ax.scatter(*X[picked].T, s=260, marker="*", c=colors[picked], edgecolors=red, linewidths=1.5, zorder=3)
    handles = [Line2D([], [], ls="", marker="o", ms=7, mfc="0.6", mec="k", label=f"labeled ({int(labeled.sum())})"),
               Line2D([], [], ls="", marker="o", ms=4, mfc="0.6", mec="none", alpha=0.4,
                      label=f"unlabeled ({int((~labeled).sum())})"),
               Line2D([], [], ls="", marker="*", ms=14, mfc="0.6", mec=red, mew=1.5, label=f"picked ({len(picked)})")]
    ax.legend(handles=handles, loc="lower left", fontsize="small", framealpha=0.85)
    _finish_2d(ax, title)
    return ax


def plot_propagation(X, labeled, pseudo, weights, ax=None, title=None):
    """The result of label propagation on 2-D toy data ``X`` (n, 2): every point coloured by its
    pseudo-label ``pseudo`` (n,), with opacity ``0.1 + 0.9 w`` for its certainty weight ``w`` in
    ``weights`` (n,) (``w = 1 - H(p)/log c``, in [0, 1]; ValueError outside), and the ``labeled``
    points (bool mask (n,)) as large black-edged markers."""
    ax = ax or plt.gca()
    X, labeled, pseudo, weights = _points_and(X, labeled=labeled, pseudo=pseudo, weights=weights)
    labeled = labeled.astype(bool)
    weights = weights.astype(float)
    if not np.all((weights >= 0) & (weights <= 1)):  # also refuses NaN
        raise ValueError(f"weights must lie in [0, 1]: got values in [{np.nanmin(weights)}, {np.nanmax(weights)}]"
                         " (certainty w = 1 - H(p)/log c)")
    colors = _class_colors(pseudo)
    colors[:, 3] = 0.1 + 0.9 * weights
    ax.scatter(*X[~labeled].T, s=22, c=colors[~labeled], linewidths=0, zorder=1)
    ax.scatter(*X[labeled].T, s=80, c=_class_colors(pseudo[labeled]), edgecolors="k", linewidths=1.2, zorder=2)
    handles = [Line2D([], [], ls="", marker="o", ms=8, mfc="0.5", mec="k", label="labeled")]
    handles += [Line2D([], [], ls="", marker="o", ms=6, mfc="0.3", mec="none", alpha=0.1 + 0.9 * w, label=f"w = {w:g}")
                for w in (0.0, 0.5, 1.0)]
    ax.legend(handles=handles, loc="lower left", fontsize="small", framealpha=0.85,
              title="certainty = marker opacity", title_fontsize="small")
    _finish_2d(ax, title)
    return ax


def _default_style(name: str) -> dict:
    """"+SEMI" in a name: dashed; "+PRE": square markers (the methods of [S3] Table 3.2)."""
    compact = name.replace(" ", "")
    return {"ls": "--" if "+SEMI" in compact else "-", "marker": "s" if "+PRE" in compact else "o"}


def plot_accuracy_curves(n_labels, curves: Mapping[str, np.ndarray], ax=None, title=None,
                         styles: Mapping[str, dict] | None = None):
    """Accuracy against the number of labels, one line per entry of ``curves`` (name -> array
    (repetitions, cycles) of accuracies in %): the mean over repetitions with +- std error bars
    (``np.std``, ddof 0), each line shifted a little along x so that the bars do not overlap.
    ``n_labels`` (cycles,) is the number of labels at each cycle. By default a name holding
    "+SEMI" is dashed and one holding "+PRE" has square markers; ``styles`` (name -> keyword
    arguments of ``errorbar``) overrides that."""
    ax = ax or plt.gca()
    n_labels = np.asarray(n_labels, dtype=float).ravel()
    gap = np.diff(np.sort(n_labels)).min() if len(n_labels) > 1 else max(abs(n_labels[0]), 1.0)
    for k, (name, acc) in enumerate(curves.items()):
        acc = np.atleast_2d(np.asarray(acc, dtype=float))
        if acc.ndim != 2 or acc.shape[1] != len(n_labels):
            raise ValueError(f"curves[{name!r}] of shape {acc.shape}: expected (repetitions, {len(n_labels)})")
        shift = 0.04 * gap * (k - (len(curves) - 1) / 2)
        kw = dict(capsize=3, ms=5, lw=1.5, color=f"C{k}", label=name, **_default_style(name))
        kw.update((styles or {}).get(name, {}))
        ax.errorbar(n_labels + shift, acc.mean(0), yerr=acc.std(0), **kw)
    ax.set_xticks(n_labels)
    ax.set_xticklabels([f"{v:g}" for v in n_labels])
    ax.set(xlabel="labels", ylabel="accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return ax


def plot_rank_scatter(scores_a, scores_b, name_a, name_b, ax=None, fraction=0.05, seed=0):
    """[S3] Fig 3.6: the rank of each unlabeled example under two acquisition functions, rank 0 =
    acquired first. The caller orients both ``scores_a`` and ``scores_b`` (one per unlabeled
    example) so that a *higher* score is acquired first (e.g. the entropy for Uncertainty, minus
    the propagated labeled mass for jLP). A random ``fraction`` of the examples (``seed``) is drawn;
    the Spearman rank correlation of *all* of them (:func:`scipy.stats.spearmanr`) is in the
    title. Returns ``(ax, rho)``."""
    ax = ax or plt.gca()
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise ValueError(f"scores of shapes {a.shape} and {b.shape}: expected the same (m,), m >= 2")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction = {fraction}: expected 0 < fraction <= 1")
    rho = float(spearmanr(a, b)[0])
    rank_a, rank_b = rankdata(-a, method="ordinal") - 1, rankdata(-b, method="ordinal") - 1
    shown = np.random.default_rng(seed).choice(len(a), size=max(1, round(fraction * len(a))), replace=False)
    ax.scatter(rank_a[shown], rank_b[shown], s=6, color=LABEL_COLORS["hard"], alpha=0.6, linewidths=0)
    ax.plot([0, len(a) - 1], [0, len(a) - 1], color="0.6", lw=0.8, ls=":")
    ax.set(xlim=(0, len(a) - 1), ylim=(0, len(a) - 1), xlabel=f"rank by {name_a}", ylabel=f"rank by {name_b}")
    ax.set_aspect("equal")
    ax.set_title(f"{name_a} vs {name_b}: Spearman $\\rho$ = {rho:.2f}\n"
                 f"({len(shown)} of {len(a)} examples shown)", fontsize="medium")
    return ax, rho


_AGREEMENT = {"agree_pct": "pseudo-labels agreeing (%)", "acc_agree": "accuracy where they agree (%)",
              "acc_disagree": "accuracy where they disagree (%)"}


def plot_agreement_bars(table: Mapping[str, Mapping[str, float]], ax=None):
    """The agreement study ([S3] §3.6) as grouped bars: ``table`` maps a strategy to a dict with the
    keys ``"agree_pct"``, ``"acc_agree"`` and ``"acc_disagree"`` (all in %), one group per strategy."""
    ax = ax or plt.gca()
    for name, row in table.items():
        missing = [k for k in _AGREEMENT if k not in row]
        if missing:
            raise ValueError(f"table[{name!r}] lacks {missing}: expected the keys {list(_AGREEMENT)}")
    x = np.arange(len(table))
    width = 0.8 / len(_AGREEMENT)
    for k, (key, label) in enumerate(_AGREEMENT.items()):
        offset = (k - (len(_AGREEMENT) - 1) / 2) * width
        bars = ax.bar(x + offset, [row[key] for row in table.values()], width, color=f"C{k}", label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize="x-small", padding=1)
    ax.set_xticks(x)
    ax.set_xticklabels([textwrap.fill(name, 14) for name in table], fontsize="small")
    ax.set(ylim=(0, 145), yticks=range(0, 101, 20), ylabel="%")
    ax.legend(fontsize="small", frameon=False, loc="upper left")
    return ax

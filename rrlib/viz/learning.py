"""Metric learning (notebook 04): the siamese picture, image galleries of tuples, training curves
and a 2-D view of descriptors."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .style import image_panel

__all__ = ["pca_2d", "plot_curves", "plot_embedding_2d", "plot_image_rows", "plot_siamese"]


def plot_siamese(images: Sequence, names: Sequence[str] = ("query", "positive", "negative"),
                 colors: Sequence[str] = ("#9467bd", "#2ca02c", "#d62728"), *, figsize=(8.5, 3.2)):
    """The siamese / triplet architecture [S0] on real images: each image goes through the *same*
    network ``f(.; theta)`` (shared weights), the loss sees only the embeddings' distances."""
    n = len(images)
    fig = plt.figure(figsize=figsize)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set(xlim=(0, 10), ylim=(0, n * 1.2 + 0.2))
    ax.axis("off")
    ys = [n * 1.2 - 0.5 - 1.2 * i for i in range(n)]
    for y, im, name, c in zip(ys, images, names, colors):
        sub = fig.add_axes([0.01, (y - 0.5) / (n * 1.2 + 0.2), 0.13, 1.0 / (n * 1.2 + 0.2)])
        image_panel(sub, im, name, c)
        ax.annotate("", xy=(3.0, y), xytext=(1.6, y), arrowprops=dict(arrowstyle="->", color="0.3"))
        ax.add_patch(plt.Rectangle((3.0, y - 0.35), 2.0, 0.7, fc="#dbe9f6", ec="#1f77b4"))
        ax.text(4.0, y, r"$f(\cdot;\theta)$" + "\nCNN + GeM + $\\ell_2$", ha="center", va="center", fontsize="medium")
        ax.annotate("", xy=(6.3, y), xytext=(5.0, y), arrowprops=dict(arrowstyle="->", color="0.3"))
        ax.text(6.45, y, f"$y_{{{name[0]}}}$", ha="left", va="center", fontsize="medium", color=c)
    ax.plot([4.0, 4.0], [ys[-1] + 0.35, ys[0] - 0.35], ls=":", color="#1f77b4")
    ax.text(4.15, (ys[0] + ys[-1]) / 2 + 0.6, "shared\nweights", fontsize="small", color="#1f77b4", va="center")
    mid = (ys[0] + ys[-1]) / 2
    for y in ys:
        ax.annotate("", xy=(8.0, mid), xytext=(6.95, y), arrowprops=dict(arrowstyle="->", color="0.6"))
    ax.text(8.1, mid, "loss on\ndistances\n$\\ell(\\|y_q - y_p\\|, \\|y_q - y_n\\|)$", va="center", fontsize="medium")
    return fig


def plot_image_rows(rows: Sequence[Sequence], *, captions: Sequence[Sequence[str]] | None = None,
                    colors: Sequence[Sequence[str | None]] | None = None, row_labels: Sequence[str] | None = None,
                    size: float = 1.35, fontsize: float | str = "small"):
    """A gallery: one row of images per entry of ``rows``, each with an optional caption and frame
    colour; ``row_labels`` are written on the left."""
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * size + (1.2 if row_labels else 0),
                                                         len(rows) * size * 0.95), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            if j >= len(row):
                ax.axis("off")
                continue
            cap = captions[i][j] if captions is not None else ""
            col = colors[i][j] if colors is not None else None
            image_panel(ax, row[j], cap, col, fontsize)
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize="medium", labelpad=8)
    fig.tight_layout(pad=0.3)
    return fig


def plot_curves(histories: Mapping[str, Sequence[dict]], *, axes=None, setups=("medium", "hard"),
                reference: Mapping[str, float] | None = None):
    """Training curves: the mean loss per epoch (left) and mAP per epoch for ``setups`` (right) of
    each run (``name -> history``, as :class:`rrlib.learn.TrainResult.history`); ``reference``
    draws horizontal lines (e.g. ``{"off-the-shelf + L_w, medium": 69.0}``)."""
    styles = {"easy": ":", "medium": "-", "hard": "--"}
    unknown = [s for s in setups if s not in styles]
    if unknown:
        raise ValueError(f"setups holds {unknown}: each setup is one of {list(styles)}")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3))
    for k, (name, hist) in enumerate(histories.items()):
        color = f"C{k}"
        ep = [h["epoch"] for h in hist if h.get("loss") is not None]
        axes[0].plot(ep, [h["loss"] for h in hist if h.get("loss") is not None], "o-", ms=3, color=color, label=name)
        for s in setups:
            axes[1].plot([h["epoch"] for h in hist], [h[s] for h in hist], styles[s], marker="o", ms=3, color=color)
    for label, value in (reference or {}).items():
        axes[1].axhline(value, color="0.6", lw=1, ls="-.")
        axes[1].text(0, value + 0.5, label, fontsize="small", color="0.4")
    axes[0].set(xlabel="epoch", ylabel="training loss (mean over steps)")
    axes[1].set(xlabel="epoch (0 = off the shelf)", ylabel="mAP on the test split")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize="small", frameon=False)
    axes[1].legend(handles=[Line2D([], [], color="0.3", ls=styles[s], label=s) for s in setups], fontsize="small",
                   frameon=False, title="mAP", title_fontsize="small")
    return axes


def pca_2d(X: np.ndarray, basis: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of ``X`` (``(n, D)``) on their first two principal axes:
    ``Y = (X - mean) V^T`` with ``V`` the two leading right singular vectors of ``X - mean``.

    ``basis`` is ``(3, D)``: the rows of ``V`` then ``mean``; pass the one an earlier call returned
    to project other vectors in the same plane. Returns ``(Y, basis)``, ``Y`` of shape ``(n, 2)``.
    """
    X = np.asarray(X, np.float64)
    if X.ndim != 2 or X.shape[1] < 2:
        raise ValueError(f"X of shape {X.shape}: expected (n, D) with D >= 2")
    if basis is not None and np.shape(basis) != (3, X.shape[1]):
        raise ValueError(f"basis of shape {np.shape(basis)}: expected (3, {X.shape[1]}) from an earlier pca_2d")
    if basis is None:
        mean = X.mean(0)
        _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
        basis = np.vstack([vt[:2], mean])
    return (X - basis[2]) @ basis[:2].T, basis


def plot_embedding_2d(X: np.ndarray, labels: Sequence[int], *, ax=None, title: str | None = None,
                      names: Mapping[int, str] | None = None):
    """Descriptors ``X`` projected on their first two principal axes, coloured by landmark
    (label < 0: distractors, in grey)."""
    ax = ax or plt.gca()
    Y, _ = pca_2d(X)
    labels = np.asarray(labels)
    if labels.shape != (len(Y),):
        raise ValueError(f"labels of shape {labels.shape}: expected one per row of X, ({len(Y)},)")
    other = labels < 0
    ax.scatter(Y[other, 0], Y[other, 1], s=4, c="0.8", label="no landmark")
    for k, lab in enumerate(np.unique(labels[~other])):
        m = labels == lab
        ax.scatter(Y[m, 0], Y[m, 1], s=6, color=plt.cm.tab20(k % 20),
                   label=(names or {}).get(int(lab), str(lab)))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="medium")
    return ax

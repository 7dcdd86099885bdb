"""Matplotlib figures used by the notebooks. Every function draws on an ``ax`` if given and
returns it, so a notebook can compose figures; nothing here computes a metric of its own --
the numbers come from :mod:`rrlib.evaluate`.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch, Rectangle

from .evaluate import average_precision, precision_recall_curve

__all__ = [
    "LABEL_COLORS", "plot_ap_build_up", "plot_crow_weights", "plot_feature_maps", "plot_frames", "plot_gem_p",
    "plot_inverted_file", "plot_mac_top_channels", "plot_matches", "plot_patch_grid", "plot_pr_curve",
    "plot_ranking", "plot_rmac_regions", "plot_scores_2d",
]

# Colours of ranked items, shared by every notebook: relevant / not, and the revisited labels.
LABEL_COLORS = {
    "T": "#2ca02c", "F": "#d62728",
    "easy": "#2ca02c", "hard": "#1f77b4", "junk": "#b0b0b0", "negative": "#d62728",
    "query": "#9467bd",
}


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
                        fontsize=7, color="0.3")
    ax.set(xlim=(-0.02, 1.05), ylim=(0, 1.08), xlabel="recall", ylabel="precision")
    if title is None and k == len(rel) and rel.any():
        title = f"AP = {average_precision(relevance, n_relevant):.4f}"
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_ranking(labels: Sequence, *, ax=None, scores: Sequence[float] | None = None,
                 title: str | None = None, max_items: int = 40):
    """A ranked list as a strip of coloured cells, rank 1 on the left.

    ``labels`` holds per-rank labels: booleans / 0-1 (relevant or not) or the revisited names
    ``"easy"``, ``"hard"``, ``"junk"``, ``"negative"`` (and ``"query"``).
    """
    ax = ax or plt.gca()
    labels = list(labels)[:max_items]
    names = [("T" if bool(v) else "F") if not isinstance(v, str) else v for v in labels]
    for i, name in enumerate(names):
        ax.add_patch(Rectangle((i, 0), 0.92, 1, color=LABEL_COLORS[name]))
        ax.text(i + 0.46, 0.5, name[0].upper(), ha="center", va="center", fontsize=7, color="white")
        ax.text(i + 0.46, -0.25, str(i + 1), ha="center", va="center", fontsize=6, color="0.3")
        if scores is not None:
            ax.text(i + 0.46, 1.2, f"{scores[i]:.2f}", ha="center", va="center", fontsize=5,
                    color="0.3", rotation=90)
    ax.set(xlim=(-0.1, len(names)), ylim=(-0.5, 1.6 if scores is not None else 1.1))
    ax.set_aspect("equal")
    ax.axis("off")
    present = [n for n in LABEL_COLORS if n in set(names)]
    if any(n not in ("T", "F") for n in present):
        ax.legend(handles=[Patch(color=LABEL_COLORS[n], label=n) for n in present],
                  loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
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
        ax.set_title(f"rank {k}: {mark}  p={precision[k - 1]:.2f} r={recall[k - 1]:.2f}", fontsize=7)
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.supxlabel("recall", fontsize=8)
    fig.supylabel("precision", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# CNN feature maps and pooling (notebook 03)
# --------------------------------------------------------------------------------------------
def _as_maps(A):
    """``(C, H, W)`` numpy array from a tensor or array of shape (C, H, W) or (1, C, H, W)."""
    A = np.asarray(A.detach().cpu() if hasattr(A, "detach") else A, dtype=np.float64)
    return A[0] if A.ndim == 4 else A


def plot_feature_maps(image, A, channels: Sequence[int], *, axes=None):
    """The image and a few channel maps ``A^{•j}`` of its last convolutional layer [S3 notation]."""
    A = _as_maps(A)
    if axes is None:
        _, axes = plt.subplots(1, len(channels) + 1, figsize=(1.9 * (len(channels) + 1), 1.9))
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=8)
    for ax, j in zip(axes[1:], channels):
        ax.imshow(A[j], cmap="viridis")
        ax.set_title(f"channel {j}", fontsize=8)
    for ax in axes:
        ax.axis("off")
    return axes


def plot_gem_p(A, p: float, *, channels: int = 12, ax=None):
    """GeM of the first ``channels`` channels at exponent ``p``, between SPoC (p = 1) and MAC."""
    import torch

    from .nets.pooling import gem, mac, spoc

    x = torch.as_tensor(_as_maps(A)[None, :channels])
    ax = ax or plt.gca()
    k = np.arange(x.shape[1])
    ax.bar(k - 0.25, spoc(x)[0], width=0.25, color="0.7", label="SPoC (p = 1)")
    ax.bar(k, gem(x, p=p)[0], width=0.25, color="#1f77b4", label=f"GeM (p = {p:.1f})")
    ax.bar(k + 0.25, mac(x)[0], width=0.25, color="0.3", label="MAC (p → ∞)")
    ax.set(xlabel="channel", ylabel="pooled activation", xticks=k)
    ax.legend(fontsize=7, frameon=False)
    return ax


def _cell_box(i: int, j: int, shape_maps, shape_image):
    """The image rectangle ``(x, y, w, h)`` of feature-map cell ``(i, j)`` (its stride cell)."""
    (h, w), (H, W) = shape_maps, shape_image
    return j * W / w, i * H / h, W / w, H / h


def plot_mac_top_channels(image1, A1, image2, A2, top: int = 5, *, axes=None):
    """[S0]'s MAC picture: the ``top`` channels contributing most to the MAC similarity of two
    images, ``x_k y_k`` of the normalised MAC vectors, and where each one peaks in either image."""
    A1, A2 = _as_maps(A1), _as_maps(A2)
    x, y = A1.max(axis=(1, 2)), A2.max(axis=(1, 2))
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    best = np.argsort(-(x * y))[:top]
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7, 3))
    colours = plt.cm.tab10(np.arange(top))
    for ax, im, A in ((axes[0], image1, A1), (axes[1], image2, A2)):
        im = np.asarray(im)
        ax.imshow(im)
        for c, k in zip(colours, best):
            i, j = np.unravel_index(np.argmax(A[k]), A[k].shape)
            bx, by, bw, bh = _cell_box(i, j, A.shape[1:], im.shape[:2])
            ax.add_patch(Rectangle((bx, by), bw, bh, fill=False, lw=2, ec=c))
        ax.axis("off")
    axes[0].set_title(f"top-{top} MAC channels: " + ", ".join(map(str, best)), fontsize=8, loc="left")
    return best, float(x @ y)


def plot_rmac_regions(image, map_shape, levels: int = 3, *, axes=None):
    """The R-MAC regions of a ``map_shape = (h, w)`` feature map drawn on the image, one panel
    per level (level ``l`` has squares of side ``floor(2 min(h, w) / (l + 1))``)."""
    from .nets.pooling import rmac_regions

    im = np.asarray(image)
    (h, w), (H, W) = map_shape, im.shape[:2]
    regions = rmac_regions(h, w, levels)
    sides = sorted({s for _, _, s in regions}, reverse=True)
    if axes is None:
        _, axes = plt.subplots(1, len(sides), figsize=(2.8 * len(sides), 2.4), squeeze=False)
        axes = axes[0]
    for level, (ax, side) in enumerate(zip(axes, sides), start=1):
        ax.imshow(im)
        mine = [r for r in regions if r[2] == side]
        for c, (t, l, s) in zip(plt.cm.tab10(np.arange(len(mine)) % 10), mine):
            ax.add_patch(Rectangle((l * W / w, t * H / h), s * W / w, s * H / h, fc=(*c[:3], 0.12),
                                   ec=c, lw=1.5))
        ax.set_title(f"level {level}: {len(mine)} regions of side {side}", fontsize=8)
        ax.axis("off")
    return regions


def plot_crow_weights(image, A, *, axes=None):
    """CroW: the spatial weight map on the image, and the channel weights sorted."""
    import torch

    from .nets.pooling import crow_channel_weights, crow_spatial_weights

    x = torch.as_tensor(_as_maps(A)[None])
    S = crow_spatial_weights(x)[0].numpy()
    w = crow_channel_weights(x)[0].numpy()
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(8, 2.4))
    im = np.asarray(image)
    axes[0].imshow(im)
    axes[0].set_title("image", fontsize=8)
    axes[1].imshow(im)
    axes[1].imshow(S, cmap="jet", alpha=0.5, extent=(0, im.shape[1], im.shape[0], 0))
    axes[1].set_title("spatial weights S", fontsize=8)
    for ax in axes[:2]:
        ax.axis("off")
    axes[2].plot(np.sort(w)[::-1])
    axes[2].set(xlabel="channel (sorted)", ylabel="Ω", title="channel weights")
    axes[2].title.set_fontsize(8)
    return S, w


# --------------------------------------------------------------------------------------------
# Graphs and diffusion (notebook 05)
# --------------------------------------------------------------------------------------------
def plot_scores_2d(points, scores, *, query=None, W=None, ax=None, title: str | None = None):
    """2-D points coloured by their *rank* under ``scores`` (yellow = ranked first), with optional
    graph edges and the query. Ranks, not raw scores: diffusion scores span orders of magnitude."""
    ax = ax or plt.gca()
    points = np.asarray(points)
    if W is not None:
        import scipy.sparse as sp

        i, j = sp.triu(sp.csr_matrix(W), k=1).nonzero()
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


# ---------------------------------------------------------------------------------------------
# local features (notebook 02)
def plot_frames(image, frames, *, ax=None, color: str = "yellow", magnify: float = 3.0, lw: float = 0.8):
    """Keypoint frames on an image: a circle of radius ``magnify * scale`` (the described patch)
    and a radius drawn along the orientation."""
    ax = ax or plt.gca()
    ax.imshow(image)
    frames = np.asarray(frames).reshape(-1, 4)
    t = np.linspace(0, 2 * np.pi, 25)
    for x, y, s, a in frames:
        r = magnify * s
        ax.plot(x + r * np.cos(t), y + r * np.sin(t), color=color, lw=lw)
        ax.plot([x, x + r * np.cos(a)], [y, y + r * np.sin(a)], color=color, lw=lw)
    ax.set_axis_off()
    return ax


def plot_patch_grid(rows: Sequence[Sequence[np.ndarray]], *, row_labels: Sequence[str] | None = None,
                    size: float = 0.8):
    """A grid of small patches, one row per group (e.g. one visual word per row)."""
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * size, len(rows) * size), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if j < len(row):
                ax.imshow(row[j], cmap="gray", vmin=0, vmax=255)
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout(pad=0.2)
    return fig


def plot_matches(image1, image2, xy1, xy2, *, inliers=None, ax=None, max_lines: int = 200, lw: float = 0.7,
                 title: str | None = None):
    """Two images side by side and lines between corresponding points ``xy1[i] <-> xy2[i]``;
    with an ``inliers`` mask, inliers in green and the rest in red (thin)."""
    ax = ax or plt.gca()
    a, b = np.asarray(image1), np.asarray(image2)
    h = max(a.shape[0], b.shape[0])
    pad = lambda im: np.pad(im, ((0, h - im.shape[0]), (0, 0)) + ((0, 0),) * (im.ndim - 2), constant_values=255)
    ax.imshow(np.concatenate([pad(a), pad(b)], axis=1))
    xy1, xy2 = np.asarray(xy1).reshape(-1, 2), np.asarray(xy2).reshape(-1, 2)
    ok = np.ones(len(xy1), bool) if inliers is None else np.asarray(inliers, bool)
    show = np.arange(len(xy1))
    if len(show) > max_lines:
        show = np.random.default_rng(0).choice(show, max_lines, replace=False)
    for i in show[~ok[show]]:
        ax.plot([xy1[i, 0], xy2[i, 0] + a.shape[1]], [xy1[i, 1], xy2[i, 1]], color=LABEL_COLORS["F"],
                lw=lw * 0.6, alpha=0.5)
    for i in show[ok[show]]:
        ax.plot([xy1[i, 0], xy2[i, 0] + a.shape[1]], [xy1[i, 1], xy2[i, 1]],
                color=LABEL_COLORS["T"] if inliers is not None else "yellow", lw=lw)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_inverted_file(query_words: Sequence[int], lists: Sequence[Sequence[int]], *, n_images: int,
                       relevant: Sequence[int] = (), ax=None, max_words: int = 12):
    """The inverted file as a picture: one row per query word, a dot for every database image in
    that word's list (green if relevant to the query), and below the votes each image collects --
    the (unweighted) score accumulated by visiting only these lists."""
    ax = ax or plt.gca()
    words = list(query_words)[:max_words]
    rel = set(int(r) for r in relevant)
    votes = np.zeros(n_images)
    for row, (w, lst) in enumerate(zip(words, lists)):
        lst = np.asarray(lst, int)
        votes[lst] += 1
        colors = [LABEL_COLORS["T"] if j in rel else "0.4" for j in lst]
        ax.scatter(lst, np.full(len(lst), row), s=6, c=colors)
    ax.set_yticks(range(len(words)))
    ax.set_yticklabels([f"word {w}" for w in words], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-1, n_images)
    ax.set_xlabel("database image")
    ax.set_title(f"inverted lists of {len(words)} query words; only these postings are read", fontsize=9)
    return ax

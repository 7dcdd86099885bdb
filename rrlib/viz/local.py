"""Local features, visual words, inverted files and matches (notebook 02)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .style import LABEL_COLORS

__all__ = ["plot_frames", "plot_inverted_file", "plot_matches", "plot_patch_grid"]


def plot_frames(image, frames, *, ax=None, color: str = "yellow", magnify: float = 3.0, lw: float = 0.8):
    """Keypoint frames ``(x, y, scale, angle)`` on an image: a circle of radius
    ``magnify * scale`` (the described patch) and a radius drawn along the orientation."""
    ax = ax or plt.gca()
    ax.imshow(image)
    frames = np.asarray(frames, dtype=np.float64)
    if frames.size % 4 or (frames.ndim == 2 and frames.shape[1] != 4):
        raise ValueError(f"frames of shape {frames.shape}: expected (n, 4) rows (x, y, scale, angle)")
    t = np.linspace(0, 2 * np.pi, 25)
    for x, y, s, a in frames.reshape(-1, 4):
        r = magnify * s
        ax.plot(x + r * np.cos(t), y + r * np.sin(t), color=color, lw=lw)
        ax.plot([x, x + r * np.cos(a)], [y, y + r * np.sin(a)], color=color, lw=lw)
    ax.set_axis_off()
    return ax


def plot_patch_grid(rows: Sequence[Sequence[np.ndarray]], *, row_labels: Sequence[str] | None = None,
                    size: float = 0.8):
    """A grid of small grey patches (values in [0, 255]), one row per group (e.g. one visual word
    per row)."""
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"row_labels has {len(row_labels)} entries for {len(rows)} rows")
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
            axes[i, 0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize="medium")
    fig.tight_layout(pad=0.2)
    return fig


def plot_matches(image1, image2, xy1, xy2, *, inliers=None, ax=None, max_lines: int = 200, lw: float = 0.7,
                 title: str | None = None):
    """Two images side by side and lines between corresponding points ``xy1[i] <-> xy2[i]``;
    with an ``inliers`` mask, inliers in green and the rest in red (thin). At most ``max_lines``
    correspondences are drawn (a fixed random subset)."""
    ax = ax or plt.gca()
    a, b = np.asarray(image1), np.asarray(image2)
    h = max(a.shape[0], b.shape[0])

    def pad(im):  # white below the shorter image
        return np.pad(im, ((0, h - im.shape[0]), (0, 0)) + ((0, 0),) * (im.ndim - 2), constant_values=255)

    ax.imshow(np.concatenate([pad(a), pad(b)], axis=1))
    xy1, xy2 = np.asarray(xy1).reshape(-1, 2), np.asarray(xy2).reshape(-1, 2)
    if len(xy1) != len(xy2):
        raise ValueError(f"xy1 has {len(xy1)} points and xy2 {len(xy2)}: one correspondence per row")
    ok = np.ones(len(xy1), bool) if inliers is None else np.asarray(inliers, bool)
    if ok.shape != (len(xy1),):
        raise ValueError(f"inliers of shape {ok.shape}: expected one flag per correspondence, ({len(xy1)},)")
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
        ax.set_title(title, fontsize="medium")
    return ax


def plot_inverted_file(query_words: Sequence[int], lists: Sequence[Sequence[int]], *, n_images: int,
                       relevant: Sequence[int] = (), ax=None, max_words: int = 12):
    """The inverted file as a picture: one row per query word (the first ``max_words``), a dot for
    every database image in that word's list ``lists[row]`` (green if relevant to the query) --
    the postings visited to score the query, and only those."""
    ax = ax or plt.gca()
    words = list(query_words)[:max_words]
    if len(lists) < len(words):
        raise ValueError(f"lists has {len(lists)} posting lists for {len(words)} query words: one per word")
    rel = set(int(r) for r in relevant)
    for row, lst in enumerate(lists[:len(words)]):
        lst = np.asarray(lst, int)
        if lst.size and not (0 <= lst.min() and lst.max() < n_images):
            raise ValueError(f"lists[{row}] holds image {lst.min() if lst.min() < 0 else lst.max()} "
                             f"outside [0, n_images={n_images})")
        colors = [LABEL_COLORS["T"] if j in rel else "0.4" for j in lst]
        ax.scatter(lst, np.full(len(lst), row), s=6, c=colors)
    ax.set_yticks(range(len(words)))
    ax.set_yticklabels([f"word {w}" for w in words], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(-1, n_images)
    ax.set_xlabel("database image")
    ax.set_title(f"inverted lists of {len(words)} query words; only these postings are read", fontsize="medium")
    return ax

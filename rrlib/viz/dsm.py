"""Deep spatial matching figures (notebook 07): channel responses across views, ellipses of one
channel's regions, matched ellipses of two images, and the inlier histogram of [S3] Fig 4.6."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .style import LABEL_COLORS, image_panel

__all__ = ["ellipse_outline", "plot_channel_views", "plot_dsm_matches", "plot_ellipses", "plot_inlier_histogram"]


def ellipse_outline(mu, sigma, n_std: float = 2.0, points: int = 40) -> np.ndarray:
    r"""Points ``(points, 2)`` of the ellipse :math:`(p-\mu)^\top\Sigma^{-1}(p-\mu) = n^2`, i.e.
    :math:`\mu + n L (\cos t, \sin t)` with :math:`\Sigma = L L^\top`. ``n_std = 2`` covers a
    uniform region: a disc of radius ``r`` has :math:`\Sigma = (r^2/4) I`."""
    mu = np.asarray(mu, np.float64).reshape(2)
    sigma = np.asarray(sigma, np.float64).reshape(2, 2)
    L = np.linalg.cholesky(sigma)
    t = np.linspace(0, 2 * np.pi, points)
    return mu + n_std * (L @ np.stack([np.cos(t), np.sin(t)])).T


def _colors(n: int):
    cmap = plt.get_cmap("tab20")
    return [cmap(i % 20) for i in range(n)]


def plot_ellipses(image, mus, sigmas, *, ax=None, colors=None, n_std: float = 2.0, lw: float = 1.5,
                  title: str | None = None, cmap=None):
    """Ellipses ``(mus[i], sigmas[i])`` (pixel coordinates of ``image``) drawn over it; ``image``
    may be a picture or a 2-D map (shown with ``cmap``)."""
    ax = ax or plt.gca()
    mus = np.asarray(mus, np.float64).reshape(-1, 2)
    sigmas = np.asarray(sigmas, np.float64).reshape(-1, 2, 2)
    if len(mus) != len(sigmas):
        raise ValueError(f"{len(mus)} centres but {len(sigmas)} covariances")
    colors = _colors(len(mus)) if colors is None else list(colors)
    if len(colors) < len(mus):
        raise ValueError(f"{len(colors)} colours for {len(mus)} ellipses")
    ax.imshow(image, cmap=cmap)
    for mu, s, c in zip(mus, sigmas, colors):
        e = ellipse_outline(mu, s, n_std)
        ax.plot(e[:, 0], e[:, 1], color=c, lw=lw)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_dsm_matches(image1, image2, mus1, sigmas1, mus2, sigmas2, *, ax=None, n_std: float = 2.0,
                     title: str | None = None, lw: float = 1.2, colors=None):
    """Two images side by side, the matched ellipses ``i`` of both drawn in the same colour and joined
    by a line ([S3] Fig 4.5: "inlier features (ellipses) and correspondences (lines) shown in
    different colors")."""
    ax = ax or plt.gca()
    a, b = np.asarray(image1), np.asarray(image2)
    h = max(a.shape[0], b.shape[0])

    def pad(im):
        return np.pad(im, ((0, h - im.shape[0]), (0, 0)) + ((0, 0),) * (im.ndim - 2), constant_values=255)

    ax.imshow(np.concatenate([pad(a), pad(b)], axis=1))
    m1, m2 = np.asarray(mus1, np.float64).reshape(-1, 2), np.asarray(mus2, np.float64).reshape(-1, 2)
    s1, s2 = np.asarray(sigmas1, np.float64).reshape(-1, 2, 2), np.asarray(sigmas2, np.float64).reshape(-1, 2, 2)
    if not len(m1) == len(m2) == len(s1) == len(s2):
        raise ValueError(f"one ellipse per side and correspondence: got {len(m1)}, {len(s1)}, {len(m2)}, {len(s2)}")
    shift = np.array([a.shape[1], 0.0])
    colors = _colors(len(m1)) if colors is None else list(colors)
    for i in range(len(m1)):
        e1, e2 = ellipse_outline(m1[i], s1[i], n_std), ellipse_outline(m2[i], s2[i], n_std) + shift
        ax.plot(e1[:, 0], e1[:, 1], color=colors[i], lw=lw)
        ax.plot(e2[:, 0], e2[:, 1], color=colors[i], lw=lw)
        ax.plot([m1[i, 0], m2[i, 0] + shift[0]], [m1[i, 1], m2[i, 1]], color=colors[i], lw=lw * 0.7)
    ax.set_xlim(-0.5, a.shape[1] + b.shape[1] - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_channel_views(images: Sequence, maps, *, row_labels: Sequence[str] | None = None, axes=None,
                       alpha: float = 0.6, captions: Sequence[str] | None = None):
    """[S3] Fig 4.2: views (columns) of one landmark overlaid with the activation maps of a few
    channels (rows). ``maps[r][c]`` is the ``(h, w)`` map of row ``r``'s channel on image ``c``,
    stretched over the image (nearest cell); one colour scale per row."""
    n_rows, n_cols = len(maps), len(images)
    if any(len(row) != n_cols for row in maps):
        raise ValueError(f"maps must hold one map per image ({n_cols}) in every row")
    if axes is None:
        _, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols, 2.2 * n_rows), squeeze=False,
                               layout="constrained")
    axes = np.asarray(axes).reshape(n_rows, n_cols)
    for r, row in enumerate(maps):
        top = max(float(np.max(m)) for m in row) or 1.0
        for c, (im, m) in enumerate(zip(images, row)):
            arr = np.asarray(im)
            ax = axes[r, c]
            image_panel(ax, arr, captions[c] if (captions is not None and r == 0) else "")
            ax.imshow(np.asarray(m), cmap="inferno", alpha=alpha, vmin=0, vmax=top, interpolation="nearest",
                      extent=(-0.5, arr.shape[1] - 0.5, arr.shape[0] - 0.5, -0.5))
            if c == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[r], fontsize="medium")
    return axes


def plot_inlier_histogram(positive, negative, *, ax=None, bins=None, log: bool = True, title: str | None = None):
    """[S3] Fig 4.6: the distribution of the number of inliers of positive and negative database
    images (over all queries), as fractions of each group; a log scale shows the long tail."""
    ax = ax or plt.gca()
    pos, neg = np.asarray(positive).ravel(), np.asarray(negative).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError("need inlier counts of both positive and negative images")
    top = int(max(pos.max(), neg.max()))
    bins = np.arange(0, top + 2) - 0.5 if bins is None else bins
    ax.hist(neg, bins=bins, weights=np.full(neg.size, 1 / neg.size), color=LABEL_COLORS["negative"], alpha=0.6,
            label=f"negatives ({neg.size:,} pairs)")
    ax.hist(pos, bins=bins, weights=np.full(pos.size, 1 / pos.size), color=LABEL_COLORS["easy"], alpha=0.6,
            label=f"positives ({pos.size:,} pairs)")
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="inliers (DSM)", ylabel="fraction of the pairs")
    ax.legend(frameon=False)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax

"""Figures of notebook 08 (graph-based object discovery, [S3] chapter 5): saliency maps over
pictures with EGM boxes (Figs 5.1 / 5.9), EGM iterations (Fig 5.3), patches and their graph
neighbours (Fig 5.4), saliency precision bars and histograms (Figs 5.6 / 5.7).

Boxes are ``[x1, y1, x2, y2]``: map units for detected regions (:mod:`rrlib.god.regions`),
pixels for ground truth. Import as ``from rrlib.viz import god as vgod``.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
from matplotlib.patches import Rectangle

from .style import LABEL_COLORS

__all__ = ["map_boxes_to_pixels", "plot_egm_history", "plot_patch_neighbours", "plot_precision_bars",
           "plot_precision_hist", "plot_saliency"]

#: colours of detected regions and of ground-truth boxes
REGION, TRUTH = "red", "lime"


def map_boxes_to_pixels(boxes, map_shape, image_size) -> np.ndarray:
    """Map boxes ``(n, 4)`` on a ``(h, w)`` map to pixels of a picture of ``image_size = (W, H)``."""
    B = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    (h, w), (W, H) = map_shape, image_size
    return B * np.array([W / w, H / h, W / w, H / h])


def _rect(ax, box, color, lw=2.0, ls="-"):
    x1, y1, x2, y2 = box
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=lw, linestyle=ls))


def plot_saliency(ax, image, S=None, boxes=None, truth=None, *, title: str = "", alpha: float = 0.55,
                  cmap: str = "inferno") -> None:
    """A picture (PIL or array) with the map ``S (h, w)`` over it (stretched to the picture, values
    scaled to [0, 1]), the detected map ``boxes`` in red and the pixel ``truth`` box dashed in green."""
    img = np.asarray(image)
    H, W = img.shape[:2]
    ax.imshow(img)
    if S is not None:
        S = np.asarray(S, dtype=np.float64)
        top = S.max()
        ax.imshow(S / top if top > 0 else S, extent=(0, W, H, 0), cmap=cmap, alpha=alpha, vmin=0, vmax=1,
                  interpolation="bilinear")
        if boxes is not None:
            for b in map_boxes_to_pixels(boxes, S.shape, (W, H)):
                _rect(ax, b, REGION)
    if truth is not None:
        _rect(ax, truth, TRUTH, lw=2.0, ls="--")
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)


def plot_egm_history(axes, S, history, *, extent: float | None = None, titles: Sequence[str] | None = None) -> None:
    """EGM on the map ``S``: one panel per state of ``history`` (:class:`rrlib.god.EGMState`), the map
    with the component boxes (``mu +- extent sqrt(var)``, :meth:`EGMState.boxes`) in red."""
    for k, (ax, state) in enumerate(zip(np.ravel(axes), history)):
        ax.imshow(S, cmap="gray", interpolation="nearest", extent=(0, S.shape[1], S.shape[0], 0))
        boxes = state.boxes(S.shape) if extent is None else state.boxes(S.shape, extent)
        for b in boxes:
            _rect(ax, b, REGION, lw=1.2)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(titles[k] if titles is not None else f"{state.m} components")


def plot_precision_bars(ax, values: Mapping[str, float], *, reference: Mapping[str, float] | None = None,
                        chance: float | None = None, ylabel: str = "mean saliency precision") -> None:
    """Bars of mean saliency precision per map (Fig 5.6): ``values`` {label: value}; ``reference``
    {label: value} drawn as a second bar per label (e.g. FS and FS^theta as horizontal lines instead);
    ``chance`` a dotted line (the mean box area fraction: what a uniform map scores)."""
    labels = list(values)
    x = np.arange(len(labels))
    ax.bar(x, [values[k] for k in labels], color="tab:blue", width=0.6)
    for k, v in enumerate(values.values()):
        ax.text(k, v, f"{v:.3f}", ha="center", va="bottom", fontsize="small")
    if reference:
        styles = ["--", "-."]
        for (name, v), ls in zip(reference.items(), styles * 4):
            ax.axhline(v, color="tab:orange", linestyle=ls, label=name)
    if chance is not None:
        ax.axhline(chance, color="gray", linestyle=":", label="uniform map (box area)")
    ax.set_xticks(x, labels, rotation=20)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize="small")


def plot_precision_hist(ax, samples: Mapping[str, np.ndarray], *, bins: int = 20) -> None:
    """Histograms of per-picture saliency precision (Fig 5.7), one per map, on [0, 1]."""
    edges = np.linspace(0, 1, bins + 1)
    for (name, v), color in zip(samples.items(), ("tab:orange", "tab:blue", "tab:green")):
        ax.hist(v, bins=edges, alpha=0.55, color=color, label=f"{name} (mean {np.mean(v):.3f})")
    ax.set_xlabel("saliency precision of a picture")
    ax.set_ylabel("pictures")
    ax.legend(fontsize="small")


def plot_patch_neighbours(fig, image, cells: Sequence[tuple[int, int]], map_shape, patch_side: int,
                          neighbours: Sequence[Sequence[tuple[int, np.ndarray, float]]],
                          read_image: Callable[[int], np.ndarray], central: Callable[[float], bool]) -> np.ndarray:
    """Fig 5.4: per row, a patch of ``image`` (the cell ``(r, c)`` of ``cells``, side ``patch_side`` in
    cells) and its nearest regions in the graph, each ``(picture, pixel box, centrality)``, cropped from
    ``read_image(picture)``; framed green when ``central(centrality)``, red otherwise. Returns the axes."""
    n_rows, n_cols = len(cells), 1 + max(len(nb) for nb in neighbours)
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols))
    img = np.asarray(image)
    H, W = img.shape[:2]
    h, w = map_shape
    for row, ((r, c), nbrs) in enumerate(zip(cells, neighbours)):
        half = patch_side / 2
        box = map_boxes_to_pixels([[c + 0.5 - half, r + 0.5 - half, c + 0.5 + half, r + 0.5 + half]], (h, w), (W, H))[0]
        x1, y1, x2, y2 = np.clip(box, 0, [W, H, W, H]).astype(int)
        axes[row, 0].imshow(img[y1:y2, x1:x2])
        axes[row, 0].set_title(f"patch {row + 1}", fontsize="medium")
        for k, ax in enumerate(axes[row, 1:]):
            ax.set_axis_off()
            if k >= len(nbrs):
                continue
            j, pbox, u = nbrs[k]
            other = np.asarray(read_image(j))
            Hj, Wj = other.shape[:2]
            a1, b1, a2, b2 = np.clip(np.asarray(pbox, dtype=np.float64), 0, [Wj, Hj, Wj, Hj]).astype(int)
            ax.imshow(other[b1:max(b2, b1 + 1), a1:max(a2, a1 + 1)])
            color = LABEL_COLORS.get("easy", "green") if central(u) else LABEL_COLORS.get("negative", "red")
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_edgecolor(color)
                side.set_linewidth(4)
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
    return axes

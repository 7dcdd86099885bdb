"""CNN feature maps and what pooling does with them: GeM between SPoC and MAC, MAC's strongest
channels, R-MAC's regions, CroW's weights (notebook 03).

The pooled values come from :mod:`rrlib.nets.pooling`; these functions only draw them.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

__all__ = ["plot_crow_weights", "plot_feature_maps", "plot_gem_p", "plot_mac_top_channels", "plot_rmac_regions"]


# torch and rrlib.nets (which loads torchvision) are imported on first use, not at the top: they
# cost about 1.4 s that `import rrlib.viz` would otherwise add to notebooks 01 and 02 and to the
# AP explorer, which use no torch and draw no pooling figure.
def _pooling():
    """:mod:`rrlib.nets.pooling`, imported on first use (see above)."""
    from ..nets import pooling

    return pooling


def _batch(A):
    """``(1, C, H, W)`` float64 torch tensor of the maps ``A`` (torch imported on first use)."""
    import torch

    return torch.as_tensor(_as_maps(A)[None])


def _as_maps(A):
    """``(C, H, W)`` numpy array from a tensor or array of shape (C, H, W) or (1, C, H, W)."""
    A = np.asarray(A.detach().cpu() if hasattr(A, "detach") else A, dtype=np.float64)
    if A.ndim == 4 and A.shape[0] == 1:
        A = A[0]
    if A.ndim != 3:
        raise ValueError(f"feature maps of shape {A.shape}: expected (C, H, W) or (1, C, H, W)")
    return A


def plot_feature_maps(image, A, channels: Sequence[int], *, axes=None):
    """The image and a few channel maps ``A^{•j}`` of its last convolutional layer [S3 notation]."""
    A = _as_maps(A)
    if axes is None:
        _, axes = plt.subplots(1, len(channels) + 1, figsize=(1.9 * (len(channels) + 1), 1.9))
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize="medium")
    for ax, j in zip(axes[1:], channels):
        ax.imshow(A[j], cmap="viridis")
        ax.set_title(f"channel {j}", fontsize="medium")
    for ax in axes:
        ax.axis("off")
    return axes


def plot_gem_p(A, p: float, *, channels: int = 12, ax=None):
    """GeM of the first ``channels`` channels at exponent ``p``, between SPoC (p = 1) and MAC:
    ``(mean_{h,w} A_{k,h,w}^p)^(1/p)`` per channel ``k``."""
    pooling = _pooling()
    x = _batch(A)[:, :channels]
    ax = ax or plt.gca()
    k = np.arange(x.shape[1])
    ax.bar(k - 0.25, pooling.spoc(x)[0].numpy(), width=0.25, color="0.7", label="SPoC (p = 1)")
    ax.bar(k, pooling.gem(x, p=p)[0].numpy(), width=0.25, color="#1f77b4", label=f"GeM (p = {p:.1f})")
    ax.bar(k + 0.25, pooling.mac(x)[0].numpy(), width=0.25, color="0.3", label="MAC (p → ∞)")
    ax.set(xlabel="channel", ylabel="pooled activation", xticks=k)
    ax.legend(fontsize="small", frameon=False)
    return ax


def _cell_box(i: int, j: int, shape_maps, shape_image):
    """The image rectangle ``(x, y, w, h)`` of feature-map cell ``(i, j)`` (its stride cell)."""
    (h, w), (H, W) = shape_maps, shape_image
    return j * W / w, i * H / h, W / w, H / h


def plot_mac_top_channels(image1, A1, image2, A2, top: int = 5, *, axes=None):
    """[S0]'s MAC picture: the ``top`` channels contributing most to the MAC similarity of two
    images, ``x_k y_k`` of the normalised MAC vectors, and where each one peaks in either image.

    Returns ``(channels, similarity)``: the ``top`` channel indices, largest product first, and
    ``x . y``."""
    A1, A2 = _as_maps(A1), _as_maps(A2)
    if A1.shape[0] != A2.shape[0]:
        raise ValueError(f"A1 has {A1.shape[0]} channels and A2 {A2.shape[0]}: MAC vectors must match")
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
    axes[0].set_title(f"top-{top} MAC channels: " + ", ".join(map(str, best)), fontsize="medium", loc="left")
    return best, float(x @ y)


def plot_rmac_regions(image, map_shape, levels: int = 3, *, axes=None):
    """The R-MAC regions of a ``map_shape = (h, w)`` feature map drawn on the image, one panel
    per level (level ``l`` has squares of side ``floor(2 min(h, w) / (l + 1))``)."""
    im = np.asarray(image)
    (h, w), (H, W) = map_shape, im.shape[:2]
    regions = _pooling().rmac_regions(h, w, levels)
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
        ax.set_title(f"level {level}: {len(mine)} regions of side {side}", fontsize="medium")
        ax.axis("off")
    return regions


def plot_crow_weights(image, A, *, axes=None):
    """CroW: the spatial weight map on the image, and the channel weights sorted.

    Returns ``(S, w)``: the ``(H, W)`` spatial weights and the ``(C,)`` channel weights."""
    pooling = _pooling()
    x = _batch(A)
    S = pooling.crow_spatial_weights(x)[0].numpy()
    w = pooling.crow_channel_weights(x)[0].numpy()
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(8, 2.4))
    im = np.asarray(image)
    axes[0].imshow(im)
    axes[0].set_title("image", fontsize="medium")
    axes[1].imshow(im)
    axes[1].imshow(S, cmap="jet", alpha=0.5, extent=(0, im.shape[1], im.shape[0], 0))
    axes[1].set_title("spatial weights S", fontsize="medium")
    for ax in axes[:2]:
        ax.axis("off")
    axes[2].plot(np.sort(w)[::-1])
    axes[2].set(xlabel="channel (sorted)", ylabel="Ω", title="channel weights")
    axes[2].title.set_fontsize("medium")
    return S, w

r"""Rectangular regions of an activation map: the box convention, region pooling (GeM, eq 5.10),
region feature saliency (eq 5.9) and the two-level FS.EGM / OS.EGM aggregation (§5.3.9) [S3].

**Box convention** (one for the whole of :mod:`rrlib.god`). A map of shape ``(h, w)`` covers the
continuous rectangle ``[0, w] x [0, h]``: cell ``(r, c)`` (row ``r``, column ``c``) is the unit
square ``[c, c+1) x [r, r+1)`` and its centre is ``(x, y) = (c + 1/2, r + 1/2)``. A box is
``[x1, y1, x2, y2]`` in these *map units* -- the order of revisitop's ``bbx``, so a box in pixels
of a ``W x H`` picture becomes a map box by scaling ``x`` by ``w / W`` and ``y`` by ``h / H``
(:func:`pixel_box_to_map`). The cells *of* a box are those its rectangle overlaps (at least one).
"""
from __future__ import annotations

import numpy as np

__all__ = ["aggregate_regions", "box_cells", "pixel_box_to_map", "region_descriptors", "region_gem", "region_saliency"]


def _map2d(S, name: str) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or 0 in S.shape:
        raise ValueError(f"{name} must be a non-empty 2-D (h, w) map, got shape {S.shape}")
    if not np.isfinite(S).all():
        raise ValueError(f"{name} contains NaN or inf")
    return S


def _tensor3d(A, name: str = "A") -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 3 or 0 in A.shape:
        raise ValueError(f"{name} must be a non-empty (C, h, w) activation tensor, got shape {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or inf")
    if A.min() < 0:
        raise ValueError(f"{name} must be non-negative (ReLU activations, [S3] §5.3.2), got min {A.min():g}")
    return A


def _boxes(boxes, name: str = "boxes") -> np.ndarray:
    B = np.asarray(boxes, dtype=np.float64)
    if B.size == 0:
        return np.zeros((0, 4))
    if B.ndim == 1 and B.shape == (4,):
        B = B[None]
    if B.ndim != 2 or B.shape[1] != 4:
        raise ValueError(f"{name} must be [x1, y1, x2, y2] rows, shape (n, 4), got {B.shape}")
    if not np.isfinite(B).all():
        raise ValueError(f"{name} contains NaN or inf")
    if (B[:, 2] < B[:, 0]).any() or (B[:, 3] < B[:, 1]).any():
        raise ValueError(f"{name} must have x1 <= x2 and y1 <= y2")
    return B


def pixel_box_to_map(box, image_size, map_shape) -> np.ndarray:
    """A box ``[x1, y1, x2, y2]`` in pixels of a picture of ``image_size = (W, H)`` (PIL's order)
    in map units of a map of shape ``map_shape = (h, w)``: ``x * w / W``, ``y * h / H``."""
    B = _boxes(box, "box")
    W, H = (float(v) for v in image_size)
    if not (W > 0 and H > 0):
        raise ValueError(f"image_size must be (W, H) > 0, got {image_size}")
    h, w = map_shape
    scale = np.array([w / W, h / H, w / W, h / H])
    out = B * scale
    return out[0] if np.ndim(box) == 1 else out


def box_cells(box, shape) -> tuple[slice, slice]:
    """The cells a map box overlaps, as ``(rows, cols)`` slices into a ``shape = (h, w)`` map.

    Columns ``floor(x1) .. ceil(x2) - 1`` clipped to the map, at least one (a box of zero width,
    or one outside the map, gives the nearest cell).
    """
    B = _boxes(box, "box")
    if len(B) != 1:
        raise ValueError(f"box must be one [x1, y1, x2, y2], got {len(B)} boxes")
    x1, y1, x2, y2 = B[0]
    h, w = shape

    def span(a, b, n):
        lo = int(np.clip(np.floor(a), 0, n - 1))
        hi = int(np.clip(np.ceil(b), lo + 1, n))
        return slice(lo, hi)

    return span(y1, y2, h), span(x1, x2, w)


def region_gem(A, boxes, p: float = 3.0, eps: float = 1e-6) -> np.ndarray:
    r"""GeM of the activations over each box, eq 5.10 of [S3]:

    .. math::  m_A(R) = \Big(\frac{1}{|R|} \sum_{q \in R} (A^{q\bullet})^{\omega}\Big)^{1/\omega}

    (``p`` is the seed's :math:`\omega`, learned in [RTC18]; 3 is GeM's usual start). Activations are
    clamped to ``eps`` as :func:`rrlib.nets.gem` does. ``A``: ``(C, h, w)``; ``boxes``: ``(n, 4)``
    map boxes. Returns ``(n, C)``, not normalised.
    """
    A = _tensor3d(A)
    B = _boxes(boxes)
    if not 0 < p < np.inf:
        raise ValueError(f"p must be a finite number > 0, got {p}")
    Ap = np.maximum(A, eps) ** p
    out = np.empty((len(B), A.shape[0]))
    for i, b in enumerate(B):
        rows, cols = box_cells(b, A.shape[1:])
        out[i] = Ap[:, rows, cols].mean(axis=(1, 2)) ** (1.0 / p)
    return out


def region_saliency(F_hat, boxes) -> np.ndarray:
    r"""Feature saliency of each region, eq 5.9 of [S3]: :math:`f = \mu_{\hat F}(R) = \frac{1}{|R|}
    \sum_{p \in R} \hat F_p`, the mean of the map over the cells of the box. Returns ``(n,)``."""
    F_hat = _map2d(F_hat, "F_hat")
    B = _boxes(boxes)
    out = np.empty(len(B))
    for i, b in enumerate(B):
        rows, cols = box_cells(b, F_hat.shape)
        out[i] = F_hat[rows, cols].mean()
    return out


def region_descriptors(A, boxes, *, p: float = 3.0, F_hat=None, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """The vertices of the region graph from one image ([S3] §5.3.5): for each box, its GeM
    descriptor ``z = m_A(R)`` (eq 5.10, :func:`region_gem`; ``(n, C)``, to be L2-normalised and
    whitened by eq 5.11 before the graph) and its feature saliency ``f = mu_F(R)`` (eq 5.9,
    :func:`region_saliency`; ``(n,)``). ``F_hat`` defaults to the feature saliency of ``A``
    (:func:`rrlib.god.feature_saliency`)."""
    from .saliency import feature_saliency

    A = _tensor3d(A)
    if F_hat is None:
        F_hat = feature_saliency(A)
    F_hat = _map2d(F_hat, "F_hat")
    if F_hat.shape != A.shape[1:]:
        raise ValueError(f"F_hat must have A's spatial shape {A.shape[1:]}, got {F_hat.shape}")
    return region_gem(A, boxes, p, eps), region_saliency(F_hat, boxes)


def aggregate_regions(A, boxes, p: float = 3.0, eps: float = 1e-6) -> np.ndarray:
    r"""The FS.EGM / OS.EGM image vector before whitening ([S3] §5.3.9): GeM over each detected
    region, L2-normalise, sum over regions -- R-MAC's two-level pooling with GeM and detected
    instead of uniform regions: :math:`\sum_R \nu(m_A(R))`, shape ``(C,)``. Whiten the sum once
    (eq 5.11), not each region. No box gives the zero vector."""
    Z = region_gem(A, boxes, p, eps)
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return (Z / np.maximum(norms, 1e-12)).sum(axis=0)

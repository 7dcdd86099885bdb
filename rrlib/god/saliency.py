r"""Saliency maps of graph-based object discovery: feature saliency FS (eqs 5.1-5.2), the
pre-processing before detection (§5.4.1), patch descriptors and object saliency OS (eq 5.14), and
the saliency precision of §5.4.2 [S3].

Maps are numpy arrays ``(h, w)``; activation tensors ``(C, h, w)`` (one image, channels first, as
``rrlib.nets`` extracts them, without the batch axis). Boxes follow :mod:`rrlib.god.regions`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage

from ..graph import knn
from .regions import _boxes, _map2d, _tensor3d, pixel_box_to_map

__all__ = [
    "feature_saliency", "fs_channel_weights", "object_saliency", "patch_descriptors", "preprocess",
    "saliency_precision",
]


def fs_channel_weights(A, eps: float = 1e-6) -> np.ndarray:
    r"""The idf-like channel weights of feature saliency, eq 5.1 of [S3]:

    .. math::  b_j = \log \frac{(\mathbf a + \epsilon)^\top \mathbf 1}{a_j + \epsilon},\qquad
               a_j = \frac{1}{wh} \sum_{p \in P} \mathbb 1[A^{pj} \neq 0]

    ``a_j`` is the fraction of non-zero cells of channel ``j``: a sparse channel (few cells fire)
    weighs more. ``b_j >= 0``. The seed gives no value for :math:`\epsilon`; ``eps`` keeps a channel
    that never fires finite (weight ``log(sum(a + eps) / eps)``, large -- but it multiplies a zero
    map). CroW [KMO15] and :func:`rrlib.nets.crow_channel_weights` have no :math:`\epsilon` and give
    such a channel 0. ``A``: ``(C, h, w)``, non-negative. Returns ``(C,)``.
    """
    A = _tensor3d(A)
    if not 0 < eps < np.inf:
        raise ValueError(f"eps must be a finite number > 0, got {eps}")
    a = (A != 0).mean(axis=(1, 2))
    return np.log((a + eps).sum() / (a + eps))


def feature_saliency(A, eps: float = 1e-6, *, a: float = 2.0, b: float = 2.0,
                     normalize: bool = True) -> np.ndarray:
    r"""Feature saliency FS of one image, eqs 5.1-5.2 of [S3] §5.3.3.

    .. math::  F = \sum_{j} b_j A^{\bullet j},\qquad \hat F = \big(F / \lVert F \rVert_a\big)^{1/b}

    with the channel weights :math:`b_j` of :func:`fs_channel_weights` (eq 5.1). The channel weights
    enter *before* the spatial sum over channels -- the order of CAM, which amplifies sparse
    channels; CroW sums the channels unweighted for its spatial map and uses :math:`b` only
    after spatial pooling.

    The seed says only that :math:`F` is normalised "according to [KMO15]" (CroW). CroW's spatial
    weights normalise the channel sum by its :math:`\ell_a` norm over positions and take the
    :math:`b`-th root, with ``a = b = 2`` (:func:`rrlib.nets.crow_spatial_weights`); that is what
    ``normalize=True`` applies here, so :math:`\hat F \in [0, 1]` and :math:`\sum_p \hat F_p^{ab} = 1`
    (:math:`\sum_p \hat F_p^4 = 1` for the defaults). ``normalize=False`` returns
    :math:`F` (eq 5.2). A map with no activation gives zeros.

    ``A``: ``(C, h, w)`` non-negative activations of one image. Returns ``(h, w)``.
    """
    A = _tensor3d(A)
    F = np.tensordot(fs_channel_weights(A, eps), A, axes=1)
    if not normalize:
        return F
    if not (0 < a < np.inf and 0 < b < np.inf):
        raise ValueError(f"a and b must be finite numbers > 0, got a={a}, b={b}")
    norm = (F ** a).sum() ** (1.0 / a)
    return (F / norm) ** (1.0 / b) if norm > 0 else np.zeros_like(F)


def preprocess(S, tau: float = 0.01, rho: float = 1.0, *, relative: bool = True) -> np.ndarray:
    r"""The map EGM detects regions on ([S3] §5.4.1, "Implementation details"): values below
    :math:`\tau` set to 0, then every value raised to the power :math:`\rho`.

    :math:`\tau = 0.01` "to remove noise" ([S3]); :math:`\rho` raises the contrast between
    foreground and background (:math:`\rho = 1` before tuning, 7 for FS.EGM, 2 for OS.EGM).
    The seed does not say on which scale :math:`\tau` applies. FS maps lie in [0, 1] but OS maps
    (eq 5.14) have an arbitrary scale, so with ``relative=True`` (default) the map is first
    divided by its maximum and :math:`\tau` is a fraction of the maximum; ``relative=False``
    thresholds the raw values. EGM is invariant to the scale of its map, so the division changes
    only what :math:`\tau` means. A zero map stays zero. ``S``: ``(h, w)``, non-negative.
    """
    S = _map2d(S, "S")
    if S.min() < 0:
        raise ValueError(f"S must be non-negative, got min {S.min():g}")
    if not 0 <= tau < np.inf:
        raise ValueError(f"tau must be a finite number >= 0, got {tau}")
    if not 0 < rho < np.inf:
        raise ValueError(f"rho must be a finite number > 0, got {rho}")
    top = S.max()
    if top == 0:
        return np.zeros_like(S)
    if relative:
        S = S / top
    return np.where(S >= tau, S, 0.0) ** rho


def patch_descriptors(A, a: int = 3, *, pool: str = "max", p: float = 3.0,
                      whiten: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    r"""The descriptor :math:`\mathbf z_p = w(m_A(R_p))` of the square patch :math:`R_p` of side
    ``a`` centred at every cell ``p`` ([S3] §5.3.8), the queries of object saliency (eq 5.14).

    * The patch side ``a`` is not given in the seed (exposed; odd, so that the patch is centred);
      near the border the patch is cut to the map.
    * Pooling: the text says "by max-pooling over :math:`R_p`" although it writes :math:`m_A`,
      the GeM of eq 5.10. ``pool="max"`` (default, the text) or ``"gem"`` (exponent ``p``).
    * Then :math:`w` of eq 5.11: each vector is L2-normalised, passed to ``whiten`` (a function
      ``(N, C) -> (N, d)``, e.g. a :class:`rrlib.nets.Whitening`; None: no whitening) and
      L2-normalised again.

    ``A``: ``(C, h, w)``. Returns ``(h * w, d)``, rows in the row-major order of the map's cells
    (row ``r``, column ``c`` is row ``r * w + c``), as :func:`object_saliency` expects.
    """
    A = _tensor3d(A)
    if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or a < 1 or a % 2 == 0:
        raise ValueError(f"a (the patch side) must be an odd integer >= 1, got {a!r}")
    C, h, w = A.shape
    if pool == "max":
        Z = ndimage.maximum_filter(A, size=(1, a, a), mode="nearest")
    elif pool == "gem":
        if not 0 < p < np.inf:
            raise ValueError(f"p must be a finite number > 0, got {p}")
        # mean of x^p over the cells of the patch that lie in the map (the cut patch at borders)
        # (direct sums, not uniform_filter's running sums, which cancel to tiny negatives)
        box = np.ones((1, a, a))
        total = ndimage.correlate(np.maximum(A, 1e-6) ** p, box, mode="constant")
        count = ndimage.correlate(np.ones((1, h, w)), box, mode="constant")
        Z = (total / count) ** (1.0 / p)
    else:
        raise ValueError(f"pool must be 'max' or 'gem', got {pool!r}")
    Z = Z.reshape(C, h * w).T
    Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    if whiten is not None:
        Z = np.asarray(whiten(Z), dtype=np.float64)
        if Z.ndim != 2 or len(Z) != h * w:
            raise ValueError(f"whiten must map (N, C) to (N, d), got shape {Z.shape} for N = {h * w}")
        Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    return Z


def object_saliency(F_hat, Z, V, f, u, *, k: int = 10, theta: float = 3.0, gamma: float = 1.0) -> np.ndarray:
    r"""Object saliency OS of one image, eq 5.14 of [S3] §5.3.8:

    .. math::  S_p = \hat F_p^{\theta} \sum_{i \in N_p} s(\mathbf v_i, \mathbf z_p)\, f_i^{\theta}\, u_i^*

    For each cell ``p``: the descriptor ``z_p`` of the patch centred there (row ``p`` of ``Z``,
    :func:`patch_descriptors`), its ``k`` nearest regions ``N_p`` among the region descriptors
    ``V`` of the whole collection (:func:`rrlib.graph.knn`, cosine), each weighted by its
    similarity to the patch, its feature saliency :math:`f_i^\theta` (eq 5.9) and its centrality
    :math:`u_i^*` (§5.3.7, Katz in [S3]); the sum is scaled by the image's own feature saliency
    :math:`\hat F_p^\theta`. ``theta = 3`` ([S3] §5.4.1, "by visual inspection").

    Not in the seed, exposed: ``k`` (the size of ``N_p``), and the similarity ``s``, taken as
    :math:`\max(\mathbf v^\top \mathbf z, 0)^{\gamma}` -- the seed asks for a "symmetric and positive"
    similarity (§2.4); ``gamma = 1`` is the clipped cosine, ``gamma = 3`` the weight of the kNN
    graph (:func:`rrlib.graph.knn_graph`).

    Shapes: ``F_hat (h, w)``, ``Z (h * w, d)``, ``V (n, d)`` (L2-normalised rows), ``f (n,)``,
    ``u (n,)`` (both non-negative). Returns ``(h, w)``.
    """
    F_hat = _map2d(F_hat, "F_hat")
    Z = np.asarray(Z, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    if Z.ndim != 2 or len(Z) != F_hat.size:
        raise ValueError(f"Z must be (h * w, d) = ({F_hat.size}, d), one row per cell of F_hat, got {Z.shape}")
    if V.ndim != 2 or V.shape[1] != Z.shape[1]:
        raise ValueError(f"V must be (n, d) with Z's dimension d = {Z.shape[1]}, got {V.shape}")
    f, u = np.asarray(f, dtype=np.float64), np.asarray(u, dtype=np.float64)
    for name, x in (("f", f), ("u", u)):
        if x.shape != (len(V),):
            raise ValueError(f"{name} must have one value per region ({len(V)}), got shape {x.shape}")
        if not np.isfinite(x).all() or x.min() < 0:
            raise ValueError(f"{name} must be finite and non-negative")
    if F_hat.min() < 0:
        raise ValueError(f"F_hat must be non-negative, got min {F_hat.min():g}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(V):
        raise ValueError(f"k must be an integer in [1, {len(V)}] (the number of regions), got {k!r}")
    if not (0 <= theta < np.inf and 0 < gamma < np.inf):
        raise ValueError(f"theta must be finite >= 0 and gamma finite > 0, got theta={theta}, gamma={gamma}")
    sims, idx = knn(V, int(k), Z)
    s = np.clip(sims.astype(np.float64), 0, None) ** gamma
    total = (s * f[idx] ** theta * u[idx]).sum(axis=1)
    return F_hat ** theta * total.reshape(F_hat.shape)


def saliency_precision(S, box, image_size=None) -> float:
    r"""Saliency precision ([S3] §5.4.2): the saliency inside the ground-truth box over the
    saliency of the whole picture, :math:`\sum_{p \in B} S_p / \sum_p S_p` -- 1 when the map puts
    all its mass on the object.

    ``box`` is ``[x1, y1, x2, y2]`` in map units (:mod:`rrlib.god.regions`); with
    ``image_size = (W, H)`` it is in pixels of that picture (revisitop's ``bbx``) and is
    converted. The map is read as constant on each cell, so a cell cut by the box edge counts
    with the fraction of its area inside the box (the seed, on pixel maps, does not need to say).
    ``S``: ``(h, w)``, non-negative, not all zero.
    """
    S = _map2d(S, "S")
    if S.min() < 0:
        raise ValueError(f"S must be non-negative, got min {S.min():g}")
    total = S.sum()
    if total <= 0:
        raise ValueError("S sums to 0: the saliency precision is undefined")
    B = _boxes(box, "box")
    if len(B) != 1:
        raise ValueError(f"box must be one [x1, y1, x2, y2], got {len(B)} boxes")
    if image_size is not None:
        B = pixel_box_to_map(B, image_size, S.shape)
    x1, y1, x2, y2 = B[0]
    h, w = S.shape
    ox = np.clip(np.minimum(x2, np.arange(w) + 1.0) - np.maximum(x1, np.arange(w)), 0, 1)
    oy = np.clip(np.minimum(y2, np.arange(h) + 1.0) - np.maximum(y1, np.arange(h)), 0, 1)
    return float(oy @ S @ ox / total)

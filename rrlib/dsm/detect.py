r"""The DSM detector on one activation map: quantisation, the MSER step :math:`\Delta`, MSERs.

[S3 §4.3.3]: local features are the maximally stable extremal regions (MSER, Matas et al., BMVC
2002) of every channel :math:`A^{\bullet j}` of the last activation tensor, of *one* polarity only:
regions whose interior is strictly higher than their boundary (high activations). [S3 §4.4.1]
used VLFeat's MSER with **minimum diversity 0.7**, **maximum variation 0.5** and a step
:math:`\Delta` set at **60 % of the cumulative histogram of the activation values**.

Which MSER
----------
OpenCV's ``cv2.MSER_create`` runs here, on maps quantised to 8 bits (:func:`quantize`), with
``setPass2Only(True)`` (only the bright-on-dark pass). It cannot express one of the three
parameters: for grey images OpenCV ignores ``min_diversity`` (only its colour MSCR code reads it),
so VLFeat's duplicate removal is applied to the regions OpenCV returns (:func:`remove_duplicates`).
Two other differences to VLFeat remain and are documented, not hidden: OpenCV measures the
variation of a region :math:`R_l` as :math:`(|R_{l+\Delta}| - |R_{l-\Delta}|) / |R_l|` (VLFeat:
:math:`(|R_{l+\Delta}| - |R_l|) / |R_l|`) and joins pixels with 4-connectivity (VLFeat: 8).
OpenCV never visits the border pixels of its input, so maps are padded by one zero pixel.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["LEVELS", "delta_from_histogram", "mser_detector", "mser_regions", "quantize", "region_moments", "regions_moments",
           "remove_duplicates"]

#: the grey levels of a quantised map (8 bits, as VLFeat's and OpenCV's MSER take)
LEVELS = 255


def quantize(maps, top: float) -> np.ndarray:
    r"""Activation maps as 8-bit grey levels: :math:`q = \mathrm{round}(255 \min(a, t) / t)`, with
    :math:`t` = ``top`` the activation that becomes 255 (6 for MobileNetV2, whose last layer is a
    ReLU6; a high percentile of the dataset's activations otherwise). Negative values become 0."""
    if not top > 0:
        raise ValueError(f"top must be a positive activation value, got {top}")
    a = np.asarray(maps, np.float32)
    return np.rint(np.clip(a, 0.0, top) * (LEVELS / top)).astype(np.uint8)


def delta_from_histogram(values, fraction: float = 0.6, *, positive_only: bool = True) -> float:
    r"""The MSER step :math:`\Delta` of [S3 §4.4.1]: the value at which the cumulative histogram of
    the activation ``values`` reaches ``fraction`` (60 %), i.e. their ``fraction``-quantile.

    ``positive_only`` counts only the non-zero values: a ReLU map is mostly zeros (about half of
    MobileNetV2's last-layer activations), so the quantile of *all* values would be 0 and give no
    step. The authors' code does the same ([EXT osimeoni/DSM ``fit_localfeatures.m``
    ``compute_delta``: non-zero values of each tensor, 1,000 bins, then ``min(delta, 12)``).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
    v = np.asarray(values, np.float64).ravel()
    if positive_only:
        v = v[v > 0]
    if v.size == 0:
        raise ValueError("no (positive) activation values to take a histogram of")
    return float(np.quantile(v, fraction))


def remove_duplicates(regions: list[np.ndarray], min_diversity: float, shape: tuple[int, int]) -> list[np.ndarray]:
    r"""VLFeat's duplicate removal: drop an MSER :math:`R` whose nearest kept MSER ancestor
    :math:`P \supset R` differs too little, :math:`(|P| - |R|) / |P| <` ``min_diversity``.

    Extremal regions of one map are nested or disjoint, so the regions are visited from the largest
    to the smallest and the smallest kept region covering each pixel is remembered in a label map:
    the one under a region's first pixel is its nearest kept ancestor (VLFeat removes from the top
    of the tree down in the same way, ``vl/mser.c``). ``regions`` are ``(n_i, 2)`` integer
    ``(x, y)`` pixel arrays inside a map of ``shape`` ``(h, w)``; the kept ones are returned,
    largest first.
    """
    if len(regions) < 2 or min_diversity <= 0:
        return sorted(regions, key=len, reverse=True)
    owner = np.full(shape, -1, np.int64)
    sizes, kept = [], []
    for r in sorted(regions, key=len, reverse=True):
        parent = owner[r[0, 1], r[0, 0]]
        if parent >= 0 and (sizes[parent] - len(r)) / sizes[parent] < min_diversity:
            continue
        owner[r[:, 1], r[:, 0]] = len(kept)
        sizes.append(len(r))
        kept.append(r)
    return kept


def mser_detector(delta: int, shape: tuple[int, int], *, min_area: int = 1, max_area: float = 0.75,
                  max_variation: float = 0.5):
    """OpenCV's MSER detector for bright regions of ``(h, w)`` maps (see :func:`mser_regions`)."""
    delta = int(delta)
    if delta < 1:
        raise ValueError(f"delta must be >= 1 grey level, got {delta}")
    h, w = shape
    detector = cv2.MSER_create(delta, int(min_area), max(int(max_area * h * w), int(min_area)), float(max_variation))
    detector.setPass2Only(True)  # only the bright-on-dark pass: regions of high activation
    return detector


def mser_regions(level_map, delta: int, *, min_area: int = 1, max_area: float = 0.75, max_variation: float = 0.5,
                 min_diversity: float = 0.7, detector=None) -> list[np.ndarray]:
    r"""The bright MSERs of one quantised map ``(h, w)`` uint8: a list of ``(n_i, 2)`` int arrays of
    ``(x, y)`` pixels (x = column), largest region first.

    ``delta`` is :math:`\Delta` in grey levels (>= 1); ``min_area`` in pixels; ``max_area`` a
    fraction of the map's area (VLFeat's default 0.75); ``max_variation`` and ``min_diversity`` as
    [S3] (0.5, 0.7). OpenCV (see the module docstring) finds the stable regions; VLFeat's
    ``min_diversity`` rule is applied after it (:func:`remove_duplicates`). ``level_map`` may come
    already padded by one zero pixel (``(h + 2, w + 2)``, with ``detector`` from
    :func:`mser_detector`), as :func:`rrlib.dsm.detect_features` does for a whole tensor at once.
    """
    q = np.asarray(level_map)
    if q.ndim != 2 or q.dtype != np.uint8:
        raise ValueError(f"level_map must be a 2-D uint8 map (see quantize), got {q.dtype} of shape {q.shape}")
    if detector is None:
        h, w = q.shape
        detector = mser_detector(delta, (h, w), min_area=min_area, max_area=max_area, max_variation=max_variation)
        q = np.pad(q, 1)  # OpenCV never visits its input's border pixels
    else:
        h, w = q.shape[0] - 2, q.shape[1] - 2
    if q.max() == 0:
        return []
    found, _ = detector.detectRegions(q)
    return remove_duplicates([r.reshape(-1, 2).astype(np.int64) - 1 for r in found], min_diversity, (h, w))


def region_moments(points, values=None) -> tuple[np.ndarray, np.ndarray, float]:
    r"""Mean :math:`\mu`, covariance :math:`\Sigma` and strength :math:`v` of one region [S3 §4.3.4].

    .. math:: \mu = \frac1{|R|}\sum_{r \in R} r, \qquad
              \Sigma = \frac1{|R|}\sum_{r \in R} (r - \mu)(r - \mu)^\top + \tfrac1{12} I,
              \qquad v = \max_{r \in R} A^{\bullet j}(r).

    The :math:`\tfrac1{12} I` is the second moment of a unit pixel square about its centre: with
    it :math:`\Sigma` is the exact covariance of the region as a union of unit squares, and a
    one-pixel or one-row region still has an ellipse (VLFeat's moments of pixel centres leave them
    singular; the authors' code drops such regions). ``points`` are ``(n, 2)`` ``(x, y)``;
    ``values`` the map ``(h, w)`` that the strength is pooled from (``v`` = 0 without it).
    """
    p = np.asarray(points, np.float64).reshape(-1, 2)
    if len(p) == 0:
        raise ValueError("a region needs at least one pixel")
    mu = p.mean(axis=0)
    d = p - mu
    sigma = d.T @ d / len(p) + np.eye(2) / 12.0
    v = 0.0
    if values is not None:
        pts = np.asarray(points, np.int64).reshape(-1, 2)
        v = float(np.asarray(values)[pts[:, 1], pts[:, 0]].max())
    return mu, sigma, v



def regions_moments(regions: list[np.ndarray], values, channels=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`region_moments` of many regions at once (``bincount`` sums): ``mu (n, 2)``,
    ``Sigma (n, 2, 2)``, ``v (n,)``. ``values`` is the map ``(h, w)``, or the tensor ``(C, h, w)``
    with ``channels[i]`` the channel of region ``i``."""
    n = len(regions)
    if n == 0:
        return np.zeros((0, 2)), np.zeros((0, 2, 2)), np.zeros(0)
    sizes = np.array([len(r) for r in regions])
    p = np.concatenate(regions).astype(np.int64)
    rid = np.repeat(np.arange(n), sizes)
    x, y = p[:, 0].astype(np.float64), p[:, 1].astype(np.float64)
    mx, my = np.bincount(rid, x, n) / sizes, np.bincount(rid, y, n) / sizes
    dx, dy = x - mx[rid], y - my[rid]
    sigma = np.empty((n, 2, 2))
    sigma[:, 0, 0] = np.bincount(rid, dx * dx, n) / sizes + 1 / 12
    sigma[:, 1, 1] = np.bincount(rid, dy * dy, n) / sizes + 1 / 12
    sigma[:, 0, 1] = sigma[:, 1, 0] = np.bincount(rid, dx * dy, n) / sizes
    values = np.asarray(values, np.float64)
    vals = values[p[:, 1], p[:, 0]] if channels is None else values[np.asarray(channels)[rid], p[:, 1], p[:, 0]]
    v = np.full(n, -np.inf)
    np.maximum.at(v, rid, vals)
    return np.stack([mx, my], 1), sigma, v

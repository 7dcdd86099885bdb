r"""DSM local features: ``q = (mu, Sigma, v)`` per region, the channel as visual word [S3 §4.3.4].

A feature has no descriptor: its *channel* plays the role of a visual word. The filters of
[S3 §4.4.1], each a small pure function:

* :func:`cap_channels` -- channels with more than 20 (query) / 10 (database) features are discarded;
* :func:`box_nms` -- non-maximum suppression **across channels** on database images, IoU 0.2 of the
  ellipses' bounding boxes (not on the query, "to allow matches from any channel");
* :func:`top_features` -- over the three scales (1, 1/sqrt 2, 1/2) the strongest ``N`` features are kept
  (512 on VGG, 2048 on ResNet in [S3]).

Coordinates are those of the activation map of the feature's scale, ``x`` = column, ``y`` = row,
cell ``(i, j)`` centred at ``(j, i)``; :meth:`DSMFeatures.image_xy` maps them into the image.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .detect import mser_detector, mser_regions, quantize, regions_moments

__all__ = ["DSMFeatures", "DetectorParams", "box_nms", "cap_channels", "detect_features", "ellipse_boxes",
           "merge_scales", "top_features"]


@dataclass(frozen=True)
class DetectorParams:
    r"""The detector's parameters, [S3 §4.4.1]'s values by default.

    ``top`` (activation mapped to grey level 255) and ``delta`` (:math:`\Delta`, grey levels) are
    network / dataset statistics: see :func:`rrlib.dsm.calibrate`.
    """

    top: float = 6.0                    # MobileNetV2's ReLU6 ceiling
    delta: int = 8                      # MSER step in grey levels ([S3]: 60 % of the cumulative histogram)
    max_variation: float = 0.5          # [S3 §4.4.1]
    min_diversity: float = 0.7          # [S3 §4.4.1]
    min_area: int = 1                   # pixels of the map
    max_area: float = 0.75              # fraction of the map (VLFeat's default)
    query_cap: int = 20                 # [S3]: channels with more features are discarded (query)
    db_cap: int = 10                    # ... (database)
    cap_mode: str = "drop"              # "drop" ([S3]'s text) or "keep_top" (the authors' code)
    nms_iou: float = 0.2                # [S3]: NMS across channels, database images only
    top_n: int = 1280                   # strongest features kept over all scales


@dataclass
class DSMFeatures:
    """The local features of one image (all scales), stored as flat arrays.

    Attributes
    ----------
    mu : (n, 2) float32
        Centres ``(x, y)`` in the activation map of the feature's scale.
    sigma : (n, 2, 2) float32
        Covariances (the ellipse ``(p - mu)^T Sigma^{-1} (p - mu) <= 1`` is the frame ``mu + L u``).
    strength : (n,) float32
        ``v`` = max activation over the region.
    channel : (n,) int32
        The channel it was detected in: its visual word.
    scale : (n,) int8
        Index into ``scales``.
    map_size : (S, 2) int32
        ``(w, h)`` of the activation map at each scale.
    scales : tuple of float
        The image scale factors.
    """

    mu: np.ndarray
    sigma: np.ndarray
    strength: np.ndarray
    channel: np.ndarray
    scale: np.ndarray
    map_size: np.ndarray
    scales: tuple = (1.0,)
    image_size: tuple = field(default=(0, 0))   # (w, h) of the image at scale 1

    def __post_init__(self) -> None:
        self.mu = np.asarray(self.mu, np.float32).reshape(-1, 2)
        n = len(self.mu)
        self.sigma = np.asarray(self.sigma, np.float32).reshape(n, 2, 2)
        self.strength = np.asarray(self.strength, np.float32).reshape(n)
        self.channel = np.asarray(self.channel, np.int32).reshape(n)
        self.scale = np.asarray(self.scale, np.int8).reshape(n)
        self.map_size = np.asarray(self.map_size, np.int32).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.mu)

    def __repr__(self) -> str:
        return (f"DSMFeatures({len(self)} features in {len(np.unique(self.channel))} channels, "
                f"scales {[round(s, 3) for s in self.scales]})")

    def select(self, keep) -> "DSMFeatures":
        """The features ``keep`` (a mask or indices)."""
        return DSMFeatures(self.mu[keep], self.sigma[keep], self.strength[keep], self.channel[keep],
                           self.scale[keep], self.map_size, self.scales, self.image_size)

    @property
    def nbytes(self) -> int:
        """Bytes of what DSM stores per image: ``mu`` (2), ``Sigma`` (3 distinct values), ``v`` as
        float32, the channel as int16 and the scale as int8 -- 27 bytes a feature."""
        return len(self) * (6 * 4 + 2 + 1)

    def image_xy(self, points=None, scale_index=None) -> np.ndarray:
        r"""Map-cell coordinates -> pixel coordinates of the image at scale 1.

        A map of ``w`` cells covering an image of ``W`` pixels has cells of ``W / w`` pixels; cell
        centre ``x`` lies at ``(x + 1/2) W / w - 1/2`` (pixel centres at integers). ``points``
        default to the features' centres (their own scales); otherwise give ``scale_index``.
        """
        W, H = self.image_size
        if points is None:
            points, s = self.mu, self.scale
        else:
            points = np.asarray(points, np.float64).reshape(-1, 2)
            s = np.full(len(points), scale_index if scale_index is not None else 0)
        size = self.map_size[s].astype(np.float64)
        ratio = np.array([W, H], np.float64) / size
        return (np.asarray(points, np.float64) + 0.5) * ratio - 0.5

    def image_sigma(self) -> np.ndarray:
        """Covariances in pixels of the image at scale 1 (``R Sigma R`` with ``R`` the cell size)."""
        W, H = self.image_size
        size = self.map_size[self.scale].astype(np.float64)
        R = np.zeros((len(self), 2, 2))
        R[:, 0, 0], R[:, 1, 1] = W / size[:, 0], H / size[:, 1]
        return R @ self.sigma.astype(np.float64) @ R


def detect_features(tensor, params: DetectorParams, *, query: bool, scale_index: int = 0,
                    channels=None) -> dict[str, np.ndarray]:
    r"""The features of one activation tensor ``(C, h, w)`` at one scale: ``d(A)`` of [S3 §4.3].

    Per channel: quantise (:func:`quantize`), MSERs (:func:`mser_regions`), moments and strength
    (:func:`region_moments`); then :func:`cap_channels` (20 for a query, 10 for a database image)
    and, for database images only, :func:`box_nms` across channels. ``channels`` restricts the
    detection to some channels (all by default). Returns flat arrays ``mu, sigma, strength,
    channel, scale``.
    """
    A = np.asarray(tensor, np.float32)
    if A.ndim != 3:
        raise ValueError(f"tensor must be (C, h, w), got shape {A.shape}")
    q = np.pad(quantize(A, params.top), ((0, 0), (1, 1), (1, 1)))  # OpenCV never visits border pixels
    peaks = q.reshape(len(q), -1).max(axis=1)
    todo = np.flatnonzero(peaks > 0) if channels is None else np.asarray(channels, int)
    detector = mser_detector(params.delta, A.shape[1:], min_area=params.min_area, max_area=params.max_area,
                             max_variation=params.max_variation)
    regions, chans = [], []
    for c in todo:
        found = mser_regions(q[c], params.delta, min_diversity=params.min_diversity, detector=detector)
        regions += found
        chans += [c] * len(found)
    mu, sigma, v = regions_moments(regions, A, chans)
    out = {"mu": mu, "sigma": sigma, "strength": v, "channel": np.asarray(chans, np.int64).reshape(-1)}
    keep = cap_channels(out["channel"], out["strength"], params.query_cap if query else params.db_cap,
                        mode=params.cap_mode)
    out = {k: v[keep] for k, v in out.items()}
    if not query and params.nms_iou < 1:
        keep = box_nms(ellipse_boxes(out["mu"], out["sigma"]), out["strength"], params.nms_iou)
        out = {k: v[keep] for k, v in out.items()}
    out["scale"] = np.full(len(out["mu"]), scale_index, np.int64)
    return out


def cap_channels(channel, strength, cap: int, *, mode: str = "drop") -> np.ndarray:
    """Indices of the features kept by the per-channel cap [S3 §4.4.1].

    ``mode="drop"``: a channel with more than ``cap`` features is discarded entirely -- [S3]'s
    text ("we discard activation maps with more than 20 features detected on query images, and 10
    on database images"): such a map fires on clutter or texture. ``mode="keep_top"``: the
    ``cap`` strongest features of every channel are kept -- what the authors' code does
    ([EXT osimeoni/DSM ``get_max_feats_ms.m``], after dropping channels with more than 36 MSERs in
    ``cmp_mser_regions.m``).
    """
    channel = np.asarray(channel)
    strength = np.asarray(strength, np.float64)
    if mode not in ("drop", "keep_top"):
        raise ValueError(f"mode must be 'drop' or 'keep_top', got {mode!r}")
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap}")
    order = np.lexsort((-strength, channel))  # by channel, strongest first
    ch = channel[order]
    first = np.searchsorted(ch, ch, "left")
    rank = np.arange(len(ch)) - first
    count = np.searchsorted(ch, ch, "right") - first
    keep = rank < cap if mode == "keep_top" else count <= cap
    return np.sort(order[keep])


def ellipse_boxes(mu, sigma) -> np.ndarray:
    r"""Bounding boxes ``(x1, y1, x2, y2)`` of the ellipses :math:`(p-\mu)^\top\Sigma^{-1}(p-\mu) \le 1`:
    :math:`\mu \pm (\sqrt{\Sigma_{11}}, \sqrt{\Sigma_{22}})`."""
    mu = np.asarray(mu, np.float64).reshape(-1, 2)
    s = np.sqrt(np.asarray(sigma, np.float64).reshape(-1, 2, 2)[:, [0, 1], [0, 1]])
    return np.concatenate([mu - s, mu + s], axis=1)


def box_nms(boxes, scores, iou: float = 0.2) -> np.ndarray:
    r"""Greedy non-maximum suppression: indices of the kept boxes, strongest first.

    Visit the boxes by decreasing score; keep one unless it overlaps a kept box by
    :math:`\mathrm{IoU} = |a \cap b| / |a \cup b| >` ``iou`` (areas ``(x2 - x1)(y2 - y1)``, as the
    authors' ``nms.m``). [S3 §4.3.4]: on database images across channels, "because the same
    filter may respond to a variety of input patterns and, worse, several filters may respond to
    the same pattern".
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(-1)
    if len(b) != len(s):
        raise ValueError(f"{len(b)} boxes but {len(s)} scores")
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    order = np.argsort(-s, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.clip(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]), 0, None)
        h = np.clip(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]), 0, None)
        inter = w * h
        union = area[i] + area[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap <= iou]
    return np.array(keep, np.int64)


def top_features(strength, n: int) -> np.ndarray:
    """Indices of the ``n`` strongest features (all of them if fewer), in their original order."""
    strength = np.asarray(strength, np.float64)
    if len(strength) <= n:
        return np.arange(len(strength))
    return np.sort(np.argsort(-strength, kind="stable")[:n])


def merge_scales(per_scale: list[dict], map_sizes, scales, image_size, top_n: int) -> DSMFeatures:
    """One :class:`DSMFeatures` from the features of every scale, the ``top_n`` strongest kept [S3 §4.4.1]."""
    cat = {k: np.concatenate([p[k] for p in per_scale]) for k in ("mu", "sigma", "strength", "channel", "scale")}
    keep = top_features(cat["strength"], top_n)
    return DSMFeatures(cat["mu"][keep], cat["sigma"][keep], cat["strength"][keep], cat["channel"][keep],
                       cat["scale"][keep], np.asarray(map_sizes), tuple(float(s) for s in scales), tuple(image_size))

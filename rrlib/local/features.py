"""Local features: SIFT keypoints and descriptors through OpenCV, RootSIFT, per-dataset caching.

A local feature is a *frame* -- position ``(x, y)``, scale ``s`` (pixels) and orientation ``a``
(radians) of a detected blob -- and a 128-D descriptor of the patch the frame covers (Lowe, IJCV
2004: difference-of-Gaussians detector, histograms of gradient orientations). Frames are kept
because spatial verification needs them: one correspondence of two frames already fixes a
similarity transform (:func:`rrlib.geometry.frame_transforms`).

RootSIFT (Arandjelovic & Zisserman, CVPR 2012) replaces the Euclidean distance of SIFT by the
Hellinger kernel: ``d -> sqrt(d / ||d||_1)``. It costs nothing and helps every step that follows
(vocabulary, assignment, matching).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from PIL import Image

from .. import cache as cache_mod  # `cache` is describe_local's argument
from ..io import read_rgb
from ..progress import progress as report, say

__all__ = ["LocalFeatures", "sift", "rootsift", "extract_local", "describe_local", "stack", "normalized_patch"]

#: code version of :func:`describe_local`'s cache: bump it when :func:`sift` or the stored format changes
CACHE_VERSION = 2


@dataclass
class LocalFeatures:
    """The local features of one image.

    Attributes
    ----------
    frames : (n, 4) float32
        ``x, y, scale, angle`` per feature: pixel position of the centre, scale in pixels (OpenCV's
        keypoint ``size`` / 2, i.e. the radius of the described patch up to a constant), orientation
        in radians in the image's own ``x`` right, ``y`` down axes (clockwise on screen, as OpenCV):
        the rotation ``R(a2 - a1)`` applied to pixel coordinates turns frame 1 into frame 2.
    descriptors : (n, 128) float32
        SIFT descriptors (raw, 0..255) or RootSIFT (unit L2 norm) -- see :func:`rootsift`.
    size : (width, height)
        The size of the image the features were detected in.
    """

    frames: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, np.float32).reshape(-1, 4)
        self.descriptors = np.asarray(self.descriptors, np.float32)
        if self.descriptors.ndim != 2 or len(self.descriptors) != len(self.frames):
            raise ValueError(f"{len(self.frames)} frames but descriptors of shape {self.descriptors.shape}")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def xy(self) -> np.ndarray:
        """``(n, 2)`` positions."""
        return self.frames[:, :2]

    def __repr__(self) -> str:
        return f"LocalFeatures({len(self)} features, {self.descriptors.shape[1]}-D, image {self.size[0]}x{self.size[1]})"


def rootsift(descriptors, eps: float = 1e-12) -> np.ndarray:
    """RootSIFT: ``sqrt(d / ||d||_1)`` row by row (Arandjelovic & Zisserman, CVPR 2012).

    The result has unit L2 norm, and ``x^T y`` of two RootSIFT vectors is the Hellinger kernel
    ``sum_i sqrt(d_i e_i)`` of the L1-normalised SIFT histograms. Negative input is an error.
    """
    d = np.asarray(descriptors, np.float32)
    if d.ndim != 2:
        raise ValueError(f"descriptors must be (n, d), got shape {d.shape}")
    if (d < 0).any():
        raise ValueError("SIFT descriptors are histograms: negative entries are not allowed")
    return np.sqrt(d / np.maximum(d.sum(axis=1, keepdims=True), eps))


def _gray(image) -> tuple[np.ndarray, tuple[int, int]]:
    """``(grey uint8 array, (width, height))`` of a path, a PIL image or an array (see :func:`sift`)."""
    if isinstance(image, (str, os.PathLike)):
        image = read_rgb(image)
    if isinstance(image, Image.Image):
        arr = np.asarray(image.convert("L"))
    else:
        arr = _as_uint8(np.asarray(image))
        if arr.ndim == 3 and arr.shape[2] in (3, 4):
            arr = np.asarray(Image.fromarray(arr).convert("L"))
        elif arr.ndim != 2:
            raise ValueError(f"an image must be (H, W), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
    return np.ascontiguousarray(arr), (arr.shape[1], arr.shape[0])


def _as_uint8(arr: np.ndarray) -> np.ndarray:
    """Grey levels 0..255: uint8 as it is, other integers in [0, 255] as they are, floats in
    [0, 1] (the float-image convention of matplotlib and scikit-image) times 255, rounded."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError("the image has NaN or infinite values")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(f"a float image must have values in [0, 1], got [{arr.min():g}, {arr.max():g}]; "
                             "pass a uint8 array for grey levels 0..255")
        return np.rint(arr * 255).astype(np.uint8)
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"an integer image must have values in [0, 255], got [{arr.min()}, {arr.max()}]")
        return arr.astype(np.uint8)
    raise TypeError(f"an image array must hold integers or floats, got dtype {arr.dtype}")


def sift(image, *, max_features: int = 0, root: bool = True, contrast_threshold: float = 0.04,
         edge_threshold: float = 10.0) -> LocalFeatures:
    """SIFT features of one image (OpenCV's DoG detector and SIFT descriptor).

    Parameters
    ----------
    image : path, PIL image or (H, W[, 3]) array
        Converted to grey levels. Arrays of integers are grey levels 0..255; float arrays must
        lie in [0, 1] (scaled by 255); anything else raises ValueError.
    max_features : int
        Keep the strongest ``max_features`` (0: all).
    root : bool
        Return RootSIFT descriptors (default) instead of raw SIFT.
    contrast_threshold, edge_threshold : float
        OpenCV's DoG thresholds (Lowe's defaults).
    """
    gray, size = _gray(image)
    detector = cv2.SIFT_create(nfeatures=int(max_features), contrastThreshold=contrast_threshold,
                               edgeThreshold=edge_threshold)
    keypoints, desc = detector.detectAndCompute(gray, None)
    if not keypoints:
        return LocalFeatures(np.zeros((0, 4), np.float32), np.zeros((0, 128), np.float32), size)
    frames = np.array([(k.pt[0], k.pt[1], k.size / 2.0, np.deg2rad(k.angle)) for k in keypoints], np.float32)
    # OpenCV's angle is in degrees, clockwise on screen: the usual angle in (x right, y down) axes
    desc = np.asarray(desc, np.float32)
    return LocalFeatures(frames, rootsift(desc) if root else desc, size)


def extract_local(images: Sequence, *, max_features: int = 0, root: bool = True, threads: int | None = None,
                  progress: bool = False) -> list[LocalFeatures]:
    """:func:`sift` of every image (paths, PIL images or arrays); ``threads`` caps OpenCV's threads
    (None: OpenCV's default)."""
    old = cv2.getNumThreads()
    if threads is not None:
        cv2.setNumThreads(int(threads))
    try:
        return [sift(im, max_features=max_features, root=root)
                for im in report(list(images), "SIFT", enabled=progress)]
    finally:
        cv2.setNumThreads(old)


def stack(features: Sequence[LocalFeatures]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate many images' features: ``(frames, descriptors, offsets)`` where image ``i``
    owns rows ``offsets[i]:offsets[i + 1]``."""
    offsets = np.zeros(len(features) + 1, np.int64)
    offsets[1:] = np.cumsum([len(f) for f in features])
    frames = np.concatenate([f.frames for f in features]) if features else np.zeros((0, 4), np.float32)
    desc = np.concatenate([f.descriptors for f in features]) if features else np.zeros((0, 128), np.float32)
    return frames, desc, offsets


def _unstack(frames, desc, offsets, sizes) -> list[LocalFeatures]:
    return [LocalFeatures(frames[a:b], desc[a:b], (int(w), int(h)))
            for a, b, (w, h) in zip(offsets[:-1], offsets[1:], sizes)]


def _save(parts: dict[str, list[LocalFeatures]], file) -> None:
    arrays = {}
    for part, feats in parts.items():
        frames, desc, offsets = stack(feats)
        # raw SIFT values are whole numbers in 0..255 and RootSIFT is stored as raw: uint8 is exact
        arrays.update({f"{part}/frames": frames, f"{part}/offsets": offsets,
                       f"{part}/desc": np.clip(np.rint(desc), 0, 255).astype(np.uint8),
                       f"{part}/sizes": np.array([f.size for f in feats], np.int64).reshape(-1, 2)})
    np.savez(file, **arrays)


def _load(path, parts: Sequence[str]) -> dict[str, list[LocalFeatures]]:
    """Raw SIFT of ``parts`` from a file of :func:`_save` (KeyError when one is missing)."""
    out = {}
    with np.load(path) as z:
        for part in parts:
            offsets = z[f"{part}/offsets"]
            frames, desc, sizes = z[f"{part}/frames"], z[f"{part}/desc"].astype(np.float32), z[f"{part}/sizes"]
            if len(frames) != len(desc) or offsets[-1] != len(desc) or len(sizes) != len(offsets) - 1:
                raise ValueError(f"{part}: {len(frames)} frames, {len(desc)} descriptors, offsets up to {offsets[-1]}")
            out[part] = _unstack(frames, desc, offsets, sizes)
    return out


def describe_local(data, *, max_features: int = 0, images: Sequence | None = None, tag: str = "test",
                   root: bool = True, cache: bool = True, threads: int | None = None,
                   progress: bool = True) -> dict[str, list[LocalFeatures]]:
    """SIFT features of a dataset's database and (cropped) queries, cached in the data root.

    ``data`` is a :class:`rrlib.datasets.RetrievalDataset`. Returns ``{"db": [...], "queries":
    [...]}`` (one :class:`LocalFeatures` per image); with ``images`` (e.g. part of a training split)
    only ``{"db": [...]}`` for those. Queries are cropped to their box first, as for global
    descriptors, so their frames are in the crop's coordinates. Raw SIFT is cached as ``uint8`` in
    ``<data root>/features/local/<dataset>_<tag>_<key>.npz`` (:mod:`rrlib.cache`), the key a digest
    of the images' content (the dataset's, with its ground truth, or ``images``), ``max_features``,
    :func:`sift` itself (code and defaults), OpenCV's version and :data:`CACHE_VERSION`; RootSIFT
    is computed on loading. ``tag`` only names the file. ``progress`` prints how far the
    extraction is when the cache is built (:mod:`rrlib.progress`).
    """
    cache_mod.check_name(data.name, "dataset name")
    cache_mod.check_name(tag, "tag")
    images = None if images is None else list(images)
    inputs = cache_mod.dataset_digest(data) if images is None else cache_mod.images_digest(images)
    key = cache_mod.digest(CACHE_VERSION, inputs, int(max_features), sift, cv2.__version__)
    path = cache_mod.entry("features/local", [data.name, tag], key, ".npz")
    run = dict(max_features=max_features, root=False, threads=threads, progress=progress)
    parts = ["db"] if images is not None else ["db", "queries"]

    def compute() -> dict[str, list[LocalFeatures]]:
        if images is not None:
            return {"db": extract_local(images, **run)}
        if progress:
            say(f"SIFT of {data.name} ({len(data.images):,} database images and {data.n_queries} queries), "
                f"cached in {path.parent} for the next runs")
        return {"db": extract_local(data.images, **run),
                "queries": extract_local([data.read_query(q) for q in range(data.n_queries)], **run)}

    raw = cache_mod.cached(path, compute, _save, lambda file: _load(file, parts), enabled=cache)
    if not root:
        return raw
    return {part: [LocalFeatures(f.frames, rootsift(f.descriptors), f.size) for f in feats]
            for part, feats in raw.items()}


def normalized_patch(image, frame, size: int = 32, magnify: float = 3.0) -> np.ndarray:
    """The square patch a frame describes, resampled upright to ``size x size`` pixels.

    The patch has side ``2 * magnify * scale`` around ``(x, y)`` and is rotated by the frame's
    angle, so patches of one visual word look alike whatever their scale and orientation in
    the images (what the descriptor sees). Returns a ``uint8`` array (grey, or RGB for colour input).
    """
    arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    x, y, s, a = (float(v) for v in frame)
    half = magnify * s
    # map output pixel (u, v) in [0, size) to the image: centre + R(a) * (u - c, v - c) * 2 half / size
    k = 2 * half / size
    c, si = np.cos(a) * k, np.sin(a) * k
    M = np.array([[c, -si, x - (c - si) * (size - 1) / 2], [si, c, y - (si + c) * (size - 1) / 2]])
    return cv2.warpAffine(arr, M, (size, size), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)

r"""Graph-based object discovery on a whole dataset: the glue of notebook 08, cached in the data root.

:mod:`rrlib.god`'s functions work on one picture (a map, an activation tensor); this module runs
them over a dataset's database, keeping only what later steps need -- never the activation
tensors themselves (MobileNetV2 at stride 16: 1280 x 32 x 24 floats, 4 MB a picture):

1. :func:`collection_regions` -- *pass 1* over the database: activations
   (:func:`feature_maps`), feature saliency FS (eqs 5.1-5.2), FS.EGM regions (eqs 5.3-5.8 on the
   pre-processed map), their whitened GeM descriptors ``V`` and saliencies ``f`` (eqs 5.9-5.11) --
   the vertices of the region graph -- and the FS.EGM image vectors for a small grid of
   :math:`(\rho, \sigma)` (§5.3.9, Fig 5.5).
2. the region graph (:func:`rrlib.graph.knn_graph`) and the centralities (:func:`collection_centralities`,
   cached: betweenness takes seconds).
3. :func:`patch_neighbours` -- *pass 2*: for every cell of every picture the ``k`` nearest regions
   of its patch descriptor, for a few patch sides ``a`` (so eq 5.14 can be re-evaluated for any
   centrality and :math:`\theta` without the network: :func:`os_map`), and the OS.EGM image vectors
   for a grid of :math:`(\rho, \sigma)` (Fig 5.8) with the default centrality.

Multi-scale (``GODConfig.scales``, [S3] §5.3.10): every picture is seen at every scale; the regions of
every scale are vertices of the one region graph, and an image vector is the per-scale vectors,
L2-normalised, pooled over scales as :math:`(\sum_s v_s^p)^{1/p}` (GeM's ``p``, as
:func:`rrlib.nets.extract_features`) before the whitening.

Every cached entry is keyed by the dataset's content, the network's weights, the whitening and the
parameters (:class:`GODConfig`); see :mod:`rrlib.cache`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from .. import cache as cache_mod
from ..graph import knn
from ..nets.extract import prepare_image, to_tensor
from ..parallel import check_jobs, chunks, parallel
from ..progress import progress as report, say
from .centrality import CENTRALITIES, KATZ_ALPHA, centrality
from .egm import PURGE, detect_regions
from .regions import aggregate_regions, region_descriptors, region_gem
from .saliency import feature_saliency, patch_descriptors

__all__ = ["CACHE_VERSION", "GODConfig", "collection_centralities", "collection_regions", "egm_vectors",
           "feature_maps", "os_map", "patch_neighbours", "pool_scales", "split_maps", "sweep_grid", "uniform_boxes",
           "whiten_rows"]

#: bump when what the passes compute changes (it is part of every cache key)
CACHE_VERSION = 2
#: pass 2's own version (2: it also pools R-MAC's uniform regions), so pass 1's cache stays valid
PASS2_VERSION = 3


@dataclass(frozen=True)
class GODConfig:
    r"""The parameters of the two passes. [S3] §5.4 gives ``tau``, ``rho_*``, ``sigma_*``, ``theta``;
    the others are not in the seed and are exposed (``graph_k``: the region graph's k, ``os_k``: the
    size of :math:`N_p` in eq 5.14, ``patch_side``: the patch side a, ``katz_alpha``, ``purge``).
    ``scales``: the factors each picture is seen at ([S3] §5.3.10 multi-scale: 1, 1/sqrt 2, 1/2).

    ``rhos`` and ``sigmas``: the one-at-a-time sweep of :func:`sweep_grid` (rho varies at the
    default sigma, sigma at the default rho). ``patch_sides``: the sides whose neighbours are kept
    (``patch_side`` must be one of them). ``max_size``: long side the pictures are read at (None:
    as stored). ``p``: GeM's exponent.
    """

    tau: float = 0.01
    rho_fs: float = 7.0
    sigma_fs: float = 2.5
    rho_os: float = 2.0
    sigma_os: float = 2.5
    theta: float = 3.0
    purge: float = PURGE
    p: float = 3.0
    graph_k: int = 10
    os_k: int = 10
    patch_side: int = 3
    patch_sides: tuple = (1, 3, 5)
    katz_alpha: float = KATZ_ALPHA
    rhos: tuple = (1.0, 2.0, 4.0, 7.0, 10.0)
    sigmas: tuple = (1.0, 1.5, 2.5, 4.0, 6.0)
    max_size: int | None = None
    scales: tuple = (1.0,)

    def __post_init__(self):
        if self.patch_side not in self.patch_sides:
            raise ValueError(f"patch_side {self.patch_side} must be one of patch_sides {self.patch_sides}")
        if not self.scales or not all(np.isfinite(s) and s > 0 for s in self.scales):
            raise ValueError(f"scales must be finite positive factors (at least one), got {self.scales}")


def sweep_grid(rho: float, sigma: float, rhos: Sequence[float], sigmas: Sequence[float]) -> list[tuple[float, float]]:
    """The one-at-a-time grid of Figs 5.5 / 5.8: ``(r, sigma)`` for every ``r`` in ``rhos``, then
    ``(rho, s)`` for every ``s`` in ``sigmas``, without repeats; the default ``(rho, sigma)`` first."""
    grid = [(float(rho), float(sigma))]
    for pair in [(float(r), float(sigma)) for r in rhos] + [(float(rho), float(s)) for s in sigmas]:
        if pair not in grid:
            grid.append(pair)
    return grid


def feature_maps(model: torch.nn.Module, image, *, max_size: int | None = None, scale: float = 1.0) -> np.ndarray:
    """The activations ``(C, h, w)`` float32 of one picture (a path or a PIL image) at ``scale``
    (:func:`rrlib.nets.prepare_image`), ImageNet-normalised and run through ``model`` alone (no batch,
    so pictures of any shape)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return model(to_tensor(prepare_image(image, max_size, scale))[None])[0].numpy()
    finally:
        model.train(was_training)


def uniform_boxes(h: int, w: int) -> np.ndarray:
    """R-MAC's uniform square regions on an ``h x w`` map (:func:`rrlib.nets.pooling.rmac_regions`, 3
    levels) as map boxes ``(n, 4)`` ``[x1, y1, x2, y2]`` -- the regions of regional search ([S3] Fig 5.10)."""
    from ..nets.pooling import rmac_regions

    return np.array([[left, top, left + side, top + side] for top, left, side in rmac_regions(int(h), int(w))],
                    dtype=np.float64).reshape(-1, 4)


def whiten_rows(Z: np.ndarray, whiten) -> np.ndarray:
    """Eq 5.11's :math:`w`: L2-normalise the rows, whiten (``whiten``: ``(N, C) -> (N, d)``, e.g. a
    :class:`rrlib.nets.Whitening`, which L2-normalises its output), L2-normalise. Returns float32."""
    Z = np.asarray(Z, dtype=np.float64)
    Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    Y = np.asarray(whiten(Z), dtype=np.float64)
    return (Y / np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def egm_vectors(S: np.ndarray, A: np.ndarray, grid, *, tau: float = 0.01, purge: float = PURGE,
                p: float = 3.0) -> tuple[np.ndarray, list[np.ndarray]]:
    """The FS.EGM / OS.EGM image vectors (before whitening) of one picture for every ``(rho, sigma)`` of
    ``grid``: EGM on the map ``S`` (:func:`rrlib.god.detect_regions`), then
    :func:`rrlib.god.aggregate_regions` over the activations ``A``. Returns ``((len(grid), C), boxes)``,
    ``boxes`` one ``(m, 4)`` array per grid point."""
    out, boxes = np.zeros((len(grid), A.shape[0])), []
    for g, (rho, sigma) in enumerate(grid):
        b = detect_regions(S, tau=tau, rho=rho, sigma=sigma, purge=purge).boxes
        boxes.append(b)
        if len(b):
            out[g] = aggregate_regions(A, b, p)
    return out, boxes


def pool_scales(vectors, p: float = 3.0) -> np.ndarray:
    r"""Pool one picture's image vectors over scales: ``vectors (n_scales, ..., C)``, each L2-normalised
    (zero vectors stay zero), combined as :math:`(\sum_s v_s^p)^{1/p}` -- :func:`rrlib.nets.extract_features`'
    rule for GeM networks. Activations are non-negative, so are the vectors. One scale: the
    normalised vector. Returns ``(..., C)``."""
    v = np.clip(np.asarray(vectors, dtype=np.float64), 0, None)
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    return (v ** p).sum(axis=0) ** (1.0 / p)


def _whiten_vectors(vec: np.ndarray, whiten) -> np.ndarray:
    """Whiten ``(g, n_db, C)`` image vectors; a picture without any region keeps the zero vector."""
    g, n, C = vec.shape
    white = whiten_rows(vec.reshape(g * n, C), whiten).reshape(g, n, -1)
    white[np.abs(vec).sum(axis=2) == 0] = 0
    return white


def split_maps(flat: np.ndarray, shapes: np.ndarray) -> list[np.ndarray]:
    """Cut the concatenation of row-major maps ``flat`` (or of per-cell rows, ``(sum h*w, ...)``) back
    into one array per picture, ``shapes (n, 2)`` their ``(h, w)``; maps come back ``(h, w)``."""
    ends = np.cumsum([h * w for h, w in shapes])
    parts = np.split(np.asarray(flat), ends[:-1])
    if np.asarray(flat).ndim == 1:
        return [x.reshape(h, w) for x, (h, w) in zip(parts, shapes)]
    return parts


def _whitening_key(whiten) -> list:
    return [np.asarray(whiten.mean), np.asarray(whiten.projection)]


def _grid_of(cfg: GODConfig, which: str) -> list[tuple[float, float]]:
    rho, sigma = (cfg.rho_fs, cfg.sigma_fs) if which == "fs" else (cfg.rho_os, cfg.sigma_os)
    return sweep_grid(rho, sigma, cfg.rhos, cfg.sigmas)


def _npz_save(value: dict, f) -> None:
    np.savez(f, **value)


def _npz_load(path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _pass1_picture(image, model, whiten, cfg: GODConfig, grid) -> dict:
    """Pass 1 on one picture, every scale: what :func:`collection_regions` concatenates."""
    out = dict(shapes=[], fs=[], boxes=[], scale=[], V=[], f=[])
    per_scale = []
    for si, s in enumerate(cfg.scales):
        A = feature_maps(model, image, max_size=cfg.max_size, scale=s).astype(np.float64)
        F = feature_saliency(A)
        v, b = egm_vectors(F, A, grid, tau=cfg.tau, purge=cfg.purge, p=cfg.p)
        z, fi = region_descriptors(A, b[0], p=cfg.p, F_hat=F) if len(b[0]) else (np.zeros((0, A.shape[0])), [])
        out["shapes"].append(F.shape)
        out["fs"].append(F.ravel())
        out["boxes"].append(b[0].reshape(-1, 4))
        out["scale"].append(np.full(len(b[0]), si))
        out["V"].append(whiten_rows(z, whiten) if len(z) else np.zeros((0, len(whiten.projection)), np.float32))
        out["f"].append(np.asarray(fi, dtype=np.float64))
        per_scale.append(v)
    out["size"] = prepare_image(image, cfg.max_size).size
    out["vector"] = pool_scales(per_scale, cfg.p)
    return out


def _pictures(fn, job) -> list:
    """``fn`` on every item of a worker's share (one torch thread per worker)."""
    torch.set_num_threads(1)
    items, args = job
    return [fn(item, *args) for item in items]


def _each_picture(fn, items: list, args: tuple, n_jobs: int, desc: str, progress: bool) -> list:
    """``[fn(item, *args) for item in items]``, in ``n_jobs`` worker processes (:mod:`rrlib.parallel`)
    or with a progress line in this one."""
    if n_jobs > 1 and len(items) > 1:
        from functools import partial

        parts = parallel(partial(_pictures, fn), [([items[i] for i in r], args) for r in chunks(len(items), n_jobs)],
                         n_jobs)
        if progress:
            say(f"{desc}: {len(items):,} pictures by {n_jobs} worker processes")
        return [x for part in parts for x in part]
    return [fn(item, *args) for item in report(items, desc, enabled=progress)]


def collection_regions(data, model, whiten, cfg: GODConfig = GODConfig(), *, cache: bool = True,
                       progress: bool = True, n_jobs: int = 1) -> dict:
    r"""Pass 1 over ``data``'s database pictures (cached in ``<data root>/features/god``).

    Per picture and scale: activations, FS map :math:`\hat F` (eqs 5.1-5.2), regions by EGM on it
    (``rho_fs``, ``sigma_fs``), each region's GeM descriptor whitened by ``whiten`` (eq 5.11) and its
    feature saliency :math:`f` (eq 5.9), and the FS.EGM image vectors of :func:`sweep_grid`
    (pooled over scales by :func:`pool_scales`, whitened). Returns a dict of arrays:

    * ``shapes (n_db * n_scales, 2)`` map sizes (picture by picture, its scales in ``cfg.scales``
      order), ``sizes (n_db, 2)`` picture sizes ``(W, H)`` at scale 1,
      ``fs (sum h*w,)`` the FS maps concatenated in the order of ``shapes`` (:func:`split_maps`);
    * ``boxes (n, 4)`` map boxes of the ``n`` regions, ``owner (n,)`` their picture, ``scale (n,)``
      the index of their scale in ``cfg.scales``, ``V (n, d)`` float32 unit rows, ``f (n,)``;
    * ``grid (g, 2)`` the ``(rho, sigma)`` pairs, ``vectors (g, n_db, d)`` the whitened FS.EGM vectors.

    ``n_jobs`` worker processes share the pictures (not part of the cache key: only the last digits
    of the convolutions depend on it).
    """
    grid = _grid_of(cfg, "fs")
    n_jobs = check_jobs(n_jobs)
    key = cache_mod.digest(CACHE_VERSION, "regions", cache_mod.dataset_digest(data), model,
                           _whitening_key(whiten), asdict(cfg))
    path = cache_mod.entry("features/god", [data.name, "regions"], key, ".npz")

    def compute() -> dict:
        if progress:
            say(f"GOD pass 1 (FS, FS.EGM regions) over {data.name}, cached in {path.parent} for the next runs")
        pics = _each_picture(_pass1_picture, list(data.images), (model, whiten, cfg, grid), n_jobs,
                             "database pictures (pass 1)", progress)
        cat = {k: np.concatenate([x for pic in pics for x in pic[k]]) for k in ("fs", "boxes", "scale", "V", "f")}
        owner = np.concatenate([np.full(sum(len(b) for b in pic["boxes"]), i) for i, pic in enumerate(pics)])
        vec = np.stack([pic["vector"] for pic in pics], axis=1)             # (g, n_db, C)
        return dict(shapes=np.array([sh for pic in pics for sh in pic["shapes"]]),
                    sizes=np.array([pic["size"] for pic in pics]), fs=cat["fs"].astype(np.float32),
                    boxes=cat["boxes"], owner=owner, scale=cat["scale"], V=cat["V"], f=cat["f"],
                    grid=np.array(grid), vectors=_whiten_vectors(vec, whiten))

    return cache_mod.cached(path, compute, _npz_save, _npz_load, enabled=cache)


def collection_centralities(W, V, *, kinds: Sequence[str] = CENTRALITIES, katz_alpha: float = KATZ_ALPHA,
                            betweenness_samples: int | None = None, cache: bool = True) -> dict[str, np.ndarray]:
    """Every centrality of ``kinds`` on the region graph ``W`` (edge costs from the descriptors ``V``
    for betweenness and closeness; :func:`rrlib.god.centrality`), cached in ``<data root>/features/god``
    by the graph, the descriptors and the parameters (betweenness takes seconds). Closeness uses
    the seed's formula; ``betweenness_samples`` estimates betweenness from that many sources."""
    W = sp.csr_matrix(W)
    key = cache_mod.digest(CACHE_VERSION, "centrality", W.indptr, W.indices, W.data, np.asarray(V), list(kinds),
                           float(katz_alpha), betweenness_samples)
    path = cache_mod.entry("features/god", ["centrality"], key, ".npz")

    def compute() -> dict:
        params = {"katz": dict(alpha=katz_alpha), "betweenness": dict(samples=betweenness_samples)}
        return {kind: centrality(W, kind, V if kind in ("betweenness", "closeness") else None,
                                 **params.get(kind, {})) for kind in kinds}

    return cache_mod.cached(path, compute, _npz_save, _npz_load, enabled=cache)


def os_map(F_hat: np.ndarray, sims: np.ndarray, idx: np.ndarray, f: np.ndarray, u: np.ndarray, *,
           theta: float = 3.0, gamma: float = 1.0) -> np.ndarray:
    r"""Object saliency, eq 5.14, from precomputed neighbours: :math:`S_p = \hat F_p^\theta \sum_{i \in N_p}
    \max(s_{pi}, 0)^\gamma f_i^\theta u_i`, with ``sims, idx (h*w, k)`` the similarities and indices of
    the ``k`` regions nearest to the patch of each cell (row-major), as :func:`patch_neighbours`
    stores them -- :func:`rrlib.god.object_saliency` without the search. Returns ``(h, w)``."""
    F_hat = np.asarray(F_hat, dtype=np.float64)
    s = np.clip(np.asarray(sims, dtype=np.float64), 0, None) ** gamma
    idx = np.asarray(idx)
    total = (s * np.asarray(f, np.float64)[idx] ** theta * np.asarray(u, np.float64)[idx]).sum(axis=1)
    return F_hat ** theta * total.reshape(F_hat.shape)


def _pass2_picture(job, model, whiten, cfg: GODConfig, grid, V, f, u) -> dict:
    """Pass 2 on one picture, every scale (``job``: the picture and its FS map at each scale)."""
    image, fs_maps = job
    nbrs = {a: ([], []) for a in cfg.patch_sides}
    per_scale, uni_V, uni_scale = [], [], []
    for si, s in enumerate(cfg.scales):
        A = feature_maps(model, image, max_size=cfg.max_size, scale=s).astype(np.float64)
        for a in cfg.patch_sides:
            sims, idx = knn(V, cfg.os_k, patch_descriptors(A, a, whiten=whiten).astype(np.float32))
            nbrs[a][0].append(sims.astype(np.float32))
            nbrs[a][1].append(idx.astype(np.int32))
        sims, idx = nbrs[cfg.patch_side][0][-1], nbrs[cfg.patch_side][1][-1]
        S = os_map(fs_maps[si], sims, idx, f, u, theta=cfg.theta)
        per_scale.append(egm_vectors(S, A, grid, tau=cfg.tau, purge=cfg.purge, p=cfg.p)[0])
        ub = uniform_boxes(*A.shape[1:])
        uni_V.append(whiten_rows(region_gem(A, ub, cfg.p), whiten))
        uni_scale.append(aggregate_regions(A, ub, cfg.p))
    return dict(nbrs=nbrs, vector=pool_scales(per_scale, cfg.p), uniform_V=np.concatenate(uni_V),
                uniform_vector=pool_scales(uni_scale, cfg.p))


def patch_neighbours(data, model, whiten, regions: dict, u: np.ndarray, cfg: GODConfig = GODConfig(), *,
                     cache: bool = True, progress: bool = True, n_jobs: int = 1) -> dict:
    r"""Pass 2 over the database (cached in ``<data root>/features/god``): for every picture and every
    patch side ``a`` of ``cfg.patch_sides``, the patch descriptors :math:`w(m_A(R_p))` (max-pooled,
    whitened; :func:`rrlib.god.patch_descriptors`) and their ``cfg.os_k`` nearest regions among
    ``regions["V"]``; then the OS map (eq 5.14, side ``cfg.patch_side``, centrality ``u``, ``theta``)
    and the OS.EGM image vectors of :func:`sweep_grid` (whitened).

    With the activations at hand it also pools R-MAC's uniform regions (:func:`uniform_boxes`: GeM,
    whitened), for the comparison with regional search ([S3] Fig 5.10).

    Every scale of ``cfg.scales`` is visited (its FS map from ``regions``); the OS.EGM vectors are
    pooled over scales (:func:`pool_scales`), and so are the uniform vectors.

    Returns ``sims_<a>`` (sum h*w, k) float32 and ``idx_<a>`` int32 for every side ``a``, in the order of
    ``regions["shapes"]`` (cut them with :func:`split_maps`), ``grid (g, 2)``, ``vectors (g, n_db, d)``;
    ``uniform_V (m, d)`` the whitened uniform regions, ``uniform_owner (m,)`` their picture,
    ``uniform_vectors (n_db, d)`` their aggregation (sum of L2-normalised GeMs, whitened: R-MAC with GeM).
    ``n_jobs``: worker processes, as :func:`collection_regions`.
    """
    grid = _grid_of(cfg, "os")
    n_jobs = check_jobs(n_jobs)
    V, f = regions["V"], regions["f"]
    key = cache_mod.digest(CACHE_VERSION, PASS2_VERSION, "patches", cache_mod.dataset_digest(data), model,
                           _whitening_key(whiten), asdict(cfg), np.asarray(V), np.asarray(f), np.asarray(u, np.float64))
    path = cache_mod.entry("features/god", [data.name, "patches"], key, ".npz")
    fs_maps = split_maps(regions["fs"], regions["shapes"])

    def compute() -> dict:
        if progress:
            say(f"GOD pass 2 (patch neighbours, OS, OS.EGM) over {data.name}, cached in {path.parent}")
        n_scales = len(cfg.scales)
        images = list(data.images)
        jobs = [(image, fs_maps[i * n_scales:(i + 1) * n_scales]) for i, image in enumerate(images)]
        pics = _each_picture(_pass2_picture, jobs, (model, whiten, cfg, grid, V, f, u), n_jobs,
                             "database pictures (pass 2)", progress)
        vec = np.stack([pic["vector"] for pic in pics], axis=1)
        out = {"grid": np.array(grid), "vectors": _whiten_vectors(vec, whiten),
               "uniform_V": np.concatenate([pic["uniform_V"] for pic in pics]),
               "uniform_owner": np.concatenate([np.full(len(pic["uniform_V"]), i) for i, pic in enumerate(pics)]),
               "uniform_vectors": whiten_rows(np.array([pic["uniform_vector"] for pic in pics]), whiten)}
        for a in cfg.patch_sides:
            out[f"sims_{a}"] = np.concatenate([x for pic in pics for x in pic["nbrs"][a][0]])
            out[f"idx_{a}"] = np.concatenate([x for pic in pics for x in pic["nbrs"][a][1]])
        return out

    return cache_mod.cached(path, compute, _npz_save, _npz_load, enabled=cache)

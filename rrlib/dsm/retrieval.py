r"""DSM as a retrieval system: one forward pass per image and scale, re-ranking, verified diffusion.

[S3 §4.3.6]: the database stores for every image its global descriptor :math:`z_i` and its local
features :math:`\mathcal Q_i = d(A_i)`, both from the *same* activation tensor :math:`A_i`, which is
then discarded. A query is ranked by cosine similarity of (whitened) global descriptors, the top
**100** are spatially matched and re-ranked by inliers (:func:`dsm_rerank`), and **spatially
verified diffusion** starts diffusion from the **5** best of the **10** top-ranked verified images,
weighted by inliers x similarity (:func:`verified_query_vector`, :func:`diffusion_scores`).

* :func:`calibrate` -- the quantisation ceiling and the MSER step :math:`\Delta` from training images;
* :func:`describe_images` -- global descriptors (GeM, MAC) and DSM features of a list of images;
* :func:`describe_dsm` -- the same for a dataset's database and cropped queries, cached in the data root;
* :func:`hires_synth` -- synth-landmarks rendered at a higher resolution, in its own data root.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .. import cache as cache_mod, graph
from ..io import data_root
from ..nets.extract import prepare_image, to_tensor
from ..nets.pooling import gem, l2n, mac
from ..parallel import check_jobs, chunks, parallel
from ..progress import progress as report, say
from ..vectors import normalize_rows
from .detect import delta_from_histogram
from .features import DetectorParams, DSMFeatures, detect_features, merge_scales
from .match import match_features

__all__ = ["CACHE_VERSION", "DSMReranking", "SCALES", "calibrate", "describe_dsm", "describe_images",
           "diffusion_scores", "dsm_rerank", "dsm_rerank_cached", "hires_synth", "ordered_scores", "rerank_scores",
           "verified_query_vector"]

#: code version of :func:`describe_dsm`'s cache: bump it when the detector or the stored format changes
CACHE_VERSION = 1
#: [S3 §4.4.1]: three scales related by 1, 1/sqrt(2), 1/2
SCALES = (1.0, 2 ** -0.5, 0.5)
POOLS: dict[str, Callable] = {"GeM": gem, "MAC": mac}


# ------------------------------------------------------------------------------------- data
def hires_synth(image_size: int = 512, *, seed: int = 0, config=None, n_jobs: int = 1, progress: bool = True):
    """synth-landmarks rendered with long side ``image_size`` in its own data root
    ``<data root>/dsm/synth<image_size>[-<config digest>]`` (the default root keeps the 256-px set of
    the other notebooks; every configuration gets its own folder, since the generator keeps one
    dataset per root): generated once (:func:`rrlib.datasets.synth.generate`), then loaded."""
    from ..datasets import load
    from ..datasets.synth import NAME, SynthConfig, generate

    config = config or SynthConfig()
    suffix = "" if config == SynthConfig() else "-" + cache_mod.digest(asdict(config))[:8]
    root = data_root() / "dsm" / f"synth{int(image_size)}{suffix}"
    generate(root, seed=seed, image_size=int(image_size), config=config, n_jobs=n_jobs, progress=progress)
    return load(NAME, root)


# ------------------------------------------------------------------------------- extraction
def _forward(model, image, scale: float, max_size: int | None = None) -> torch.Tensor:
    x = to_tensor(prepare_image(image, max_size, scale))
    return model(x[None].contiguous(memory_format=torch.channels_last))


def calibrate(model, images: Sequence, *, scales: Sequence[float] = SCALES, max_size: int | None = None,
              fraction: float = 0.6, top: float | None = None) -> tuple[float, int, np.ndarray]:
    r"""The quantisation ceiling ``top`` and the MSER step :math:`\Delta` (grey levels) of a network
    on a sample of ``images`` (training images: a statistic "over the dataset", [S3 §4.4.1]).

    ``top`` defaults to 6 when the network ends with a ReLU6 (MobileNetV2), else to the 99.9 %
    quantile of the activations. :math:`\Delta` is :func:`delta_from_histogram` of the positive
    activations at ``fraction`` (60 %), in grey levels of :func:`quantize`. Also returns the
    positive activation values (a subsample) for the histogram figure.
    """
    values = []
    with torch.inference_mode():
        for im in images:
            im = prepare_image(im)
            for s in scales:
                a = _forward(model, im, s, max_size).numpy().ravel()
                values.append(a[a > 0])
    v = np.concatenate(values)
    if top is None:
        last = [m for m in model.modules() if len(list(m.children())) == 0][-1]
        top = 6.0 if isinstance(last, torch.nn.ReLU6) else float(np.quantile(v, 0.999))
    delta = max(1, int(round(delta_from_histogram(v, fraction) * 255 / top)))
    sample = v[:: max(1, len(v) // 200_000)]
    return float(top), delta, sample


def describe_images(model, images: Sequence, params: DetectorParams, *, query: bool,
                    scales: Sequence[float] = SCALES, max_size: int | None = None,
                    pools: dict[str, Callable] | None = None, progress: bool = False,
                    desc: str = "DSM", n_jobs: int = 1) -> tuple[dict[str, np.ndarray], list[DSMFeatures]]:
    r"""Global descriptors and DSM features of ``images`` from **one forward pass per scale**.

    For every image and scale ``s``: ``A = f(x_s)``; every pooling (GeM, MAC) of ``A``,
    L2-normalised, is summed over the scales and normalised again (as
    :func:`rrlib.nets.extract_features`); the features ``d(A)`` are detected
    (:func:`detect_features`, ``query`` selects the channel cap and NMS); ``A`` is then dropped.
    ``n_jobs`` worker processes (one torch thread each) share the images; the detector and the
    matching do not depend on it, the convolutions only in their last digits.
    Returns ``({pool: (N, C) float32}, [DSMFeatures per image])``.
    """
    pools = POOLS if pools is None else pools
    images, n_jobs = list(images), check_jobs(n_jobs)
    if n_jobs > 1 and len(images) > 1:
        parts = parallel(_describe_part, [(model, [images[i] for i in r], params, query, tuple(scales), max_size, pools)
                                           for r in chunks(len(images), n_jobs)], n_jobs)
        if progress:
            say(f"{desc}: {len(images):,} images described by {n_jobs} worker processes")
        return ({name: np.concatenate([g[name] for g, _ in parts]) for name in pools},
                [f for _, feats in parts for f in feats])
    acc: dict[str, list] = {name: [] for name in pools}
    feats = []
    with torch.inference_mode():
        for im in report(images, desc, enabled=progress):
            im = prepare_image(im, max_size)
            sums = {name: 0.0 for name in pools}
            per_scale, sizes = [], []
            for k, s in enumerate(scales):
                A = _forward(model, im, s, None)
                for name, pool in pools.items():
                    sums[name] = sums[name] + l2n(pool(A)).to(torch.float64).numpy()[0]
                per_scale.append(detect_features(A[0].numpy(), params, query=query, scale_index=k))
                sizes.append((A.shape[3], A.shape[2]))
                del A  # [S3]: tensors are not kept once the features are extracted
            for name in pools:
                acc[name].append(sums[name])
            feats.append(merge_scales(per_scale, sizes, scales, im.size, params.top_n))
    return {name: normalize_rows(np.array(v)).astype(np.float32) if v else np.zeros((0, 0), np.float32)
            for name, v in acc.items()}, feats


def _describe_part(job):
    model, images, params, query, scales, max_size, pools = job
    torch.set_num_threads(1)
    return describe_images(model, images, params, query=query, scales=scales, max_size=max_size, pools=pools)


def _pack(feats: list[DSMFeatures]) -> dict[str, np.ndarray]:
    return {"mu": np.concatenate([f.mu for f in feats]) if feats else np.zeros((0, 2), np.float32),
            "sigma": np.concatenate([f.sigma for f in feats]) if feats else np.zeros((0, 2, 2), np.float32),
            "strength": np.concatenate([f.strength for f in feats]) if feats else np.zeros(0, np.float32),
            "channel": np.concatenate([f.channel for f in feats]) if feats else np.zeros(0, np.int32),
            "scale": np.concatenate([f.scale for f in feats]) if feats else np.zeros(0, np.int8),
            "offsets": np.cumsum([0] + [len(f) for f in feats]),
            "map_size": np.array([f.map_size for f in feats]),
            "image_size": np.array([f.image_size for f in feats]).reshape(-1, 2),
            "scales": np.array(feats[0].scales if feats else ())}


def _unpack(z: dict) -> list[DSMFeatures]:
    o, scales = z["offsets"], tuple(float(s) for s in z["scales"])
    return [DSMFeatures(z["mu"][a:b], z["sigma"][a:b], z["strength"][a:b], z["channel"][a:b], z["scale"][a:b],
                        z["map_size"][i], scales, tuple(int(v) for v in z["image_size"][i]))
            for i, (a, b) in enumerate(zip(o[:-1], o[1:]))]


def describe_dsm(data, model, params: DetectorParams, *, scales: Sequence[float] = SCALES,
                 max_size: int | None = None, db: Sequence[int] | None = None, queries: Sequence[int] | None = None,
                 tag: str = "dsm", cache: bool = True, progress: bool = True, n_jobs: int = 1) -> dict:
    """Global descriptors and DSM features of a dataset's database and cropped queries, cached in
    ``<data root>/features/dsm/<dataset>_<tag>_<key>.npz`` (:mod:`rrlib.cache`); the key is a
    digest of the images' content and ground truth, the network, ``params``, ``scales``,
    ``max_size``, the subsets and :data:`CACHE_VERSION`. ``db`` / ``queries`` restrict to subsets
    (indices); ``n_jobs`` worker processes describe them (:func:`describe_images`; not in the key).
    Returns ``{"db": {"GeM", "MAC", "features"}, "queries": {...}}``.
    """
    cache_mod.check_name(data.name, "dataset name")
    cache_mod.check_name(tag, "tag")
    db = list(range(data.n_images)) if db is None else [int(i) for i in db]
    queries = list(range(data.n_queries)) if queries is None else [int(i) for i in queries]
    key = cache_mod.digest(CACHE_VERSION, cache_mod.dataset_digest(data), model, asdict(params), tuple(scales),
                           max_size, db, queries, [f"{k}:{cache_mod.callable_digest(p)}" for k, p in POOLS.items()])
    path = cache_mod.entry("features/dsm", [data.name, tag], key, ".npz")
    run = dict(scales=scales, max_size=max_size, progress=progress, n_jobs=n_jobs)

    def compute() -> dict:
        if progress:
            say(f"DSM features of {data.name} ({len(db)} database images, {len(queries)} queries), "
                f"cached in {path.parent} for the next runs")
        g_db, f_db = describe_images(model, [data.images[i] for i in db], params, query=False,
                                     desc="database images", **run)
        g_q, f_q = describe_images(model, [data.read_query(q) for q in queries], params, query=True,
                                   desc="queries", **run)
        return {"db": {**g_db, "features": f_db}, "queries": {**g_q, "features": f_q}}

    def save(out: dict, f) -> None:
        arrays = {}
        for part, d in out.items():
            for k, v in d.items():
                if k == "features":
                    arrays.update({f"{part}/f/{kk}": vv for kk, vv in _pack(v).items()})
                else:
                    arrays[f"{part}/{k}"] = v
        np.savez(f, **arrays)

    def load(file) -> dict:
        out: dict = {"db": {}, "queries": {}}
        with np.load(file) as z:
            for part in out:
                out[part] = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(part + "/") and "/f/" not in k}
                out[part]["features"] = _unpack({k.split("/f/", 1)[1]: z[k] for k in z.files
                                                 if k.startswith(part + "/f/")})
        if len(out["db"]["features"]) != len(db) or len(out["queries"]["features"]) != len(queries):
            raise ValueError("it holds another number of images")
        return out

    return cache_mod.cached(path, compute, save, load, enabled=cache)


# -------------------------------------------------------------------------------- re-ranking
@dataclass
class DSMReranking:
    """Spatial matching of every query's shortlist: ``shortlist`` (n_q, R) database indices by the
    global score, ``inliers`` and ``tentative`` (n_q, R), ``scales`` (n_q, R, 2) the best scale
    pair, ``seconds`` the matching time (of one process)."""

    shortlist: np.ndarray
    inliers: np.ndarray
    tentative: np.ndarray
    scales: np.ndarray
    seconds: float

    def truncated(self, top: int) -> "DSMReranking":
        """As if only the first ``top`` shortlisted images had been matched (a shortlist sweep)."""
        return DSMReranking(self.shortlist[:, :top], self.inliers[:, :top], self.tentative[:, :top],
                            self.scales[:, :top], self.seconds)


def dsm_rerank(global_scores, query_features: Sequence[DSMFeatures], db_features: Sequence[DSMFeatures], *,
               top: int = 100, progress: bool = False, n_jobs: int = 1, **match_kw) -> DSMReranking:
    """Match every query with its ``top`` images by ``global_scores`` (n_q, N) (:func:`match_features`,
    ``match_kw``: threshold, max_scale, lo_iters, scale_pairs). ``n_jobs`` worker processes share
    the queries; the result does not depend on it, and ``seconds`` sums the matching time of the
    workers (the time of one process, comparable with a serial run)."""
    S = np.asarray(global_scores, np.float64)
    if S.shape != (len(query_features), len(db_features)):
        raise ValueError(f"global_scores must be (n_queries, n_db) = ({len(query_features)}, {len(db_features)}), "
                         f"got {S.shape}")
    n_jobs = check_jobs(n_jobs)
    top = min(int(top), S.shape[1])
    shortlist = np.argsort(-S, axis=1, kind="stable")[:, :top]
    if n_jobs > 1:
        needed = np.unique(shortlist)               # only the shortlisted database images travel to the workers
        db = {int(j): db_features[j] for j in needed}
        parts = parallel(_match_rows, [([query_features[q] for q in r], shortlist[r.start:r.stop], db, match_kw)
                                        for r in chunks(len(shortlist), n_jobs)], n_jobs)
    else:
        parts = [_match_rows((list(query_features), shortlist, db_features, match_kw), progress=progress)]
    inliers, tentative, scales = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return DSMReranking(shortlist, inliers, tentative, scales, sum(p[3] for p in parts))


def _match_rows(job, progress: bool = False):
    """Inliers, tentative correspondences and best scale pair of every (query, shortlisted image)."""
    import time

    queries, shortlist, db, match_kw = job
    t0 = time.perf_counter()
    inliers = np.zeros(shortlist.shape, np.int64)
    tentative = np.zeros(shortlist.shape, np.int64)
    scales = np.zeros(shortlist.shape + (2,), np.int64)
    for q, f in report(list(enumerate(queries)), "DSM matching (queries)", enabled=progress):
        for r, j in enumerate(shortlist[q]):
            m = match_features(f, db[int(j)], **match_kw)
            inliers[q, r], tentative[q, r], scales[q, r] = m.n_inliers, m.tentative, m.scales
    return inliers, tentative, scales, time.perf_counter() - t0


def ordered_scores(order) -> np.ndarray:
    """Scores ``(n_q, N)`` that rank every row in the given ``order`` (``order[q]`` lists all database
    indices, best first): the first gets ``N``, the last 1."""
    order = np.asarray(order)
    n_q, n = order.shape
    out = np.empty(order.shape, np.float64)
    np.put_along_axis(out, order, np.arange(n, 0, -1, dtype=np.float64)[None].repeat(n_q, 0), axis=1)
    return out


def rerank_scores(global_scores, reranking: DSMReranking) -> np.ndarray:
    """Scores ``(n_q, N)``: the shortlist first, by inliers (ties: the global order, as the authors'
    stable sort), then the rest of the database in the global order."""
    S = np.asarray(global_scores, np.float64)
    full = np.argsort(-S, axis=1, kind="stable")
    R = reranking.shortlist.shape[1]
    head = np.take_along_axis(reranking.shortlist, np.argsort(-reranking.inliers, axis=1, kind="stable"), axis=1)
    return ordered_scores(np.concatenate([head, full[:, R:]], axis=1))


def verified_query_vector(global_scores, reranking: DSMReranking, *, top: int = 10, seeds: int = 5) -> np.ndarray:
    r"""The query vector of spatially verified diffusion [S3 §4.4.1]: among the ``top`` (10)
    first images of the DSM re-ranking, weight each by inliers x descriptor similarity and keep the
    ``seeds`` (5) largest, :math:`y_i = |\mathcal M_i|\, \max(s_{qi}, 0)`. Returns ``(N, n_q)``."""
    S = np.asarray(global_scores, np.float64)
    n_q, n = S.shape
    order = np.argsort(-reranking.inliers, axis=1, kind="stable")[:, :top]
    idx = np.take_along_axis(reranking.shortlist, order, axis=1)
    w = np.take_along_axis(reranking.inliers, order, axis=1) * np.clip(np.take_along_axis(S, idx, axis=1), 0, None)
    Y = np.zeros((n, n_q))
    for q in range(n_q):
        best = np.argsort(-w[q], kind="stable")[:seeds]
        Y[idx[q, best], q] = w[q, best]
    return Y


def diffusion_scores(X, Y, global_scores, *, k: int = 10, gamma: float = 3.0, alpha: float = 0.99) -> np.ndarray:
    r"""Diffusion from the query vectors ``Y`` (N, n_q) on the kNN graph of the database ``X``
    (notebook 05's :func:`rrlib.graph.knn_graph`, :func:`~rrlib.graph.sym_normalize` and
    :func:`~rrlib.graph.diffuse_cg`): :math:`f = (I - \alpha S)^{-1} y`. Items the diffusion does not
    reach (score 0) follow in the order of ``global_scores`` (n_q, N). Returns ``(n_q, N)``."""
    S = graph.sym_normalize(graph.knn_graph(np.asarray(X, np.float32), k, gamma=gamma))
    F = graph.diffuse_cg(S, np.asarray(Y, np.float64), alpha).T
    G = np.asarray(global_scores, np.float64)
    return np.where(F > 1e-12, 2.0 + F / np.maximum(F.max(axis=1, keepdims=True), 1e-300), (1.0 + G) / 2.5)


def dsm_rerank_cached(name: str, global_scores, query_features, db_features, *, top: int = 100,
                      progress: bool = False, n_jobs: int = 1, **match_kw) -> DSMReranking:
    """:func:`dsm_rerank`, stored in ``<data root>/features/dsm/<name>_rerank_<key>.npz``; the key is a
    digest of the scores, every feature array, ``top``, ``match_kw`` and :data:`CACHE_VERSION`
    (matching 70 queries x 100 images takes minutes; a warm notebook reads it back)."""
    packed = [_pack(list(query_features)), _pack(list(db_features))]
    key = cache_mod.digest(CACHE_VERSION, np.asarray(global_scores, np.float64), packed, int(top),
                           sorted(match_kw.items()))
    path = cache_mod.entry("features/dsm", [name, "rerank"], key, ".npz")

    def save(rr: DSMReranking, f) -> None:
        np.savez(f, shortlist=rr.shortlist, inliers=rr.inliers, tentative=rr.tentative, scales=rr.scales,
                 seconds=rr.seconds)

    def load(file) -> DSMReranking:
        with np.load(file) as z:
            return DSMReranking(z["shortlist"], z["inliers"], z["tentative"], z["scales"], float(z["seconds"]))

    return cache_mod.cached(path, lambda: dsm_rerank(global_scores, query_features, db_features, top=top,
                                                     progress=progress, n_jobs=n_jobs, **match_kw), save, load)

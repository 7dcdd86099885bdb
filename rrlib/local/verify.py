"""Spatial verification of a BoW shortlist, and query expansion over verified images.

Re-ranking [S0][S3 §4.2]: the top-``R`` images of the BoW ranking are compared with the query
feature by feature. Two features *tentatively* correspond when they are assigned the same visual
word (no descriptor distance is computed: the words are the proxy); most tentative
correspondences are wrong. A geometric model (a similarity, affine map or homography, since a
facade is planar) fitted robustly -- fast spatial matching (one hypothesis per correspondence,
Philbin et al. CVPR 2007) or RANSAC with local optimisation (Chum et al. 2003) -- keeps the
*inliers*, and their number is the new score. Verified images then expand the query (average
query expansion, Chum et al. ICCV 2007).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import geometry
from ..graph import expand
from ..progress import progress as report
from .features import LocalFeatures

__all__ = ["tentative_correspondences", "verify_pair", "Verification", "spatial_rerank", "verified_expansion"]


def tentative_correspondences(words_a, words_b, *, max_per_word: int | None = None) -> np.ndarray:
    """Pairs ``(i, j)`` of features with a shared visual word: ``(n_pairs, 2)`` int64.

    ``words_a`` is ``(n,)``; ``words_b`` is ``(m,)`` or ``(m, k)`` (multiple assignment on the
    database side: ``j`` matches if any of its ``k`` words is ``words_a[i]``). A word occurring
    ``u`` times in one image and ``v`` times in the other gives all ``u * v`` pairs -- repeated
    structures (the windows of a facade) make those bursts. ``max_per_word`` caps the pairs of any
    one word (the first ones, in feature order) to keep bursts from flooding the verifier.
    """
    a = np.asarray(words_a, np.int64)
    b = np.asarray(words_b, np.int64)
    if a.ndim != 1:
        raise ValueError(f"words_a must be (n,), got shape {a.shape}")
    if b.ndim == 1:
        b = b[:, None]
    if b.ndim != 2:
        raise ValueError(f"words_b must be (m,) or (m, k), got shape {np.asarray(words_b).shape}")
    b_word = b.ravel()
    b_feat = np.repeat(np.arange(b.shape[0]), b.shape[1])
    order = np.argsort(b_word, kind="stable")
    b_word, b_feat = b_word[order], b_feat[order]
    lo = np.searchsorted(b_word, a, "left")
    hi = np.searchsorted(b_word, a, "right")
    counts = hi - lo
    if not counts.any():
        return np.zeros((0, 2), np.int64)
    i = np.repeat(np.arange(a.size), counts)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    j = b_feat[np.arange(counts.sum()) + starts]
    pairs = np.unique(np.stack([i, j], 1), axis=0)  # multiple assignment may repeat a pair
    if max_per_word is not None:
        w = a[pairs[:, 0]]
        order = np.argsort(w, kind="stable")
        w_sorted = w[order]
        first = np.searchsorted(w_sorted, w_sorted, "left")
        rank_in_word = np.arange(w_sorted.size) - first
        keep = np.zeros(len(pairs), bool)
        keep[order[rank_in_word < max_per_word]] = True
        pairs = pairs[keep]
    return pairs


def verify_pair(fa: LocalFeatures, fb: LocalFeatures, pairs: np.ndarray, *, method: str = "fsm",
                model: str | geometry.Model = "affine", threshold: float = 8.0, max_scale: float = 10.0,
                seed: int = 0):
    """Fit a geometric model to the tentative ``pairs`` of two images; a
    :class:`rrlib.geometry.GeometricMatch` (``T`` maps ``fa``'s pixels onto ``fb``'s, ``inliers``
    is a mask over ``pairs``).

    ``method="fsm"``: fast spatial matching, one similarity hypothesis per correspondence from the
    two frames, the best refined to ``model`` by least squares on its inliers (Philbin et al.
    2007). ``method="ransac"``: LO-RANSAC on the positions alone. ``threshold`` is the
    reprojection error in pixels of ``fb`` that makes an inlier.
    """
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    F1, F2 = fa.frames[pairs[:, 0]].astype(np.float64), fb.frames[pairs[:, 1]].astype(np.float64)
    if method == "fsm":
        return geometry.fast_spatial_matching(F1, F2, threshold=threshold, model=model, max_scale=max_scale)
    if method == "ransac":
        return geometry.ransac(F1[:, :2], F2[:, :2], model=model, threshold=threshold, max_scale=max_scale,
                               seed=seed)
    raise ValueError(f"method must be 'fsm' or 'ransac', got {method!r}")


# The keywords of verify_pair that spatial_rerank passes on (its ``verify_kw``), with their defaults.
_VERIFY_DEFAULTS = {name: p.default for name, p in inspect.signature(verify_pair).parameters.items()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY}


@dataclass
class Verification:
    """The result of :func:`spatial_rerank`.

    Attributes
    ----------
    scores : (n_q, N) array
        Re-ranked scores: ``s + n_inliers`` for verified images (``n_inliers >= min_inliers``), the
        BoW score ``s`` otherwise -- verified images first by inliers, the rest in BoW order.
    shortlist : (n_q, R) int array
        The top-``R`` database images of each query by the original scores.
    inliers : (n_q, R) int array
        Inlier counts of the shortlisted images (0 for pairs with too few tentative matches).
    tentative : (n_q, R) int array
        Number of tentative correspondences per shortlisted pair.
    """

    scores: np.ndarray
    shortlist: np.ndarray
    inliers: np.ndarray
    tentative: np.ndarray
    min_inliers: int

    def boost(self) -> np.ndarray:
        """``(n_q, N)``: the inlier count of every verified image, 0 elsewhere."""
        out = np.zeros(self.scores.shape)
        rows = np.repeat(np.arange(len(out)), self.shortlist.shape[1])
        ok = (self.inliers >= self.min_inliers).ravel()
        out[rows[ok], self.shortlist.ravel()[ok]] = self.inliers.ravel()[ok]
        return out

    def truncated(self, top: int) -> "Verification":
        """The same verification as if only the first ``top`` shortlisted images had been checked
        (a shortlist sweep without verifying anything again)."""
        if not 1 <= top <= self.shortlist.shape[1]:
            raise ValueError(f"top must be in [1, {self.shortlist.shape[1]}], got {top}")
        base = self.scores - self.boost()
        out = Verification(base, self.shortlist[:, :top], self.inliers[:, :top], self.tentative[:, :top],
                           self.min_inliers)
        out.scores = base + out.boost()
        return out

    def verified(self, q: int) -> np.ndarray:
        """Database indices verified for query ``q`` (at least ``min_inliers``), most inliers first."""
        ok = self.inliers[q] >= self.min_inliers
        order = np.argsort(-self.inliers[q][ok], kind="stable")
        return self.shortlist[q][ok][order]


def spatial_rerank(scores, query_features: Sequence[LocalFeatures], query_words: Sequence[np.ndarray],
                   db_features: Sequence[LocalFeatures], db_words: Sequence[np.ndarray], *, top: int = 100,
                   min_inliers: int = 5, max_per_word: int | None = 20, progress: bool = False,
                   **verify_kw) -> Verification:
    """Verify the top-``top`` images of every query and re-rank them by inlier count.

    ``scores`` is ``(n_q, N)`` (e.g. :meth:`InvertedFile.search`); features and words are per
    image (``query_words[q]`` of ``query_features[q]``). ``verify_kw`` goes to :func:`verify_pair`
    (method, model, threshold, max_scale, seed) and is checked before any pair is verified. Pairs
    with fewer tentative correspondences than ``max(min_inliers, s)`` get 0 inliers, ``s`` the
    model's minimal sample size (:data:`rrlib.geometry.MODELS`: 4 for a homography).
    """
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or scores.shape != (len(query_features), len(db_features)):
        raise ValueError(f"scores must be (n_queries={len(query_features)}, n_db={len(db_features)}), "
                         f"got {scores.shape}")
    if len(query_words) != len(query_features) or len(db_words) != len(db_features):
        raise ValueError("one word array per image is needed")
    unknown = sorted(set(verify_kw) - set(_VERIFY_DEFAULTS))
    if unknown:
        raise TypeError(f"spatial_rerank got unknown verify_pair keywords {unknown}; "
                        f"choose from {sorted(_VERIFY_DEFAULTS)}")
    method = verify_kw.get("method", _VERIFY_DEFAULTS["method"])
    if method not in ("fsm", "ransac"):
        raise ValueError(f"method must be 'fsm' or 'ransac', got {method!r}")
    model = geometry.get_model(verify_kw.get("model", _VERIFY_DEFAULTS["model"]))
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be an integer >= 1, got {top!r}")
    if isinstance(min_inliers, bool) or not isinstance(min_inliers, (int, np.integer)) or min_inliers < 0:
        raise ValueError(f"min_inliers must be an integer >= 0, got {min_inliers!r}")
    needed = max(int(min_inliers), model.min_samples)
    top = min(int(top), scores.shape[1])
    shortlist = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    inliers = np.zeros(shortlist.shape, np.int64)
    tentative = np.zeros(shortlist.shape, np.int64)
    for q in report(range(len(query_features)), "spatial verification (queries)", enabled=progress):
        for r, j in enumerate(shortlist[q]):
            pairs = tentative_correspondences(query_words[q], db_words[j], max_per_word=max_per_word)
            tentative[q, r] = len(pairs)
            if len(pairs) >= needed:
                inliers[q, r] = verify_pair(query_features[q], db_features[j], pairs, **verify_kw).n_inliers
    result = Verification(scores, shortlist, inliers, tentative, int(min_inliers))
    result.scores = scores + result.boost()
    return result


def verified_expansion(ivf, query_vectors, verification: Verification, *, top: int = 10,
                       alpha: float = 0.0) -> np.ndarray:
    """Query expansion over spatially verified images, then a new search of the inverted file.

    ``q' = nu(q + sum_{i in V} w_i x_i)`` where ``V`` is the query's ``top`` verified images
    (most inliers first) and ``w_i = 1`` (average query expansion, Chum et al. ICCV 2007,
    ``alpha = 0``) or ``w_i = max(q^T x_i, 0)^alpha`` (alpha-QE, Radenovic et al. TPAMI 2019).
    The verified images keep their place at the top (their inlier boost is added back, as they
    are known to be correct); the rest is ranked by the expanded query. Returns ``(n_q, N)`` scores.
    """
    neighbours = [verification.verified(q)[:top] for q in range(len(verification.scores))]
    weights = None
    if alpha:
        base = ivf.search(query_vectors)
        weights = [np.clip(base[q, n], 0, None) ** alpha for q, n in enumerate(neighbours)]
    expanded = expand(query_vectors, ivf.vectors, neighbours, weights)
    return ivf.search(expanded) + verification.boost()

r"""Spatial matching of two DSM feature sets, channels as visual words [S3 §4.3.5].

``g(Q1, Q2)``: tentative correspondences are the pairs of features **of the same channel**
(:func:`rrlib.local.tentative_correspondences` with the channel as the word); each one gives a
**5-dof upright hypothesis** (translation, anisotropic scale, vertical shear; no rotation)

.. math:: T(x) = \mu_2 + L_2 L_1^{-1} (x - \mu_1), \qquad \Sigma_i = L_i L_i^\top \text{ (Cholesky, } L_i
          \text{ lower triangular)},

which maps ellipse 1 onto ellipse 2 and keeps vertical directions vertical
(:func:`rrlib.geometry.region_transforms`). All hypotheses are scored (fast spatial matching,
Philbin et al. CVPR 2007, :func:`rrlib.geometry.verify_hypotheses`): inliers are correspondences
with :math:`\|T(\mu_1) - \mu_2\| <` **2 pixels of the activation map**, hypotheses whose scale
change leaves **[1/3, 3]** are dropped, and the best one is refined to an affine map by least squares
on its inliers (LO, Chum et al. 2003). Multi-scale: features of each query scale are matched with
those of each database scale, **9 pairs**, and the pair with most inliers is kept; the similarity
is the number of inliers :math:`s(\mathcal M) = \sum_j |\mathcal M^{(j)}|`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import geometry
from ..local.verify import tentative_correspondences
from .features import DSMFeatures

__all__ = ["DSMMatch", "channel_correspondences", "match_features", "upright_hypotheses"]


@dataclass
class DSMMatch:
    """The result of :func:`match_features`.

    Attributes
    ----------
    n_inliers : int
        Inliers of the best scale pair: the DSM similarity.
    pairs : (m, 2) int
        The tentative correspondences ``(i, j)`` (indices into the two feature sets) of that pair.
    inliers : (m,) bool
        Which of them are inliers.
    T : (3, 3) or None
        The transform of map coordinates at ``scales[0]`` (image 1) onto map coordinates at
        ``scales[1]`` (image 2).
    scales : (int, int)
        The scale indices of the best pair.
    tentative : int
        Tentative correspondences over all scale pairs.
    per_scale : (S1, S2) int
        Inliers of every scale pair.
    """

    n_inliers: int
    pairs: np.ndarray
    inliers: np.ndarray
    T: np.ndarray | None
    scales: tuple[int, int]
    tentative: int
    per_scale: np.ndarray


def channel_correspondences(f1: DSMFeatures, f2: DSMFeatures) -> np.ndarray:
    r"""All pairs of features of the same channel, :math:`\mathcal C = (Q_1^{(1)} \times Q_2^{(1)},
    \dots, Q_1^{(k)} \times Q_2^{(k)})`: ``(m, 2)`` indices. The channel is the visual word, so this
    is notebook 02's :func:`rrlib.local.tentative_correspondences` with channels for words."""
    return tentative_correspondences(f1.channel, f2.channel)


def upright_hypotheses(mu1, sigma1, mu2, sigma2) -> np.ndarray:
    r"""The 5-dof hypotheses ``(m, 3, 3)`` of corresponding ellipses: :math:`T = T_2^{-1} T_1` with
    :math:`T_i(x) = L_i^{-1}(x - \mu_i)` mapping ellipse :math:`i` onto the unit circle, :math:`L_i`
    the lower-triangular Cholesky factor of :math:`\Sigma_i` (:func:`rrlib.geometry.upright_frame`)."""
    L1 = geometry.upright_frame(np.asarray(sigma1, np.float64))
    L2 = geometry.upright_frame(np.asarray(sigma2, np.float64))
    return geometry.region_transforms(np.asarray(mu1, np.float64), L1, np.asarray(mu2, np.float64), L2)


def match_features(f1: DSMFeatures, f2: DSMFeatures, *, threshold: float = 2.0, max_scale: float = 3.0,
                   lo_iters: int = 4, model: str = "affine", scale_pairs: str = "all",
                   hypotheses: str = "upright", min_size: float = 0.0) -> DSMMatch:
    r"""Spatially match two feature sets, all scale pairs (see the module docstring).

    ``threshold`` is the inlier error in cells of image 2's activation map at its scale
    ([S3]: 2), ``max_scale`` the largest scale change of a hypothesis ([S3]: 3). ``scale_pairs =
    "same"`` matches only equal scale indices (an ablation); ``"all"`` the 9 pairs of [S3].
    ``hypotheses``: ``"upright"`` (the 5-dof map of [S3]), or the ablations ``"scale"`` (translation
    and the isotropic scale :math:`(\det\Sigma_2/\det\Sigma_1)^{1/4}`, 3 dof) and ``"translation"``
    (2 dof: the relative scale is left to the 9 scale pairs). ``min_size`` drops features whose
    ellipse is smaller than :math:`\sqrt[4]{\det\Sigma}` < ``min_size`` cells before matching.
    """
    if scale_pairs not in ("all", "same"):
        raise ValueError(f"scale_pairs must be 'all' or 'same', got {scale_pairs!r}")
    S1, S2 = len(f1.map_size), len(f2.map_size)
    per_scale = np.zeros((S1, S2), np.int64)
    empty = DSMMatch(0, np.zeros((0, 2), np.int64), np.zeros(0, bool), None, (0, 0), 0, per_scale)
    if hypotheses not in ("upright", "scale", "translation"):
        raise ValueError(f"hypotheses must be 'upright', 'scale' or 'translation', got {hypotheses!r}")
    if min_size > 0:
        f1 = f1.select(np.linalg.det(f1.sigma.astype(np.float64)) ** 0.25 >= min_size)
        f2 = f2.select(np.linalg.det(f2.sigma.astype(np.float64)) ** 0.25 >= min_size)
    pairs = channel_correspondences(f1, f2)
    if scale_pairs == "same":
        pairs = pairs[f1.scale[pairs[:, 0]] == f2.scale[pairs[:, 1]]]
    if len(pairs) == 0:
        return empty
    mu1, mu2 = f1.mu[pairs[:, 0]].astype(np.float64), f2.mu[pairs[:, 1]].astype(np.float64)
    if hypotheses == "upright":
        H = upright_hypotheses(mu1, f1.sigma[pairs[:, 0]], mu2, f2.sigma[pairs[:, 1]])
    else:
        if hypotheses == "scale":
            d1 = np.linalg.det(f1.sigma[pairs[:, 0]].astype(np.float64))
            d2 = np.linalg.det(f2.sigma[pairs[:, 1]].astype(np.float64))
            s = (d2 / d1) ** 0.25
        else:
            s = np.ones(len(pairs))
        H = np.zeros((len(pairs), 3, 3))
        H[:, 0, 0] = H[:, 1, 1] = s
        H[:, :2, 2] = mu2 - s[:, None] * mu1
        H[:, 2, 2] = 1.0
    group = f1.scale[pairs[:, 0]].astype(np.int64) * S2 + f2.scale[pairs[:, 1]]
    best = empty
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        m = geometry.verify_hypotheses(H[idx], mu1[idx], mu2[idx], threshold=threshold, model=model,
                                       max_scale=max_scale, lo_iters=lo_iters)
        per_scale[g // S2, g % S2] = m.n_inliers
        if m.n_inliers > best.n_inliers:
            best = DSMMatch(m.n_inliers, pairs[idx], m.inliers, m.T, (int(g // S2), int(g % S2)), 0, per_scale)
    best.tentative = len(pairs)
    best.per_scale = per_scale
    return best

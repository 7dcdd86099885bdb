"""The global-descriptor retrieval system of notebooks 03 and 05, assembled from its parts.

``whitened_descriptors(data, net)`` = descriptors of the database and the cropped queries
(:func:`~rrlib.nets.extract.describe_dataset`, cached) + a whitening learned on *training* images
(:func:`whitening_set`: the first ``per_landmark`` images of each landmark of
:func:`rrlib.datasets.whitening_split`, never ``data``'s own) + the supervised L_w
([S3 eqs 5.11-5.12], :func:`~rrlib.nets.whitening.learn_lw`)::

    X = L_w(pool(f(database)))      Q = L_w(pool(f(queries)))      scores = X @ Q.T

Both functions describe the images with every pooling of :data:`POOLINGS` by default: that is
what notebook 03 caches, so notebook 05 (and any later one) reads the same cache files.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from ..datasets import whitening_split
from .extract import describe_dataset
from .pooling import crow, gem, mac, rmac, spoc
from .whitening import Whitening, learn_lw, pairs_from_labels

__all__ = ["POOLINGS", "WhitenedDescriptors", "whitening_set", "whitened_descriptors"]

#: the five poolings of notebook 03, in the order of its table
POOLINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "SPoC": spoc, "MAC": mac, "GeM": gem, "R-MAC": rmac, "CroW": crow,
}


class WhitenedDescriptors(NamedTuple):
    """Whitened database descriptors ``db`` (n_db, d), query descriptors ``queries`` (n_q, d)
    and the :class:`~rrlib.nets.whitening.Whitening` that made them."""

    db: np.ndarray
    queries: np.ndarray
    whitening: Whitening


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def whitening_set(data, model: nn.Module, pools: dict | None = None, *, per_landmark: int = 15,
                  max_size: int | None = 1024, scales: Sequence[float] = (1.0,),
                  progress: bool = True) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Descriptors and landmark labels of the images a whitening for ``data`` is learned on.

    The images are the first ``per_landmark`` of each landmark of
    :func:`rrlib.datasets.whitening_split` (``data``'s training split, or the other city for
    Oxford / Paris). Returns ``({pool: (N, C)}, labels)``, cached by
    :func:`~rrlib.nets.extract.describe_dataset` under the tag ``whiten<per_landmark>``.
    ``pools`` defaults to :data:`POOLINGS`.
    """
    per_landmark = _positive(per_landmark, "per_landmark")
    paths, labels = whitening_split(data)
    keep = np.concatenate([np.flatnonzero(labels == c)[:per_landmark] for c in np.unique(labels)])
    train = describe_dataset(data, model, POOLINGS if pools is None else pools, scales=scales,
                             max_size=max_size, images=[paths[i] for i in keep],
                             tag=f"whiten{per_landmark}", progress=progress)["db"]
    return train, labels[keep]


def whitened_descriptors(data, model: nn.Module, pool: str = "GeM", *, dim: int = 256,
                         per_landmark: int = 15, max_size: int | None = 1024,
                         scales: Sequence[float] = (1.0,), pools: dict | None = None,
                         progress: bool = True) -> WhitenedDescriptors:
    """``data``'s database and query descriptors by ``pool``, whitened by L_w to ``dim`` dimensions.

    L_w is learned on :func:`whitening_set` from all its matching pairs
    (:func:`~rrlib.nets.whitening.pairs_from_labels`). ``pools`` (default :data:`POOLINGS`) are
    the poolings the images are described with -- and cached under; ``pool`` must be one of them.
    """
    pools = POOLINGS if pools is None else pools
    if pool not in pools:
        raise ValueError(f"pool {pool!r} is not among the poolings {list(pools)}")
    dim, per_landmark = _positive(dim, "dim"), _positive(per_landmark, "per_landmark")
    run = dict(max_size=max_size, scales=scales, progress=progress)
    described = describe_dataset(data, model, pools, **run)
    train, labels = whitening_set(data, model, pools, per_landmark=per_landmark, **run)
    lw = learn_lw(train[pool], *pairs_from_labels(labels), reduce=dim)
    return WhitenedDescriptors(lw(described["db"][pool]), lw(described["queries"][pool]), lw)

"""The whole bag-of-words retrieval system of a dataset, assembled from its parts (notebook 02).

``build_bow(data)`` = SIFT of the database and the cropped queries (cached) + a vocabulary learned
on *training* images (the dataset's train split, or the other city for Oxford/Paris, as the papers
do; cached) + word assignment + the inverted file. Its methods run the three stages of the
pipeline: :meth:`BoWSystem.search`, :meth:`BoWSystem.rerank` (spatial verification) and
:meth:`BoWSystem.expand` (query expansion over verified images).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import cache as cache_mod  # `cache` is dataset_vocabulary's argument
from ..datasets import load, training_split
from ..datasets.retrieval import OTHER_DATASET
from ..progress import say
from .bow import InvertedFile, Vocabulary, train_vocabulary
from .features import CACHE_VERSION as FEATURES_VERSION, LocalFeatures, describe_local, sift, stack
from .verify import Verification, spatial_rerank, verified_expansion

__all__ = ["BoWSystem", "build_bow", "vocabulary_images", "dataset_vocabulary"]

#: code version of :func:`dataset_vocabulary`'s cache: bump it when the vocabulary's training changes
CACHE_VERSION = 2


def vocabulary_images(data, n: int = 500, seed: int = 0) -> list[Path]:
    """``n`` training images (seeded sample) to learn ``data``'s vocabulary on: its train split
    (synth-landmarks) or the other city's database (Oxford <-> Paris) -- never ``data``'s own."""
    try:
        paths, _ = training_split(data)
    except FileNotFoundError:
        if data.name not in OTHER_DATASET:
            raise ValueError(f"no training images are known for {data.name}: pass a vocabulary") from None
        paths = load(OTHER_DATASET[data.name], data.root).images
    paths = list(paths)
    if n < len(paths):
        paths = [paths[i] for i in np.sort(np.random.default_rng(seed).choice(len(paths), n, replace=False))]
    return paths


def dataset_vocabulary(data, k: int, *, train_images: int = 500, seed: int = 0, cache: bool = True,
                       progress: bool = True) -> Vocabulary:
    """A ``k``-word RootSIFT vocabulary for ``data``, learned on :func:`vocabulary_images` and
    cached in ``<data root>/features/local/vocab_<dataset>_<key>.npy`` (:mod:`rrlib.cache`), the
    key a digest of the training images' content, ``k``, ``seed``, :func:`sift` and
    :func:`train_vocabulary` (code and defaults) and the code versions of both caches."""
    images = vocabulary_images(data, train_images, seed)
    key = cache_mod.digest(CACHE_VERSION, cache_mod.images_digest(images), int(k), int(seed), sift, train_vocabulary,
                           FEATURES_VERSION)
    path = cache_mod.entry("features/local", ["vocab", data.name], key, ".npy")

    def compute() -> Vocabulary:
        feats = describe_local(data, images=images, tag=f"vocab{train_images}s{seed}", progress=progress,
                               cache=cache)["db"]
        descriptors = stack(feats)[1]
        if progress:
            say(f"learning a {k:,}-word vocabulary (faiss k-means) on {len(descriptors):,} descriptors of "
                f"{len(images)} training images")
        return train_vocabulary(descriptors, k, seed=seed)

    return cache_mod.cached(path, compute, lambda vocab, f: vocab.save(f), Vocabulary.load, enabled=cache)


def _assign(vocab: Vocabulary, feats: list[LocalFeatures], multiple: int) -> list[np.ndarray]:
    _, desc, offsets = stack(feats)
    words = vocab.assign(desc, multiple)
    return [words[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


@dataclass
class BoWSystem:
    """A BoW retrieval system over one dataset (see :func:`build_bow`)."""

    vocabulary: Vocabulary
    ivf: InvertedFile
    db_features: list[LocalFeatures]
    query_features: list[LocalFeatures]
    db_words: list[np.ndarray]
    query_words: list[np.ndarray]

    @property
    def query_vectors(self):
        """Sparse ``(n_q, K)`` tf-idf vectors of the queries."""
        return self.ivf.vectorize(self.query_words)

    def search(self) -> np.ndarray:
        """BoW cosine scores ``(n_q, N)`` of every query against the database."""
        return self.ivf.search(self.query_vectors)

    def rerank(self, scores=None, *, top: int = 100, **kw) -> Verification:
        """Spatial verification of the top ``top`` (:func:`rrlib.local.spatial_rerank`)."""
        # Database words are matched with their first (nearest) word only; multiple assignment
        # widens the inverted file, the correspondences stay one-to-one per word.
        db_words = [w if w.ndim == 1 else w[:, 0] for w in self.db_words]
        return spatial_rerank(self.search() if scores is None else scores, self.query_features,
                              self.query_words, self.db_features, db_words, top=top, **kw)

    def expand(self, verification: Verification, *, top: int = 10, alpha: float = 0.0) -> np.ndarray:
        """Scores after query expansion over the verified images (:func:`verified_expansion`)."""
        return verified_expansion(self.ivf, self.query_vectors, verification, top=top, alpha=alpha)


def build_bow(data, k: int = 4096, *, multiple: int = 1, tf_power: float = 0.5, train_images: int = 500,
              seed: int = 0, vocabulary: Vocabulary | None = None, features: dict | None = None,
              progress: bool = True) -> BoWSystem:
    """Extract (or load) SIFT, learn (or load) the vocabulary, assign words, build the inverted file.

    ``multiple`` > 1 assigns each *database* descriptor to its ``multiple`` nearest words
    (queries keep one); ``tf_power = 0.5`` is the square-root tf against burstiness. ``features``
    (the output of :func:`describe_local`) and ``vocabulary`` reuse what is already in memory.
    """
    feats = features or describe_local(data, progress=progress)
    vocab = vocabulary or dataset_vocabulary(data, k, train_images=train_images, seed=seed, progress=progress)
    db_words = _assign(vocab, feats["db"], multiple)
    q_words = _assign(vocab, feats["queries"], 1)
    ivf = InvertedFile(db_words, vocab.size, tf_power=tf_power)
    return BoWSystem(vocab, ivf, feats["db"], feats["queries"], db_words, q_words)

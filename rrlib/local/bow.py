"""Visual vocabulary, bag-of-words vectors and the inverted file (Sivic & Zisserman, ICCV 2003).

* **Vocabulary**: k-means centroids ``c_1..c_K`` of local descriptors (Lloyd's algorithm, faiss),
  learned on a *training* set -- never on the test database -- and the quantiser
  ``q(x) = argmin_w ||x - c_w||``. Multiple assignment (Jegou et al., IJCV 2010) sends a
  database descriptor to its ``m`` nearest words.
* **BoW vector** of an image with ``h_w`` occurrences of word ``w`` among ``n`` features: the
  tf-idf weights ``v_w = tf_w * idf_w`` with ``tf_w = h_w`` (or ``h_w^p``: ``p = 0.5`` tames
  *burstiness*, Jegou, Douze, Schmid CVPR 2009) and ``idf_w = log(N / N_w)``, ``N_w`` the number
  of database images that contain ``w``; then ``v / ||v||_2``. Similarity = cosine ``v_q^T v_x``.
* **Inverted file**: for every word the list of database images that contain it, with their
  weights. It is the ``K x N`` sparse matrix ``V^T`` stored row by row (CSR), and scoring a query is
  the sparse product ``v_q^T V^T``: only the lists of the query's words are visited, never the whole
  database -- that is why BoW retrieval scales to millions of images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import faiss
import numpy as np
import scipy.sparse as sp

__all__ = ["Vocabulary", "train_vocabulary", "InvertedFile"]


@dataclass
class Vocabulary:
    """A visual vocabulary: ``(K, d)`` float32 centroids and the nearest-centroid quantiser."""

    centroids: np.ndarray

    def __post_init__(self) -> None:
        self.centroids = np.ascontiguousarray(self.centroids, np.float32)
        if self.centroids.ndim != 2 or len(self.centroids) < 1:
            raise ValueError(f"centroids must be (K, d) with K >= 1, got shape {self.centroids.shape}")
        self._index = None

    @property
    def size(self) -> int:
        return len(self.centroids)

    def __len__(self) -> int:
        return self.size

    def assign(self, descriptors, multiple: int = 1) -> np.ndarray:
        """Visual words of ``descriptors``: ``(n,)`` (``multiple=1``) or ``(n, multiple)`` -- the
        ``multiple`` nearest centroids of each descriptor, nearest first (exact search)."""
        x = np.ascontiguousarray(descriptors, np.float32)
        if x.ndim != 2 or x.shape[1] != self.centroids.shape[1]:
            raise ValueError(f"descriptors must be (n, {self.centroids.shape[1]}), got shape {x.shape}")
        if not 1 <= multiple <= self.size:
            raise ValueError(f"multiple must be in [1, {self.size}], got {multiple}")
        if len(x) == 0:
            return np.zeros((0,) if multiple == 1 else (0, multiple), np.int64)
        if self._index is None:
            self._index = faiss.IndexFlatL2(self.centroids.shape[1])
            self._index.add(self.centroids)
        _, words = self._index.search(x, multiple)
        return words[:, 0].astype(np.int64) if multiple == 1 else words.astype(np.int64)

    def save(self, path) -> None:
        np.save(path, self.centroids)

    @classmethod
    def load(cls, path) -> "Vocabulary":
        return cls(np.load(path))


def train_vocabulary(descriptors, k: int, *, iterations: int = 20, seed: int = 0, max_points: int | None = 200_000,
                     verbose: bool = False) -> Vocabulary:
    """k-means (Lloyd) vocabulary of ``k`` words: minimises ``sum_i ||x_i - c_{q(x_i)}||^2``.

    ``max_points`` descriptors are drawn at random (seeded) when there are more; faiss' k-means
    (``faiss.Kmeans``, one restart, ``iterations`` Lloyd steps, deterministic for a seed and thread
    count). Learn it on training images, never on the database you evaluate on.
    """
    x = np.ascontiguousarray(descriptors, np.float32)
    if x.ndim != 2:
        raise ValueError(f"descriptors must be (n, d), got shape {x.shape}")
    if k < 1 or k > len(x):
        raise ValueError(f"k must be in [1, number of descriptors = {len(x)}], got {k}")
    rng = np.random.default_rng(seed)
    if max_points is not None and len(x) > max_points:
        x = x[np.sort(rng.choice(len(x), max_points, replace=False))]
    km = faiss.Kmeans(x.shape[1], k, niter=iterations, seed=seed, verbose=verbose,
                      max_points_per_centroid=max(1, -(-len(x) // k)), min_points_per_centroid=1)
    km.train(x)
    return Vocabulary(km.centroids)


def _counts(words: Sequence[np.ndarray], n_words: int) -> sp.csr_matrix:
    """``(len(words), n_words)`` term counts ``h_w``; a row of ``words`` may be (n,) or (n, m)."""
    indptr = np.zeros(len(words) + 1, np.int64)
    flat = []
    for i, w in enumerate(words):
        w = np.asarray(w, np.int64).ravel()
        if w.size and (w.min() < 0 or w.max() >= n_words):
            raise ValueError(f"image {i}: visual words must be in [0, {n_words}), got {w.min()}..{w.max()}")
        flat.append(w)
        indptr[i + 1] = indptr[i] + w.size
    cols = np.concatenate(flat) if flat else np.zeros(0, np.int64)
    m = sp.csr_matrix((np.ones(cols.size, np.float64), cols, indptr), shape=(len(words), n_words))
    m.sum_duplicates()
    return m


def _normalize(m: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sp.diags(1.0 / np.maximum(norms, 1e-12)) @ m


class InvertedFile:
    """Database BoW vectors and their inverted file; cosine search with sparse products.

    Parameters
    ----------
    words : list of arrays
        The visual words of each database image (``(n_i,)``, or ``(n_i, m)`` with multiple
        assignment: every assignment counts once).
    n_words : int
        Vocabulary size ``K``.
    tf_power : float
        ``tf_w = h_w ** tf_power``; 1 is plain tf-idf, 0.5 the square-root burstiness remedy.

    Attributes
    ----------
    idf : (K,) array
        ``log(N / N_w)`` (0 for words in no database image).
    vectors : (N, K) CSR matrix
        L2-normalised tf-idf BoW vectors of the database, one row per image.
    lists : (K, N) CSR matrix
        The inverted file: row ``w`` holds the images containing ``w`` (``lists.indices``) and
        their weights (``lists.data``) -- the transpose of ``vectors``.
    """

    def __init__(self, words: Sequence[np.ndarray], n_words: int, *, tf_power: float = 1.0):
        if n_words < 1:
            raise ValueError(f"n_words must be >= 1, got {n_words}")
        if len(words) == 0:
            raise ValueError("an inverted file needs at least one database image")
        self.n_words, self.tf_power = int(n_words), float(tf_power)
        counts = _counts(words, self.n_words)
        df = np.bincount(counts.indices, minlength=self.n_words)
        self.idf = np.where(df > 0, np.log(len(words) / np.maximum(df, 1)), 0.0)
        self.vectors = self.vectorize_counts(counts)
        self.lists = self.vectors.T.tocsr()

    @property
    def n_images(self) -> int:
        return self.vectors.shape[0]

    def vectorize_counts(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        tf = counts.copy()
        tf.data = tf.data ** self.tf_power
        v = tf @ sp.diags(self.idf)
        v.eliminate_zeros()
        return _normalize(v.tocsr())

    def vectorize(self, words: Sequence[np.ndarray]) -> sp.csr_matrix:
        """L2-normalised tf-idf BoW vectors ``(len(words), K)`` of query images (database idf)."""
        return self.vectorize_counts(_counts(words, self.n_words))

    def search(self, queries) -> np.ndarray:
        """Cosine similarities ``(n_q, N)`` of queries to every database image.

        ``queries`` are BoW vectors (a sparse ``(n_q, K)`` matrix from :meth:`vectorize`) or a list
        of word arrays. Computed as ``Q @ lists``: a sparse product that reads only the inverted
        lists of the words present in the queries.
        """
        if not sp.issparse(queries):
            queries = self.vectorize(queries)
        if queries.shape[1] != self.n_words:
            raise ValueError(f"query vectors have {queries.shape[1]} words, the file {self.n_words}")
        return np.asarray((sp.csr_matrix(queries) @ self.lists).todense())

    def list_lengths(self) -> np.ndarray:
        """``N_w``: the number of database images in each word's list."""
        return np.diff(self.lists.indptr)

    def __repr__(self) -> str:
        return (f"InvertedFile({self.n_images} images, {self.n_words} words, "
                f"{self.lists.nnz:,} postings, tf^{self.tf_power:g}-idf)")

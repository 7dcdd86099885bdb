"""Local features and the bag-of-words pipeline of notebook 02.

* :mod:`rrlib.local.features` -- SIFT through OpenCV, RootSIFT, per-dataset caching.
* :mod:`rrlib.local.bow` -- k-means vocabulary, tf-idf BoW vectors, the inverted file.
* :mod:`rrlib.local.verify` -- tentative correspondences, spatial re-ranking, verified query expansion
  (the geometry itself is :mod:`rrlib.geometry`, shared with deep spatial matching).
* :mod:`rrlib.local.pipeline` -- the whole system of a dataset, :func:`build_bow`.
"""
from .bow import InvertedFile, Vocabulary, train_vocabulary
from .features import LocalFeatures, describe_local, extract_local, normalized_patch, rootsift, sift, stack
from .pipeline import BoWSystem, build_bow, dataset_vocabulary, vocabulary_images
from .verify import Verification, spatial_rerank, tentative_correspondences, verified_expansion, verify_pair

__all__ = ["BoWSystem", "InvertedFile", "LocalFeatures", "Verification", "Vocabulary", "build_bow",
           "dataset_vocabulary", "describe_local", "extract_local", "normalized_patch", "rootsift", "sift", "spatial_rerank",
           "stack", "tentative_correspondences", "train_vocabulary", "verified_expansion", "verify_pair",
           "vocabulary_images"]

"""Siamese metric learning for retrieval (notebook 04): losses, tuple mining, a CPU training loop.

* :mod:`rrlib.learn.losses` -- contrastive (distance and similarity forms), triplet, multi-similarity.
* :mod:`rrlib.learn.mining` -- [S4]'s per-epoch tuples: positive strategies, diverse hard negatives,
  the co-observation "3D reconstruction" of synth-landmarks.
* :mod:`rrlib.learn.train` -- fine-tuning backbone + GeM (+ whitening) on a training split,
  evaluated on the test split every epoch, saved in the data root.
* :mod:`rrlib.learn.sfm` -- cirtorch's retrieval-SfM-120k training pairs (the paper setting).
* :mod:`rrlib.learn.embedding` -- a small embedding network trained from weighted tuples (the
  fine-grained application of mining on manifolds, notebook 06) or from labelled P x K batches
  with Metrix (notebook 10).
* :mod:`rrlib.learn.asymmetric` -- [S2]'s teacher-student losses (notebook 10).
* :mod:`rrlib.learn.distill` -- a student trained against a fixed teacher; network cost (notebook 10).
* :mod:`rrlib.learn.metrix` -- mixup with pair labels, the generic soft-label loss, positivity (notebook 10).

Notebook 04's figures are in :mod:`rrlib.viz.learning`.
"""
from .losses import (LOSSES, ContrastiveLoss, ContrastiveSimilarityLoss, MultiSimilarityLoss, TripletLoss,
                     contrastive_loss, contrastive_similarity_loss, multi_similarity_from_similarities,
                     multi_similarity_loss, triplet_loss, triplet_similarity_loss, tuple_pairs, tuple_similarities)
from .mining import (NEGATIVE_STRATEGIES, POSITIVE_STRATEGIES, Miner, TupleMiner, Tuples, co_observed_cells,
                     hard_negatives, random_negatives, scale_changes, select_positives, synth_geometry)
from .embedding import (EmbeddingConfig, EmbeddingMLP, EmbeddingResult, embed, sample_triplets, train_embedding,
                        weighted_triplet_loss)
from .metrix import MetrixTupleLoss
from .sfm import sfm120k_training
from .train import (PAPER_RECIPE, FrozenMaps, RetrievalNet, TrainConfig, TrainResult, dataset_maps, describe,
                    embed_maps, evaluate_net, finetune, load_run, make_loss, make_miner, make_optimizer, run_key)

__all__ = [
    "LOSSES", "ContrastiveLoss", "ContrastiveSimilarityLoss", "MultiSimilarityLoss", "TripletLoss", "contrastive_loss",
    "contrastive_similarity_loss", "multi_similarity_from_similarities", "multi_similarity_loss", "triplet_loss",
    "triplet_similarity_loss", "tuple_pairs", "tuple_similarities",
    "NEGATIVE_STRATEGIES", "POSITIVE_STRATEGIES", "Miner", "TupleMiner", "Tuples", "co_observed_cells",
    "hard_negatives", "random_negatives", "scale_changes", "select_positives", "synth_geometry",
    "PAPER_RECIPE", "FrozenMaps", "RetrievalNet", "TrainConfig", "TrainResult", "dataset_maps", "describe",
    "embed_maps", "evaluate_net", "finetune", "load_run", "make_loss", "make_miner", "make_optimizer", "run_key",
    "sfm120k_training",
    "EmbeddingConfig", "EmbeddingMLP", "EmbeddingResult", "embed", "sample_triplets", "train_embedding",
    "weighted_triplet_loss", "MetrixTupleLoss",
]

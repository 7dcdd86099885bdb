"""Siamese metric learning for retrieval (notebook 04): losses, tuple mining, a CPU training loop.

* :mod:`rrlib.learn.losses` -- contrastive (distance and similarity forms), triplet, multi-similarity.
* :mod:`rrlib.learn.mining` -- [S4]'s per-epoch tuples: positive strategies, diverse hard negatives.
* :mod:`rrlib.learn.train` -- fine-tuning backbone + GeM on a training split, evaluated every epoch.
"""
from .losses import (ContrastiveLoss, MultiSimilarityLoss, TripletLoss, contrastive_loss,
                     contrastive_similarity_loss, multi_similarity_loss, triplet_loss, tuple_pairs)
from .mining import POSITIVE_STRATEGIES, TupleMiner, Tuples, co_observed_cells, hard_negatives
from .train import RetrievalNet, TrainConfig, TrainResult, evaluate_model, finetune, load_run, make_loss

__all__ = ["ContrastiveLoss", "MultiSimilarityLoss", "POSITIVE_STRATEGIES", "RetrievalNet", "TrainConfig",
           "TrainResult", "TripletLoss", "TupleMiner", "Tuples", "co_observed_cells", "contrastive_loss",
           "contrastive_similarity_loss", "evaluate_model", "finetune", "hard_negatives", "load_run",
           "make_loss", "multi_similarity_loss", "triplet_loss", "tuple_pairs"]

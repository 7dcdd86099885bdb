"""Deep active learning with unlabeled data: [S3] chapter 3 (Siméoni, Budnik, Avrithis, Gravier,
"Rethinking deep active learning: using unlabeled data at model training", ICPR 2020).

* :mod:`rrlib.active.acquisition` -- Random, Uncertainty, CEAL, CoreSet, jLP: pure functions
  that pick ``b`` unlabeled examples.
* :mod:`rrlib.active.propagation` -- label propagation with certainty weights on the kNN graph
  (rrlib.graph's graph and CG, notebook 05's diffusion with class indicators as queries),
  SEMI's weighted mini-batches, the agreement ``A_{U,w}``.
* :mod:`rrlib.active.training` -- the network, SUP, SEMI and PRE (DeepCluster-style).
* :mod:`rrlib.active.loop` -- Algorithm 1, its repetitions (cached), the agreement study.
* :mod:`rrlib.active.paper` -- the thesis's settings (Table 3.1 and §3.5.1), every field sourced.
"""
from .acquisition import ACQUISITIONS, ceal, certainty, coreset, entropy, jlp, random, uncertainty
from .loop import (SETTINGS, ActiveData, Cycle, active_cycles, agreement_study, balanced_labels, digits_data,
                   run_active, run_repetitions, runs)
from .propagation import (Propagation, agreement, feature_graph, label_matrix, label_propagation, propagate,
                          semi_batches)
from .training import DigitsNet, TrainConfig, predict, pretrain, train_semi, train_supervised

__all__ = [
    "ACQUISITIONS", "SETTINGS", "ActiveData", "Cycle", "DigitsNet", "Propagation", "TrainConfig", "active_cycles",
    "agreement", "agreement_study", "balanced_labels", "ceal", "certainty", "coreset", "digits_data", "entropy",
    "feature_graph", "jlp", "label_matrix", "label_propagation", "predict", "pretrain", "propagate", "random",
    "run_active", "run_repetitions", "runs", "semi_batches", "train_semi", "train_supervised", "uncertainty",
]

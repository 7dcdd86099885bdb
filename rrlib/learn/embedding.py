"""An embedding network trained from weighted triplets on fixed input vectors (notebook 06).

The fine-grained application of mining on manifolds [S1]: "set each training image as anchor,
mine positive and negative pools per anchor (50 images per pool), train 64D image descriptors
with triplet loss". The authors' code [EXT gtolias/mom ``py/train.py``, ``py/model.py``,
``py/cub2011.py``] trains it as follows, and this module keeps every rule, with the backbone
replaced by input vectors computed once (a CPU setting):

* **network**: ``y = l2n(Linear(ReLU(base(x))))`` to 64 dimensions (``WeightedTriplet``); here the
  base's output is the input vector ``x`` itself, and :class:`EmbeddingMLP` may put one hidden
  layer before the last linear map (``hidden``) so that the map is not linear;
* **one epoch** = as many triplets as training vectors: each draws a random anchor (with
  replacement) among those with both pools non-empty, a random positive from its positive pool,
  and a negative drawn at random among the ``nearest_negatives = 10`` members of its negative
  pool nearest to the anchor under the *current* network ("random pick from 10 Euclidean-NN in
  the pool"), re-embedded at the start of every epoch;
* **loss**: the weighted triplet loss on squared distances,
  ``mean_i w_i [ ||a_i - p_i||^2 - ||a_i - n_i||^2 + m ]_+`` with margin ``m = 0.5`` and ``w_i``
  the positive's pool weight (its manifold similarity to the anchor for MoM's pools);
* **optimiser**: SGD, learning rate 0.01, momentum 0.9, dampening 0.9, weight decay 5e-4,
  batches of 42 triplets, the learning rate times 0.1 every 50 epochs, 100 epochs.

Pools are any object with ``anchors``, ``positives``, ``negatives`` and ``positive_weights``
(index arrays into the training vectors, one per anchor), e.g. :class:`rrlib.mom.Pools` from
:func:`rrlib.mom.mine_pools` (no label), :func:`rrlib.mom.euclidean_pools` (no label) or
:func:`rrlib.mom.label_pools` (labels): the trainer never sees a label.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ..checks import check_integer

__all__ = ["EmbeddingConfig", "EmbeddingMLP", "EmbeddingResult", "embed", "sample_triplets", "train_embedding",
           "weighted_triplet_loss"]


@dataclass(frozen=True)
class EmbeddingConfig:
    """The trainer's settings; the defaults are the authors' CUB code's [EXT gtolias/mom py/train.py]
    except ``hidden`` (their base network is GoogLeNet; here a hidden layer of this width, or
    ``None`` for the code's single linear layer on the inputs)."""

    dim: int = 64                     # embedding size ([S1]: "64D image descriptors")
    hidden: int | None = 256          # width of the hidden layer (None: one linear layer)
    margin: float = 0.5               # --margin 0.5 (squared distances)
    weighted: bool = True             # multiply each triplet's loss by its positive's pool weight
    epochs: int = 100                 # --epochs 100
    batch: int = 42                   # --batch 42
    lr: float = 0.01                  # --lr 0.01, SGD
    momentum: float = 0.9
    dampening: float = 0.9
    weight_decay: float = 5e-4
    step_size: int = 50               # StepLR: lr x gamma every step_size epochs
    gamma: float = 0.1
    nearest_negatives: int = 10       # the negative is drawn among the pool's 10 nearest to the anchor
    seed: int = 0


def weighted_triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                          weights: torch.Tensor | None = None, margin: float = 0.5) -> torch.Tensor:
    """``mean_i w_i [||a_i - p_i||^2 - ||a_i - n_i||^2 + m]_+`` over the rows ``i`` (the authors'
    ``WeightedTriplet.criterion``); ``weights=None`` is all ones, the plain triplet loss."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not anchor.shape == positive.shape == negative.shape or anchor.ndim != 2:
        raise ValueError(f"anchor {tuple(anchor.shape)}, positive {tuple(positive.shape)} and negative "
                         f"{tuple(negative.shape)} must be (n, D) of the same shape")
    dp = (anchor - positive).pow(2).sum(1)
    dn = (anchor - negative).pow(2).sum(1)
    loss = torch.clamp(margin + dp - dn, min=0.0)
    if weights is not None:
        weights = torch.as_tensor(weights, dtype=loss.dtype, device=loss.device)
        if weights.shape != loss.shape:
            raise ValueError(f"weights must hold one value per triplet ({len(loss)}), got shape {tuple(weights.shape)}")
        loss = loss * weights
    return loss.mean()


class EmbeddingMLP(nn.Module):
    """``x -> l2n(W2 relu(W1 x + b1) + b2)`` (``hidden`` units), or ``x -> l2n(W x + b)`` with
    ``hidden=None``: unit embeddings of ``dim`` dimensions."""

    def __init__(self, in_dim: int, dim: int = 64, hidden: int | None = 256):
        super().__init__()
        in_dim, dim = check_integer(in_dim, "in_dim"), check_integer(dim, "dim")
        if hidden is None:
            self.net = nn.Linear(in_dim, dim)
        else:
            hidden = check_integer(hidden, "hidden")
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.in_dim, self.dim = in_dim, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net(x), dim=1)


def embed(model: EmbeddingMLP, X, batch: int = 4096) -> np.ndarray:
    """Unit embeddings ``(n, dim)`` (numpy float32) of the input vectors ``X`` ``(n, in_dim)``."""
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return torch.cat([model(X[i:i + batch]) for i in range(0, len(X), batch)]).numpy()
    finally:
        model.train(was)


def _padded(lists, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lists ``lists[r]`` for ``r`` in ``rows`` as one ``(len(rows), longest)`` array, padded
    with 0, and their lengths."""
    lengths = np.array([len(lists[r]) for r in rows], dtype=np.int64)
    out = np.zeros((len(rows), max(int(lengths.max()), 1) if len(rows) else 1), dtype=np.float64)
    for k, r in enumerate(rows):
        out[k, :lengths[k]] = lists[r]
    return out, lengths


def sample_triplets(pools, n: int, rng: np.random.Generator, embeddings: np.ndarray | None = None,
                    nearest_negatives: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` triplets ``(anchors, positives, negatives, weights)`` (index arrays and the positives'
    pool weights) by the authors' rule: a random anchor with both pools non-empty (with
    replacement), a random member of its positive pool, and a random one among the
    ``nearest_negatives`` members of its negative pool nearest to the anchor under ``embeddings``
    (rows = training vectors; ``None``: the pool's first members, in the pool's own order)."""
    n, nearest_negatives = check_integer(n, "n"), check_integer(nearest_negatives, "nearest_negatives")
    n_pos = np.array([len(p) for p in pools.positives])
    n_neg = np.array([len(q) for q in pools.negatives])
    usable = np.flatnonzero((n_pos > 0) & (n_neg > 0))
    if len(usable) == 0:
        raise ValueError("no anchor has both a positive and a negative pool")
    pos, _ = _padded(pools.positives, usable)
    pos_w, _ = _padded(pools.positive_weights, usable)
    neg, neg_len = _padded(pools.negatives, usable)
    pos, neg = pos.astype(np.int64), neg.astype(np.int64)
    anchors_all = np.asarray(pools.anchors, dtype=np.int64)[usable]
    if embeddings is not None:   # each negative pool sorted by distance to its anchor (padding last)
        E = np.asarray(embeddings, dtype=np.float64)
        dist = ((E[neg] - E[anchors_all][:, None, :]) ** 2).sum(-1)
        dist[np.arange(neg.shape[1])[None, :] >= neg_len[:, None]] = np.inf
        neg = np.take_along_axis(neg, np.argsort(dist, axis=1, kind="stable"), axis=1)
    chosen = rng.integers(len(usable), size=n)
    j = (rng.random(n) * n_pos[usable][chosen]).astype(np.int64)
    m = (rng.random(n) * np.minimum(nearest_negatives, neg_len[chosen])).astype(np.int64)
    return anchors_all[chosen], pos[chosen, j], neg[chosen, m], pos_w[chosen, j]


@dataclass
class EmbeddingResult:
    """A trained :class:`EmbeddingMLP` and its history: one dict per epoch (``epoch``; ``loss``, the
    mean over the epoch's batches, None at epoch 0, before training; and whatever ``evaluate``
    returned)."""

    model: EmbeddingMLP
    config: EmbeddingConfig
    history: list[dict] = field(default_factory=list)

    def curve(self, name: str) -> np.ndarray:
        return np.array([np.nan if h.get(name) is None else h[name] for h in self.history], float)


def train_embedding(X, pools, config: EmbeddingConfig = EmbeddingConfig(), *,
                    evaluate: Callable[[EmbeddingMLP], dict] | None = None, threads: int | None = 1) -> EmbeddingResult:
    """Train an :class:`EmbeddingMLP` on the input vectors ``X`` ``(n, d)`` from ``pools`` (indices
    into ``X``), with the rules of the module docstring; ``evaluate(model) -> dict`` (e.g.
    Recall@K on held-out classes, :func:`rrlib.evaluate.recall_at_k`) is recorded before training
    and after every epoch. ``threads``: torch threads during training (one by default: on such
    small layers more threads only add overhead; None keeps torch's setting). Deterministic for a
    configuration and a thread count."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise ValueError(f"X must be finite (n, d) vectors, got shape {X.shape}")
    epochs = check_integer(config.epochs, "epochs", minimum=0)
    batch = check_integer(config.batch, "batch")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_integer(threads, "threads"))
    try:
        return _train(X, pools, config, epochs, batch, evaluate)
    finally:
        torch.set_num_threads(old_threads)


def _train(X: np.ndarray, pools, config: EmbeddingConfig, epochs: int, batch: int,
           evaluate: Callable[[EmbeddingMLP], dict] | None) -> EmbeddingResult:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = EmbeddingMLP(X.shape[1], config.dim, config.hidden)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, dampening=config.dampening,
                          weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config.step_size, gamma=config.gamma)
    inputs = torch.from_numpy(X)
    history = [{"epoch": 0, "loss": None, **(evaluate(model) if evaluate else {})}]
    for epoch in range(1, epochs + 1):
        a, p, n, w = sample_triplets(pools, len(X), rng, embed(model, X), config.nearest_negatives)
        w = w if config.weighted else np.ones_like(w)
        model.train()
        losses = []
        for b in range(0, len(a) - batch + 1, batch):      # drop_last, as the code's loader
            s = slice(b, b + batch)
            loss = weighted_triplet_loss(model(inputs[a[s]]), model(inputs[p[s]]), model(inputs[n[s]]),
                                         torch.as_tensor(w[s], dtype=torch.float32), config.margin)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        sched.step()
        model.eval()
        history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else None,
                        **(evaluate(model) if evaluate else {})})
    return EmbeddingResult(model.eval(), config, history)

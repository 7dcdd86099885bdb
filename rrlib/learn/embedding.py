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


# ------------------------------------------------------------------------------------------------
# Supervised training from labelled P x K batches, with or without Metrix (notebook 10)
# ------------------------------------------------------------------------------------------------
__all__ += ["SupervisedConfig", "pk_batches", "supervised_recall", "train_supervised", "MIXUP_KINDS"]

#: where Metrix mixes [S2]: inputs, the hidden layer's output (features), or the embeddings
MIXUP_KINDS = ("embedding", "feature", "input")


@dataclass(frozen=True)
class SupervisedConfig:
    """Settings of :func:`train_supervised` (the digits miniature of notebook 10; not the paper's:
    [S2] trains a ResNet-50 on CUB / Cars / SOP / In-Shop).

    ``loss``: ``"contrastive"`` ([S2]'s similarity form, margin 0.5, every pair of the batch) or
    ``"multi-similarity"`` (:func:`rrlib.learn.losses.multi_similarity_loss`, with its pair mining);
    ``metrix`` the weight ``w`` of the mixed loss (0: none; the code's 0.4), ``mixup`` where to mix
    (:data:`MIXUP_KINDS`), ``alpha`` of ``λ ~ Beta(α, α)`` (one ``λ`` per batch). Adam."""

    loss: str = "contrastive"
    metrix: float = 0.0
    mixup: str = "embedding"
    alpha: float = 2.0
    dim: int = 64
    hidden: int | None = 256
    epochs: int = 10
    classes_per_batch: int = 8        # P
    per_class: int = 5                # K
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


def pk_batches(labels, classes_per_batch: int, per_class: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of ``P x K`` batches (index arrays): each class's examples shuffled and cut into
    groups of ``K`` (a last shorter group dropped), the groups shuffled and dealt into batches of
    ``P`` groups of distinct classes; about one pass over the data. Deterministic for ``rng``."""
    labels = np.asarray(labels)
    P, K = check_integer(classes_per_batch, "classes_per_batch", minimum=2), check_integer(per_class, "per_class", minimum=2)
    groups = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        groups += [(c, idx[b:b + K]) for b in range(0, len(idx) - K + 1, K)]
    order = rng.permutation(len(groups))
    batches, current, seen = [], [], set()
    pending = [groups[o] for o in order]
    while pending:
        rest = []
        for c, g in pending:
            if c in seen:
                rest.append((c, g))
                continue
            current.append(g)
            seen.add(c)
            if len(current) == P:
                batches.append(np.concatenate(current))
                current, seen = [], set()
        if len(rest) == len(pending):    # only groups of classes already in the batch are left
            break
        pending = rest
    return batches


def _supervised_loss(E: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    from .losses import multi_similarity_loss
    from .metrix import contrastive_terms, soft_label_loss
    if loss == "multi-similarity":
        return multi_similarity_loss(E, y)
    if loss == "contrastive":
        S = E @ E.T
        same = y[:, None] == y[None, :]
        eye = torch.eye(len(E), dtype=torch.bool)
        return soft_label_loss(S, (same & ~eye).to(S.dtype), contrastive_terms(), mask=~eye)
    raise ValueError(f"loss must be 'contrastive' or 'multi-similarity', got {loss!r}")


def train_supervised(X, labels, config: SupervisedConfig = SupervisedConfig(), *,
                     evaluate: Callable[[EmbeddingMLP], dict] | None = None, threads: int | None = 1) -> EmbeddingResult:
    """Train an :class:`EmbeddingMLP` on input vectors ``X`` ``(n, d)`` with class ``labels`` from
    ``P x K`` batches (:func:`pk_batches`) and a batch loss, every row an anchor; with
    ``config.metrix > 0`` the loss is ``ℓ_clean + w ℓ_mixed`` of Metrix [S2]:

    * ``"embedding"``: every positive-negative pair of each anchor mixed in embedding space and
      re-normalised (:func:`rrlib.learn.metrix.metrix_mixed_loss`);
    * ``"feature"`` / ``"input"``: each row ``i`` mixed with a random row of another class
      (:func:`rrlib.learn.metrix.mixing_partners`) at the hidden layer's output / at the input, the
      mix embedded by the rest of the network (:func:`rrlib.learn.metrix.mixed_examples_loss`).

    ``evaluate(model) -> dict`` is recorded before training and after every epoch. Deterministic for
    a configuration and a thread count (``threads``, default 1)."""
    from .metrix import METRIX_ALPHA, _terms, metrix_mixed_loss, mix, mixed_examples_loss, mixing_partners, sample_lambda
    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels)
    if X.ndim != 2 or len(labels) != len(X) or not np.isfinite(X).all():
        raise ValueError(f"X must be finite (n, d) vectors with one label each, got {X.shape} and {labels.shape}")
    if config.mixup not in MIXUP_KINDS:
        raise ValueError(f"mixup must be one of {MIXUP_KINDS}, got {config.mixup!r}")
    if config.metrix < 0:
        raise ValueError(f"metrix is the weight of the mixed loss, >= 0, got {config.metrix}")
    if config.mixup == "feature" and config.hidden is None:
        raise ValueError("feature mixup needs a hidden layer (hidden=None has none)")
    terms = _terms(config.loss)
    epochs = check_integer(config.epochs, "epochs", minimum=0)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_integer(threads, "threads"))
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        gen = torch.Generator().manual_seed(config.seed + 1)     # λ and the mixing partners
        model = EmbeddingMLP(X.shape[1], config.dim, config.hidden)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        inputs, y_all = torch.from_numpy(X), torch.as_tensor(labels)
        history = [{"epoch": 0, "loss": None, **(evaluate(model) if evaluate else {})}]
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            for b in pk_batches(labels, config.classes_per_batch, config.per_class, rng):
                x, y = inputs[b], y_all[b]
                E = model(x)
                loss = _supervised_loss(E, y, config.loss)
                if config.metrix > 0:
                    lam = sample_lambda(None, config.alpha or METRIX_ALPHA, gen, E.dtype)
                    if config.mixup == "embedding":
                        mixed = metrix_mixed_loss(E, y, terms, lam)
                    else:
                        j = mixing_partners(y, gen)
                        if config.mixup == "input":
                            V = model(mix(x, x[j], lam))
                        else:
                            h = model.net[:-1](x)
                            V = nn.functional.normalize(model.net[-1](mix(h, h[j], lam)), dim=1)
                        mixed = mixed_examples_loss(E, y, V, torch.arange(len(b)), j, lam, terms)
                    loss = loss + config.metrix * mixed
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            model.eval()
            history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else None,
                            **(evaluate(model) if evaluate else {})})
    finally:
        torch.set_num_threads(old_threads)
    return EmbeddingResult(model.eval(), config, history)


#: code version of :func:`supervised_recall`'s cache: bump it when :func:`train_supervised` changes
SUPERVISED_VERSION = 1


def supervised_recall(X_train, y_train, X_test, y_test, config: SupervisedConfig = SupervisedConfig(), *,
                      ks=(1, 2, 4, 8), cache: bool = True, threads: int | None = 1) -> dict[str, float]:
    """Recall@K (%) on ``(X_test, y_test)`` of the network :func:`train_supervised` trains on
    ``(X_train, y_train)`` with ``config``: ``{"R@1": ..., ...}``, saved in
    ``<data root>/checkpoints/supervised/`` (JSON, keyed by the configuration, the four arrays,
    ``ks``, ``threads`` and :data:`SUPERVISED_VERSION`) so that a notebook reloads it."""
    import json
    from dataclasses import asdict

    from .. import cache as cache_mod
    from ..evaluate import recall_at_k

    X_train, X_test = np.asarray(X_train, np.float32), np.asarray(X_test, np.float32)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    ks = tuple(check_integer(k, "k") for k in ks)
    key = cache_mod.digest(SUPERVISED_VERSION, asdict(config), X_train, y_train, X_test, y_test, ks, threads)

    def compute() -> dict[str, float]:
        model = train_supervised(X_train, y_train, config, threads=threads).model
        return {f"R@{k}": 100 * float(v) for k, v in recall_at_k(embed(model, X_test), y_test, ks).items()}

    def load(path) -> dict[str, float]:
        value = json.loads(path.read_text())
        if sorted(value) != sorted(f"R@{k}" for k in ks):
            raise ValueError("not the recalls of these k")
        return value

    return cache_mod.cached(cache_mod.entry("checkpoints", ["supervised"], key, ".json"), compute,
                            lambda value, f: f.write(json.dumps(value).encode()), load, enabled=cache)

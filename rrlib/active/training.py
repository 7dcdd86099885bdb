"""Training in the active-learning loop: the network, SUP, SEMI and PRE of Algorithm 1 [S3 §3.3].

* SUP: cross-entropy on the labeled examples ``L`` only [S3 eq 3.2].
* SEMI: after SUP, once per epoch: label propagation on ``phi(X)`` gives pseudo-labels and
  certainty weights; the epoch's mini-batches mix ``L`` (uniform) and ``U`` (drawn by ``eta[w]``),
  the loss is plain cross-entropy on true and pseudo labels -- weights act through sampling only.
* PRE (Caron et al., "DeepCluster", ECCV 2018): from random weights, each epoch clusters
  ``phi(X)`` by k-means (faiss), uses the assignments as labels of a fresh classifier head and trains
  on all of ``X`` with clusters sampled uniformly (DeepCluster's sampler). The trunk it leaves is
  ``theta_0``, the start of every cycle.

Every optimiser is SGD with momentum and a cosine learning-rate schedule, as in [S3 §3.5.1].
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .propagation import label_propagation, semi_batches

__all__ = ["DigitsNet", "TrainConfig", "predict", "pretrain", "train_semi", "train_supervised"]


class DigitsNet(nn.Module):
    """The miniature of [S3]'s 13-layer ConvNet (:class:`rrlib.nets.convlarge.ConvLarge`, paper
    mode) for 8 x 8 grey digits: a multi-layer perceptron 64 -> 256 -> ``dim``; the embedding
    ``phi(x)`` is the ``dim``-D output of the trunk, and the classifier ``head`` sees it through a
    ReLU. (A two-layer ConvNet reached the same accuracy on digits at ten times the CPU time.)"""

    def __init__(self, n_classes: int, in_pixels: int = 64, dim: int = 128):
        super().__init__()
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(in_pixels, 256), nn.BatchNorm1d(256), nn.ReLU(),
                                   nn.Linear(256, dim))
        self.head = nn.Linear(dim, n_classes)

    def embed(self, x):
        return self.trunk(x)

    def forward(self, x):
        return self.head(torch.relu(self.trunk(x)))


@dataclass(frozen=True)
class TrainConfig:
    """Training settings of the miniature; [S3 §3.5.1]'s values (MNIST row) where they apply.

    sup_epochs / semi_epochs / pre_epochs: epochs of SUP (over ``L``), SEMI (``|U|/2`` draws each)
    and PRE (over ``X``); batch / semi_batch: mini-batch sizes without / with SEMI ([S3] MNIST:
    10 / 64); semi_labeled: labeled examples per SEMI batch ([S3] MNIST: 10); lr, momentum,
    weight_decay: SGD; shift: random translation of at most ``shift`` pixels (augmentation);
    k, gamma, alpha: the graph and propagation of LP ([S3]: 50, 3, 0.99); clusters: k-means
    clusters of PRE (not in [S3]); ceal_eps: CEAL's entropy threshold in nats (not in [S3]).
    """

    sup_epochs: int = 60
    semi_epochs: int = 10
    pre_epochs: int = 60
    batch: int = 10
    semi_batch: int = 64
    semi_labeled: int = 10
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    shift: int = 1
    k: int = 20
    gamma: float = 3.0
    alpha: float = 0.99
    clusters: int = 50
    pre_dim: int = 32
    ceal_eps: float = 0.05


def _augment(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Random translations by up to ``shift`` pixels (zero padding), one per image."""
    if shift == 0:
        return x
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (shift,) * 4)
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, :, None].expand(n, h, w)
    cols = (dx[:, None] + torch.arange(w))[:, None, :].expand(n, h, w)
    batch = torch.arange(n)[:, None, None].expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _sgd(net: nn.Module, batches: list[np.ndarray], X: torch.Tensor, targets: np.ndarray,
         cfg: TrainConfig, gen: torch.Generator, *, opt=None, start: int = 0, total: int | None = None):
    """SGD steps over ``batches`` (momentum, weight decay, random translations). The learning rate
    follows one cosine from ``cfg.lr`` to 0 over ``total`` steps, of which these are steps
    ``start, start + 1, ...``; pass the returned optimiser back to continue the same schedule."""
    opt = opt or torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    total = total or len(batches)
    t = torch.as_tensor(targets, dtype=torch.int64)
    net.train()
    for step, idx in enumerate(batches, start):
        for group in opt.param_groups:
            group["lr"] = 0.5 * cfg.lr * (1 + math.cos(math.pi * step / total))
        idx = torch.as_tensor(idx, dtype=torch.int64)
        loss = nn.functional.cross_entropy(net(_augment(X[idx], cfg.shift, gen)), t[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return opt


def _epochs(pool: np.ndarray, epochs: int, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``epochs`` shuffled passes over ``pool``, each cut into ``ceil(len(pool) / batch)`` mini-batches
    of nearly equal size (never a batch of one, which batch normalisation cannot train on)."""
    out = []
    for _ in range(epochs):
        out += np.array_split(rng.permutation(pool), -(-len(pool) // batch))
    return out


@torch.no_grad()
def predict(net: nn.Module, X: torch.Tensor, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities (n, c), embeddings phi(X) (n, d))`` in eval mode."""
    net.eval()
    probs, feats = [], []
    for i in range(0, len(X), batch):
        f = net.embed(X[i:i + batch])
        feats.append(f)
        probs.append(torch.softmax(net.head(torch.relu(f)), dim=1))
    return torch.cat(probs).double().numpy(), torch.cat(feats).numpy()


def train_supervised(net: nn.Module, X: torch.Tensor, labeled_idx, targets, cfg: TrainConfig, seed: int) -> nn.Module:
    """SUP [S3 eq 3.2]: ``cfg.sup_epochs`` passes over the labeled examples (and CEAL's
    pseudo-labeled ones when the caller includes them); ``targets`` is indexed by example."""
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    _sgd(net, _epochs(np.asarray(labeled_idx), cfg.sup_epochs, cfg.batch, rng), X, targets, cfg, gen)
    return net


def train_semi(net: nn.Module, X: torch.Tensor, labeled_idx, labels, n_classes: int, cfg: TrainConfig,
               seed: int):
    """SEMI, lines 5-7 of Algorithm 1 [S3]: ``cfg.semi_epochs`` times, label propagation on the
    current ``phi(X)`` then one epoch of :func:`semi_batches`. Returns the net and the last
    :class:`Propagation`."""
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    L = np.asarray(labeled_idx)
    U = np.setdiff1d(np.arange(len(X)), L)
    per_epoch = -(-((len(U) + 1) // 2) // (cfg.semi_batch - cfg.semi_labeled))
    opt, lp = None, None
    for epoch in range(cfg.semi_epochs):
        _, feats = predict(net, X)
        lp = label_propagation(feats, L, labels, n_classes, k=cfg.k, gamma=cfg.gamma, alpha=cfg.alpha)
        batches = semi_batches(L, U, lp.weights[U], cfg.semi_batch, cfg.semi_labeled, rng)
        opt = _sgd(net, batches, X, lp.pseudo, cfg, gen, opt=opt, start=epoch * per_epoch,
                   total=cfg.semi_epochs * per_epoch)
    return net, lp


def pretrain(X: torch.Tensor, make_net, cfg: TrainConfig, seed: int) -> nn.Module:
    """PRE, DeepCluster-style [S3 §3.3]: ``cfg.pre_epochs`` times, k-means (faiss, ``cfg.clusters``
    centroids) on the l2-normalised ``phi(X)``, a fresh head for the clusters, one epoch over ``X``
    in batches of ``cfg.semi_batch`` with each cluster equally likely (DeepCluster's uniform
    sampler). Returns the net whose trunk is ``theta_0``."""
    import faiss

    torch.manual_seed(seed)
    net = make_net()
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    n = len(X)
    for epoch in range(cfg.pre_epochs):
        _, feats = predict(net, X)
        feats = _pca_whiten(feats, cfg.pre_dim)
        km = faiss.Kmeans(feats.shape[1], cfg.clusters, niter=20, seed=seed * 1000 + epoch, min_points_per_centroid=1)
        km.train(np.ascontiguousarray(feats, dtype=np.float32))
        assign = km.index.search(np.ascontiguousarray(feats, dtype=np.float32), 1)[1].ravel()
        sizes = np.bincount(assign, minlength=cfg.clusters)
        p = 1.0 / sizes[assign]
        draws = rng.choice(n, size=n, replace=True, p=p / p.sum())
        pre_head = nn.Linear(net.head.in_features, cfg.clusters)
        head, net.head = net.head, pre_head
        batches = np.array_split(draws, -(-n // cfg.semi_batch))
        _sgd(net, batches, X, assign, cfg, gen, start=epoch * len(batches), total=cfg.pre_epochs * len(batches))
        net.head = head
    return net


def _pca_whiten(F: np.ndarray, dim: int) -> np.ndarray:
    """DeepCluster's preprocessing before k-means: PCA to ``dim`` dimensions, whitening, then
    l2-normalisation of each row."""
    F = F - F.mean(axis=0)
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    dim = min(dim, int((s > 1e-6 * s[0]).sum()))
    Z = U[:, :dim] * np.sqrt(len(F))  # = F V_dim diag(1/s) sqrt(n): unit variance per component
    return (Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def fresh_copy(net: nn.Module, n_classes: int, seed: int) -> nn.Module:
    """A copy of ``net`` with a new, seeded classifier head (the start ``theta_0`` of a cycle)."""
    out = copy.deepcopy(net)
    torch.manual_seed(seed)
    out.head = nn.Linear(out.head.in_features, n_classes)
    return out

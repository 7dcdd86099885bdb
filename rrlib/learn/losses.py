"""Metric-learning losses on embeddings, as pure functions (with thin ``nn.Module`` wrappers).

Embeddings are rows of unit length (``l2n`` of a pooled descriptor), so squared distance and
cosine similarity are tied: ``||a - x||^2 = 2 - 2 s(a, x)`` [S2].

* **Contrastive**, distance form [S0] (Hadsell, Chopra & LeCun, CVPR'06) as in cirtorch
  (Radenovic, Tolias & Chum, ECCV'16 / TPAMI'19):
  ``l(d, t) = 1/2 t d^2 + 1/2 (1 - t) [m - d]_+^2``: matching pairs (``t = 1``) are pulled together,
  non-matching pairs pushed apart only while closer than the margin ``m``.
* **Contrastive**, similarity form [S2]: ``-s(a, p)`` per positive + ``[s(a, n) - m]_+`` per negative.
* **Triplet** [S0] (Wang et al. CVPR'14; Schroff et al. CVPR'15):
  ``[d(a, p)^2 - d(a, n)^2 + m]_+`` (or with plain distances): only the *difference* matters.
* **Multi-similarity** [S2] (Wang et al., CVPR'19): soft weighting of all positives and negatives
  of an anchor, ``1/alpha log(1 + sum_p e^{-alpha (s_p - m)}) + 1/beta log(1 + sum_n e^{beta (s_n - m)})``,
  after its pair mining (negatives harder than the easiest positive minus ``eps``, positives
  harder than the hardest negative plus ``eps``).

Every loss is a mean over the anchors / pairs / triplets it is given.
"""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["contrastive_loss", "contrastive_similarity_loss", "triplet_loss", "multi_similarity_loss",
           "tuple_pairs", "ContrastiveLoss", "TripletLoss", "MultiSimilarityLoss"]


def _check_margin(margin: float) -> None:
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")


def contrastive_loss(distances: torch.Tensor, targets: torch.Tensor, margin: float = 0.7) -> torch.Tensor:
    """``mean(1/2 t d^2 + 1/2 (1 - t) max(m - d, 0)^2)`` over pairs (cirtorch's form; its default
    margin 0.7, 0.85 in the ResNet101-GeM recipe).

    ``distances`` ``(n,)`` are Euclidean distances of pair embeddings, ``targets`` ``(n,)`` are 1
    for matching and 0 for non-matching pairs.
    """
    _check_margin(margin)
    d, t = distances.reshape(-1), targets.reshape(-1).to(distances.dtype)
    if d.shape != t.shape:
        raise ValueError(f"{d.numel()} distances but {t.numel()} targets")
    if ((t != 0) & (t != 1)).any():
        raise ValueError("targets must be 0 (non-matching) or 1 (matching)")
    return (0.5 * t * d.pow(2) + 0.5 * (1 - t) * torch.clamp(margin - d, min=0).pow(2)).mean()


def contrastive_similarity_loss(s_pos: torch.Tensor, s_neg: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """[S2]'s similarity form: ``(sum_p -s(a, p) + sum_n [s(a, n) - m]_+) / (#pos + #neg)``.

    ``s_pos``, ``s_neg`` are the cosine similarities of anchors to their positives and negatives
    (any shapes). Positives and negatives are treated independently, as in the distance form.
    """
    terms = torch.cat([-s_pos.reshape(-1), torch.clamp(s_neg.reshape(-1) - margin, min=0)])
    return terms.mean()


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 0.1,
                 squared: bool = True) -> torch.Tensor:
    """``mean([d(a, p)^2 - d(a, n)^2 + m]_+)`` over triplets (``squared=False``: plain distances).

    ``anchor``, ``positive``, ``negative`` are ``(n, D)`` embeddings (row ``i`` is one triplet);
    cirtorch's default margin is 0.1 with squared distances.
    """
    _check_margin(margin)
    if not anchor.shape == positive.shape == negative.shape:
        raise ValueError(f"anchor {tuple(anchor.shape)}, positive {tuple(positive.shape)} and negative "
                         f"{tuple(negative.shape)} must have the same shape")
    dp = (anchor - positive).pow(2).sum(-1)
    dn = (anchor - negative).pow(2).sum(-1)
    if not squared:
        dp, dn = dp.clamp_min(1e-12).sqrt(), dn.clamp_min(1e-12).sqrt()
    return torch.clamp(dp - dn + margin, min=0).mean()


def multi_similarity_loss(embeddings: torch.Tensor, labels: torch.Tensor, alpha: float = 2.0, beta: float = 50.0,
                          base: float = 0.5, eps: float = 0.1) -> torch.Tensor:
    """Multi-similarity loss (Wang, Han, Huang, Dong & Scott, CVPR'19) over a batch.

    Each row is an anchor; the other rows of its label are positives, the rest negatives. Pair
    mining keeps negatives with ``s_n + eps > min_p s_p`` and positives with ``s_p - eps <
    max_n s_n``; then ``1/alpha log(1 + sum_p exp(-alpha (s_p - base))) + 1/beta log(1 + sum_n
    exp(beta (s_n - base)))``, averaged over the anchors (anchors without a mined pair give 0).
    Defaults are the paper's (alpha 2, beta 50, lambda = base 0.5, epsilon 0.1).
    """
    if embeddings.ndim != 2 or len(labels) != len(embeddings):
        raise ValueError("embeddings must be (n, D) with one label per row")
    S = embeddings @ embeddings.T
    labels = torch.as_tensor(labels, device=embeddings.device)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(S), dtype=torch.bool, device=S.device)
    pos_mask, neg_mask = same & ~eye, ~same
    losses = []
    for i in range(len(S)):
        sp, sn = S[i][pos_mask[i]], S[i][neg_mask[i]]
        if sp.numel() == 0 or sn.numel() == 0:
            losses.append(S.new_zeros(()))
            continue
        sn_kept = sn[sn + eps > sp.min()]
        sp_kept = sp[sp - eps < sn.max()]
        term = S.new_zeros(())
        if sp_kept.numel():
            term = term + torch.log1p(torch.exp(-alpha * (sp_kept - base)).sum()) / alpha
        if sn_kept.numel():
            term = term + torch.log1p(torch.exp(beta * (sn_kept - base)).sum()) / beta
        losses.append(term)
    return torch.stack(losses).mean()


def tuple_pairs(embeddings: torch.Tensor, n_negatives: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and targets of the pairs in a batch of training tuples ``(q, p, n_1..n_k)``.

    ``embeddings`` is ``(B * (2 + k), D)``, tuple after tuple; returns the ``B * (1 + k)``
    query-to-other distances and their targets (1 for the positive, 0 for the negatives) -- the
    pairs cirtorch's contrastive loss sees.
    """
    size = 2 + n_negatives
    if embeddings.ndim != 2 or len(embeddings) % size:
        raise ValueError(f"expected tuples of {size} embeddings, got {tuple(embeddings.shape)}")
    E = embeddings.reshape(-1, size, embeddings.shape[1])
    d = (E[:, 1:] - E[:, :1]).pow(2).sum(-1).clamp_min(1e-12).sqrt()
    t = torch.zeros_like(d)
    t[:, 0] = 1
    return d.reshape(-1), t.reshape(-1)


class ContrastiveLoss(nn.Module):
    """:func:`contrastive_loss` on batches of training tuples ``(q, p, n_1..n_k)`` (:func:`tuple_pairs`)."""

    def __init__(self, margin: float = 0.7, n_negatives: int = 5):
        super().__init__()
        _check_margin(margin)
        self.margin, self.n_negatives = margin, n_negatives

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return contrastive_loss(*tuple_pairs(embeddings, self.n_negatives), self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, n_negatives={self.n_negatives}"


class TripletLoss(nn.Module):
    """:func:`triplet_loss` on training tuples: the query with its positive against each negative."""

    def __init__(self, margin: float = 0.1, n_negatives: int = 5, squared: bool = True):
        super().__init__()
        _check_margin(margin)
        self.margin, self.n_negatives, self.squared = margin, n_negatives, squared

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        size = 2 + self.n_negatives
        if embeddings.ndim != 2 or len(embeddings) % size:
            raise ValueError(f"expected tuples of {size} embeddings, got {tuple(embeddings.shape)}")
        E = embeddings.reshape(-1, size, embeddings.shape[1])
        k = self.n_negatives
        a = E[:, :1].expand(-1, k, -1).reshape(-1, E.shape[2])
        p = E[:, 1:2].expand(-1, k, -1).reshape(-1, E.shape[2])
        return triplet_loss(a, p, E[:, 2:].reshape(-1, E.shape[2]), self.margin, self.squared)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, n_negatives={self.n_negatives}, squared={self.squared}"


class MultiSimilarityLoss(nn.Module):
    """:func:`multi_similarity_loss` on training tuples: each tuple's query and positive share a
    label, each negative has its own (they come from different landmarks)."""

    def __init__(self, n_negatives: int = 5, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5):
        super().__init__()
        self.n_negatives, self.alpha, self.beta, self.base = n_negatives, alpha, beta, base

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        size = 2 + self.n_negatives
        B = len(embeddings) // size
        labels = torch.arange(B * size).reshape(B, size)
        labels[:, 1] = labels[:, 0]
        return multi_similarity_loss(embeddings, labels.reshape(-1), self.alpha, self.beta, self.base)

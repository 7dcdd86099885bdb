"""Metric-learning losses, as pure functions on tensors (with thin ``nn.Module`` wrappers).

Embeddings are rows of unit length (``l2n`` of a pooled descriptor), so squared distance and
cosine similarity are tied: ``||a - x||^2 = 2 - 2 s(a, x)`` [S2]. Distances are Euclidean.

* **Contrastive**, distance form [S0] (Hadsell, Chopra & LeCun, CVPR'06), as cirtorch writes it
  (Radenović, Tolias & Chum, ECCV'16 / TPAMI'19):
  ``l(d, t) = 1/2 t d^2 + 1/2 (1 - t) [m - d]_+^2``: matching pairs (``t = 1``) are pulled
  together, non-matching pairs pushed apart only while closer than the margin ``m``.
* **Contrastive**, similarity form [S2]: per anchor ``sum_p (1 - s(a, p)) + sum_n [s(a, n) - m]_+``
  ([S2] writes ``-s(a, p)``; ``1 - s`` differs by a constant and is 0 for a perfect match).
* **Triplet** [S0] (Wang et al. CVPR'14; Schroff et al. CVPR'15):
  ``[d(a, p)^2 - d(a, n)^2 + m]_+`` (or with plain distances): only the *difference* matters;
  similarity form [S2] ``[s(a, n) - s(a, p) + m]_+``. On unit vectors the squared-distance form
  with margin ``m`` is twice the similarity form with margin ``m / 2``.
* **Multi-similarity** [S2] (Wang, Han, Huang, Dong & Scott, CVPR'19): per anchor, after its pair
  mining (negatives with ``s_n + eps > min_p s_p``, positives with ``s_p - eps < max_n s_n``),
  ``1/alpha log(1 + sum_p e^{-alpha (s_p - lambda)}) + 1/beta log(1 + sum_n e^{beta (s_n - lambda)})``:
  the hardest pairs get the largest weights.

Reductions: ``"mean"`` (default) or ``"sum"`` over pairs / triplets / anchors (cirtorch sums over
the pairs of a tuple; with Adam the scale hardly matters).

Training tuples ``(q, p, n_1..n_k)`` are stacked as rows ``B * (2 + k)`` of embeddings, tuple
after tuple; the modules take that layout (:func:`tuple_pairs`).
"""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["contrastive_loss", "contrastive_similarity_loss", "triplet_loss", "triplet_similarity_loss",
           "multi_similarity_loss", "multi_similarity_from_similarities", "tuple_pairs", "tuple_similarities",
           "ContrastiveLoss", "ContrastiveSimilarityLoss", "TripletLoss", "MultiSimilarityLoss", "LOSSES"]

#: [EXT cirtorch] default margins: contrastive 0.7 (0.85 in the ResNet101-GeM recipe), triplet 0.1.
CONTRASTIVE_MARGIN = 0.7
TRIPLET_MARGIN = 0.1
#: [EXT, not in the seeds] similarity-form margin (negatives count once more similar than this).
SIMILARITY_MARGIN = 0.5
#: [EXT pytorch-metric-learning defaults; MS paper: alpha 2, beta 50, lambda 0.5 (official code: beta 40), eps 0.1]
MS_ALPHA, MS_BETA, MS_BASE, MS_EPS = 2.0, 50.0, 0.5, 0.1


def _check_margin(margin: float) -> None:
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def contrastive_loss(distances: torch.Tensor, targets: torch.Tensor, margin: float = CONTRASTIVE_MARGIN,
                     reduction: str = "mean") -> torch.Tensor:
    """``1/2 t d^2 + 1/2 (1 - t) max(m - d, 0)^2`` per pair, reduced (cirtorch's form).

    Parameters
    ----------
    distances : (n,) tensor
        Euclidean distances of the pairs' embeddings.
    targets : (n,) tensor
        1 for matching pairs, 0 for non-matching ones.
    margin : float
        ``m``: non-matching pairs farther apart than ``m`` cost nothing.
    """
    _check_margin(margin)
    d, t = distances.reshape(-1), targets.reshape(-1).to(distances.dtype)
    if d.shape != t.shape:
        raise ValueError(f"{d.numel()} distances but {t.numel()} targets")
    if ((t != 0) & (t != 1)).any():
        raise ValueError("targets must be 0 (non-matching) or 1 (matching)")
    return _reduce(0.5 * t * d.pow(2) + 0.5 * (1 - t) * torch.clamp(margin - d, min=0).pow(2), reduction)


def contrastive_similarity_loss(s_pos: torch.Tensor, s_neg: torch.Tensor, margin: float = SIMILARITY_MARGIN,
                                reduction: str = "mean") -> torch.Tensor:
    """[S2]'s similarity form, per anchor ``sum_p (1 - s(a, p)) + sum_n [s(a, n) - m]_+``, reduced
    over anchors.

    ``s_pos`` ``(B, P)`` and ``s_neg`` ``(B, N)`` are the cosine similarities of ``B`` anchors to
    their positives and negatives (1-D inputs are one anchor). Positives and negatives are
    treated independently, as in the distance form.
    """
    s_pos, s_neg = torch.atleast_2d(s_pos), torch.atleast_2d(s_neg)
    if len(s_pos) != len(s_neg):
        raise ValueError(f"{len(s_pos)} anchors with positives but {len(s_neg)} with negatives")
    per_anchor = (1 - s_pos).sum(1) + torch.clamp(s_neg - margin, min=0).sum(1)
    return _reduce(per_anchor, reduction)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 margin: float = TRIPLET_MARGIN, squared: bool = True, reduction: str = "mean") -> torch.Tensor:
    """``[d(a, p)^2 - d(a, n)^2 + m]_+`` per triplet (``squared=False``: plain distances), reduced.

    ``anchor``, ``positive``, ``negative`` are ``(n, D)`` embeddings, row ``i`` one triplet;
    cirtorch's default margin is 0.1 with squared distances.
    """
    _check_margin(margin)
    if not anchor.shape == positive.shape == negative.shape:
        raise ValueError(f"anchor {tuple(anchor.shape)}, positive {tuple(positive.shape)} and negative "
                         f"{tuple(negative.shape)} must have the same shape")
    dp = (anchor - positive).pow(2).sum(-1)
    dn = (anchor - negative).pow(2).sum(-1)
    if not squared:  # the clamp keeps the gradient of sqrt finite at d = 0
        dp, dn = dp.clamp_min(1e-12).sqrt(), dn.clamp_min(1e-12).sqrt()
    return _reduce(torch.clamp(dp - dn + margin, min=0), reduction)


def triplet_similarity_loss(s_pos: torch.Tensor, s_neg: torch.Tensor, margin: float = TRIPLET_MARGIN / 2,
                            reduction: str = "mean") -> torch.Tensor:
    """[S2]'s similarity form ``[s(a, n) - s(a, p) + m]_+`` per triplet (``s_pos``, ``s_neg`` of the
    same shape), reduced."""
    _check_margin(margin)
    if s_pos.shape != s_neg.shape:
        raise ValueError(f"s_pos {tuple(s_pos.shape)} and s_neg {tuple(s_neg.shape)} must have the same shape")
    return _reduce(torch.clamp(s_neg - s_pos + margin, min=0), reduction)


def multi_similarity_from_similarities(s_pos: torch.Tensor, s_neg: torch.Tensor, alpha: float = MS_ALPHA,
                                       beta: float = MS_BETA, base: float = MS_BASE, eps: float = MS_EPS, *,
                                       pos_mask: torch.Tensor | None = None, neg_mask: torch.Tensor | None = None,
                                       reduction: str = "mean") -> torch.Tensor:
    """Multi-similarity loss of ``B`` anchors from their similarities ``s_pos (B, P)``, ``s_neg
    (B, N)`` (masks mark the valid entries when anchors have different numbers of pairs).

    Pair mining first (Wang et al. CVPR'19 eqs 5-6): keep negatives with ``s_n + eps > min_p s_p``
    and positives with ``s_p - eps < max_n s_n``; then per anchor ``1/alpha log(1 + sum_p
    exp(-alpha (s_p - base))) + 1/beta log(1 + sum_n exp(beta (s_n - base)))``. An anchor
    without a positive or a negative contributes 0 (and still counts in the mean, as the
    official code divides by the batch size).
    """
    s_pos, s_neg = torch.atleast_2d(s_pos), torch.atleast_2d(s_neg)
    if len(s_pos) != len(s_neg):
        raise ValueError(f"{len(s_pos)} anchors with positives but {len(s_neg)} with negatives")
    pm = torch.ones_like(s_pos, dtype=torch.bool) if pos_mask is None else pos_mask.bool()
    nm = torch.ones_like(s_neg, dtype=torch.bool) if neg_mask is None else neg_mask.bool()
    inf = torch.tensor(float("inf"), dtype=s_pos.dtype, device=s_pos.device)
    min_pos = torch.where(pm, s_pos, inf).amin(1, keepdim=True)
    max_neg = torch.where(nm, s_neg, -inf).amax(1, keepdim=True)
    keep_n = nm & (s_neg + eps > min_pos)
    keep_p = pm & (s_pos - eps < max_neg)
    valid = pm.any(1) & nm.any(1)
    pos_term = torch.log1p((torch.exp(-alpha * (s_pos - base)) * keep_p).sum(1)) / alpha
    neg_term = torch.log1p((torch.exp(beta * (s_neg - base)) * keep_n).sum(1)) / beta
    return _reduce(torch.where(valid, pos_term + neg_term, torch.zeros_like(pos_term)), reduction)


def multi_similarity_loss(embeddings: torch.Tensor, labels, alpha: float = MS_ALPHA, beta: float = MS_BETA,
                          base: float = MS_BASE, eps: float = MS_EPS, reduction: str = "mean") -> torch.Tensor:
    """Multi-similarity loss over a batch of unit ``embeddings (n, D)`` with ``labels (n,)``: every
    row is an anchor, the other rows of its label its positives, the rest its negatives
    (:func:`multi_similarity_from_similarities`). Defaults: alpha 2, beta 50, lambda 0.5, eps 0.1.
    """
    S, pos, neg = _batch_pairs(embeddings, labels)
    return multi_similarity_from_similarities(S, S, alpha, beta, base, eps, pos_mask=pos, neg_mask=neg,
                                              reduction=reduction)


def _batch_pairs(embeddings: torch.Tensor, labels) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Gram matrix ``S`` of a labelled batch and its positive (same label, not itself) and
    negative (other label) masks (shared with :mod:`rrlib.learn.metrix`)."""
    labels = torch.as_tensor(labels, device=embeddings.device)
    if embeddings.ndim != 2 or len(labels) != len(embeddings):
        raise ValueError("embeddings must be (n, D) with one label per row")
    S = embeddings @ embeddings.T
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(S), dtype=torch.bool, device=S.device)
    return S, same & ~eye, ~same


def _tuples(embeddings: torch.Tensor, n_negatives: int) -> torch.Tensor:
    size = 2 + n_negatives
    if embeddings.ndim != 2 or len(embeddings) == 0 or len(embeddings) % size:
        raise ValueError(f"expected tuples of {size} embeddings (q, p, {n_negatives} negatives), "
                         f"got {tuple(embeddings.shape)}")
    return embeddings.reshape(-1, size, embeddings.shape[1])


def tuple_pairs(embeddings: torch.Tensor, n_negatives: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and targets of the pairs in a batch of training tuples ``(q, p, n_1..n_k)``.

    ``embeddings`` is ``(B * (2 + k), D)``, tuple after tuple; returns the ``B * (1 + k)``
    query-to-other distances and their targets (1 for the positive, 0 for the negatives) -- the
    pairs cirtorch's contrastive loss sees.
    """
    E = _tuples(embeddings, n_negatives)
    d = (E[:, 1:] - E[:, :1]).pow(2).sum(-1).clamp_min(1e-12).sqrt()
    t = torch.zeros_like(d)
    t[:, 0] = 1
    return d.reshape(-1), t.reshape(-1)


def tuple_similarities(embeddings: torch.Tensor, n_negatives: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``s(q, p)`` ``(B, 1)`` and ``s(q, n_j)`` ``(B, k)`` of a batch of training tuples."""
    E = _tuples(embeddings, n_negatives)
    s = (E[:, 1:] * E[:, :1]).sum(-1)
    return s[:, :1], s[:, 1:]


class ContrastiveLoss(nn.Module):
    """:func:`contrastive_loss` on batches of training tuples (:func:`tuple_pairs`)."""

    def __init__(self, margin: float = CONTRASTIVE_MARGIN, n_negatives: int = 5, reduction: str = "mean"):
        super().__init__()
        _check_margin(margin)
        self.margin, self.n_negatives, self.reduction = margin, n_negatives, reduction

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return contrastive_loss(*tuple_pairs(embeddings, self.n_negatives), self.margin, self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, n_negatives={self.n_negatives}"


class ContrastiveSimilarityLoss(nn.Module):
    """:func:`contrastive_similarity_loss` on training tuples (the query is the anchor)."""

    def __init__(self, margin: float = SIMILARITY_MARGIN, n_negatives: int = 5, reduction: str = "mean"):
        super().__init__()
        _check_margin(margin)
        self.margin, self.n_negatives, self.reduction = margin, n_negatives, reduction

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return contrastive_similarity_loss(*tuple_similarities(embeddings, self.n_negatives), self.margin,
                                           self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, n_negatives={self.n_negatives}"


class TripletLoss(nn.Module):
    """:func:`triplet_loss` on training tuples: the query and its positive against each negative
    (``k`` triplets per tuple)."""

    def __init__(self, margin: float = TRIPLET_MARGIN, n_negatives: int = 5, squared: bool = True,
                 reduction: str = "mean"):
        super().__init__()
        _check_margin(margin)
        self.margin, self.n_negatives, self.squared, self.reduction = margin, n_negatives, squared, reduction

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        E = _tuples(embeddings, self.n_negatives)
        k, D = self.n_negatives, E.shape[2]
        a = E[:, :1].expand(-1, k, -1).reshape(-1, D)
        p = E[:, 1:2].expand(-1, k, -1).reshape(-1, D)
        return triplet_loss(a, p, E[:, 2:].reshape(-1, D), self.margin, self.squared, self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, n_negatives={self.n_negatives}, squared={self.squared}"


class MultiSimilarityLoss(nn.Module):
    """:func:`multi_similarity_from_similarities` on training tuples: the query is the anchor, its
    positive the one positive, the tuple's negatives its negatives."""

    def __init__(self, n_negatives: int = 5, alpha: float = MS_ALPHA, beta: float = MS_BETA, base: float = MS_BASE,
                 eps: float = MS_EPS, reduction: str = "mean"):
        super().__init__()
        self.n_negatives, self.alpha, self.beta, self.base, self.eps = n_negatives, alpha, beta, base, eps
        self.reduction = reduction

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return multi_similarity_from_similarities(*tuple_similarities(embeddings, self.n_negatives), self.alpha,
                                                  self.beta, self.base, self.eps, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, base={self.base}, eps={self.eps}"


#: loss name -> (module class, default margin or None)
LOSSES = {
    "contrastive": (ContrastiveLoss, CONTRASTIVE_MARGIN),
    "contrastive-similarity": (ContrastiveSimilarityLoss, SIMILARITY_MARGIN),
    "triplet": (TripletLoss, TRIPLET_MARGIN),
    "multi-similarity": (MultiSimilarityLoss, None),
}

r"""Metrix: mixup for deep metric learning [S2], as pure functions on tensors.

Venkataramanan, Psomas, Kijak, Amsaleg, Karantzalos & Avrithis, "It takes two to tango: Mixup for
deep metric learning", ICLR 2022 (arXiv 2106.04990); [S2] is the talk that presents it (spec §13.2).

* **Mixing** ``mix_λ(x, x') = λ x + (1 - λ) x'`` of inputs, intermediate features or embeddings
  (input / feature / embedding mixup), ``λ ~ Beta(α, α)`` (:func:`mix`, :func:`sample_lambda`).
* **Labels belong to pairs.** For an anchor ``a`` with positives ``P(a)`` and negatives ``N(a)``,
  ``U(a) = {(p, 1) : p ∈ P(a)} ∪ {(n, 0) : n ∈ N(a)}``; the mixed set is
  ``V(a) = {(mix_λ(x, x'), mix_λ(y, y')) : ((x, y), (x', y')) ∈ M(a)}`` for a set of pairs
  ``M(a) ⊆ U(a)^2`` (:func:`mixing_pairs`, :func:`mix_examples`). A positive-negative mix carries the
  soft label ``λ``.
* **Generic loss with soft labels** [S2]:
  ``ℓ(a) = σ⁺(Σ_{(x,y)} y ρ⁺(s(a,x))) + σ⁻(Σ_{(x,y)} (1 - y) ρ⁻(s(a,x)))`` over ``U(a)`` or ``V(a)``
  (:func:`soft_label_loss`). With hard labels it is the usual loss; the ``(σ, ρ)`` pairs are
  :func:`contrastive_terms` and :func:`multi_similarity_terms`.
* **Positivity** [S2]: a mixed embedding ``v`` behaves as a positive for ``a``,
  ``Pos(a, v) ⟺ ∂ℓ(a)/∂s(a, v) <= 0``; :func:`positivity_probability` estimates ``P(Pos(a, v))``
  against ``λ`` by Monte Carlo under stated assumptions.

What the seed leaves open, and what is chosen here
---------------------------------------------------
* ``α`` of ``Beta(α, α)``: **2.0** [EXT official code billpsomas/Metrix_ICLR22 @7ce730c,
  ``main.py`` ``--alpha`` default 2.0, ``mixup/utils.py`` calls ``mixup_data(..., alpha=2.0)``; its
  README trains every setting with ``--alpha 2.0``]. ``Beta(2, 2)`` favours balanced mixes
  (mean 1/2, density 0 at the ends), unlike classification mixup's ``α`` <= 1.
* **Which pairs are mixed**: positive-negative pairs ``(p, n)``, with ``λ`` on the positive (soft label
  ``λ``), and anchor-negative pairs ``(a, n)`` (the anchor is its own positive) [EXT same code,
  ``embed_posneg_pair_mixup_for_pos_anchor`` for anchors with a positive in the batch,
  ``embed_neg_pair_mixup_without_posanchor`` for the others; ``mixup/utils.py``]. [S2]'s comparison
  table credits Metrix with ``ANC-NEG``. Positive-positive and negative-negative mixes keep a hard
  label; the seed's ``U(a)^2`` (all pairs) is available as ``pairs="all"``.
* **Mixing weight** ``w``: the code adds ``0.4 x`` the mixed loss to the clean loss
  (:data:`METRIX_WEIGHT`, ``train.py``), one ``λ`` per batch (:func:`metrix_loss`).
* Embedding mixup re-normalises the mixed embedding before the cosine similarity (the code's
  similarity is cosine); ``normalize=False`` keeps the plain dot product.
* Contrastive uses ``ρ⁺(s) = 1 - s`` as :func:`rrlib.learn.losses.contrastive_similarity_loss` does
  ([S2] writes ``-s``: a constant ``Σ y`` apart, same gradient). Multi-similarity's pair *mining* is
  not part of the generic ``ℓ``: it selects ``U(a)`` beforehand (pass a ``mask``).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch
from scipy.special import betaincinv

from .losses import MS_ALPHA, MS_BASE, MS_BETA, SIMILARITY_MARGIN, _batch_pairs, _reduce

__all__ = ["METRIX_ALPHA", "METRIX_WEIGHT", "PAIRS", "MetrixTupleLoss", "PairTerms", "contrastive_terms", "multi_similarity_terms",
           "mix", "sample_lambda", "mixing_pairs", "mix_examples", "soft_label_loss", "metrix_loss",
           "metrix_mixed_loss", "mixing_partners", "mixed_examples_loss",
           "mixed_similarity", "positivity_probability", "POSITIVITY_POS", "POSITIVITY_NEG", "POSITIVITY_DIM"]

#: [EXT billpsomas/Metrix_ICLR22 main.py/mixup/utils.py] ``λ ~ Beta(2, 2)``.
METRIX_ALPHA = 2.0
#: [EXT billpsomas/Metrix_ICLR22 train.py] total loss = clean + 0.4 mixed.
METRIX_WEIGHT = 0.4
#: the pair sets :func:`mixing_pairs` knows.
PAIRS = ("pos-neg", "anchor-neg", "all")
#: [not in the seeds] positivity assumptions: mean and std of the anchor-positive and anchor-negative
#: cosine similarities. Negatives are *hard* (above the 0.5 margin / MS base), as the negatives the
#: code mixes are (it mines the hardest).
POSITIVITY_POS = (0.8, 0.05)
POSITIVITY_NEG = (0.65, 0.05)
#: [S2] the R@k table's embedding dimension.
POSITIVITY_DIM = 512


class PairTerms(NamedTuple):
    """The four functions of [S2]'s generic loss ``σ⁺(Σ y ρ⁺(s)) + σ⁻(Σ (1 - y) ρ⁻(s))``."""
    sigma_pos: Callable[[torch.Tensor], torch.Tensor]
    rho_pos: Callable[[torch.Tensor], torch.Tensor]
    sigma_neg: Callable[[torch.Tensor], torch.Tensor]
    rho_neg: Callable[[torch.Tensor], torch.Tensor]
    name: str = ""


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def contrastive_terms(margin: float = SIMILARITY_MARGIN) -> PairTerms:
    """Contrastive, similarity form [S2]: ``σ± = id``, ``ρ⁺(s) = 1 - s``, ``ρ⁻(s) = [s - m]_+``.

    With hard labels, :func:`soft_label_loss` is then
    :func:`rrlib.learn.losses.contrastive_similarity_loss` (Hadsell, Chopra & LeCun CVPR'06).
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    return PairTerms(_identity, lambda s: 1 - s, _identity, lambda s: torch.clamp(s - margin, min=0),
                     f"contrastive(m={margin})")


def multi_similarity_terms(alpha: float = MS_ALPHA, beta: float = MS_BETA, base: float = MS_BASE) -> PairTerms:
    """Multi-similarity [S2] (Wang et al. CVPR'19): ``σ⁺(t) = log(1 + t) / α``,
    ``ρ⁺(s) = e^{-α (s - λ)}``, ``σ⁻(t) = log(1 + t) / β``, ``ρ⁻(s) = e^{β (s - λ)}`` (``λ`` = ``base``).

    With hard labels and all pairs kept, :func:`soft_label_loss` is
    :func:`rrlib.learn.losses.multi_similarity_from_similarities` (whose mining is a mask here).
    """
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"alpha and beta must be > 0, got {alpha}, {beta}")
    return PairTerms(lambda t: torch.log1p(t) / alpha, lambda s: torch.exp(-alpha * (s - base)),
                     lambda t: torch.log1p(t) / beta, lambda s: torch.exp(beta * (s - base)),
                     f"multi-similarity(alpha={alpha}, beta={beta}, base={base})")


def _terms(terms) -> PairTerms:
    if isinstance(terms, PairTerms):
        return terms
    if terms == "contrastive":
        return contrastive_terms()
    if terms == "multi-similarity":
        return multi_similarity_terms()
    raise ValueError(f"terms must be a PairTerms, 'contrastive' or 'multi-similarity', got {terms!r}")


# ------------------------------------------------------------------------------------ mixing
def mix(x: torch.Tensor, x2: torch.Tensor, lam) -> torch.Tensor:
    """``mix_λ(x, x') = λ x + (1 - λ) x'`` [S2] (Zhang et al. ICLR'18).

    Works on inputs, features or embeddings (and on labels). ``lam`` is a scalar or one value per row
    (shape ``(n,)``, broadcast over the trailing dimensions of ``(n, ...)`` tensors).
    """
    if x.shape != x2.shape:
        raise ValueError(f"cannot mix shapes {tuple(x.shape)} and {tuple(x2.shape)}")
    lam = torch.as_tensor(lam, dtype=x.dtype if x.is_floating_point() else torch.get_default_dtype(),
                          device=x.device)
    if lam.dim() == 1 and x.dim() >= 1:
        if len(lam) != len(x):
            raise ValueError(f"{len(lam)} mixing factors for {len(x)} rows")
        lam = lam.reshape(-1, *([1] * (x.dim() - 1)))
    elif lam.dim() > 1:
        raise ValueError(f"lam must be a scalar or one value per row, got shape {tuple(lam.shape)}")
    return lam * x + (1 - lam) * x2


def _generator(generator) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {generator!r}")


def _beta(a: float, b: float, shape, generator, dtype=torch.float64) -> torch.Tensor:
    """Beta(a, b) draws by inverse CDF of ``torch.rand`` (so that a ``torch.Generator`` seeds them)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return torch.from_numpy(np.asarray(betaincinv(a, b, u.numpy()), dtype=np.float64)).to(dtype)


def sample_lambda(n: int | None = None, alpha: float = METRIX_ALPHA, generator=None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """Mixing factors ``λ ~ Beta(α, α)``: a 0-d tensor (``n=None``) or ``(n,)``.

    ``α = 2`` by default, the official code's value (:data:`METRIX_ALPHA`). ``generator`` is a
    ``torch.Generator``, an int seed or ``None`` (torch's global generator); same seed, same draws.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    shape = () if n is None else (int(n),)
    return _beta(alpha, alpha, shape, _generator(generator), dtype or torch.get_default_dtype())


def mixing_pairs(y: torch.Tensor, pairs: str = "pos-neg") -> tuple[torch.Tensor, torch.Tensor]:
    """Index pairs ``(i, j)`` of ``U(a)`` to mix, for hard labels ``y`` (1 positive, 0 negative).

    * ``"pos-neg"``: every positive ``i`` with every negative ``j`` (Metrix's choice); ``λ`` weighs the
      positive, so the mixed label is ``λ``.
    * ``"all"``: every ordered pair ``i != j`` of ``U(a)^2`` (the seed's definition of ``V(a)``).
    * ``"anchor-neg"`` mixes the anchor itself with each negative: see :func:`mix_examples`; here it
      returns the negatives as ``j`` and ``-1`` (the anchor) as ``i``.
    """
    y = torch.as_tensor(y).reshape(-1)
    if ((y != 0) & (y != 1)).any():
        raise ValueError("labels of U(a) must be 0 (negative) or 1 (positive)")
    pos, neg = torch.nonzero(y == 1).reshape(-1), torch.nonzero(y == 0).reshape(-1)
    if pairs == "pos-neg":
        i, j = torch.meshgrid(pos, neg, indexing="ij")
        return i.reshape(-1), j.reshape(-1)
    if pairs == "anchor-neg":
        return torch.full_like(neg, -1), neg
    if pairs == "all":
        n = len(y)
        i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        off = i != j
        return i[off], j[off]
    raise ValueError(f"pairs must be one of {PAIRS}, got {pairs!r}")


def mix_examples(x: torch.Tensor, y, lam, pairs="pos-neg", *, anchor: torch.Tensor | None = None,
                 normalize: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The mixed set ``V(a)`` of one anchor: ``(mix_λ(x_i, x_j), mix_λ(y_i, y_j))`` for its pairs.

    Parameters
    ----------
    x : (n, ...) tensor
        The examples of ``U(a)`` (inputs, features or embeddings).
    y : (n,) tensor
        Their hard labels, 1 positive, 0 negative.
    lam : float or (m,) tensor
        One factor for all pairs, or one per pair.
    pairs : str or (i, j) tensors
        A name of :func:`mixing_pairs` or explicit index tensors. ``"anchor-neg"`` needs ``anchor``
        (shape ``x.shape[1:]``, label 1).
    normalize : bool
        L2-normalise the mixed rows (embedding mixup before a cosine similarity).

    Returns ``(v, y_v)``: ``(m, ...)`` mixed examples and ``(m,)`` soft labels.
    """
    y = torch.as_tensor(y, device=x.device).reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"{len(x)} examples but {len(y)} labels")
    i, j = mixing_pairs(y, pairs) if isinstance(pairs, str) else (torch.as_tensor(pairs[0]), torch.as_tensor(pairs[1]))
    i, j = i.to(x.device), j.to(x.device)
    yf = y.to(x.dtype if x.is_floating_point() else torch.get_default_dtype())
    if isinstance(pairs, str) and pairs == "anchor-neg":
        if anchor is None:
            raise ValueError("pairs='anchor-neg' needs the anchor")
        if anchor.shape != x.shape[1:]:
            raise ValueError(f"anchor shape {tuple(anchor.shape)} does not match examples {tuple(x.shape[1:])}")
        first, y_first = anchor.expand(len(j), *x.shape[1:]), torch.ones(len(j), dtype=yf.dtype, device=x.device)
    else:
        first, y_first = x[i], yf[i]
    v = mix(first, x[j], lam)
    if normalize:
        v = v / v.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, *([1] * (v.dim() - 1)))
    return v, mix(y_first, yf[j], lam)


# ------------------------------------------------------------------------------------ losses
def soft_label_loss(s: torch.Tensor, y: torch.Tensor, terms="contrastive", mask: torch.Tensor | None = None,
                    reduction: str = "mean") -> torch.Tensor:
    """[S2]'s generic loss with soft labels, per anchor, reduced over anchors:

    ``ℓ(a) = σ⁺(Σ_x y ρ⁺(s(a, x))) + σ⁻(Σ_x (1 - y) ρ⁻(s(a, x)))``.

    ``s`` and ``y`` are ``(B, n)`` (1-D: one anchor): similarities of ``B`` anchors to the examples of
    their ``U(a)`` or ``V(a)`` and the labels in ``[0, 1]``; ``mask`` marks valid entries. Hard labels
    give the usual losses; a mixed example with label ``λ`` is a positive of weight ``λ`` and a
    negative of weight ``1 - λ`` inside the same ``σ``. An anchor with no positive weight has
    ``σ⁺(0) = 0`` (the MS function of :mod:`rrlib.learn.losses` instead drops such an anchor whole).
    """
    t = _terms(terms)
    s, y = torch.atleast_2d(s), torch.atleast_2d(torch.as_tensor(y, dtype=s.dtype, device=s.device))
    if s.shape != y.shape:
        raise ValueError(f"similarities {tuple(s.shape)} and labels {tuple(y.shape)} must have the same shape")
    if ((y < 0) | (y > 1)).any():
        raise ValueError("labels must lie in [0, 1]")
    m = torch.ones_like(s, dtype=torch.bool) if mask is None else torch.atleast_2d(mask).bool()
    zero = torch.zeros((), dtype=s.dtype, device=s.device)
    pos = torch.where(m & (y > 0), y * t.rho_pos(s), zero).sum(1)
    neg = torch.where(m & (y < 1), (1 - y) * t.rho_neg(s), zero).sum(1)
    return _reduce(t.sigma_pos(pos) + t.sigma_neg(neg), reduction)


def mixed_similarity(s_ax: torch.Tensor, s_ax2: torch.Tensor, s_xx2: torch.Tensor, lam, normalize: bool = True,
                     sq_norms: tuple = (1.0, 1.0)) -> torch.Tensor:
    """``s(a, v)`` of ``v = mix_λ(x, x')`` from the similarities alone (``a`` a unit vector):

    ``(λ s(a,x) + (1-λ) s(a,x')) / ||λ x + (1-λ) x'||`` with
    ``||·||^2 = λ^2 |x|^2 + (1-λ)^2 |x'|^2 + 2 λ(1-λ) s(x, x')`` (``normalize=False``: the numerator).
    """
    lam = torch.as_tensor(lam, dtype=s_ax.dtype, device=s_ax.device)
    num = lam * s_ax + (1 - lam) * s_ax2
    if not normalize:
        return num
    sq = lam ** 2 * sq_norms[0] + (1 - lam) ** 2 * sq_norms[1] + 2 * lam * (1 - lam) * s_xx2
    return num / sq.clamp_min(1e-24).sqrt()


def _batch_lambda(lam, alpha: float, generator, embeddings: torch.Tensor) -> torch.Tensor:
    """``lam`` as a tensor of the embeddings' dtype, drawn from ``Beta(α, α)`` when None."""
    if lam is None:
        lam = sample_lambda(None, alpha, generator, embeddings.dtype)
    return torch.as_tensor(lam, dtype=embeddings.dtype, device=embeddings.device)


def metrix_mixed_loss(embeddings: torch.Tensor, labels, terms="contrastive", lam=None, *, pairs: str = "pos-neg",
                      alpha: float = METRIX_ALPHA, normalize: bool = True, generator=None,
                      reduction: str = "mean") -> torch.Tensor:
    """``ℓ_mixed`` of :func:`metrix_loss` alone (embedding mixup of a labelled batch, every row an
    anchor against its ``V(a)``), so that it can be added to another clean loss (e.g.
    :func:`rrlib.learn.losses.multi_similarity_loss`, with its pair mining)."""
    t = _terms(terms)
    S, pos, neg = _batch_pairs(embeddings, labels)
    lam = _batch_lambda(lam, alpha, generator, embeddings)
    n = len(embeddings)
    d = S.diagonal()
    if pairs == "pos-neg":  # s(a, mix(p, n)) for all (a, p, n)
        s_mix = mixed_similarity(S[:, :, None], S[:, None, :], S[None, :, :], lam, normalize,
                                 (d[None, :, None], d[None, None, :]))
        valid = pos[:, :, None] & neg[:, None, :]
        s_mix, valid = s_mix.reshape(n, -1), valid.reshape(n, -1)
    elif pairs == "anchor-neg":  # s(a, mix(a, n)) for all (a, n)
        s_mix = mixed_similarity(d[:, None], S, S, lam, normalize, (d[:, None], d[None, :]))
        valid = neg
    else:
        raise ValueError(f"metrix_loss pairs must be 'pos-neg' or 'anchor-neg', got {pairs!r}")
    return soft_label_loss(s_mix, lam.expand_as(s_mix), t, mask=valid, reduction=reduction)


def metrix_loss(embeddings: torch.Tensor, labels, terms="contrastive", lam=None, *, pairs: str = "pos-neg",
                weight: float = METRIX_WEIGHT, alpha: float = METRIX_ALPHA, normalize: bool = True,
                generator=None, reduction: str = "mean") -> torch.Tensor:
    """Embedding-space Metrix on a batch: ``ℓ_clean + w ℓ_mixed``, every row an anchor.

    ``ℓ_clean`` is :func:`soft_label_loss` over ``U(a)`` (other rows of the label: positives, the rest:
    negatives); ``ℓ_mixed`` over ``V(a)``: for ``pairs="pos-neg"`` every ``(p, n)`` of ``P(a) x N(a)``,
    for ``"anchor-neg"`` every ``(a, n)``, mixed with one ``λ`` (drawn from ``Beta(α, α)`` when ``lam``
    is None) and re-normalised (``normalize``), label ``λ`` (:func:`metrix_mixed_loss`). Mixed
    similarities are computed from the Gram matrix (:func:`mixed_similarity`), so the cost is
    ``O(n^3)`` scalars, not vectors. ``w = 0.4`` and one ``λ`` per batch follow the official code
    (:data:`METRIX_WEIGHT`).
    """
    t = _terms(terms)
    S, pos, neg = _batch_pairs(embeddings, labels)
    lam = _batch_lambda(lam, alpha, generator, embeddings)
    clean = soft_label_loss(S, pos.to(S.dtype), t, mask=pos | neg, reduction=reduction)
    mixed = metrix_mixed_loss(embeddings, labels, t, lam, pairs=pairs, normalize=normalize, reduction=reduction)
    return clean + weight * mixed


def mixing_partners(labels, generator=None) -> torch.Tensor:
    """For every row ``i`` of a labelled batch, a random row ``j`` of another label (uniform among
    them): the pairs ``(i, j)`` that input / feature mixup mixes (one mixed example per row)."""
    labels = torch.as_tensor(labels).reshape(-1)
    other = labels[:, None] != labels[None, :]
    if not other.any(1).all():
        raise ValueError("every row needs a row of another label to mix with")
    u = torch.rand(other.shape, generator=_generator(generator), dtype=torch.float64)
    return torch.where(other, u, -1.0).argmax(1)


def mixed_examples_loss(anchors: torch.Tensor, labels, mixed: torch.Tensor, i, j, lam, terms="contrastive",
                        reduction: str = "mean") -> torch.Tensor:
    """``ℓ_mixed`` for mixed examples computed by the network (input or feature mixup).

    ``anchors`` ``(n, D)`` are the clean unit embeddings of a labelled batch, ``mixed`` ``(m, D)`` the
    unit embeddings of ``mix_λ(x_i, x_j)`` (mixed inputs or features, embedded), ``i``, ``j`` their
    rows (labels of ``i`` and ``j`` differ). For an anchor ``a``, a mix whose row ``i`` is a positive
    of ``a`` (same label, not ``a`` itself) and row ``j`` a negative is in ``V(a)`` with the soft
    label ``λ``; one with ``j`` positive and ``i`` negative with ``1 - λ``; other mixes are left out
    (positive-negative pairs only, as :func:`metrix_mixed_loss`). Reduced over anchors.
    """
    labels = torch.as_tensor(labels, device=anchors.device).reshape(-1)
    i, j = torch.as_tensor(i, device=anchors.device), torch.as_tensor(j, device=anchors.device)
    lam = torch.as_tensor(lam, dtype=anchors.dtype, device=anchors.device)
    rows = torch.arange(len(anchors), device=anchors.device)[:, None]
    pos_i = (labels[:, None] == labels[i][None, :]) & (rows != i[None, :])
    pos_j = (labels[:, None] == labels[j][None, :]) & (rows != j[None, :])
    neg_i, neg_j = labels[:, None] != labels[i][None, :], labels[:, None] != labels[j][None, :]
    valid_i, valid_j = pos_i & neg_j, pos_j & neg_i
    y = torch.where(valid_i, lam, 1 - lam).expand(len(anchors), len(i))
    return soft_label_loss(anchors @ mixed.T, y, terms, mask=valid_i | valid_j, reduction=reduction)


# -------------------------------------------------------------------------------- positivity
def _clipped_normal(mean_std, shape, generator) -> torch.Tensor:
    mean, std = mean_std
    if std < 0 or not -1 <= mean <= 1:
        raise ValueError(f"similarity (mean, std) must have mean in [-1, 1] and std >= 0, got {mean_std}")
    return (mean + std * torch.randn(shape, generator=generator, dtype=torch.float64)).clamp(-1, 1)


def positivity_probability(lam, n_samples: int = 20_000, *, terms="multi-similarity", pairs: str = "pos-neg",
                           pos_similarity: tuple[float, float] = POSITIVITY_POS,
                           neg_similarity: tuple[float, float] = POSITIVITY_NEG, n_pos: int = 1, n_neg: int = 1,
                           dim: int = POSITIVITY_DIM, normalize: bool = True, strict: bool = False,
                           generator=None) -> torch.Tensor:
    r"""Monte-Carlo estimate of ``P(Pos(a, v))`` for one mixed embedding ``v``, against ``λ`` [S2].

    ``Pos(a, v) ⟺ ∂ℓ(a)/∂s(a, v) <= 0`` (``strict``: ``< 0``): the loss pulls ``v`` towards ``a``,
    or at least does not push it away -- by the seed's definition a zero gradient counts as positive.

    Assumptions (the seed says "under certain assumptions" without giving them; these are ours):

    * ``a``, the positives and the negatives are unit vectors in ``R^dim``; each positive (negative)
      has similarity to ``a`` drawn from ``N(mean, std^2)`` of ``pos_similarity`` (``neg_similarity``),
      clipped to ``[-1, 1]``, and a uniformly random direction orthogonal to ``a``. Hence two examples
      ``x, x'`` have ``s(x, x') = c c' + sqrt(1 - c^2) sqrt(1 - c'^2) t`` with ``t`` the cosine of two
      random directions of ``R^{dim-1}``, ``(t + 1)/2 ~ Beta((dim-2)/2, (dim-2)/2)`` (sampled so, exactly
      as if the vectors were drawn).
    * ``U(a)`` has ``n_pos`` positives and ``n_neg`` negatives; ``v = mix_λ(p_1, n_1)``
      (``pairs="pos-neg"``) or ``mix_λ(a, n_1)`` (``"anchor-neg"``), re-normalised if ``normalize``
      (embedding mixup), with soft label ``λ``; the loss is :func:`soft_label_loss` over
      ``U(a) ∪ {(v, λ)}`` (no MS mining) and its derivative in ``s(a, v)`` is taken by autograd.
    * All ``λ`` share the same draws (common random numbers), so the curve is smooth in ``λ``.

    With ``λ = 1`` the derivative is ``σ⁺'(·) ρ⁺'(s(a, v)) <= 0`` (``σ⁺`` increasing, ``ρ⁺``
    decreasing): ``P = 1``. With ``λ = 0`` it is ``σ⁻'(·) ρ⁻'(s(a, v)) >= 0``: MS gives ``P = 0``,
    contrastive ``P(s(a, n) <= m)`` (a negative already below the margin gets zero gradient) -- small
    for hard negatives. Contrastive's derivative is ``-λ + (1 - λ) 1[s(a,v) > m]``: ``v`` is positive
    for every ``λ >= 1/2``, and for ``λ < 1/2`` iff ``s(a, v) <= m`` (so, with easy negatives, the curve
    can *fall* on ``[0, 1/2)`` as ``v`` moves above the margin).

    Returns a tensor of the probabilities, shaped as ``lam``.
    """
    t = _terms(terms)
    lam_t = torch.as_tensor(lam, dtype=torch.float64)
    lams = lam_t.reshape(-1)
    if ((lams < 0) | (lams > 1)).any():
        raise ValueError("lam must lie in [0, 1]")
    if n_samples < 1 or n_pos < 1 or n_neg < 1:
        raise ValueError("n_samples, n_pos and n_neg must be >= 1")
    if dim < 3:
        raise ValueError(f"dim must be >= 3, got {dim}")
    if pairs not in ("pos-neg", "anchor-neg"):
        raise ValueError(f"pairs must be 'pos-neg' or 'anchor-neg', got {pairs!r}")
    g = _generator(generator)
    c_pos = _clipped_normal(pos_similarity, (n_samples, n_pos), g)
    c_neg = _clipped_normal(neg_similarity, (n_samples, n_neg), g)
    cos = 2 * _beta((dim - 2) / 2, (dim - 2) / 2, (n_samples,), g) - 1
    c1 = c_pos[:, 0] if pairs == "pos-neg" else torch.ones(n_samples, dtype=torch.float64)
    c2 = c_neg[:, 0]
    s_12 = c1 * c2 + (1 - c1 ** 2).clamp_min(0).sqrt() * (1 - c2 ** 2).clamp_min(0).sqrt() * cos
    y_clean = torch.cat([torch.ones(n_pos), torch.zeros(n_neg)]).to(torch.float64).expand(n_samples, -1)
    s_clean = torch.cat([c_pos, c_neg], 1)
    out = torch.empty(len(lams), dtype=torch.float64)
    for k, lv in enumerate(lams):
        s_v = mixed_similarity(c1, c2, s_12, lv, normalize).detach().requires_grad_(True)
        s = torch.cat([s_clean, s_v[:, None]], 1)
        y = torch.cat([y_clean, lv.expand(n_samples, 1)], 1)
        (grad,) = torch.autograd.grad(soft_label_loss(s, y, t, reduction="sum"), s_v)
        pos = grad < 0 if strict else grad <= 0
        out[k] = pos.to(torch.float64).mean()
    return out.reshape(lam_t.shape).to(torch.get_default_dtype())


# -------------------------------------------------------------------------------- on training tuples
class MetrixTupleLoss(torch.nn.Module):
    """Embedding-space Metrix on batches of training tuples ``(q, p, n_1..n_k)`` (notebooks 04 / 10).

    ``ℓ = ℓ_clean + w ℓ_mixed``: ``ℓ_clean`` is the tuple loss of :func:`rrlib.learn.make_loss`
    unchanged (so ``w = 0`` is the plain run); ``ℓ_mixed`` puts the query against the ``k``
    positive-negative mixes ``v_j = mix_λ(p, n_j)`` (re-normalised) with the soft label ``λ``, one
    ``λ ~ Beta(α, α)`` per batch drawn from torch's global generator (seeded by ``finetune``):

    * contrastive (distance form, cirtorch's): ``1/2 λ d(q, v)^2 + 1/2 (1 - λ) [m - d(q, v)]₊^2``,
      averaged over the ``k`` mixes of every tuple as :func:`rrlib.learn.contrastive_loss` averages pairs;
    * multi-similarity: :func:`soft_label_loss` with :func:`multi_similarity_terms` over ``V(q)``.
    """

    def __init__(self, loss: str, margin: float | None, n_negatives: int, weight: float = METRIX_WEIGHT,
                 alpha: float = METRIX_ALPHA):
        super().__init__()
        from .losses import LOSSES
        if loss not in ("contrastive", "multi-similarity"):
            raise ValueError(f"Metrix is implemented here for 'contrastive' and 'multi-similarity', not {loss!r}")
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        cls = LOSSES[loss][0]
        self.clean = cls(n_negatives) if loss == "multi-similarity" else cls(margin, n_negatives)
        self.loss, self.margin, self.n_negatives, self.weight, self.alpha = loss, margin, n_negatives, weight, alpha

    def mixed(self, embeddings: torch.Tensor, lam) -> torch.Tensor:
        """``ℓ_mixed`` alone, for a given ``λ`` (a float or a 0-d tensor)."""
        from .losses import _tuples
        E = _tuples(embeddings, self.n_negatives)
        q, p, n = E[:, 0], E[:, 1], E[:, 2:]
        lam = torch.as_tensor(lam, dtype=embeddings.dtype, device=embeddings.device)
        if lam.dim() != 0 or not 0 <= float(lam) <= 1:
            raise ValueError(f"lam must be one value in [0, 1], got {lam}")
        v = torch.nn.functional.normalize(mix(p[:, None].expand_as(n), n, lam), dim=-1)   # (B, k, D)
        if self.loss == "contrastive":
            # distances as rrlib.learn.losses.tuple_pairs computes them (the clamp keeps sqrt's gradient finite)
            d = (v - q[:, None]).pow(2).sum(-1).clamp_min(1e-12).sqrt()                # (B, k)
            return (0.5 * lam * d.pow(2) + 0.5 * (1 - lam) * (self.margin - d).clamp(min=0).pow(2)).mean()
        s = (v * q[:, None]).sum(-1)                                                   # (B, k)
        return soft_label_loss(s, lam.expand_as(s), multi_similarity_terms())

    def forward(self, embeddings: torch.Tensor, lam=None) -> torch.Tensor:
        """``ℓ_clean + w ℓ_mixed``; ``lam`` fixes ``λ`` (tests), else one draw from torch's global
        generator (none when ``w = 0``: the plain run's random stream is untouched)."""
        clean = self.clean(embeddings)
        if self.weight == 0:
            return clean
        if lam is None:
            lam = sample_lambda(None, self.alpha, None, embeddings.dtype).to(embeddings.device)
        return clean + self.weight * self.mixed(embeddings, lam)

    def extra_repr(self) -> str:
        return f"loss={self.loss!r}, weight={self.weight}, alpha={self.alpha}"

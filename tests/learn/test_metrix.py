"""rrlib.learn.metrix: mixing, pair labels, the generic soft-label loss against rrlib.learn.losses,
the Monte-Carlo positivity curve (spec §13.2, [S2])."""
from __future__ import annotations

import math

import pytest
import torch

from rrlib.learn.losses import contrastive_similarity_loss, multi_similarity_from_similarities
from rrlib.learn.metrix import (METRIX_ALPHA, contrastive_terms, metrix_loss, mix, mix_examples, mixed_similarity,
                                mixing_pairs, multi_similarity_terms, positivity_probability, sample_lambda,
                                soft_label_loss)

T = torch.tensor
D64 = torch.float64


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


# -------------------------------------------------------------------------------------- mixing
def test_mix_endpoints_and_midpoint():
    g = torch.Generator().manual_seed(0)
    x, x2 = torch.randn(4, 3, 5, 5, generator=g), torch.randn(4, 3, 5, 5, generator=g)
    assert torch.equal(mix(x, x2, 1.0), x)
    assert torch.equal(mix(x, x2, 0.0), x2)
    assert torch.allclose(mix(x, x2, 0.5), (x + x2) / 2)


def test_mix_per_row_lambda():
    x, x2 = torch.ones(3, 2), torch.zeros(3, 2)
    out = mix(x, x2, T([1.0, 0.25, 0.0]))
    assert torch.equal(out, T([[1.0, 1.0], [0.25, 0.25], [0.0, 0.0]]))
    with pytest.raises(ValueError):
        mix(x, x2, T([0.5, 0.5]))
    with pytest.raises(ValueError):
        mix(x, torch.zeros(2, 2), 0.5)


def test_sample_lambda_is_beta_and_seeded():
    a = sample_lambda(20_000, generator=0, dtype=D64)
    b = sample_lambda(20_000, generator=torch.Generator().manual_seed(0), dtype=D64)
    assert torch.equal(a, b)  # same seed, same draws (int seed or Generator)
    assert not torch.equal(a, sample_lambda(20_000, generator=1, dtype=D64))
    assert ((a > 0) & (a < 1)).all()
    # Beta(2, 2): mean 1/2, variance 1/20
    assert METRIX_ALPHA == 2.0
    assert a.mean().item() == pytest.approx(0.5, abs=0.01)
    assert a.var().item() == pytest.approx(1 / 20, abs=0.003)
    assert sample_lambda(generator=3).shape == ()
    with pytest.raises(ValueError):
        sample_lambda(3, alpha=0)


# ---------------------------------------------------------------------------- pair labels by hand
def test_mixing_pairs_by_hand():
    y = T([1, 0, 1, 0, 0])  # positives 0, 2; negatives 1, 3, 4
    i, j = mixing_pairs(y, "pos-neg")
    assert list(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 3), (0, 4), (2, 1), (2, 3), (2, 4)]
    i, j = mixing_pairs(y, "all")
    assert len(i) == 5 * 4 and not (i == j).any()
    i, j = mixing_pairs(y, "anchor-neg")
    assert i.tolist() == [-1, -1, -1] and j.tolist() == [1, 3, 4]
    with pytest.raises(ValueError):
        mixing_pairs(T([1, 0.5]))


def test_mix_examples_labels_by_hand():
    x = T([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])  # p, n, n
    y = T([1, 0, 0])
    v, yv = mix_examples(x, y, 0.75)
    # (p, n1): 0.75 p + 0.25 n1, label 0.75*1 + 0.25*0; (p, n2) likewise
    assert torch.allclose(v, T([[0.75, 0.25], [1.25, 0.5]]))
    assert torch.allclose(yv, T([0.75, 0.75]))
    # all pairs of U(a)^2: negative-negative mixes keep label 0, negative-positive get 1 - lam
    v, yv = mix_examples(x, y, 0.75, "all")
    i, j = mixing_pairs(y, "all")
    assert torch.allclose(yv, 0.75 * y[i].float() + 0.25 * y[j].float())
    assert sorted(yv.tolist()) == [0.0, 0.0, 0.25, 0.25, 0.75, 0.75]
    # anchor-negative: the anchor is a positive of itself
    a = T([0.0, 0.0])
    v, yv = mix_examples(x, y, 0.5, "anchor-neg", anchor=a)
    assert torch.allclose(v, T([[0.0, 0.5], [1.0, 1.0]])) and torch.allclose(yv, T([0.5, 0.5]))
    v, _ = mix_examples(x, y, 0.5, normalize=True)
    assert torch.allclose(v.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError):
        mix_examples(x, y, 0.5, "anchor-neg")


# ------------------------------------------------------------- generic loss == rrlib.learn.losses
def _similarities(seed, B=4, P=3, N=6):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, P, generator=g, dtype=D64) * 0.8 + 0.2,
            torch.rand(B, N, generator=g, dtype=D64) * 1.2 - 0.3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_soft_label_loss_equals_contrastive_for_hard_labels(seed):
    s_pos, s_neg = _similarities(seed)
    s = torch.cat([s_pos, s_neg], 1)
    y = torch.cat([torch.ones_like(s_pos), torch.zeros_like(s_neg)], 1)
    for m in (0.0, 0.3, 0.5):
        for red in ("mean", "sum"):
            got = soft_label_loss(s, y, contrastive_terms(m), reduction=red)
            ref = contrastive_similarity_loss(s_pos, s_neg, m, reduction=red)
            assert got.item() == pytest.approx(ref.item(), abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_soft_label_loss_equals_multi_similarity_for_hard_labels(seed):
    s_pos, s_neg = _similarities(seed)
    s = torch.cat([s_pos, s_neg], 1)
    y = torch.cat([torch.ones_like(s_pos), torch.zeros_like(s_neg)], 1)
    for alpha, beta, base in ((2.0, 50.0, 0.5), (2.0, 40.0, 0.5), (1.0, 10.0, 0.3)):
        terms = multi_similarity_terms(alpha, beta, base)
        # all pairs kept (a huge mining eps) ...
        ref = multi_similarity_from_similarities(s_pos, s_neg, alpha, beta, base, eps=10.0)
        assert soft_label_loss(s, y, terms).item() == pytest.approx(ref.item(), abs=1e-6)
        # ... and MS's pair mining (eps = 0.1) as a mask on U(a)
        eps = 0.1
        keep_n = s_neg + eps > s_pos.amin(1, keepdim=True)
        keep_p = s_pos - eps < s_neg.amax(1, keepdim=True)
        mask = torch.cat([keep_p, keep_n], 1)
        ref = multi_similarity_from_similarities(s_pos, s_neg, alpha, beta, base, eps=eps)
        assert soft_label_loss(s, y, terms, mask=mask).item() == pytest.approx(ref.item(), abs=1e-6)


def test_soft_labels_interpolate():
    s_pos, s_neg = _similarities(5, B=1)
    s_v = T([[0.55]], dtype=D64)
    s = torch.cat([s_pos, s_neg, s_v], 1)
    base_y = torch.cat([torch.ones_like(s_pos), torch.zeros_like(s_neg)], 1)

    def loss(terms, lam):
        return soft_label_loss(s, torch.cat([base_y, T([[lam]], dtype=D64)], 1), terms).item()

    for terms in (contrastive_terms(0.5), multi_similarity_terms()):
        # endpoints: v is a positive (lam = 1) or a negative (lam = 0)
        as_pos = soft_label_loss(torch.cat([s_pos, s_v, s_neg], 1),
                                 torch.cat([torch.ones(1, 4), torch.zeros(1, 6)], 1).to(D64), terms).item()
        as_neg = soft_label_loss(s, torch.cat([base_y, T([[0.0]], dtype=D64)], 1), terms).item()
        assert loss(terms, 1.0) == pytest.approx(as_pos, abs=1e-12)
        assert loss(terms, 0.0) == pytest.approx(as_neg, abs=1e-12)
    # contrastive is linear in the labels (sigma = id): exact interpolation
    c = contrastive_terms(0.5)
    for lam in (0.2, 0.5, 0.9):
        assert loss(c, lam) == pytest.approx(lam * loss(c, 1.0) + (1 - lam) * loss(c, 0.0), abs=1e-12)
    # MS by hand for one positive, one negative and v with label lam
    sp, sn, sv, lam = 0.7, 0.6, 0.55, 0.3
    a, b, m = 2.0, 50.0, 0.5
    ref = (math.log1p(math.exp(-a * (sp - m)) + lam * math.exp(-a * (sv - m))) / a
           + math.log1p(math.exp(b * (sn - m)) + (1 - lam) * math.exp(b * (sv - m))) / b)
    got = soft_label_loss(T([sp, sn, sv], dtype=D64), T([1.0, 0.0, lam], dtype=D64), multi_similarity_terms(a, b, m))
    assert got.item() == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError):
        soft_label_loss(T([0.5]), T([1.5]))


# ------------------------------------------------------------------------------- batch Metrix
def test_mixed_similarity_matches_vectors():
    g = torch.Generator().manual_seed(0)
    a, x, x2 = unit(torch.randn(3, 16, generator=g, dtype=D64))
    for lam in (0.0, 0.3, 1.0):
        v = lam * x + (1 - lam) * x2
        got = mixed_similarity(a @ x, a @ x2, x @ x2, lam)
        assert got.item() == pytest.approx((a @ unit(v)).item(), abs=1e-12)
        assert mixed_similarity(a @ x, a @ x2, x @ x2, lam, normalize=False).item() == pytest.approx((a @ v).item())


def test_metrix_loss_matches_explicit_mixing():
    g = torch.Generator().manual_seed(1)
    E = unit(torch.randn(6, 8, generator=g, dtype=D64))
    labels = T([0, 0, 1, 1, 2, 2])
    lam, w = 0.3, 0.4
    terms = contrastive_terms(0.2)
    # by hand: per anchor, U(a) with hard labels, V(a) of normalised pos-neg mixes with label lam
    clean, mixed = [], []
    for a in range(6):
        others = [i for i in range(6) if i != a]
        y = (labels[others] == labels[a]).to(D64)
        clean.append(soft_label_loss(E[others] @ E[a], y, terms))
        v, yv = mix_examples(E[others], y, lam, normalize=True)
        mixed.append(soft_label_loss(v @ E[a], yv, terms))
    ref = torch.stack(clean).mean() + w * torch.stack(mixed).mean()
    got = metrix_loss(E, labels, terms, lam, weight=w)
    assert got.item() == pytest.approx(ref.item(), abs=1e-10)
    # anchor-negative mixes
    mixed = []
    for a in range(6):
        others = [i for i in range(6) if i != a]
        y = (labels[others] == labels[a]).to(D64)
        v, yv = mix_examples(E[others], y, lam, "anchor-neg", anchor=E[a], normalize=True)
        mixed.append(soft_label_loss(v @ E[a], yv, terms))
    ref = torch.stack(clean).mean() + w * torch.stack(mixed).mean()
    assert metrix_loss(E, labels, terms, lam, pairs="anchor-neg", weight=w).item() == pytest.approx(ref.item(),
                                                                                                   abs=1e-10)


def test_metrix_loss_gradients_and_seed():
    g = torch.Generator().manual_seed(2)
    E = unit(torch.randn(8, 5, generator=g)).requires_grad_(True)
    labels = T([0, 0, 1, 1, 2, 2, 3, 3])
    loss = metrix_loss(E, labels, "multi-similarity", generator=7)
    loss.backward()
    assert torch.isfinite(E.grad).all() and E.grad.abs().sum() > 0
    assert metrix_loss(E, labels, generator=7).item() == metrix_loss(E, labels, generator=7).item()


# ------------------------------------------------------------------------------------ positivity
LAMS = torch.linspace(0, 1, 21)


@pytest.mark.parametrize("terms", ["contrastive", "multi-similarity"])
@pytest.mark.parametrize("pairs", ["pos-neg", "anchor-neg"])
def test_positivity_limits_and_monotone(terms, pairs):
    p = positivity_probability(LAMS, 5000, terms=terms, pairs=pairs, generator=0)
    assert p.shape == LAMS.shape and ((p >= 0) & (p <= 1)).all()
    assert p[-1].item() == 1.0  # lam = 1: v is the positive (or the anchor), pulled in
    assert p[0].item() <= 0.01  # lam = 0: v is a hard negative, pushed away
    # non-decreasing in lam (common random numbers; the 1e-3 dip after lam = 0 is contrastive's
    # P(s(a, n) <= m): a negative inside the margin has zero gradient, which counts as positive)
    assert (p.diff() >= -0.005).all()


def test_positivity_contrastive_is_a_step_at_one_half():
    # contrastive: dl/ds(a,v) = -lam + (1 - lam) 1[s(a,v) > m]; hard negatives keep s(a,v) > m
    p = positivity_probability(T([0.3, 0.45, 0.5, 0.55, 0.9]), 5000, terms="contrastive", generator=1)
    assert p.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    # with easy negatives (below the margin) a mixed embedding of small lam feels no push at all,
    # which the seed's "<= 0" counts as positive: P(lam = 0) = P(s(a, n) <= m)
    p = positivity_probability(T([0.0, 0.25, 0.45, 0.5]), 5000, terms="contrastive",
                               pos_similarity=(0.75, 0.1), neg_similarity=(0.25, 0.1), generator=1)
    assert p[0].item() > 0.99 and p[2].item() < p[1].item() < p[0].item() and p[3].item() == 1.0
    assert positivity_probability(0.0, 5000, terms="contrastive", pos_similarity=(0.75, 0.1),
                                  neg_similarity=(0.25, 0.1), strict=True, generator=1).item() == 0.0


def test_positivity_seeded_reproducible():
    a = positivity_probability(LAMS, 2000, generator=3, n_neg=5, pos_similarity=(0.7, 0.1))
    b = positivity_probability(LAMS, 2000, generator=torch.Generator().manual_seed(3), n_neg=5,
                               pos_similarity=(0.7, 0.1))
    assert torch.equal(a, b)
    assert positivity_probability(0.5, 100, generator=0).shape == ()
    with pytest.raises(ValueError):
        positivity_probability(1.5)


# ------------------------------------------------------------------------- mixed-loss helpers
def test_metrix_loss_is_clean_plus_weighted_mixed_part():
    from rrlib.learn.metrix import metrix_mixed_loss
    g = torch.Generator().manual_seed(3)
    E, y = unit(torch.randn(9, 6, generator=g, dtype=D64)), T([0, 0, 0, 1, 1, 1, 2, 2, 2])
    for terms in ("contrastive", "multi-similarity"):
        clean = metrix_loss(E, y, terms, 0.3, weight=0.0)
        assert torch.allclose(metrix_loss(E, y, terms, 0.3, weight=0.4),
                              clean + 0.4 * metrix_mixed_loss(E, y, terms, 0.3))


def test_mixing_partners_are_other_classes_and_seeded():
    from rrlib.learn.metrix import mixing_partners
    y = T([0, 0, 1, 1, 2, 2, 2])
    j = mixing_partners(y, 0)
    assert (y[j] != y).all()
    assert torch.equal(j, mixing_partners(y, 0))
    with pytest.raises(ValueError):
        mixing_partners(T([1, 1]))


def test_mixed_examples_loss_by_hand():
    """Two classes {0, 1} and {2, 3}; one mix v = mix_λ(x_0, x_2): it is in V(1) with label λ (x_0 positive
    of anchor 1, x_2 negative) and in V(3) with label 1 - λ; anchors 0 and 2 (its own parts) leave it out."""
    from rrlib.learn.metrix import mixed_examples_loss
    g = torch.Generator().manual_seed(1)
    E = unit(torch.randn(4, 5, generator=g, dtype=D64))
    y, lam = T([0, 0, 1, 1]), 0.3
    v = unit(mix(E[0], E[2], lam))[None]
    s1, s3 = float(E[1] @ v[0]), float(E[3] @ v[0])
    m = 0.5
    hand = [0.0, lam * (1 - s1) + (1 - lam) * max(s1 - m, 0), 0.0, (1 - lam) * (1 - s3) + lam * max(s3 - m, 0)]
    out = mixed_examples_loss(E, y, v, T([0]), T([2]), lam, "contrastive", reduction="sum")
    assert math.isclose(float(out), sum(hand), rel_tol=1e-12)


# ------------------------------------------------------------------------- MetrixTupleLoss
def _tuples(B=3, k=4, D=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return unit(torch.randn(B * (2 + k), D, generator=g, dtype=D64))


@pytest.mark.parametrize("loss", ["contrastive", "multi-similarity"])
def test_tuple_loss_weight_zero_is_clean_and_draws_nothing(loss):
    from rrlib.learn import make_loss
    from rrlib.learn.metrix import MetrixTupleLoss
    from rrlib.learn.train import TrainConfig
    E = _tuples()
    plain = make_loss(TrainConfig(loss=loss, n_negatives=4))
    m = MetrixTupleLoss(loss, 0.7 if loss == "contrastive" else None, 4, weight=0.0)
    torch.manual_seed(5)
    out = m(E)
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.rand(1) == after                          # the global stream is untouched
    assert torch.equal(out, plain(E))
    assert isinstance(make_loss(TrainConfig(loss=loss, n_negatives=4, metrix=0.4)), MetrixTupleLoss)


def test_tuple_loss_contrastive_mixed_term_by_hand():
    from rrlib.learn.losses import ContrastiveLoss
    from rrlib.learn.metrix import MetrixTupleLoss
    B, k, lam, margin, w = 2, 3, 0.3, 0.7, 0.4
    E = _tuples(B, k)
    terms = []
    for b in range(B):
        q, p = E[b * (2 + k)], E[b * (2 + k) + 1]
        for jn in range(k):
            n = E[b * (2 + k) + 2 + jn]
            v = lam * p + (1 - lam) * n
            v = v / v.norm()
            d = float((q - v).norm())
            terms.append(0.5 * lam * d ** 2 + 0.5 * (1 - lam) * max(margin - d, 0) ** 2)
    m = MetrixTupleLoss("contrastive", margin, k, weight=w)
    assert math.isclose(float(m.mixed(E, lam)), sum(terms) / len(terms), rel_tol=1e-10)
    assert math.isclose(float(m(E, lam)), float(ContrastiveLoss(margin, k)(E)) + w * sum(terms) / len(terms),
                        rel_tol=1e-10)


def test_tuple_loss_multi_similarity_mixed_term_by_hand():
    from rrlib.learn.losses import MS_ALPHA, MS_BASE, MS_BETA
    from rrlib.learn.metrix import MetrixTupleLoss
    B, k, lam = 2, 3, 0.6
    E = _tuples(B, k, seed=1)
    per = []
    for b in range(B):
        q, p = E[b * (2 + k)], E[b * (2 + k) + 1]
        sp = sn = 0.0
        for jn in range(k):
            v = lam * p + (1 - lam) * E[b * (2 + k) + 2 + jn]
            s = float(q @ (v / v.norm()))
            sp += lam * math.exp(-MS_ALPHA * (s - MS_BASE))
            sn += (1 - lam) * math.exp(MS_BETA * (s - MS_BASE))
        per.append(math.log1p(sp) / MS_ALPHA + math.log1p(sn) / MS_BETA)
    m = MetrixTupleLoss("multi-similarity", None, k)
    assert math.isclose(float(m.mixed(E, lam)), sum(per) / B, rel_tol=1e-10)


@pytest.mark.parametrize("loss", ["contrastive", "multi-similarity"])
def test_tuple_loss_lambda_one_mixes_are_the_positive(loss):
    """λ = 1: every mix is the positive itself with label 1, so the mixed term is the loss of k copies of
    the positive (contrastive: 1/2 d(q, p)^2 each)."""
    from rrlib.learn.losses import MS_ALPHA, MS_BASE, tuple_pairs
    from rrlib.learn.metrix import MetrixTupleLoss
    k = 4
    E = _tuples(3, k, seed=2)
    m = MetrixTupleLoss(loss, 0.7 if loss == "contrastive" else None, k)
    d, t = tuple_pairs(E, k)
    dp = d[t == 1]
    if loss == "contrastive":
        expected = float((0.5 * dp ** 2).mean())
    else:
        sp = 1 - dp ** 2 / 2
        expected = float((torch.log1p(k * torch.exp(-MS_ALPHA * (sp - MS_BASE))) / MS_ALPHA).mean())
    assert math.isclose(float(m.mixed(E, 1.0)), expected, rel_tol=1e-9)


@pytest.mark.parametrize("loss", ["contrastive", "multi-similarity"])
def test_tuple_loss_gradients_finite_and_draw_seeded(loss):
    from rrlib.learn.metrix import MetrixTupleLoss
    k = 2
    E = _tuples(2, k, seed=3)
    E[0] = E[1]  # identical query and positive: d = 0 must not give NaN gradients
    E = E.clone().requires_grad_(True)
    m = MetrixTupleLoss(loss, 0.7 if loss == "contrastive" else None, k)
    torch.manual_seed(0)
    a = m(E)
    (grad,) = torch.autograd.grad(m(E, 1.0), E)
    assert torch.isfinite(grad).all()
    torch.manual_seed(0)
    assert torch.equal(a, m(E))
    with pytest.raises(ValueError):
        m(E, 1.5)
    with pytest.raises(ValueError):
        MetrixTupleLoss("triplet", 0.1, k)

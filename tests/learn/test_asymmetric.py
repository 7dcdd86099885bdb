"""rrlib.learn.asymmetric: [S2]'s teacher-student losses on hand values, against the symmetric losses
when the teacher is the student, under rotations of the teacher space, and their gradients."""
from __future__ import annotations

import math

import pytest
import torch

from rrlib.learn.asymmetric import (AML_LOSSES, asymmetric_contrastive_loss, asymmetric_multi_similarity_loss,
                                    asymmetric_triplet_loss, asymmetric_tuple_similarities, contr_plus_loss,
                                    darkrank_loss, regression_loss, rkd_angle_loss, rkd_distance_loss, rkd_loss,
                                    s_asym, s_sym)
from rrlib.learn.losses import (ContrastiveSimilarityLoss, contrastive_similarity_loss, multi_similarity_loss,
                                triplet_loss, triplet_similarity_loss, tuple_similarities)

T = torch.tensor
S2 = math.sqrt(2)


def unit(*rows):
    x = T(rows, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def batch(n=8, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def rotation(d, seed=1):
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))  # a random orthogonal matrix


LABELS = T([0, 0, 1, 1, 1, 2, 2, 0])

# the labelled hand example: anchors e1 (label 0), e2 (label 1) in student space; teacher examples
# x1 = (0.6, 0.8) label 0, x2 = (0.8, 0.6) label 1, x3 = (-1, 0) label 1.
# s_asym = [[0.6, 0.8, -1], [0.8, 0.6, 0]]
F_HAND = unit([1, 0], [0, 1])
G_HAND = unit([0.6, 0.8], [0.8, 0.6], [-1, 0])
LA, LX = T([0, 1]), T([0, 1, 1])


# ------------------------------------------------------------------------------ similarities
def test_similarities():
    f, g = unit([1, 0], [0, 1]), unit([0.6, 0.8])
    torch.testing.assert_close(s_asym(f, g), T([[0.6], [0.8]], dtype=torch.float64))
    torch.testing.assert_close(s_sym(f), torch.eye(2, dtype=torch.float64))
    torch.testing.assert_close(s_sym(f, g), s_asym(f, g))


# ---------------------------------------------------------------------------------- hand values
def test_regression_by_hand():
    f, g = unit([1, 0], [0, 1]), unit([0.6, 0.8], [0, 1])
    # 1 - 0.6 = 0.4 and 1 - 1 = 0
    assert regression_loss(f, g).item() == pytest.approx(0.2)
    assert regression_loss(f, g, "sum").item() == pytest.approx(0.4)
    # = ||f - g||^2 / 2 on unit vectors
    assert regression_loss(f, g, "sum").item() == pytest.approx(0.5 * (f - g).pow(2).sum().item())


def test_rkd_distance_by_hand():
    # student e1, e2, -e1: d12 = d23 = sqrt2, d13 = 2; teacher e1, e2, -e2: d12 = d13 = sqrt2, d23 = 2;
    # both means mu = (2 + 2 sqrt2) / 3, so pairs 13 and 23 differ by x = (2 - sqrt2) / mu
    # = (9 sqrt2 - 12) / 2 = 0.36396 < 1: Huber x^2 / 2, on 4 of the 6 ordered pairs -> x^2 / 3
    f, g = unit([1, 0], [0, 1], [-1, 0]), unit([1, 0], [0, 1], [0, -1])
    x = (9 * S2 - 12) / 2
    assert rkd_distance_loss(f, g).item() == pytest.approx(x ** 2 / 3)
    assert rkd_distance_loss(f, g, "sum").item() == pytest.approx(2 * x ** 2)
    # normalised by the mean distance: a scaled copy costs nothing
    assert rkd_distance_loss(f, 3 * f).item() == pytest.approx(0, abs=1e-12)


def test_rkd_distance_matches_closed_form():
    # Huber (smooth L1, threshold 1) of the mean-normalised distances over ordered pairs x != a
    f, g = batch(6, 3, seed=2), batch(6, 3, seed=3)
    off = ~torch.eye(6, dtype=torch.bool)
    ds, dt = torch.cdist(f, f)[off], torch.cdist(g, g)[off]
    r = (ds / ds.mean() - dt / dt.mean()).abs()
    huber = torch.where(r <= 1, r ** 2 / 2, r - 0.5)
    assert rkd_distance_loss(f, g).item() == pytest.approx(huber.mean().item())


def test_rkd_distance_huber_linear_part_by_hand():
    # student: 4 copies of e1 and -e1 (5-D); ordered pairs: 12 at distance 0, 8 at 2, mean 0.8 -> 0 and 2.5.
    # teacher: a regular simplex (centred basis vectors), all distances equal -> all 1.
    # |diff| = 1 on 12 pairs (Huber 1/2) and 1.5 on 8 (linear part: 1.5 - 1/2 = 1) -> sum 14, mean 0.7
    e = torch.eye(5, dtype=torch.float64)
    f = torch.stack([e[0]] * 4 + [-e[0]])
    g = e - 0.2
    g = g / g.norm(dim=1, keepdim=True)
    assert rkd_distance_loss(f, g, "sum").item() == pytest.approx(14, abs=1e-4)
    assert rkd_distance_loss(f, g).item() == pytest.approx(0.7, abs=1e-5)


def test_rkd_angle_by_hand():
    # student e1, e2, -e1: cos of the angles at e1, e2, -e1 = 1/sqrt2, 0, 1/sqrt2 (45, 90, 45 degrees);
    # teacher e1, e2, -e2: 0, 1/sqrt2, 1/sqrt2. Differences 1/sqrt2 at the first two vertices, each
    # for 2 ordered triples: Huber 1/4 on 4 of the 6 triples -> sum 1, mean 1/6
    f, g = unit([1, 0], [0, 1], [-1, 0]), unit([1, 0], [0, 1], [0, -1])
    assert rkd_angle_loss(f, g).item() == pytest.approx(1 / 6)
    assert rkd_angle_loss(f, g, "sum").item() == pytest.approx(1.0)
    x = (9 * S2 - 12) / 2
    assert rkd_loss(f, g).item() == pytest.approx(x ** 2 / 3 + 2 / 6)
    assert rkd_loss(f, g, distance_weight=0, angle_weight=1).item() == pytest.approx(1 / 6)


def test_darkrank_by_hand():
    # student e1, e2, -e1: s12 = s23 = 0, s13 = -1. Teacher g1 = e1, g2 = (-0.6, -0.8), g3 = (0.8, 0.6):
    # t12 = -0.6, t13 = 0.8, t23 = -0.96, so the teacher lists (nearest first) are
    # a1: [3, 2], a2: [1, 3], a3: [1, 2].
    # alpha = 1/2, beta = 2 is [S2]'s formula with s_sym (score -d^2/2 = s - 1, shifts cancel):
    # a1: -( (-1 - log(e^-1 + e^0)) + (0 - log e^0) ) = 1 + log(1 + e^-1); a2: -(0 - log 2) = log 2;
    # a3: like a1.
    f = unit([1, 0], [0, 1], [-1, 0])
    g = unit([1, 0], [-0.6, -0.8], [0.8, 0.6])
    a1, a2 = 1 + math.log(1 + math.exp(-1)), math.log(2)
    assert darkrank_loss(f, g, list_len=2, alpha=0.5, beta=2, reduction="sum").item() == pytest.approx(2 * a1 + a2)
    assert darkrank_loss(f, g, list_len=None, alpha=0.5, beta=2).item() == pytest.approx((2 * a1 + a2) / 3)
    # a list of 1 has likelihood 1: nothing to rank
    assert darkrank_loss(f, g, list_len=1).item() == pytest.approx(0, abs=1e-12)


def test_darkrank_defaults_match_direct_formula():
    # default alpha = beta = 3, list of 4: -sum_i (s_i - log sum_{j >= i} e^{s_j}), s = -3 d^3
    f, g = batch(7, 4, seed=4), batch(7, 4, seed=5)
    D, Dt = torch.cdist(f, f), torch.cdist(g, g)
    total = 0.0
    for a in range(7):
        others = [x for x in range(7) if x != a]
        lst = sorted(others, key=lambda x: Dt[a, x].item())[:4]
        s = [-3 * D[a, x].item() ** 3 for x in lst]
        total -= sum(s[i] - math.log(sum(math.exp(v) for v in s[i:])) for i in range(4))
    assert darkrank_loss(f, g).item() == pytest.approx(total / 7)


def test_asymmetric_contrastive_by_hand():
    # margin 0.5. a1 (label 0): P = {x1}: 1 - 0.6 = 0.4; N = {x2, x3}: [0.8 - 0.5]+ + [-1 - 0.5]+ = 0.3 -> 0.7
    # a2 (label 1): P = {x2, x3}: 0.4 + 1 = 1.4; N = {x1}: [0.8 - 0.5]+ = 0.3 -> 1.7
    assert asymmetric_contrastive_loss(F_HAND, G_HAND, LA, LX, 0.5).item() == pytest.approx(1.2)
    assert asymmetric_contrastive_loss(F_HAND, G_HAND, LA, LX, 0.5, reduction="sum").item() == pytest.approx(2.4)
    # margin 0.9: the negative at 0.8 costs nothing any more
    assert asymmetric_contrastive_loss(F_HAND, G_HAND, LA, LX, 0.9, reduction="sum").item() == pytest.approx(1.8)


def test_contr_plus_by_hand():
    # teacher's own embeddings of the anchors g(a1) = (0.6, 0.8), g(a2) = e2: regression 0.4 and 0
    g_self = unit([0.6, 0.8], [0, 1])
    assert contr_plus_loss(F_HAND, G_HAND, LA, LX, 0.5, g_self=g_self).item() == pytest.approx(1.2 + 0.2)
    assert contr_plus_loss(F_HAND, G_HAND, LA, LX, 0.5, g_self=g_self, reduction="sum").item() == pytest.approx(2.8)
    with pytest.raises(ValueError, match="g_self"):
        contr_plus_loss(F_HAND, G_HAND, LA, LX)


def test_contr_plus_paired_by_hand():
    # paired: g(a) = row a of g, not a positive of a. f = e1, e2, both label 0; g = (0.6, 0.8), (0.8, 0.6).
    # a1: P = {x2}: 1 - 0.8 = 0.2, regression 1 - 0.6 = 0.4; a2: P = {x1}: 1 - 0.8 = 0.2, regression 0.4
    f, g = unit([1, 0], [0, 1]), unit([0.6, 0.8], [0.8, 0.6])
    assert asymmetric_contrastive_loss(f, g, T([0, 0])).item() == pytest.approx(0.2)
    assert contr_plus_loss(f, g, T([0, 0])).item() == pytest.approx(0.6)


def test_asymmetric_triplet_by_hand():
    # margin 0.1. a1: (x1, x2): [0.8 - 0.6 + 0.1]+ = 0.3, (x1, x3): [-1 - 0.6 + 0.1]+ = 0;
    # a2: (x2, x1): [0.8 - 0.6 + 0.1]+ = 0.3, (x3, x1): [0.8 - 0 + 0.1]+ = 0.9 -> sum 1.5 over 4 triplets
    assert asymmetric_triplet_loss(F_HAND, G_HAND, LA, LX, 0.1, reduction="sum").item() == pytest.approx(1.5)
    assert asymmetric_triplet_loss(F_HAND, G_HAND, LA, LX, 0.1).item() == pytest.approx(0.375)


def test_asymmetric_multi_similarity_by_hand():
    # alpha 2, beta 50, lambda 0.5, eps 0.1. a1: s_p = [0.6], s_n = [0.8, -1]; mining keeps n = 0.8 (0.9 > 0.6)
    # and drops -1; keeps p (0.5 < 0.8): 1/2 log(1 + e^{-0.2}) + 1/50 log(1 + e^{15}).
    # a2: s_p = [0.6, 0], s_n = [0.8]: all kept: 1/2 log(1 + e^{-0.2} + e^{1}) + 1/50 log(1 + e^{15})
    neg = math.log1p(math.exp(15)) / 50
    a1 = math.log1p(math.exp(-0.2)) / 2 + neg
    a2 = math.log1p(math.exp(-0.2) + math.exp(1)) / 2 + neg
    assert asymmetric_multi_similarity_loss(F_HAND, G_HAND, LA, LX).item() == pytest.approx((a1 + a2) / 2)
    assert asymmetric_multi_similarity_loss(F_HAND, G_HAND, LA, LX, reduction="sum").item() == pytest.approx(a1 + a2)


# ----------------------------------------------------------------- teacher = student: symmetric
def _symmetric_sets(f, labels):
    S = f @ f.T
    for a in range(len(f)):
        pos = [x for x in range(len(f)) if labels[x] == labels[a] and x != a]
        neg = [x for x in range(len(f)) if labels[x] != labels[a]]
        yield S, a, pos, neg


def test_contrastive_teacher_is_student():
    f = batch()
    per_anchor = [contrastive_similarity_loss(S[a, pos], S[a, neg], 0.3, "sum")
                  for S, a, pos, neg in _symmetric_sets(f, LABELS)]
    expected = torch.stack(per_anchor).mean()
    torch.testing.assert_close(asymmetric_contrastive_loss(f, f.detach(), LABELS, margin=0.3), expected,
                               atol=1e-6, rtol=0)
    # Contr+ adds 1 - s(a, a) = 0
    torch.testing.assert_close(contr_plus_loss(f, f.detach(), LABELS, margin=0.3), expected, atol=1e-6, rtol=0)
    # explicit labels_x with paired=True is the same layout
    torch.testing.assert_close(asymmetric_contrastive_loss(f, f.detach(), LABELS, LABELS, 0.3, paired=True),
                               expected, atol=1e-6, rtol=0)
    assert regression_loss(f, f.detach()).item() == pytest.approx(0, abs=1e-12)


def test_triplet_teacher_is_student():
    f = batch()
    triplets = [(a, p, n) for _, a, pos, neg in _symmetric_sets(f, LABELS) for p in pos for n in neg]
    a, p, n = (T(c) for c in zip(*triplets))
    S = f @ f.T
    expected = triplet_similarity_loss(S[a, p], S[a, n], 0.05)
    got = asymmetric_triplet_loss(f, f.detach(), LABELS)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    # and the distance form of losses.py: squared distances, margin 0.1 = twice the similarity form, margin 0.05
    torch.testing.assert_close(triplet_loss(f[a], f[p], f[n], 0.1), 2 * got, atol=1e-6, rtol=0)


def test_multi_similarity_teacher_is_student():
    f = batch()
    torch.testing.assert_close(asymmetric_multi_similarity_loss(f, f.detach(), LABELS),
                               multi_similarity_loss(f, LABELS), atol=1e-6, rtol=0)


def test_tuple_similarities_and_contrastive_module():
    f, g = batch(2 * 5), batch(2 * 5, seed=3)  # two tuples (q, p, n1, n2, n3)
    s_pos, s_neg, s_self = asymmetric_tuple_similarities(f, f.detach(), 3)
    ref_pos, ref_neg = tuple_similarities(f, 3)
    torch.testing.assert_close(s_pos, ref_pos)
    torch.testing.assert_close(s_neg, ref_neg)
    torch.testing.assert_close(s_self, torch.ones(2, 1, dtype=torch.float64))
    torch.testing.assert_close(contrastive_similarity_loss(s_pos, s_neg), ContrastiveSimilarityLoss(n_negatives=3)(f))
    # asymmetric: student query against teacher p, n; matches the labelled API with the query as anchor
    s_pos, s_neg, _ = asymmetric_tuple_similarities(f, g, 3)
    q, others = f[[0, 5]], g[[1, 2, 3, 4, 6, 7, 8, 9]]
    labels_x = T([0, 1, 2, 3, 4, 5, 6, 7])  # anchor 0's positive is x0, anchor 1's is x4
    got = asymmetric_contrastive_loss(q, others, T([0, 4]), labels_x)
    torch.testing.assert_close(got, contrastive_similarity_loss(s_pos, s_neg))
    with pytest.raises(ValueError, match="tuples"):
        asymmetric_tuple_similarities(f[:9], g[:9], 3)


# ------------------------------------------------------- rotation: relational vs regression
def test_relational_losses_ignore_rotations_regression_does_not():
    # [S2]: relational losses see no absolute coordinates; a student equal to the teacher up to a
    # rotation is perfect for them, useless for asymmetric testing (student queries, teacher database)
    f = batch(8, 5)
    g = f.detach() @ rotation(5)
    assert rkd_distance_loss(f, g).item() == pytest.approx(0, abs=1e-6)
    assert rkd_angle_loss(f, g).item() == pytest.approx(0, abs=1e-6)
    assert rkd_loss(f, g).item() == pytest.approx(0, abs=1e-6)
    assert darkrank_loss(f, g).item() == pytest.approx(darkrank_loss(f, f.detach()).item(), abs=1e-6)
    # regression and the asymmetric losses are not invariant
    assert regression_loss(f, f.detach()).item() == pytest.approx(0, abs=1e-12)
    assert regression_loss(f, g).item() > 0.1
    assert asymmetric_contrastive_loss(f, g, LABELS).item() != pytest.approx(
        asymmetric_contrastive_loss(f, f.detach(), LABELS).item(), abs=1e-3)
    # and the asymmetric similarities themselves are scrambled by the rotation
    assert (s_asym(f, g) - s_sym(f)).abs().max().item() > 0.1


# ----------------------------------------------------------------------------- gradients
UNLABELLED = [regression_loss, rkd_distance_loss, rkd_angle_loss, rkd_loss, darkrank_loss]
LABELLED = [asymmetric_contrastive_loss, contr_plus_loss, asymmetric_triplet_loss, asymmetric_multi_similarity_loss]


@pytest.mark.parametrize("loss", UNLABELLED + LABELLED, ids=lambda fn: fn.__name__)
def test_gradient_to_student_only(loss):
    f = batch(8, 5).requires_grad_()
    g = batch(8, 5, seed=7).requires_grad_()
    value = loss(f, g, LABELS) if loss in LABELLED else loss(f, g)
    value.backward()
    assert g.grad is None
    assert torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0


def test_gradient_finite_for_duplicates():
    # coincident points: zero distances and angles of zero vectors must not give NaN gradients
    f = unit([1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]).requires_grad_()
    g = unit([0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1])
    (rkd_loss(f, g) + darkrank_loss(f, g)).backward()
    assert torch.isfinite(f.grad).all()


def test_triplet_without_triplets_is_zero_with_gradient():
    f = batch(3, 4).requires_grad_()
    value = asymmetric_triplet_loss(f, batch(3, 4, seed=2), T([0, 0, 0]))
    assert value.item() == 0
    value.backward()
    assert f.grad is not None


def test_registry():
    assert set(AML_LOSSES) == {"Reg", "RKD", "DR", "Contr", "Contr+", "Triplet", "MS"}
    f, g = batch(), batch(seed=9)
    for fn, labelled in AML_LOSSES.values():
        assert torch.isfinite(fn(f, g, LABELS) if labelled else fn(f, g))


# ---------------------------------------------------------------------------------- errors
def test_shape_errors():
    f, g = batch(4, 3), batch(4, 3, seed=1)
    with pytest.raises(ValueError, match="dimension"):
        regression_loss(f, batch(4, 5))
    with pytest.raises(ValueError, match="rows"):
        regression_loss(f, g[:3])
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        regression_loss(f[0], g[0])
    with pytest.raises(ValueError, match="rows"):
        rkd_distance_loss(f, g[:3])
    with pytest.raises(ValueError, match="at least 3"):
        rkd_angle_loss(f[:2], g[:2])
    with pytest.raises(ValueError, match="at least 2"):
        rkd_distance_loss(f[:1], g[:1])
    with pytest.raises(ValueError, match="at least 2"):
        darkrank_loss(f[:1], g[:1])
    with pytest.raises(ValueError, match="list_len"):
        darkrank_loss(f, g, list_len=0)
    with pytest.raises(ValueError, match="dimension"):
        s_asym(f, batch(4, 5))
    with pytest.raises(ValueError, match="dimensions"):
        s_sym(f, batch(4, 5))
    with pytest.raises(ValueError, match="labels_a"):
        asymmetric_contrastive_loss(f, g, T([0, 1]))
    with pytest.raises(ValueError, match="labels_x"):
        asymmetric_triplet_loss(f, g[:3], T([0, 1, 0, 1]), T([0, 1]))
    with pytest.raises(ValueError, match="rows"):  # labels_x=None: the paired layout needs B teacher rows
        asymmetric_multi_similarity_loss(f, g[:3], T([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="margin"):
        asymmetric_contrastive_loss(f, g, T([0, 1, 0, 1]), margin=-0.1)
    with pytest.raises(ValueError, match="reduction"):
        regression_loss(f, g, reduction="max")

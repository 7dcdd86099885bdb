"""Pooling identities, the R-MAC region grid and CroW weights on hand-made tensors."""
import math
from fractions import Fraction

import pytest
import torch

from rrlib.nets.pooling import (
    GeM,
    crow,
    crow_channel_weights,
    crow_spatial_weights,
    gem,
    l2n,
    mac,
    power_normalize,
    regional,
    rmac,
    rmac_regions,
    spoc,
)


def test_spoc_and_mac_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]], [[0.0, 0.0], [0.0, 4.0]]]])
    assert spoc(x).tolist() == [[3.0, 1.0]]
    assert mac(x).tolist() == [[6.0, 4.0]]
    torch.testing.assert_close(gem(x + 0.5, p=1.0), spoc(x + 0.5))  # GeM p=1 is SPoC


@pytest.mark.parametrize("shape, count", [((10, 10), 14), ((7, 7), 14), ((24, 32), 20), ((30, 40), 20),
                                          ((48, 64), 20), ((64, 48), 20)])
def test_rmac_region_counts(shape, count):
    regions = rmac_regions(*shape)
    assert len(regions) == count
    h, w = shape
    assert all(0 <= t and 0 <= l and t + s <= h and l + s <= w for t, l, s in regions)
    # level 1: squares of the short side; level 3 squares are half of it
    assert {s for _, _, s in regions} == {min(h, w), math.floor(2 * min(h, w) / 3), math.floor(min(h, w) / 2)}


def rmac_grid_from_the_definition(height, width, levels=3, overlap=0.4):
    """The R-MAC regions written from the definition (Tolias, Sicre, Jegou, ICLR 2016, sec. 3.1),
    in exact integer arithmetic, as a check of :func:`rmac_regions` that does not share its code.

    With ``w = min(H, W)``: at level ``l`` squares of side ``floor(2 w / (l + 1))``, ``l`` of them
    along the short side and ``l + e`` along the long one, spread uniformly from edge to edge
    (``n`` squares of side ``s`` on a length ``L`` start at ``floor(i (L - s) / (n - 1))``). The
    extra count ``e`` in 1..6 (the same on all levels) makes two consecutive level-1 squares
    (side ``w``, ``1 + e`` of them, step ``(max(H, W) - w) / e``) overlap by the fraction
    closest to ``overlap``: ``|(w - step) / w - overlap|`` minimal, the smallest ``e`` on exact ties
    (``overlap`` read as the decimal it was written as: 0.4 is 2/5; 9 x 33 is such a tie).
    A square map has no extra squares. Sorted ``(top, left, side)``; on tiny maps a square can
    occur twice (more squares than positions), as in the reference implementation.
    """
    w, long_side = min(height, width), max(height, width)
    target = Fraction(overlap).limit_denominator(1000)
    gap = [abs((w - Fraction(long_side - w, e)) / w - target) for e in range(1, 7)]
    e = gap.index(min(gap)) + 1 if height != width else 0
    extra_h, extra_w = (e, 0) if height > width else (0, e)
    grid = []
    for level in range(1, levels + 1):
        side = 2 * w // (level + 1)
        if side == 0:
            continue
        n_h, n_w = level + extra_h, level + extra_w
        tops = [0] if n_h == 1 else [i * (height - side) // (n_h - 1) for i in range(n_h)]
        lefts = [0] if n_w == 1 else [i * (width - side) // (n_w - 1) for i in range(n_w)]
        grid += [(t, left, side) for t in tops for left in lefts]
    return sorted(grid)


@pytest.mark.parametrize("height", list(range(1, 41)) + [48, 63, 64, 97, 128])
def test_rmac_region_positions_match_the_definition(height):
    for width in list(range(1, 41)) + [48, 64, 96, 127, 128]:
        for levels in (1, 3, 4):
            expected = rmac_grid_from_the_definition(height, width, levels)
            assert sorted(rmac_regions(height, width, levels)) == expected, (height, width, levels)


def test_rmac_region_positions_by_hand():
    # 24 x 32 (3:4): w = 24; e extra squares step 8 / e: overlap 16/24 = .67 for e = 1, .83 for
    # e = 2, ... -- e = 1 is the closest to .4, so level 1 has two squares, at left = 0 and 8
    assert rmac_grid_from_the_definition(24, 32, levels=1) == [(0, 0, 24), (0, 8, 24)]
    assert sorted(rmac_regions(24, 32, levels=1)) == [(0, 0, 24), (0, 8, 24)]
    # level 2 on 24 x 32: side 16, 2 rows (0, 8) and 3 columns (0, 8, 16)
    level2 = set(rmac_regions(24, 32, levels=2)) - set(rmac_regions(24, 32, levels=1))
    assert level2 == {(t, left, 16) for t in (0, 8) for left in (0, 8, 16)}
    # a 10 x 40 strip: w = 10, step 30 / e; overlap 1 - 3 / e is exactly .4 at e = 5
    assert sorted(rmac_regions(10, 40, levels=1)) == [(0, left, 10) for left in (0, 6, 12, 18, 24, 30)]


def test_rmac_of_one_full_region_is_mac():
    x = torch.rand(2, 5, 8, 8)
    torch.testing.assert_close(rmac(x, levels=1, include_global=False), l2n(mac(x)))
    torch.testing.assert_close(rmac(x, levels=1), 2 * l2n(mac(x)))
    assert regional(x, rmac_regions(8, 8), pool=spoc).shape == (2, 14, 5)


def test_crow_by_hand():
    # channel 0 fires at one of 4 positions, channel 1 everywhere.
    x = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]])
    s_prime = torch.tensor([[2.0, 1.0], [1.0, 1.0]])
    S = (s_prime / math.sqrt(7.0)).sqrt()  # a = 2: divide by the l2 norm; b = 2: square root
    torch.testing.assert_close(crow_spatial_weights(x)[0], S)
    omega = torch.tensor([math.log(1.25 / 0.25), math.log(1.25 / 1.0)])  # Q = (1/4, 1)
    torch.testing.assert_close(crow_channel_weights(x)[0], omega)
    torch.testing.assert_close(crow(x)[0], omega * torch.stack([S[0, 0], S.sum()]))


def test_crow_silent_channel_weighs_zero():
    x = torch.zeros(1, 3, 4, 4)
    x[0, 0, 1, 1] = 1.0
    x[0, 1] = 0.5
    w = crow_channel_weights(x)[0]
    assert w[2] == 0 and w[0] > w[1] > 0


def test_pooling_rejects_other_shapes():
    for fn in (spoc, mac, gem, rmac, crow):
        with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
            fn(torch.rand(5, 8, 8))


def test_power_normalisation_by_hand():
    x = torch.tensor([[4.0, -9.0, 0.0]])
    assert power_normalize(x).tolist() == [[2.0, -3.0, 0.0]]
    assert power_normalize(x, alpha=1.0).tolist() == x.tolist()


@pytest.mark.parametrize("p", [0, 0.0, -1.0, -3, float("nan"), float("inf"), torch.tensor([0.0]),
                               torch.tensor([-2.0]), torch.tensor(float("nan"))])
def test_gem_rejects_an_exponent_that_is_not_positive_and_finite(p):
    # p = 0 divided by zero (gem) or returned ones (GeM); p < 0 pooled the smallest activations
    x = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match="p must be a finite number > 0"):
        gem(x, p=p)
    with pytest.raises(ValueError, match="p must be a finite number > 0"):
        GeM(p=p)


@pytest.mark.parametrize("eps", [0.0, -1.0, float("nan")])
def test_gem_rejects_a_clamp_that_is_not_positive(eps):
    # a negative clamp let negative activations through: x^p of a fractional p is NaN
    with pytest.raises(ValueError, match="eps"):
        gem(torch.rand(1, 2, 3, 3) - 0.5, p=2.5, eps=eps)
    with pytest.raises(ValueError, match="eps"):
        GeM(eps=eps)


def test_gem_rejects_a_learned_exponent_that_training_drove_below_zero():
    pool = GeM(p=3.0, trainable=True)
    x = torch.rand(2, 3, 4, 4) + 0.1
    torch.testing.assert_close(pool(x), gem(x, p=3.0))
    with torch.no_grad():
        pool.p.fill_(-0.5)  # what a too large learning rate on p can do
    with pytest.raises(ValueError, match="p=-0.5.*training drove it there"):
        pool(x)
    with pytest.raises(ValueError, match="single exponent"):
        gem(x, p=torch.tensor([2.0, 3.0]))
    with pytest.raises(TypeError, match="number or a tensor"):
        gem(x, p="3")


def test_gem_by_hand_and_its_limits():
    # one channel with activations 1, 2, 3, 4: GeM_p = (mean x^p)^(1/p)
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    assert gem(x, p=2.0).item() == pytest.approx(math.sqrt((1 + 4 + 9 + 16) / 4))
    assert gem(x, p=1.0).item() == pytest.approx(2.5)
    assert gem(x, p=200.0).item() == pytest.approx(4.0 * 0.25 ** (1 / 200), rel=1e-9)  # -> max

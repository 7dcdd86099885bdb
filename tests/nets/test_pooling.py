"""Pooling identities, the R-MAC region grid and CroW weights on hand-made tensors."""
import math

import pytest
import torch

from rrlib.nets.pooling import (
    crow,
    crow_channel_weights,
    crow_spatial_weights,
    gem,
    l2n,
    mac,
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
    from rrlib.nets.pooling import power_normalize

    x = torch.tensor([[4.0, -9.0, 0.0]])
    assert power_normalize(x).tolist() == [[2.0, -3.0, 0.0]]
    assert power_normalize(x, alpha=1.0).tolist() == x.tolist()

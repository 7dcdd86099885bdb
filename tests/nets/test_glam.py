"""rrlib.nets.glam: shapes, permutation equivariance where the math gives it, the identity baseline,
gradients, parameter counts by hand (spec §13.3, [S2]).

Which modules are permutation-equivariant:

* global spatial attention, over the ``hw`` locations: 1x1 convolutions act per location and
  ``softmax(K^T Q)`` is permuted on both sides, so the output is permuted the same way. Local and
  global *channel* attention are too (the pooled vector does not see the order of locations).
  Local spatial attention is **not**: its 3x3 (dilated) convolutions see neighbourhoods.
* channel attention, over the channels: only with a 1-D kernel of size 1. ECA's kernel ``k > 1``
  mixes neighbouring channels (with zero padding at the ends), which breaks it.
* the 1x1 convolutions of the spatial attentions mix all channels: a channel permutation of the input
  is absorbed only by permuting the convolution weights alongside (the function family is equivariant,
  a fixed module is not).
"""
from __future__ import annotations

import pytest
import torch

from rrlib.nets.glam import (ABLATION, GLAM, GlobalChannelAttention, GlobalSpatialAttention, LocalChannelAttention,
                             LocalSpatialAttention, eca_kernel_size)
from rrlib.nets.pooling import gem

D64 = torch.float64


def _x(B, c, h, w, seed=0, dtype=D64):
    return torch.randn(B, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _seeded(module, seed=0):
    torch.manual_seed(seed)
    for p in module.parameters():  # re-draw so that tests do not depend on init order elsewhere
        torch.nn.init.normal_(p, std=0.5)
    return module.double()


def _permute_locations(x, perm):
    B, c, h, w = x.shape
    return x.flatten(2)[:, :, perm].reshape(B, c, h, w)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("c,h,w", [(4, 1, 1), (8, 5, 7), (16, 3, 3), (6, 2, 9)])
def test_shapes(c, h, w):
    x = _x(2, c, h, w, dtype=torch.float32)
    assert LocalChannelAttention(c).attention(x).shape == (2, c, 1, 1)
    assert LocalSpatialAttention(c).attention(x).shape == (2, 1, h, w)
    assert GlobalChannelAttention(c).attention(x).shape == (2, c, c)
    assert GlobalSpatialAttention(c).attention(x).shape == (2, h * w, h * w)
    for m in (LocalChannelAttention(c), LocalSpatialAttention(c), GlobalChannelAttention(c),
              GlobalSpatialAttention(c)):
        assert m(x).shape == x.shape
    for streams in ABLATION.values():
        out = GLAM(c, streams)(x)
        assert out.shape == x.shape
        assert gem(out.abs()).shape == (2, c)  # GeM pooling follows


def test_attention_maps_are_normalised():
    x = _x(2, 8, 4, 5)
    A = _seeded(GlobalSpatialAttention(8)).attention(x)
    assert torch.allclose(A.sum(1), torch.ones(2, 20, dtype=D64))  # softmax over the keys
    A = _seeded(GlobalChannelAttention(8, 3)).attention(x)
    assert torch.allclose(A.sum(1), torch.ones(2, 8, dtype=D64))
    for m in (LocalChannelAttention(8), LocalSpatialAttention(8)):
        a = _seeded(m).attention(x)
        assert ((a > 0) & (a < 1)).all()  # sigmoid maps


def test_eca_kernel_size():
    assert [eca_kernel_size(c) for c in (4, 8, 64, 256, 512, 2048)] == [1, 3, 3, 5, 5, 7]
    with pytest.raises(ValueError):
        LocalChannelAttention(8, kernel_size=2)


# -------------------------------------------------------------------------------- equivariance
def test_global_spatial_attention_is_location_permutation_equivariant():
    x = _x(2, 6, 3, 4)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    m = _seeded(GlobalSpatialAttention(6, 3))
    xp = _permute_locations(x, perm)
    assert torch.allclose(m(xp), _permute_locations(m(x), perm), atol=1e-12)
    A, Ap = m.attention(x), m.attention(xp)
    assert torch.allclose(Ap, A[:, perm][:, :, perm], atol=1e-12)  # P A P^T


@pytest.mark.parametrize("cls", [LocalChannelAttention, GlobalChannelAttention])
def test_channel_attentions_are_location_permutation_equivariant(cls):
    x = _x(2, 6, 3, 4)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(2))
    m = _seeded(cls(6, 3))
    assert torch.allclose(m(_permute_locations(x, perm)), _permute_locations(m(x), perm), atol=1e-12)


def test_local_spatial_attention_is_not_location_permutation_equivariant():
    x = _x(1, 6, 4, 4)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(3))
    m = _seeded(LocalSpatialAttention(6, 3))
    assert not torch.allclose(m(_permute_locations(x, perm)), _permute_locations(m(x), perm), atol=1e-6)


@pytest.mark.parametrize("cls", [LocalChannelAttention, GlobalChannelAttention])
def test_channel_attentions_channel_permutation(cls):
    x = _x(2, 7, 3, 3)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(4))
    m1 = _seeded(cls(7, kernel_size=1))  # kernel 1: equivariant
    assert torch.allclose(m1(x[:, perm]), m1(x)[:, perm], atol=1e-12)
    if cls is GlobalChannelAttention:
        A = m1.attention(x)
        assert torch.allclose(m1.attention(x[:, perm]), A[:, perm][:, :, perm], atol=1e-12)  # P A P^T
    m3 = _seeded(cls(7, kernel_size=3))  # ECA kernel 3 mixes neighbouring channels: not equivariant
    assert not torch.allclose(m3(x[:, perm]), m3(x)[:, perm], atol=1e-6)


def test_spatial_attentions_absorb_channel_permutation_in_their_weights():
    x = _x(2, 6, 3, 4)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(5))
    ls = _seeded(LocalSpatialAttention(6, 3))
    a = ls.attention(x)
    assert not torch.allclose(ls.attention(x[:, perm]), a, atol=1e-6)  # fixed weights: no
    with torch.no_grad():
        ls.reduce.weight.copy_(ls.reduce.weight[:, perm])
    assert torch.allclose(ls.attention(x[:, perm]), a, atol=1e-12)  # weights permuted alongside: yes
    gs = _seeded(GlobalSpatialAttention(6, 3))
    y = gs(x)
    with torch.no_grad():
        for conv in (gs.query, gs.key, gs.value):
            conv.weight.copy_(conv.weight[:, perm])
        gs.out.weight.copy_(gs.out.weight[perm])
        gs.out.bias.copy_(gs.out.bias[perm])
    assert torch.allclose(gs(x[:, perm]), y[:, perm], atol=1e-12)


# ---------------------------------------------------------------------------- GLAM composition
def test_baseline_is_identity():
    x = _x(2, 8, 3, 5)
    g = GLAM(8, ABLATION["baseline"])
    assert g(x) is x
    assert n_params(g) == 0 and g.fusion_weights() == {"input": 1.0}


def test_fusion_by_hand():
    x = _x(2, 8, 3, 5)
    g = GLAM(8).double()
    assert g.fusion_weights() == pytest.approx({"input": 1 / 3, "local": 1 / 3, "global": 1 / 3})
    # local stream: F_c = F A_c + F, F_l = F_c A_s + F_c (maps from F); global likewise
    fc = x * g.local_channel.attention(x) + x
    fl = fc * g.local_spatial.attention(x) + fc
    gc = x * g.global_channel.weights(x) + x
    fg = gc * g.global_spatial.weights(x) + gc
    assert torch.allclose(g(x), (x + fl + fg) / 3, atol=1e-12)
    # one stream: softmax over two scalars
    gl = GLAM(8, ABLATION["+local-spatial"]).double()
    assert gl.local_channel is None and gl.global_channel is None and gl.global_spatial is None
    ref = x * gl.local_spatial.attention(x) + x
    assert torch.allclose(gl(x), (x + ref) / 2, atol=1e-12)
    with pytest.raises(ValueError):
        GLAM(8, ("local", "middle"))
    with pytest.raises(ValueError):
        g(_x(1, 4, 3, 3))


def test_gradients_flow():
    x = _x(2, 8, 4, 4).requires_grad_(True)
    g = _seeded(GLAM(8, kernel_size=3))
    loss = gem(g(x).abs() + 0.1).sum()
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in g.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_parameter_counts_by_hand():
    c, k, r = 8, 3, 4
    lc = k  # one 1-D conv, no bias
    ls = (c * r + r) + 3 * (9 * r * r + r) + (4 * r + 1)  # reduce 1x1, three dilated 3x3, out 1x1
    gc = 2 * k  # query and key 1-D convs
    gs = 3 * (c * r + r) + (r * c + c)  # q, k, v 1x1 and out 1x1
    assert (lc, ls, gc, gs) == (3, 497, 6, 148)
    assert n_params(LocalChannelAttention(c, k)) == lc
    assert n_params(LocalSpatialAttention(c, r)) == ls
    assert n_params(GlobalChannelAttention(c, k)) == gc
    assert n_params(GlobalSpatialAttention(c, r)) == gs
    kw = dict(kernel_size=k, reduced_channels=r)
    assert n_params(GLAM(c, **kw)) == lc + ls + gc + gs + 3  # + three fusion scalars
    assert n_params(GLAM(c, ABLATION["+local"], **kw)) == lc + ls + 2
    assert n_params(GLAM(c, ABLATION["+global-channel"], **kw)) == gc + 2
    assert n_params(GLAM(c, ABLATION["+global"], **kw)) == gc + gs + 2
    assert GLAM(c).local_spatial.reduced_channels == c // 2  # default c' = c / 2

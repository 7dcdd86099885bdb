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
* local spatial attention is convolutional instead: equivariant to translations away from the zero
  padded border, and (all of GLAM) to flips when its 3x3 kernels are symmetric under them.

Also: global channel attention's power-series evaluation equals its definition (values and
gradients), the CPU reduced-channel choice, :func:`glam_maps`, and a RetrievalNet with GLAM.
"""
from __future__ import annotations

import pytest
import torch

import numpy as np

from rrlib.nets.glam import (ABLATION, CPU_REDUCTION, GLAM, GlobalChannelAttention, GlobalSpatialAttention,
                             LocalChannelAttention, LocalSpatialAttention, eca_kernel_size, glam_maps)
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


# ------------------------------------------------------------- global channel attention, cheaply
@pytest.mark.parametrize("c,k", [(8, 3), (64, 3), (300, 5)])
def test_global_channel_series_equals_the_definition(c, k):
    """``weights`` sums ``exp(k_i q_j)`` as a power series instead of forming ``c x c``: same values and
    gradients, to the dtype's precision (float64 and float32)."""
    m = _seeded(GlobalChannelAttention(c, k), seed=c)
    x = (_x(2, c, 3, 4, seed=c) * 3).requires_grad_(True)
    fast, slow = m.weights(x), m.weights_explicit(x)
    assert torch.allclose(fast, slow, atol=1e-12, rtol=1e-12)
    g_fast = torch.autograd.grad(fast.square().sum(), (x, *m.parameters()))
    g_slow = torch.autograd.grad(slow.square().sum(), (x, *m.parameters()))
    for a, b in zip(g_fast, g_slow):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-10)
    m32, x32 = m.float(), x.detach().float()
    assert torch.allclose(m32.weights(x32), m32.weights_explicit(x32), atol=1e-5, rtol=1e-5)


def test_global_channel_series_with_saturated_sigmoids():
    x = _x(1, 6, 2, 2) + 1
    for w in (1e3, -1e3):  # q, k -> 1, or -> 0 (exactly 0 in float32: no 0^-1 in the gradient)
        for dtype in (torch.float64, torch.float32):
            m = GlobalChannelAttention(6, 1).to(dtype)
            with torch.no_grad():
                m.conv_q.weight.fill_(w)
                m.conv_k.weight.fill_(w)
            xx = x.detach().to(dtype).clone().requires_grad_(True)
            y = m.weights(xx)
            assert torch.allclose(y, m.weights_explicit(xx), atol=1e-6)
            y.sum().backward()
            assert torch.isfinite(xx.grad).all()
            assert all(torch.isfinite(p.grad).all() for p in m.parameters())


# ------------------------------------------------------------------ more equivariance
def test_local_spatial_attention_is_translation_equivariant_away_from_borders():
    """Local spatial attention is convolutional: a circular shift of the input shifts the map, away
    from the zero-padded border (here: compare the interior only)."""
    x = _x(1, 6, 12, 12)
    m = _seeded(LocalSpatialAttention(6, 3))
    a = m.attention(x)[0, 0]
    b = m.attention(torch.roll(x, (2, 1), (2, 3)))[0, 0]
    # receptive field radius 3 (dilation 3): locations >= 3 from every border of both maps agree
    assert torch.allclose(b[5:-3, 4:-3], a[3:-5, 3:-4], atol=1e-12)


@pytest.mark.parametrize("streams", [ABLATION["+global-channel"], ABLATION["+local-channel"],
                                     ("global-channel", "local-channel")])
def test_glam_without_local_spatial_is_location_permutation_equivariant(streams):
    x = _x(2, 8, 3, 4)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(6))
    g = _seeded(GLAM(8, streams, kernel_size=3))
    with torch.no_grad():
        g.fusion_logits.copy_(torch.arange(len(g.fusion_logits), dtype=D64))  # unequal fusion weights
    assert torch.allclose(g(_permute_locations(x, perm)), _permute_locations(g(x), perm), atol=1e-12)
    g2 = _seeded(GLAM(8, ("global",), kernel_size=3))  # global spatial too
    assert torch.allclose(g2(_permute_locations(x, perm)), _permute_locations(g2(x), perm), atol=1e-12)


def test_glam_is_equivariant_to_flips_with_symmetric_kernels():
    """With 3x3 kernels symmetric under a horizontal flip, local spatial attention (and so all of
    GLAM) commutes with flipping the feature map -- the zero padding is symmetric too."""
    x = _x(1, 6, 5, 7)
    g = _seeded(GLAM(6, kernel_size=3, reduced_channels=3))
    with torch.no_grad():
        for conv in g.local_spatial.dilated:
            conv.weight.copy_((conv.weight + conv.weight.flip(-1)) / 2)
    assert torch.allclose(g(x.flip(-1)), g(x).flip(-1), atol=1e-12)


# --------------------------------------------------------------------- the reduced-channel choice
def test_reduction_choice():
    assert CPU_REDUCTION == GLAM.CPU_REDUCTION == 16
    g = GLAM(1280, reduction=CPU_REDUCTION)
    assert g.local_spatial.reduced_channels == g.global_spatial.reduced_channels == 80
    assert GLAM(1280).local_spatial.reduced_channels == 640  # the re-implementation's default c / 2
    assert GLAM(1280, reduction=16, reduced_channels=32).global_spatial.reduced_channels == 32  # explicit wins
    assert GLAM(8, reduction=16).local_spatial.reduced_channels == 1  # at least one channel
    with pytest.raises(ValueError):
        GLAM(8, reduction=0)
    # parameters at MobileNetV2's 1280 channels (k = 5): 15.2M at c' = 640, 0.69M at c' = 80
    assert n_params(GLAM(1280)) == 15_163_539
    assert n_params(GLAM(1280, reduction=16)) == 686_979
    assert n_params(GLAM(1280, ABLATION["+local"], reduction=16)) == 275_848
    assert n_params(GLAM(1280, ABLATION["+global"], reduction=16)) == 411_132


# ------------------------------------------------------------------------------- attention maps
def test_glam_maps_of_a_glam():
    c, h, w = 8, 5, 7
    x = _x(1, c, h, w)[0].float()
    g = GLAM(c, kernel_size=3).train()
    m = glam_maps(g, x, location=(1, 2))
    assert g.training  # mode restored
    assert m["local_spatial"].shape == (h, w) and ((m["local_spatial"] > 0) & (m["local_spatial"] < 1)).all()
    assert m["local_channel"].shape == (c,)
    assert m["global_spatial"].shape == (h, w) and np.isclose(m["global_spatial"].sum(), 1, atol=1e-5)
    assert m["global_channel"].shape == (c, c) and np.allclose(m["global_channel"].sum(0), 1, atol=1e-5)
    assert m["energy"].shape == (h, w) and m["location"] == (1, 2)
    assert m["fusion"] == pytest.approx({"input": 1 / 3, "local": 1 / 3, "global": 1 / 3})
    A = g.global_spatial.attention(x[None])[0].detach()
    assert np.allclose(m["global_spatial"].ravel(), A[:, 1 * w + 2].numpy())
    assert glam_maps(g, x)["location"] == (2, 3)  # default: the centre
    one = glam_maps(GLAM(c, ABLATION["+local-spatial"]), x[None])
    assert one["local_channel"] is None and one["global_spatial"] is None and one["local_spatial"].shape == (h, w)
    assert set(one["fusion"]) == {"input", "local"}
    with pytest.raises(ValueError):
        glam_maps(g, x, location=(h, 0))
    with pytest.raises(ValueError):
        glam_maps(torch.nn.Identity(), x)


def test_retrieval_net_with_glam():
    from rrlib.learn import RetrievalNet

    torch.manual_seed(0)
    net = RetrievalNet("mobilenet_v2", train_blocks=4, attention=ABLATION["+global+local"])
    assert net.attention.local_spatial.reduced_channels == 1280 // CPU_REDUCTION
    assert not any(p.requires_grad is False for p in net.attention.parameters())
    x = torch.randn(3, 3, 96, 128)
    net.train()
    v = net(x)
    assert v.shape == (3, 1280)
    assert torch.allclose(v.norm(dim=1), torch.ones(3), atol=1e-5)
    (v[0] @ v[1] - v[0] @ v[2]).backward()
    for name, p in net.attention.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    m = glam_maps(net, x[0])
    h, w = net.head(net.frozen(x[:1])).shape[2:]
    assert m["local_spatial"].shape == (h, w) == m["global_spatial"].shape == (3, 4)
    assert m["local_channel"].shape == (1280,) and m["global_channel"].shape == (1280, 1280)
    assert net.training and not net.frozen.training

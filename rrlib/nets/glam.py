r"""GLAM: global-local, spatial-channel attention on a feature tensor [S2].

C. H. Song, H. J. Han, Y. Avrithis, "All the attention you need: Global-local, spatial-channel
attention for image retrieval", WACV 2022 (arXiv 2107.08000); spec §13.3.

On a feature tensor ``F`` of shape ``(B, c, h, w)`` (one backbone output, before GeM pooling):

* **local channel** attention (1st order): pool over locations, a 1-D convolution across channels
  and a sigmoid give ``A_c^l`` of shape ``c x 1 x 1`` (ECA-style; Wang et al., "ECA-Net", CVPR 2020).
* **local spatial** attention (1st order): a 1x1 convolution to ``c'`` channels, 3x3 convolutions
  dilated 1, 2, 3 (receptive fields 3, 5, 7), their concatenation with the reduced tensor, a 1x1
  convolution to one channel and a sigmoid give ``A_s^l`` of shape ``1 x h x w``.
* **global channel** attention (2nd order): query and key ``1 x c`` from the pooled tensor by two
  1-D convolutions and sigmoids, ``A_c^g = softmax(K^T Q)`` of shape ``c x c``; the value is ``F``
  itself (``hw x c``) and ``G_c = V A_c^g`` is reshaped to ``c x h x w``.
* **global spatial** attention (2nd order): query, key, value by 1x1 convolutions to ``c'``
  channels, ``A_s^g = softmax(K^T Q)`` of shape ``hw x hw``, ``G_s = V A_s^g`` back to ``c``
  channels by a 1x1 convolution.
* each stream applies its channel then its spatial attention with a residual,
  ``F_c = F ⊙ A_c + F``, ``F_s = F_c ⊙ A_s + F_c``; **fusion** with the input
  ``F^gl = w_l F^l + w F + w_g F^g``.

What the seed leaves open, and what is chosen here
---------------------------------------------------
The seed gives the four map shapes and "local and global streams fused with the original tensor";
the rest is [EXT], from our reading of the paper and the public re-implementation
``global_local_attention_module_pytorch`` (its ``glam.py`` and the four attention files; vendored
e.g. in pavithrag21/Multi-Attention-Enhancement-Thin-Cloud-Removal-using-GAN @03a2c44). Nothing is
copied; differences are said.

* **Fusion weights**: ``(w, w_l, w_g) = softmax`` of learnable scalars initialised equal, i.e.
  ``1/3`` each (the re-implementation's ``fusion_weights`` softmaxed, initialised equal). With one
  stream the softmax runs over two scalars (``1/2``, ``1/2``). The baseline (no stream) is the
  identity, with no parameter.
* **All four maps are computed from the input** ``F`` (the paper's figure draws the four modules in
  parallel on ``F``; the re-implementation does the same) and applied in sequence, channel then
  spatial, each with a residual (``x ⊙ A + x``). The re-implementation has no residual after global
  channel attention; here all four have one, so that every attention scales around the identity.
* **Softmax axis** of ``K^T Q``: over the keys (each output channel / location is a convex
  combination of input ones, as in non-local / transformer attention). The re-implementation
  softmaxes the flattened ``c^2`` / ``(hw)^2`` entries jointly. No ``1/sqrt(c')`` scaling (none in
  the paper's formula).
* **1-D kernel size** ``k``: ECA's adaptive rule ``k = |(log2 c + 1) / 2|_odd`` (ECA-Net; 7 for
  ``c = 2048``), overridable; no bias, as in ECA. The two global-channel convolutions are separate
  (the re-implementation uses its query convolution twice).
* **Reduced channels** ``c'`` of the spatial attentions: ``c // 2`` by default (the re-implementation's),
  overridable by ``reduced_channels`` or ``reduction`` (``c' = c // reduction``). A sigmoid ends local
  spatial attention (bounded like local channel attention; the re-implementation has none).

The CPU choice: ``c' = c / 16`` (:data:`CPU_REDUCTION`)
-------------------------------------------------------
:class:`rrlib.learn.RetrievalNet` (``TrainConfig(attention=...)``) builds its GLAM with ``reduction=16``:
``c' = 80`` on MobileNetV2's ``c = 1280``. At ``c' = c/2 = 640`` the three dilated 3x3 convolutions on
640 channels make local spatial attention 11.9M parameters and all of GLAM 15.2M -- seven times the
2.2M-parameter backbone, ten times its 1.5M trained blocks, for 1,500 training images. 16 is the
reduction ratio of BAM (Park et al., BMVC'18), the origin of this local spatial design (1x1
reduction, dilated 3x3 convolutions, 1x1 to one map), and of CBAM / SE. Measured (``c = 1280``, 8x6
maps at ``image_size=256``; one training step = 5 tuples of 7 images through the 4 trained blocks,
GLAM and GeM, forward + backward + Adam; CPU seconds on one thread, median of runs; baseline 0.22 s):

==================  ===========  =========  ===========  =========
row                 params c'=640  step      params c'=80  step
==================  ===========  =========  ===========  =========
+local-channel      7            0.24 s     7            0.24 s
+local-spatial      11,883,523   1.18 s     275,843      0.26 s
+local              11,883,528   1.29 s     275,848      0.27 s
+global-channel     12           (*)        12           0.28 s
+global-spatial     3,280,002    0.58 s     411,122      0.29 s
+global             3,280,012    (*)        411,132      0.34 s
+global+local       15,163,539   (*)        686,979      0.38 s
==================  ===========  =========  ===========  =========

(*) with the ``c x c`` matrix formed, global channel attention alone cost 1.07 s a step (see below).
At ``c' = 64`` / ``32`` the parameters fall to 522k / 234k for the same time: below ``c' = 80`` the
time is in the rest of the step, so 80 keeps BAM's ratio rather than a smaller, arbitrary number.

**Global channel attention without the c x c matrix.** ``A_c^g = softmax_i(k_i q_j)`` has rank-one
logits with ``0 < k_i, q_j < 1`` (sigmoids), so ``exp(k_i q_j) = sum_m k_i^m q_j^m / m!`` converges
fast: ``G_c[j] = sum_m q_j^m / m! * M_m / sum_m q_j^m / m! * S_m`` with moments
``M_m = sum_i k_i^m F_i`` (``hw`` values) and ``S_m = sum_i k_i^m``. With :data:`SERIES_TERMS` terms
(12 in float32, 20 in float64) the remainder is below the dtype's precision, so
:meth:`GlobalChannelAttention.weights` is the same function as the definition
(:meth:`~GlobalChannelAttention.weights_explicit`, tested to 1e-12 in float64, values and gradients)
at ``O(n c hw)`` instead of ``O(c^2 hw)``: 0.06 s instead of 1.07 s a step at ``c = 1280``.
:meth:`~GlobalChannelAttention.attention` still forms the ``c x c`` matrix, for figures.

Ablation on synth-landmarks (measured)
--------------------------------------
``finetune(synth, replace(TrainConfig(epochs=3, image_size=256, seed=0), attention=ABLATION[row]),
support=cells, scale_change=scale, threads=2)``, mAP E / M / H at epoch 3, fusion weights after
training (baseline: the same run without GLAM, one thread):

==============  ==================  ===============================  ===============
row             E / M / H           fusion (input, local, global)    GLAM params
==============  ==================  ===============================  ===============
baseline        84.3 / 78.1 / 64.1  --                               0
+local          84.0 / 77.6 / 63.3  0.498, 0.502, --                 275,848
+global         80.8 / 76.5 / 62.2  0.500, --, 0.500                 411,132
+global+local   83.8 / 78.1 / 63.7  0.333, 0.333, 0.335              686,979
==============  ==================  ===============================  ===============

No difference exceeds the ~4 mAP spread over seeds of this setup (notebook 04): on 1,500 images
and 120 steps GLAM neither helps nor hurts measurably. The fusion weights barely move: Adam moves
each logit by at most about ``lr`` a step, ``120 x 1e-4 = 0.012`` in the whole run, i.e. +-0.003
around the equal start -- with this recipe they are, in effect, fixed at their initial values.

Ablation rows ([S2]'s table, spec §13.3) are built by ``streams``: :data:`ABLATION` maps each row
name to its ``streams`` argument (``()`` baseline, ``("local",)``, ``("global-spatial",)``, ...).
"""
from __future__ import annotations

import abc
import math

import torch
from torch import nn

__all__ = ["ABLATION", "ATTENTIONS", "CPU_REDUCTION", "GLAM", "GlobalChannelAttention", "GlobalSpatialAttention",
           "LocalChannelAttention", "LocalSpatialAttention", "eca_kernel_size", "glam_maps"]

#: the four attentions; "local" / "global" in ``streams`` stand for both of theirs.
ATTENTIONS = ("local-channel", "local-spatial", "global-channel", "global-spatial")
#: [S2]'s ablation rows -> ``GLAM(streams=...)``.
ABLATION = {
    "baseline": (),
    "+local-channel": ("local-channel",),
    "+local-spatial": ("local-spatial",),
    "+local": ("local",),
    "+global-channel": ("global-channel",),
    "+global-spatial": ("global-spatial",),
    "+global": ("global",),
    "+global+local": ("local", "global"),
}
#: [EXT re-implementation default] local / global spatial attention reduce ``c`` to ``c // 2``.
REDUCTION = 2
#: this project's CPU choice (module docstring): ``c' = c // 16`` (BAM / CBAM's reduction ratio), 80 at c = 1280.
CPU_REDUCTION = 16
#: terms of the power series of ``exp(k q)``, ``0 < k q < 1``, by dtype: the remainder is below
#: ``e / n!`` relative, i.e. under the dtype's epsilon (``e/12! = 6e-9``, ``e/20! = 1e-18``).
SERIES_TERMS = {torch.float16: 8, torch.bfloat16: 7, torch.float32: 12, torch.float64: 20}
#: [EXT paper / re-implementation] dilations of the local spatial attention's 3x3 convolutions.
DILATIONS = (1, 2, 3)


def _check_maps(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected a feature tensor (B, c, h, w), got shape {tuple(x.shape)}")


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """ECA-Net's adaptive 1-D kernel size ``|(log2 c + b) / gamma|``, made odd (Wang et al. CVPR'20)."""
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    k = int(abs((math.log2(channels) + b) / gamma))
    return k if k % 2 else k + 1


def _odd_kernel(channels: int, kernel_size: int | None) -> int:
    k = eca_kernel_size(channels) if kernel_size is None else int(kernel_size)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"kernel_size must be odd and >= 1, got {k}")
    return k


def _reduced(channels: int, reduced_channels: int | None, reduction: int = None) -> int:
    reduction = REDUCTION if reduction is None else int(reduction)
    if reduction < 1:
        raise ValueError(f"reduction must be >= 1, got {reduction}")
    r = max(1, channels // reduction) if reduced_channels is None else int(reduced_channels)
    if r < 1:
        raise ValueError(f"reduced_channels must be >= 1, got {r}")
    return r


class _Attention(nn.Module, abc.ABC):
    """``forward(x, target=None) = target ⊙ weights(x) + target`` (``target`` defaults to ``x``)."""

    @abc.abstractmethod
    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights of maps ``x``, broadcastable to ``x``: each attention defines them."""

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        _check_maps(x)
        t = x if target is None else target
        return t * self.weights(x) + t


class LocalChannelAttention(_Attention):
    """``A_c^l = sigmoid(conv1d_k(GAP(F)))``, shape ``(B, c, 1, 1)`` (ECA-style; ``k`` weights)."""

    def __init__(self, channels: int, kernel_size: int | None = None):
        super().__init__()
        self.channels, k = channels, _odd_kernel(channels, kernel_size)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        _check_maps(x)
        B, c = x.shape[:2]
        return torch.sigmoid(self.conv(x.mean((2, 3)).reshape(B, 1, c))).reshape(B, c, 1, 1)

    attention = weights

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.conv.kernel_size[0]}"


class LocalSpatialAttention(_Attention):
    """``A_s^l`` of shape ``(B, 1, h, w)``: 1x1 conv to ``c'``, dilated 3x3 convs, concatenation,
    1x1 conv to one channel, sigmoid."""

    def __init__(self, channels: int, reduced_channels: int | None = None, dilations=DILATIONS):
        super().__init__()
        r = _reduced(channels, reduced_channels)
        self.channels, self.reduced_channels = channels, r
        self.reduce = nn.Conv2d(channels, r, 1)
        self.dilated = nn.ModuleList(nn.Conv2d(r, r, 3, padding=d, dilation=d) for d in dilations)
        self.out = nn.Conv2d(r * (1 + len(self.dilated)), 1, 1)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        _check_maps(x)
        z = self.reduce(x)
        return torch.sigmoid(self.out(torch.cat([z, *(conv(z) for conv in self.dilated)], 1)))

    attention = weights

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduced_channels={self.reduced_channels}"


class GlobalChannelAttention(_Attention):
    """``A_c^g = softmax_keys(K^T Q)`` of shape ``(B, c, c)`` (:meth:`attention`), ``Q = sigmoid(conv1d(GAP F))``,
    ``K`` likewise with its own kernel; :meth:`weights` is ``G_c = V A_c^g`` with ``V = F`` as
    ``hw x c``, reshaped to ``(B, c, h, w)``. ``2k`` weights."""

    def __init__(self, channels: int, kernel_size: int | None = None):
        super().__init__()
        self.channels, k = channels, _odd_kernel(channels, kernel_size)
        self.conv_q = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.conv_k = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c, c)``; entry ``[i, j]`` is the weight of input channel ``i`` in output channel ``j``."""
        _check_maps(x)
        q, k = self._query_key(x)
        return torch.softmax(k.transpose(1, 2) @ q, dim=1)  # softmax over the keys i

    def _query_key(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, c = x.shape[:2]
        pooled = x.mean((2, 3)).reshape(B, 1, c)
        return torch.sigmoid(self.conv_q(pooled)), torch.sigmoid(self.conv_k(pooled))  # (B, 1, c) each

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """``G_c = V A_c^g`` without forming the ``c x c`` matrix: ``exp(k_i q_j)`` summed as its power
        series (see the module docstring); equal to ``V @ attention(x)`` to the dtype's precision."""
        _check_maps(x)
        B, c, h, w = x.shape
        q, k = self._query_key(x)
        n = SERIES_TERMS[x.dtype] if x.dtype in SERIES_TERMS else SERIES_TERMS[torch.float64]
        # powers k^0..k^(n-1) by cumulative products (no 0^0 / 0^-1 in the gradient)
        kp = torch.cumprod(torch.cat([torch.ones_like(k), k.expand(B, n - 1, c)], 1), 1)  # (B, n, c)
        fact = torch.exp(torch.lgamma(torch.arange(1, n + 1, dtype=x.dtype, device=x.device)))  # 0!..(n-1)!
        qp = torch.cumprod(torch.cat([torch.ones_like(q), q.expand(B, n - 1, c)], 1), 1) / fact[:, None]
        moments = kp @ x.reshape(B, c, h * w)              # (B, n, hw): sum_i k_i^m x_ip
        num = qp.transpose(1, 2) @ moments                 # (B, c, hw): sum_i exp(k_i q_j) x_ip
        den = qp.transpose(1, 2) @ kp.sum(2, keepdim=True)  # (B, c, 1):  sum_i exp(k_i q_j)
        return (num / den).reshape(B, c, h, w)

    def weights_explicit(self, x: torch.Tensor) -> torch.Tensor:
        """``G_c = V A_c^g`` with the ``c x c`` matrix formed (the definition; ``O(c^2 hw)``)."""
        B, c, h, w = x.shape
        A = self.attention(x)
        return torch.einsum("bip,bij->bjp", x.reshape(B, c, h * w), A).reshape(B, c, h, w)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.conv_q.kernel_size[0]}"


class GlobalSpatialAttention(_Attention):
    """``A_s^g = softmax_keys(K^T Q)`` of shape ``(B, hw, hw)`` (:meth:`attention`) with ``Q, K, V``
    1x1 convolutions to ``c'`` channels; :meth:`weights` is ``G_s = conv1x1(V A_s^g)``, ``(B, c, h, w)``."""

    def __init__(self, channels: int, reduced_channels: int | None = None):
        super().__init__()
        r = _reduced(channels, reduced_channels)
        self.channels, self.reduced_channels = channels, r
        self.query, self.key, self.value = (nn.Conv2d(channels, r, 1) for _ in range(3))
        self.out = nn.Conv2d(r, channels, 1)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, hw, hw)``; entry ``[i, j]`` is the weight of location ``i`` in output location ``j``
        (locations in row-major ``h x w`` order)."""
        _check_maps(x)
        q, k = self.query(x).flatten(2), self.key(x).flatten(2)  # (B, c', hw)
        return torch.softmax(k.transpose(1, 2) @ q, dim=1)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        B, _, h, w = x.shape
        G = self.value(x).flatten(2) @ self.attention(x)  # (B, c', hw)
        return self.out(G.reshape(B, self.reduced_channels, h, w))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduced_channels={self.reduced_channels}"


def _expand_streams(streams) -> tuple[str, ...]:
    if isinstance(streams, str):
        streams = (streams,)
    parts = set()
    for s in streams:
        if s in ("local", "global"):
            parts.update((f"{s}-channel", f"{s}-spatial"))
        elif s in ATTENTIONS:
            parts.add(s)
        else:
            raise ValueError(f"unknown stream {s!r}: use 'local', 'global' or one of {ATTENTIONS}")
    return tuple(a for a in ATTENTIONS if a in parts)


class GLAM(nn.Module):
    """Global-local attention module: ``F -> w F + w_l F^l + w_g F^g``, output shape = input shape.

    Parameters
    ----------
    channels : int
        ``c`` of the input ``(B, c, h, w)``.
    streams : iterable of str
        Which attentions to build: ``"local"``, ``"global"`` (both of a stream's attentions) or any of
        :data:`ATTENTIONS`. ``()`` is the baseline (identity). :data:`ABLATION` lists [S2]'s rows.
    kernel_size : int, optional
        1-D kernel of the channel attentions (default ECA's rule, :func:`eca_kernel_size`).
    reduced_channels : int, optional
        ``c'`` of the spatial attentions (default ``c // reduction``).
    reduction : int, optional
        ``c / c'`` when ``reduced_channels`` is not given: :data:`REDUCTION` = 2 by default (the
        re-implementation's), :data:`CPU_REDUCTION` = 16 in this project's CPU runs.
    """

    #: the reduction of this project's CPU runs (``RetrievalNet(attention=...)`` builds its GLAM with it)
    CPU_REDUCTION = CPU_REDUCTION

    def __init__(self, channels: int, streams=("local", "global"), *, kernel_size: int | None = None,
                 reduced_channels: int | None = None, reduction: int | None = None):
        super().__init__()
        self.channels, self.attentions = channels, _expand_streams(streams)
        on = set(self.attentions)
        reduced_channels = _reduced(channels, reduced_channels, reduction)
        self.local_channel = LocalChannelAttention(channels, kernel_size) if "local-channel" in on else None
        self.local_spatial = LocalSpatialAttention(channels, reduced_channels) if "local-spatial" in on else None
        self.global_channel = GlobalChannelAttention(channels, kernel_size) if "global-channel" in on else None
        self.global_spatial = GlobalSpatialAttention(channels, reduced_channels) if "global-spatial" in on else None
        self.stream_names = ("input",) + tuple(s for s in ("local", "global") if any(a.startswith(s) for a in on))
        # [EXT re-implementation] softmax of equal learnable scalars: equal weights at start
        self.fusion_logits = nn.Parameter(torch.zeros(len(self.stream_names))) if len(self.stream_names) > 1 else None

    @staticmethod
    def _stream(x: torch.Tensor, channel, spatial) -> torch.Tensor:
        t = x
        if channel is not None:
            t = channel(x, t)
        if spatial is not None:
            t = spatial(x, t)
        return t

    def fusion_weights(self) -> dict[str, float]:
        """Current fusion weights by stream name (``input``, ``local``, ``global``)."""
        if self.fusion_logits is None:
            return {"input": 1.0}
        return dict(zip(self.stream_names, torch.softmax(self.fusion_logits.detach(), 0).tolist()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_maps(x)
        if x.shape[1] != self.channels:
            raise ValueError(f"GLAM built for {self.channels} channels, got {x.shape[1]}")
        if self.fusion_logits is None:
            return x
        outs = [x]
        if "local" in self.stream_names:
            outs.append(self._stream(x, self.local_channel, self.local_spatial))
        if "global" in self.stream_names:
            outs.append(self._stream(x, self.global_channel, self.global_spatial))
        w = torch.softmax(self.fusion_logits, 0).to(x.dtype)
        return sum(wi * o for wi, o in zip(w, outs))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, attentions={self.attentions}"


def glam_maps(net: nn.Module, x: torch.Tensor, location: tuple[int, int] | None = None) -> dict:
    """The attention maps of a (trained) GLAM on one input, for figures (notebook 10).

    Parameters
    ----------
    net : GLAM, or a network holding one as ``net.attention``
        A network (e.g. :class:`rrlib.learn.RetrievalNet` built with ``attention=...``) must also
        have ``frozen`` and ``head`` (its blocks before GLAM); ``x`` is then an image.
    x : torch.Tensor
        For a GLAM: its input feature tensor ``(c, h, w)`` or ``(1, c, h, w)``. For a network: an
        image ``(3, H, W)`` or ``(1, 3, H, W)`` as :func:`rrlib.nets.to_tensor` gives it.
    location : (row, col), optional
        The output location whose global spatial attention is returned (default the centre
        ``(h // 2, w // 2)``).

    Returns
    -------
    dict of numpy arrays (``None`` for an attention the network does not have):
        ``local_spatial`` ``(h, w)`` (sigmoid, in (0, 1)); ``local_channel`` ``(c,)`` (in (0, 1));
        ``global_spatial`` ``(h, w)``: the weight of every location in the output at ``location``
        (sums to 1); ``global_channel`` ``(c, c)``, entry ``[i, j]`` the weight of input channel
        ``i`` in output channel ``j`` (columns sum to 1); ``fusion``: :meth:`GLAM.fusion_weights`;
        ``location``; ``energy`` ``(h, w)``: the L2 norm over channels of GLAM's input ``F``.
    """
    glam = net if isinstance(net, GLAM) else getattr(net, "attention", None)
    if not isinstance(glam, GLAM):
        raise ValueError("expected a GLAM or a network with a GLAM as .attention (built with attention=...)")
    x = torch.as_tensor(x)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one input (C, H, W) or (1, C, H, W), got shape {tuple(x.shape)}")
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            param = next(net.parameters(), None)
            if param is not None:
                x = x.to(device=param.device, dtype=param.dtype)
            F = x if net is glam else net.head(net.frozen(x))
            _check_maps(F)
            if F.shape[1] != glam.channels:
                raise ValueError(f"GLAM built for {glam.channels} channels, its input has {F.shape[1]}")
            h, w = F.shape[2:]
            i, j = (h // 2, w // 2) if location is None else (int(location[0]), int(location[1]))
            if not (0 <= i < h and 0 <= j < w):
                raise ValueError(f"location {(i, j)} outside the {h} x {w} map")
            out = {"local_spatial": None, "local_channel": None, "global_spatial": None, "global_channel": None}
            if glam.local_spatial is not None:
                out["local_spatial"] = glam.local_spatial.attention(F)[0, 0].cpu().numpy()
            if glam.local_channel is not None:
                out["local_channel"] = glam.local_channel.attention(F)[0, :, 0, 0].cpu().numpy()
            if glam.global_spatial is not None:
                out["global_spatial"] = glam.global_spatial.attention(F)[0, :, i * w + j].reshape(h, w).cpu().numpy()
            if glam.global_channel is not None:
                out["global_channel"] = glam.global_channel.attention(F)[0].cpu().numpy()
            out.update(fusion=glam.fusion_weights(), location=(i, j), energy=F[0].norm(dim=0).cpu().numpy())
    finally:
        net.train(was_training)
    return out

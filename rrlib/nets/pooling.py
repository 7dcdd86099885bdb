"""Global pooling of convolutional feature maps into one vector per image.

Pure functions on ``(N, C, H, W)`` tensors returning ``(N, C)``, with a thin
:class:`torch.nn.Module` wrapper for GeM (whose ``p`` can be learned). In the notation of [S3]:
``x_{kp}`` is the activation of channel ``k`` at position ``p`` of the map.

References
----------
A. Babenko, V. Lempitsky, "Aggregating local deep features for image retrieval", ICCV 2015 (SPoC).
G. Tolias, R. Sicre, H. Jégou, "Particular object retrieval with integral max-pooling of CNN
activations", ICLR 2016 (MAC, R-MAC).
Y. Kalantidis, C. Mellina, S. Osindero, "Cross-dimensional weighting for aggregated deep
convolutional features", ECCV Workshops 2016 (CroW).
F. Radenović, G. Tolias, O. Chum, "Fine-tuning CNN image retrieval with no human annotation",
IEEE TPAMI 41(7), 2019 (generalized-mean pooling, GeM).
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

__all__ = [
    "GeM", "crow", "crow_channel_weights", "crow_spatial_weights", "gem", "l2n", "mac", "power_normalize", "regional",
    "rmac", "rmac_regions", "spoc",
]


def _check_maps(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} expects feature maps of shape (N, C, H, W), got {tuple(x.shape)}")


def _check_gem(p, eps) -> None:
    """GeM's exponent must be a finite ``p > 0`` (``p = 0`` divides by zero, ``p < 0`` pools the
    *smallest* activations); ``eps`` a finite ``eps > 0`` (the clamp keeps ``x^p`` defined).

    A tensor ``p`` (learned) is checked by value: one host-device synchronisation on an accelerator.
    """
    if isinstance(p, torch.Tensor):
        if p.numel() != 1:
            raise ValueError(f"GeM's p must hold a single exponent, got shape {tuple(p.shape)}")
        bad = not bool(torch.isfinite(p).all() & (p > 0).all())
    elif isinstance(p, numbers.Real) and not isinstance(p, bool):
        bad = not 0 < p < math.inf
    else:
        raise TypeError(f"GeM's p must be a number or a tensor, got {p!r}")
    if bad:
        value = float(p.detach().reshape(-1)[0]) if isinstance(p, torch.Tensor) else p
        raise ValueError(f"GeM's p must be a finite number > 0, got p={value} "
                         "(if it was learned: training drove it there; lower its learning rate)")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < math.inf:
        raise ValueError(f"GeM's eps must be a finite number > 0, got eps={eps!r}")


def gem(x: torch.Tensor, p: float | torch.Tensor = 3.0, eps: float = 1e-6) -> torch.Tensor:
    r"""Generalized-mean (GeM) pooling of a feature map, one value per channel.

    For the activations :math:`\mathcal{X}_k` of channel :math:`k` (Radenović et al., TPAMI 2019):

    .. math::  f_k = \Big( \frac{1}{|\mathcal{X}_k|} \sum_{x \in \mathcal{X}_k} x^{p} \Big)^{1/p}

    ``p = 1`` is average pooling (SPoC), ``p -> inf`` tends to max pooling (MAC). Activations are
    clamped to ``eps`` first so that the power is defined (they are ReLU outputs anyway).

    Parameters
    ----------
    x : torch.Tensor
        Feature maps of shape ``(N, C, H, W)``.
    p : float or torch.Tensor
        The pooling exponent, finite and ``> 0`` (a one-element tensor when it is learned; it is
        checked at every call, so a learned ``p`` that training drives to ``<= 0`` or NaN raises).
    eps : float
        Lower clamp of the activations, finite and ``> 0``.

    Returns
    -------
    torch.Tensor
        Shape ``(N, C)``.
    """
    _check_maps(x, "gem")
    _check_gem(p, eps)
    return x.clamp(min=eps).pow(p).mean(dim=(-2, -1)).pow(1.0 / p)


def l2n(x: torch.Tensor, eps: float = 1e-6, dim: int = 1) -> torch.Tensor:
    r"""L2-normalise ``x`` along ``dim`` (the rows by default): :math:`x / (\lVert x \rVert_2 + \epsilon)`."""
    return x / (torch.linalg.vector_norm(x, ord=2, dim=dim, keepdim=True) + eps)


def power_normalize(x: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    r"""Signed power normalisation :math:`\mathrm{sign}(x)\,|x|^{\alpha}` (``alpha = 0.5``: the
    square root of Perronnin et al., ECCV 2010), which damps bursty components; follow with
    :func:`l2n`."""
    return x.sign() * x.abs().pow(alpha)


class GeM(nn.Module):
    """GeM pooling as a module; ``p`` is a learnable parameter when ``trainable`` (cirtorch style).

    ``p`` and ``eps`` are checked at construction and, as :func:`gem` does, at every forward pass
    (a learned ``p`` that leaves ``(0, inf)`` raises a ValueError instead of pooling garbage).
    ``repr`` shows the current exponent, e.g. ``GeM(p=3.0000, eps=1e-06)``.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, trainable: bool = False):
        super().__init__()
        _check_gem(p, eps)
        tensor = torch.ones(1) * float(p)
        if trainable:
            self.p = nn.Parameter(tensor)
        else:
            self.register_buffer("p", tensor)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem(x, p=self.p, eps=self.eps)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={float(self.p.detach()[0]):.4f}, eps={self.eps})"


def spoc(x: torch.Tensor) -> torch.Tensor:
    r"""Sum-pooling of convolutions, SPoC (Babenko & Lempitsky, ICCV 2015) [S3 eq 2.11]:
    :math:`f_k = \frac{1}{|P|}\sum_{p \in P} x_{kp}` -- the average over positions. ``(N, C, H, W) -> (N, C)``."""
    _check_maps(x, "spoc")
    return x.mean(dim=(-2, -1))


def mac(x: torch.Tensor) -> torch.Tensor:
    r"""Maximum activations of convolutions, MAC (Tolias, Sicre, Jégou, ICLR 2016) [S0][S3 eq 2.12]:
    :math:`f_k = \max_{p \in P} x_{kp}`. ``(N, C, H, W) -> (N, C)``."""
    _check_maps(x, "mac")
    return x.amax(dim=(-2, -1))


def rmac_regions(height: int, width: int, levels: int = 3, overlap: float = 0.4) -> list[tuple[int, int, int]]:
    """The square regions of R-MAC on an ``height x width`` feature map, as ``(top, left, side)``.

    Tolias, Sicre, Jégou, ICLR 2016: at level ``l = 1..levels`` squares of side
    ``floor(2 min(H, W) / (l + 1))`` are spread uniformly over the map, ``l`` of them along the
    short side and ``l + extra`` along the long side, where ``extra`` (the same on every level)
    makes consecutive level-1 squares overlap by about ``overlap`` (40%): it is chosen among
    1..6 extra regions to minimise ``| 1 - b / min(H, W) - overlap |`` with ``b`` the step
    between the squares' positions. ``n`` squares of side ``s`` along a length ``L`` start at
    ``floor(i (L - s) / (n - 1))``, ``i = 0..n-1``: the first and last touch the edges. The
    placement is the reference implementation's (cirtorch ``rmac``), computed exactly: cirtorch's
    floating-point step puts the last square one pixel short of the edge on some elongated maps
    (e.g. 5 x 64), and rounding decides its ``extra`` on exact ties (e.g. 9 x 33), where here the
    smaller ``extra`` wins. A square map gets 1 + 4 + 9 = 14 regions; a 3:4 map 2 + 6 + 12 = 20.
    On tiny maps a square can be listed twice (more squares than positions), as in cirtorch.
    """
    if height < 1 or width < 1 or levels < 1:
        raise ValueError(f"need a non-empty map and levels >= 1, got {height}x{width}, L={levels}")
    short, long_ = min(height, width), max(height, width)
    extras = np.arange(1, 7)  # candidate extra squares: 2..7 level-1 squares along the long side
    b = (long_ - short) / extras
    gap = np.abs((short**2 - short * b) / short**2 - overlap)
    # exact ties (e.g. 9 x 33: overlaps 0.4 -/+ 1/15) go to the fewer squares, not to rounding
    extra = int(extras[np.flatnonzero(gap <= gap.min() + 1e-9)[0]])
    extra_h, extra_w = (extra, 0) if height > width else ((0, extra) if width > height else (0, 0))

    def starts(length: int, count: int, side: int) -> list[int]:
        # ``count`` squares from edge to edge: floor(i (length - side) / (count - 1)), in integers.
        # (cirtorch's floor(h + i b) - h, h = floor(side/2 - 1), is the same number in exact
        # arithmetic, but its float step can round the last square one pixel short of the edge.)
        return [0] if count == 1 else [i * (length - side) // (count - 1) for i in range(count)]

    regions = []
    for level in range(1, levels + 1):
        side = math.floor(2 * short / (level + 1))
        if side == 0:
            continue
        for top in starts(height, level + extra_h, side):
            for left in starts(width, level + extra_w, side):
                regions.append((top, left, side))
    return regions


def regional(x: torch.Tensor, regions, pool=mac) -> torch.Tensor:
    """Pool every region of the feature maps: ``(N, C, H, W) -> (N, R, C)``.

    ``regions`` are ``(top, left, side)`` squares, e.g. from :func:`rmac_regions`; ``pool`` is
    any of the global poolings (``mac`` for R-MAC, ``gem`` for R-GeM, ...).
    """
    _check_maps(x, "regional")
    return torch.stack([pool(x[:, :, t : t + s, l : l + s]) for t, l, s in regions], dim=1)


def rmac(x: torch.Tensor, levels: int = 3, overlap: float = 0.4, pool=mac,
         include_global: bool = True, eps: float = 1e-6) -> torch.Tensor:
    r"""Regional MAC, R-MAC (Tolias, Sicre, Jégou, ICLR 2016) [S0][S3].

    Each region of :func:`rmac_regions` is max-pooled and L2-normalised, and the region vectors
    are summed: :math:`f = \sum_{R} \nu(\mathrm{mac}(x_R))`. With ``include_global`` the MAC of
    the whole map is added as one more region (as cirtorch does). The paper also PCA-whitens
    every region vector before the sum; here that is left to a whitening learned on region
    vectors (see :mod:`rrlib.nets.whitening`). ``(N, C, H, W) -> (N, C)``, not normalised.
    """
    _check_maps(x, "rmac")
    regions = rmac_regions(x.shape[-2], x.shape[-1], levels, overlap)
    total = l2n(regional(x, regions, pool), eps=eps, dim=2).sum(dim=1)
    return total + l2n(pool(x), eps) if include_global else total


def crow_spatial_weights(x: torch.Tensor, a: float = 2.0, b: float = 2.0) -> torch.Tensor:
    r"""CroW spatial weights (Kalantidis, Mellina, Osindero, ECCVW 2016) [S0][S3].

    The channel sum :math:`S'_{ij} = \sum_k x_{kij}`, normalised by its :math:`\ell_a` norm and
    compressed by a root: :math:`S_{ij} = (S'_{ij} / \lVert S' \rVert_a)^{1/b}`, with the paper's
    ``a = b = 2``. Bright where many channels fire. ``(N, C, H, W) -> (N, H, W)``.
    """
    _check_maps(x, "crow_spatial_weights")
    s = x.sum(dim=1)
    norm = s.pow(a).sum(dim=(-2, -1), keepdim=True).pow(1.0 / a)
    return (s / norm.clamp(min=1e-12)).pow(1.0 / b)


def crow_channel_weights(x: torch.Tensor) -> torch.Tensor:
    r"""CroW sparsity-sensitive channel weights (an idf for channels) [S3 eq 5.1].

    With :math:`Q_k` the fraction of non-zero positions of channel ``k``,
    :math:`\Omega_k = \log\big(\sum_h Q_h / Q_k\big)`, and 0 for a channel that never fires
    (as in the authors' code). Rarely active channels weigh more. ``(N, C, H, W) -> (N, C)``.
    """
    _check_maps(x, "crow_channel_weights")
    q = (x > 0).float().mean(dim=(-2, -1))
    total = q.sum(dim=1, keepdim=True)
    return torch.where(q > 0, torch.log(total / q.clamp(min=1e-12)), torch.zeros_like(q))


def crow(x: torch.Tensor, a: float = 2.0, b: float = 2.0) -> torch.Tensor:
    r"""Cross-dimensional weighting and sum-pooling, CroW:
    :math:`f_k = \Omega_k \sum_{ij} S_{ij} x_{kij}` (weights of :func:`crow_spatial_weights` and
    :func:`crow_channel_weights`). The paper applies it to VGG16's last *pooling* layer, then
    L2 -> PCA-whitening -> L2. ``(N, C, H, W) -> (N, C)``, not normalised."""
    s = crow_spatial_weights(x, a, b)
    return crow_channel_weights(x) * (x * s[:, None]).sum(dim=(-2, -1))

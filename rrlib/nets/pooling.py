"""Global pooling of convolutional feature maps into one vector per image.

Pure functions on ``(N, C, H, W)`` tensors, with thin :class:`torch.nn.Module` wrappers.
Issue 5 adds SPoC, MAC, R-MAC, CroW and their regional variants next to these.

References
----------
F. Radenović, G. Tolias, O. Chum, "Fine-tuning CNN image retrieval with no human annotation",
IEEE TPAMI 41(7), 2019 (generalized-mean pooling, GeM).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GeM", "gem", "l2n"]


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
        The pooling exponent (a scalar tensor when it is learned).
    eps : float
        Lower clamp of the activations.

    Returns
    -------
    torch.Tensor
        Shape ``(N, C)``.
    """
    if x.dim() != 4:
        raise ValueError(f"gem expects feature maps of shape (N, C, H, W), got {tuple(x.shape)}")
    return x.clamp(min=eps).pow(p).mean(dim=(-2, -1)).pow(1.0 / p)


def l2n(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    r"""L2-normalise the rows of ``x``: :math:`x / (\lVert x \rVert_2 + \epsilon)` along dim 1."""
    return x / (torch.linalg.vector_norm(x, ord=2, dim=1, keepdim=True) + eps)


class GeM(nn.Module):
    """GeM pooling as a module; ``p`` is a learnable parameter when ``trainable`` (cirtorch style).

    ``repr`` shows the current exponent, e.g. ``GeM(p=3.0000, eps=1e-06)``.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, trainable: bool = False):
        super().__init__()
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

"""The "13-layer ConvNet" (conv-large) of semi-supervised learning, used by [S3] chapter 3.

Laine & Aila's network (Table 5 of "Temporal ensembling for semi-supervised learning", ICLR 2017),
reused by Tarvainen & Valpola's mean teacher (NeurIPS 2017), by Iscen et al.'s label propagation
(CVPR 2019) and by Siméoni et al.'s active learning ([S3] §3.5.1, "Networks and training")::

    input  (N, C, H, W)                 C = 3 (RGB, 32x32) or 1 (MNIST, 28x28)
    3 x [conv 3x3, 128, pad 1 -> BN -> LeakyReLU(0.1)]
    max-pool 2x2, stride 2 -> dropout 0.5
    3 x [conv 3x3, 256, pad 1 -> BN -> LeakyReLU(0.1)]
    max-pool 2x2, stride 2 -> dropout 0.5
    conv 3x3, 512, valid (no padding) -> BN -> LeakyReLU(0.1)
    conv 1x1, 256 -> BN -> LeakyReLU(0.1)
    conv 1x1, 128 -> BN -> LeakyReLU(0.1)
    global average pool          -> phi_theta(x) in R^128     (ConvLarge.embed)
    fully connected 128 -> c     -> logits                    (ConvLarge.forward)

The thirteen layers are usually counted as the nine convolutions, the two max-pools, the global
pool and the classifier. Spatial sizes: 32 -> 16 -> 8 -> 6 (valid conv) -> 1; MNIST 28 -> 14 -> 7 -> 5 -> 1.

Choices, checked against public implementations (read, not copied):

* conv -> BN -> LeakyReLU(0.1), convolutions without bias (BN's shift is the bias): Laine & Aila's
  Theano code wraps every convolution in a mean-only batch normalisation that removes the layer's
  bias and applies the leaky ReLU after it (``s-laine/tempens``, ``train.py`` ``build_network`` and
  ``zca_bn.py`` ``mean_only_bn``); Iscen et al.'s PyTorch version (``ahmetius/LP-DeepSSL``,
  ``mean_teacher/architectures.py``, class ``CNN``) uses weight-normalised convolutions followed by
  standard ``BatchNorm2d`` and ``LeakyReLU(0.1)``, max-pool 2/2, dropout 0.5, ``conv3a`` 3x3 valid,
  ``conv3b``/``conv3c`` 1x1, 6x6 average pool and a 128 -> c linear layer, and returns the pooled
  128-D feature beside the logits -- the feature on which the kNN graph of label propagation is built.
* Plain (not weight-normalised) layers and standard batch normalisation: the parametrisation
  changes the optimisation, not the function class; weight normalisation would add one gain per
  output channel.
* Global average pooling (``AdaptiveAvgPool2d(1)``) instead of a fixed 6x6 window, so that the
  28x28 MNIST input of [S3] Table 3.1 (5x5 maps at that stage) works unchanged.
* Laine & Aila's input Gaussian noise (sigma 0.15) and their augmentation belong to the training
  recipe, not to the network; [S3] §3.5.1 uses translations and flips only.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvLarge"]

#: LeakyReLU slope (Laine & Aila 2017, Table 5: "LReLU (alpha = 0.1)")
LEAKY_SLOPE = 0.1
#: dropout after each max-pool (Laine & Aila 2017, Table 5)
DROPOUT = 0.5
#: dimension of the pooled feature phi_theta(x)
EMBED_DIM = 128


def _block(c_in: int, c_out: int, kernel: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=padding, bias=False), nn.BatchNorm2d(c_out),
            nn.LeakyReLU(LEAKY_SLOPE)]


class ConvLarge(nn.Module):
    """Laine & Aila's 13-layer ConvNet: ``forward(x)`` gives logits, ``embed(x)`` the 128-D feature.

    Parameters
    ----------
    n_classes : int
        Output classes ``c`` (10 for MNIST, SVHN, CIFAR-10; 100 for CIFAR-100).
    in_channels : int
        3 for RGB, 1 for MNIST.

    Notes
    -----
    ``embed(x)`` is ``phi_theta(x)``, the global average pool of the last convolution's activations,
    the embedding of [S3] §3.2 on which CoreSet distances and the label-propagation graph are
    computed; ``forward(x) = W phi_theta(x) + b`` are the logits, ``f_theta(x) = softmax`` of them.
    Inputs need ``H, W >= 12`` (two halvings, then a valid 3x3 convolution).
    """

    def __init__(self, n_classes: int, in_channels: int = 3):
        super().__init__()
        if int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
        if int(in_channels) != in_channels or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
        self.n_classes = int(n_classes)
        self.in_channels = int(in_channels)
        self.features = nn.Sequential(
            *_block(self.in_channels, 128, 3, 1), *_block(128, 128, 3, 1), *_block(128, 128, 3, 1),
            nn.MaxPool2d(2, stride=2), nn.Dropout(DROPOUT),
            *_block(128, 256, 3, 1), *_block(256, 256, 3, 1), *_block(256, 256, 3, 1),
            nn.MaxPool2d(2, stride=2), nn.Dropout(DROPOUT),
            *_block(256, 512, 3, 0), *_block(512, 256, 1, 0), *_block(256, EMBED_DIM, 1, 0),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(EMBED_DIM, self.n_classes)

    @property
    def embed_dim(self) -> int:
        return EMBED_DIM

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ConvLarge({self.n_classes}, in_channels={self.in_channels}) expects images of "
                             f"shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if min(x.shape[2:]) < 12:
            raise ValueError(f"ConvLarge needs images of at least 12x12 pixels, got {tuple(x.shape[2:])}")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``phi_theta(x)``: the (N, 128) global average pool of the last convolutional block."""
        self._check(x)
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The (N, c) logits ``fc(phi_theta(x))``."""
        return self.fc(self.embed(x))

    def extra_repr(self) -> str:
        return f"n_classes={self.n_classes}, in_channels={self.in_channels}, embed_dim={EMBED_DIM}"

"""Backbones truncated at their last convolutional map, and batched global-descriptor extraction.

A minimal start: one backbone (MobileNetV2 with its ImageNet weights, loaded offline by
:mod:`rrlib.nets.weights`), single-scale extraction with a pooling function. Issue 5 adds the
other backbones, multi-scale extraction and a feature cache.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from .pooling import gem, l2n

__all__ = ["BACKBONES", "IMAGENET_MEAN", "IMAGENET_STD", "backbone", "extract_global", "to_tensor"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _mobilenet_v2() -> nn.Module:
    from .weights import load_mobilenet_v2

    net = load_mobilenet_v2()
    body = net.features  # ends with Conv-BN-ReLU6 -> 1280 channels at stride 32
    body.out_channels = 1280
    return body


#: name -> builder of the truncated network (output: the last convolutional feature map).
BACKBONES: dict[str, Callable[[], nn.Module]] = {"mobilenet_v2": _mobilenet_v2}


def backbone(name: str = "mobilenet_v2") -> nn.Module:
    """A pretrained backbone truncated at its last convolutional feature map, in eval mode on CPU.

    The module maps ImageNet-normalised images ``(N, 3, H, W)`` to ``(N, C, H/32, W/32)``;
    ``module.out_channels`` gives ``C`` (1280 for MobileNetV2) and ``module.name`` the name.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {sorted(BACKBONES)}")
    net = BACKBONES[name]()
    net.name = name
    return net.eval().to("cpu").requires_grad_(False)


def _open(image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as im:
            return im.convert("RGB")
    raise TypeError(f"images must be file paths or PIL images, got {type(image).__name__}")


def to_tensor(image, max_size: int | None = None) -> torch.Tensor:
    """Read an image (path or PIL), shrink so its long side is at most ``max_size``, normalise.

    Images are only ever made smaller (as cirtorch's loader does). Returns ``(3, H, W)`` float32,
    ``(x / 255 - mean) / std`` with the ImageNet statistics.
    """
    im = _open(image)
    if max_size is not None and max(im.size) > max_size:
        scale = max_size / max(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.BILINEAR, reducing_gap=None)
    arr = np.asarray(im, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _batches(tensors: Sequence[torch.Tensor], batch_size: int) -> Iterable[tuple[list[int], torch.Tensor]]:
    """Consecutive groups of at most ``batch_size`` same-shaped tensors, with their indices."""
    i = 0
    while i < len(tensors):
        shape, idx = tensors[i].shape, [i]
        while len(idx) < batch_size and i + len(idx) < len(tensors) and tensors[i + len(idx)].shape == shape:
            idx.append(i + len(idx))
        yield idx, torch.stack([tensors[j] for j in idx])
        i += len(idx)


def extract_global(model: nn.Module, images: Sequence, pool: Callable[[torch.Tensor], torch.Tensor] = gem,
                   max_size: int | None = 1024, batch_size: int = 16,
                   threads: int | None = None) -> np.ndarray:
    """One L2-normalised global descriptor per image: ``l2n(pool(model(normalise(image))))``.

    Parameters
    ----------
    model : torch.nn.Module
        A truncated backbone from :func:`backbone` (kept in eval mode).
    images : sequence of paths or PIL images
        Read as RGB; crop queries to their box before passing them (e.g. ``im.crop(bbx)``).
    pool : callable
        Maps ``(N, C, H, W)`` to ``(N, C)``; default GeM with ``p = 3``.
    max_size : int or None
        Images whose long side exceeds it are shrunk to it (papers use 1024).
    batch_size : int
        Consecutive images of identical size are stacked into batches of at most this many.
    threads : int or None
        Temporarily set ``torch.set_num_threads`` (fix it for bit-identical numbers across runs).

    Returns
    -------
    numpy.ndarray
        Shape ``(N, C)``, float32, rows of unit L2 norm.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images = list(images)
    was_training = model.training
    model.eval()
    out: list[np.ndarray | None] = [None] * len(images)
    try:
        with _torch_threads(threads), torch.inference_mode():
            tensors = [to_tensor(im, max_size) for im in images]
            for idx, batch in _batches(tensors, batch_size):
                desc = l2n(pool(model(batch))).to(torch.float32).numpy()
                for j, row in zip(idx, desc):
                    out[j] = row
    finally:
        model.train(was_training)
    if not images:
        return np.zeros((0, getattr(model, "out_channels", 0)), np.float32)
    return np.stack(out).astype(np.float32, copy=False)

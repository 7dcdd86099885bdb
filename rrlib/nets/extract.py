"""Backbones truncated at their last convolutional map, and batched global-descriptor extraction.

Backbones come from torchvision with its own ImageNet weights: MobileNetV2 works offline (the
verified packaged copy of :mod:`rrlib.nets.weights`), the others (ResNet-18/50/101, VGG16,
AlexNet) download into torchvision's cache when online and otherwise fail with a clear error.
:func:`extract_features` runs the network once per image and scale and applies several poolings
to the same maps; multi-scale descriptors are combined as in cirtorch [S3 §4.4.1]: per-scale
L2-normalised vectors ``v_s``, then ``nu((sum_s v_s^p)^(1/p))`` with ``p`` = 1 (average) by
default. :func:`describe_dataset` caches a dataset's descriptors, a block of images at a time; with
``shard=(k, n)`` it describes one of n shards, runs of whole blocks (one task of a cluster array,
``python -m rrlib.nets --dataset NAME --shard k/n``), and :func:`merge_shards` assembles them.
"""
from __future__ import annotations

import math
import numbers
import os
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from .. import cache as cache_mod  # `cache` is describe_dataset's argument
from ..io import read_rgb
from ..progress import progress as report, say
from ..vectors import normalize_rows
from .pooling import gem, l2n
from .weights import WeightsUnavailableError, checkpoint_dir, load_mobilenet_v2

__all__ = ["BACKBONES", "BLOCK", "IMAGENET_MEAN", "IMAGENET_STD", "backbone", "describe_dataset", "extract_features",
           "extract_global", "merge_shards", "parse_shard", "prepare_image", "shard_range", "to_tensor"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: code version of :func:`describe_dataset`'s cache: bump it when :func:`extract_features` changes
CACHE_VERSION = 2
#: images per block of :func:`describe_dataset` (:func:`extract_features`'s ``block``): a shard is whole
#: blocks. 1,024: synth-landmarks' parts (800 and 70 images) are one block each, so their batches are those
#: of an extraction without blocks; a block of 1,024 pictures of 1024 x 768 holds about 5 GB in memory (the
#: pictures, 2.4 GB, and their prepared copies at one scale).
BLOCK = 1024


def _mobilenet_v2() -> nn.Module:
    net = load_mobilenet_v2()
    body = net.features  # ends with Conv-BN-ReLU6 -> 1280 channels at stride 32
    body.out_channels = 1280
    return body


def _torchvision(name: str, channels: int, trunk: Callable[[nn.Module], nn.Module]) -> Callable[[], nn.Module]:
    """A builder for a torchvision ImageNet model truncated by ``trunk`` (weights by its own API)."""

    def build() -> nn.Module:
        import torchvision  # lazy: 1.4 s to import, and only these backbones need it

        weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
        try:
            net = torchvision.models.get_model(name, weights=weights)
        except Exception as err:  # offline: URLError, ConnectionError, ...
            file = weights.url.rsplit("/", 1)[-1]
            raise WeightsUnavailableError(
                f"{name} ImageNet weights are not cached and could not be downloaded ({err}). "
                f"Download {weights.url} and place it at {checkpoint_dir() / file}"
            ) from None
        body = trunk(net)
        body.out_channels = channels
        return body

    return build


def _resnet_trunk(net: nn.Module) -> nn.Module:
    return nn.Sequential(*list(net.children())[:-2])  # drop avgpool and fc


#: name -> builder of the truncated network (output: the last convolutional feature map).
BACKBONES: dict[str, Callable[[], nn.Module]] = {
    "mobilenet_v2": _mobilenet_v2,
    "resnet18": _torchvision("resnet18", 512, _resnet_trunk),
    "resnet50": _torchvision("resnet50", 2048, _resnet_trunk),
    "resnet101": _torchvision("resnet101", 2048, _resnet_trunk),
    "vgg16": _torchvision("vgg16", 512, lambda net: net.features[:-1]),  # last conv + ReLU, no pool
    "alexnet": _torchvision("alexnet", 256, lambda net: net.features[:-1]),
}


def backbone(name: str = "mobilenet_v2", *, upsample: bool = False) -> nn.Module:
    """A pretrained backbone truncated at its last convolutional feature map, in eval mode on CPU.

    The module maps ImageNet-normalised images ``(N, 3, H, W)`` to ``(N, C, H/32, W/32)``;
    ``module.out_channels`` gives ``C`` (1280 for MobileNetV2) and ``module.name`` the name.

    ``upsample=True`` is the "↑" of [S3] (Tables 4.x, "R-GeM↑"): the last stride-2 convolution
    gets stride 1 and every later 3x3 convolution a dilation of 2, so the final map has twice the
    resolution (stride 16) with the same weights and no retraining. Supported for MobileNetV2
    and the ResNets.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {sorted(BACKBONES)}")
    if upsample and not (name == "mobilenet_v2" or name.startswith("resnet")):
        raise ValueError(f"the stride-removal trick is implemented for mobilenet_v2 and the ResNets, not {name!r}")
    net = BACKBONES[name]()
    if upsample:
        _remove_last_stride(net, name)
    net.name = name + ("-up" if upsample else "")
    # channels-last memory layout: the CPU convolution kernels run about 1.8x faster with it
    return net.eval().to("cpu", memory_format=torch.channels_last).requires_grad_(False)


def _remove_last_stride(net: nn.Module, name: str) -> None:
    """Stride 2 -> 1 in the last down-sampling stage, dilation 2 in the 3x3 convolutions after it
    (torchvision's ``replace_stride_with_dilation`` does the same for ResNet's last stage)."""
    if name == "mobilenet_v2":
        convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
        last = max(i for i, m in enumerate(convs) if m.stride == (2, 2))  # a depthwise 3x3, no shortcut
        convs[last].stride = (1, 1)
        later = [m for m in convs[last + 1 :] if m.kernel_size == (3, 3)]
    elif name.startswith("resnet"):
        stage = list(net.children())[-1]  # layer4 of the truncated trunk
        for m in stage.modules():
            if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
                m.stride = (1, 1)  # the strided 3x3 of the first block and its 1x1 shortcut
        later = [m for block in list(stage.children())[1:] for m in block.modules()
                 if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    else:
        raise ValueError(f"the stride-removal trick is implemented for mobilenet_v2 and the ResNets, not {name!r}")
    for m in later:
        m.dilation, m.padding = (2, 2), (2, 2)


def _open(image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (str, os.PathLike)):
        return read_rgb(image)
    raise TypeError(f"images must be file paths or PIL images, got {type(image).__name__}")


def _check_max_size(max_size) -> None:
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, numbers.Integral)
                                 or max_size < 1):
        raise ValueError(f"max_size must be a positive number of pixels or None (no shrinking), got {max_size!r}")


def _shrink(im: Image.Image, max_size: int | None) -> Image.Image:
    """Make the long side at most ``max_size`` (images are only ever made smaller, as cirtorch)."""
    _check_max_size(max_size)
    if max_size is not None and max(im.size) > max_size:
        return _scaled(im, max_size / max(im.size))
    return im


def prepare_image(image, max_size: int | None = None, scale: float = 1.0) -> Image.Image:
    """The picture a network sees at one scale: read ``image`` (path or PIL) as RGB, shrink its long
    side to at most ``max_size`` (never enlarged, as cirtorch), then resize by ``scale`` (bilinear).
    :func:`extract_features` and :mod:`rrlib.dsm` prepare every picture this way."""
    return _scaled(_shrink(_open(image), max_size), scale)


def to_tensor(image, max_size: int | None = None) -> torch.Tensor:
    """Read an image (path or PIL), shrink its long side to at most ``max_size``, normalise.

    Returns ``(3, H, W)`` float32, ``(x / 255 - mean) / std`` with the ImageNet statistics.
    """
    im = prepare_image(image, max_size)
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


def _batches(sizes: Sequence, batch_size: int) -> Iterable[list[int]]:
    """Consecutive groups of at most ``batch_size`` positions with equal ``sizes``."""
    i = 0
    while i < len(sizes):
        idx = [i]
        while len(idx) < batch_size and i + len(idx) < len(sizes) and sizes[i + len(idx)] == sizes[i]:
            idx.append(i + len(idx))
        yield idx
        i += len(idx)


def _scaled(im: Image.Image, scale: float) -> Image.Image:
    if scale == 1:
        return im
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return im.resize(size, Image.BILINEAR, reducing_gap=None)


def extract_features(model: nn.Module, images: Sequence, pools: dict[str, Callable[[torch.Tensor], torch.Tensor]],
                     *, scales: Sequence[float] = (1.0,), scale_power: float = 1.0, max_size: int | None = 1024,
                     batch_size: int = 16, threads: int | None = None, progress: bool = False,
                     block: int | None = None) -> dict[str, np.ndarray]:
    """Global descriptors of ``images`` for several poolings of the same feature maps.

    Each image is shrunk to ``max_size`` (long side), rescaled by every factor in ``scales``
    (multi-scale: [S3] uses 1, 1/sqrt(2), 1/2), ImageNet-normalised and run through ``model``
    once per scale; every pooling in ``pools`` (name -> ``(N, C, H, W) -> (N, C)``) is applied to
    the maps, L2-normalised per scale, combined over scales as ``(sum_s v_s^p)^(1/p)`` with
    ``p = scale_power`` (cirtorch uses GeM's p for GeM networks, 1 otherwise) and normalised again.

    Returns ``{name: (N, C) float32 array}`` with unit rows; ``C`` is read from the pooled maps
    (the model needs no ``out_channels`` attribute). Consecutive images of equal size are batched
    (grouped by size); ``threads`` fixes ``torch.set_num_threads`` for bit-identical reruns.
    ``block`` (a positive integer; None: all images in one block) reads, describes and releases the
    images ``block`` at a time -- memory holds one block's pictures, not the whole list's -- and no
    batch mixes two blocks: a descriptor can depend on the images batched with it (in the last
    bits: another kernel for a batch of one, another split across threads), so images ``[a, b)``
    with ``a`` and ``b`` multiples of ``block`` get the same bits alone as within a longer list (the
    shards of :func:`describe_dataset`). ``max_size`` below 1, scales or ``scale_power`` that are not
    finite and positive, and a pooling that does not return ``(N, C)`` raise ValueError naming the
    argument.
    """
    _check_extraction(scales, scale_power, max_size, batch_size, pools)
    _check_block(block)
    images = list(images)
    # the descriptor size is read from the first pooled batch (no images: ``model.out_channels``)
    acc = {name: np.zeros((0, getattr(model, "out_channels", 0))) for name in pools} if not images else {}
    size = block or max(1, len(images))
    blocks = [range(s, min(len(images), s + size)) for s in range(0, len(images), size)]
    was_training = model.training
    model.eval()
    try:
        with _torch_threads(threads), torch.inference_mode():
            several = len(blocks) > 1
            for rows in report(blocks, f"{len(images):,} images in {len(blocks):,} blocks of {size:,}",
                               enabled=progress and several):
                _describe_block(model, images, rows, pools, acc, scales=scales, scale_power=scale_power,
                                max_size=max_size, batch_size=batch_size, progress=progress and not several)
    finally:
        model.train(was_training)
    out = {}
    for name, v in acc.items():
        if scale_power != 1:
            v = v ** (1.0 / scale_power)
        out[name] = normalize_rows(v).astype(np.float32)
    return out


def _describe_block(model, images, rows: range, pools, acc: dict, *, scales, scale_power, max_size, batch_size,
                    progress) -> None:
    """Add the per-scale descriptors of ``images[rows]`` into the rows of ``acc`` (``{pool: (N, C)}``,
    made at the first batch). Tensors are made one batch at a time from the prepared pictures."""
    pils = [_open(images[i]) for i in rows]
    for scale in scales:
        prepared = [prepare_image(im, max_size, scale) for im in pils]
        # visit images grouped by size so that batches are full (landscape and portrait mix)
        order = sorted(range(len(prepared)), key=lambda i: (prepared[i].size[::-1], i))
        for pos in report(list(_batches([prepared[i].size for i in order], batch_size)),
                          f"{len(images):,} images at scale {scale:.3g} (batches)", enabled=progress):
            local = [order[p] for p in pos]
            batch = torch.stack([to_tensor(prepared[i]) for i in local])
            maps = model(batch.contiguous(memory_format=torch.channels_last))
            idx = [rows.start + i for i in local]
            for name, pool in pools.items():
                pooled = pool(maps)
                if pooled.ndim != 2 or len(pooled) != len(idx):
                    raise ValueError(f"pooling {name!r} returned shape {tuple(pooled.shape)} for a batch of "
                                     f"{len(idx)} maps {tuple(maps.shape)}; a pooling maps (N, C, H, W) to (N, C)")
                v = l2n(pooled).to(torch.float64).numpy()
                if name not in acc:
                    acc[name] = np.zeros((len(images), v.shape[1]))
                acc[name][idx] += np.clip(v, 0, None) ** scale_power if scale_power != 1 else v


def _check_block(block) -> None:
    if block is not None and (isinstance(block, bool) or not isinstance(block, numbers.Integral) or block < 1):
        raise ValueError(f"block must be a positive number of images or None (one block), got {block!r}")


def _check_extraction(scales, scale_power, max_size, batch_size, pools) -> None:
    """ValueError naming the argument for parameters that would give a wrong descriptor or an
    obscure error deep in the loop."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not pools:
        raise ValueError("pools is empty: give at least one pooling")
    scales = tuple(scales)
    if not scales or not all(isinstance(s, numbers.Real) and math.isfinite(s) and s > 0 for s in scales):
        raise ValueError(f"scales must be finite positive factors (at least one), got {scales}")
    if not (isinstance(scale_power, numbers.Real) and math.isfinite(scale_power) and scale_power > 0):
        raise ValueError(f"scale_power must be a finite positive exponent p of (sum_s v_s^p)^(1/p), got {scale_power!r}")
    _check_max_size(max_size)


def extract_global(model: nn.Module, images: Sequence, pool: Callable[[torch.Tensor], torch.Tensor] = gem,
                   max_size: int | None = 1024, batch_size: int = 16, threads: int | None = None,
                   scales: Sequence[float] = (1.0,)) -> np.ndarray:
    """One L2-normalised global descriptor per image, ``l2n(pool(model(normalise(image))))``
    (for several scales, combined by :func:`extract_features`). Returns ``(N, C)`` float32.

    Images are paths or PIL images, read as RGB; crop queries to their box before passing them
    (:meth:`rrlib.datasets.RetrievalDataset.read_query` does).
    """
    return extract_features(model, images, {"x": pool}, scales=scales, max_size=max_size,
                            batch_size=batch_size, threads=threads)["x"]


def parse_shard(spec) -> tuple[int, int]:
    """``(k, n)`` from ``"k/n"`` (the command line's ``--shard``) or a pair: the k-th of n shards,
    ``0 <= k < n`` -- SLURM's ``$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`` with ``--array=0-(n-1)``.
    Anything else is a ValueError saying what a shard is."""
    if isinstance(spec, str):
        text = spec
    else:
        text = "/".join(map(str, spec)) if isinstance(spec, (tuple, list)) else repr(spec)
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"shard {text!r} is not k/n with whole numbers 0 <= k < n (e.g. 3/8: the 4th of 8 shards)")
    k, n = int(parts[0]), int(parts[1])
    if n < 1:
        raise ValueError(f"shard {text}: the number of shards n must be at least 1")
    if not 0 <= k < n:
        raise ValueError(f"shard {text}: k must lie in [0, n - 1] = [0, {n - 1}] (shards count from 0: a SLURM "
                         f"array for {n} shards is --array=0-{n - 1})")
    return k, n


def shard_range(k: int, n: int, total: int, block: int = BLOCK) -> tuple[int, int]:
    """The images ``[lo, hi)`` of shard k of n: blocks ``[k b // n, (k + 1) b // n)`` of the ``b = ceil(total /
    block)`` blocks of ``block`` images (shards differ by at most one block; with more shards than blocks some
    are empty). Whole blocks, so that a shard's batches are those of an unsharded run
    (:func:`extract_features`'s ``block``); contiguous rather than every n-th image, so that a shard's cache
    file holds consecutive rows of the descriptor matrix, readable on its own, and merging is a concatenation
    in shard order."""
    blocks = -(-total // block)
    return min(total, k * blocks // n * block), min(total, (k + 1) * blocks // n * block)


def _plan(data, model, pools, scales, max_size, images, tag, shard, block):
    """The cache file of ``describe_dataset``'s arguments and the image ranges it describes: ``(path,
    {part: (lo, hi)})``. Unsharded, the key covers the whole dataset (or ``images``); a shard's key covers
    only its own images (and query boxes), plus its ranges, ``block`` and the totals -- so a shard job digests
    its own images only, not the million of R1M. ``block`` is not in the unsharded key: like ``threads`` it
    changes descriptors in the last bits only (a batch's composition)."""
    totals = {"db": len(data.images) if images is None else len(images)}
    if images is None:
        totals["queries"] = len(data.queries)
    label = [data.name, tag]
    if shard is None:
        ranges = {part: (0, total) for part, total in totals.items()}
        inputs = cache_mod.dataset_digest(data) if images is None else cache_mod.images_digest(images)
    else:
        k, n = shard
        ranges = {part: shard_range(k, n, total, block) for part, total in totals.items()}
        (lo, hi) = ranges["db"]
        if images is not None:
            inputs = cache_mod.digest("shard", block, ranges, totals, cache_mod.images_digest(images[lo:hi]))
        else:
            qlo, qhi = ranges["queries"]
            inputs = cache_mod.digest("shard", block, ranges, totals, data.name, data.imlist[lo:hi],
                                      data.qimlist[qlo:qhi], data.gnd[qlo:qhi], cache_mod.images_digest(data.images[lo:hi]),
                                      cache_mod.images_digest(data.queries[qlo:qhi]))
        label.append(f"shard{k}of{n}")
    key = cache_mod.digest(CACHE_VERSION, inputs, model, pools, tuple(scales), max_size)
    return cache_mod.entry("features/cache", label, key, ".npz"), ranges


def _loader(expected_parts, pools):
    expected = {(part, name) for part in expected_parts for name in pools}

    def load(file) -> dict:
        out = _load_parts(file)
        found = {(part, name) for part, d in out.items() for name in d}
        if found != expected:
            raise ValueError(f"it holds {sorted(found)}, expected {sorted(expected)}")
        return out

    return load


def _check_describe(data, tag, scales, max_size, pools, block) -> None:
    cache_mod.check_name(data.name, "dataset name")
    cache_mod.check_name(tag, "tag")
    _check_extraction(scales, 1.0, max_size, 16, pools)
    _check_block(block)


def describe_dataset(data, model: nn.Module, pools: dict[str, Callable[[torch.Tensor], torch.Tensor]], *,
                     scales: Sequence[float] = (1.0,), max_size: int | None = 1024, images=None,
                     tag: str = "test", cache: bool = True, threads: int | None = None,
                     progress: bool = True, shard=None,
                     block: int = BLOCK) -> dict[str, np.ndarray | dict[str, np.ndarray]]:
    """Descriptors of a dataset's database and (cropped) queries, cached in the data root.

    ``data`` is a :class:`rrlib.datasets.RetrievalDataset`. Returns ``{"db": {pool: (n_db, C)},
    "queries": {pool: (n_q, C)}}``; with ``images`` (a list of paths or PIL images, e.g. a training
    split) only ``{"db": ...}`` for those. The cache file is
    ``<data root>/features/cache/<dataset>_<tag>_<key>.npz`` (:mod:`rrlib.cache`), the key a digest
    of everything that determines the descriptors: the content of the images (the dataset's, with
    its ground truth, or ``images``), the model's architecture and weights, the poolings (their
    code and parameters, e.g. GeM's p), ``scales``, ``max_size`` and :data:`CACHE_VERSION`.
    ``tag`` only names the file (letters, digits, ``._+=,-``). ``progress`` prints how far the
    extraction is when the cache is built (:mod:`rrlib.progress`).

    Images are described ``block`` at a time (:func:`extract_features`; :data:`BLOCK`): memory holds one
    block's pictures. ``shard=(k, n)`` (or ``"k/n"``) describes only the k-th of n contiguous runs of whole
    blocks of the database images and of the queries (:func:`shard_range`), cached in its own file
    ``<dataset>_<tag>_shard<k>of<n>_<key>.npz``; :func:`merge_shards` assembles the n files into the
    unsharded result, bit-identical to an unsharded run with the same ``block`` and ``threads`` (no batch
    crosses a block, so every image is batched with the same images in both).
    """
    _check_describe(data, tag, scales, max_size, pools, block)
    shard = None if shard is None else parse_shard(shard)
    images = None if images is None else list(images)
    path, ranges = _plan(data, model, pools, scales, max_size, images, tag, shard, block)
    model_name = getattr(model, "name", type(model).__name__)
    run = dict(scales=scales, max_size=max_size, threads=threads, progress=progress, block=block)

    def compute() -> dict:
        if progress:
            which = "" if shard is None else f", shard {shard[0]}/{shard[1]}"
            say(f"{model_name} descriptors of {data.name} ({tag}{which}), cached in {path.parent} for the next runs")
        lo, hi = ranges["db"]
        out = {"db": extract_features(model, (data.images if images is None else images)[lo:hi], pools, **run)}
        if "queries" in ranges:
            queries = [data.read_query(i) for i in range(*ranges["queries"])]
            out["queries"] = extract_features(model, queries, pools, **run)
        return out

    return cache_mod.cached(path, compute, _save_parts, _loader(ranges, pools), enabled=cache)


def merge_shards(data, model: nn.Module, pools: dict[str, Callable[[torch.Tensor], torch.Tensor]], shards: int, *,
                 scales: Sequence[float] = (1.0,), max_size: int | None = 1024, images=None,
                 tag: str = "test", block: int = BLOCK) -> dict[str, dict[str, np.ndarray]]:
    """The descriptors of all ``shards`` shards of :func:`describe_dataset` (same arguments), concatenated in
    shard order -- the rows of an unsharded run -- and stored in the unsharded cache file, where a later
    ``describe_dataset`` without ``shard`` finds them. A FileNotFoundError names every missing (or
    unreadable) shard and the command that makes it."""
    _check_describe(data, tag, scales, max_size, pools, block)
    _, n = parse_shard((0, shards))
    images = None if images is None else list(images)
    found, missing = [], []
    for k in range(n):
        path, ranges = _plan(data, model, pools, scales, max_size, images, tag, (k, n), block)
        value = cache_mod.read(path, _loader(ranges, pools))   # None: absent, or unreadable (with a warning)
        if value is None:
            missing.append((k, path))
        else:
            found.append(value)
    if missing:
        listed = "; ".join(f"{k}/{n} ({path.name})" for k, path in missing)
        raise FileNotFoundError(f"{len(missing)} of {n} shards of {data.name} ({tag}) are missing in "
                                f"{missing[0][1].parent}: {listed}. Make each with describe_dataset(..., "
                                f"shard=(k, {n})) or python -m rrlib.nets --dataset {data.name} --shard k/{n}")
    merged = {part: {name: _concat([shard[part][name] for shard in found]) for name in pools} for part in found[0]}
    path, _ = _plan(data, model, pools, scales, max_size, images, tag, None, block)
    cache_mod.atomic_write(path, lambda f: _save_parts(merged, f))
    return merged


def _concat(blocks: list[np.ndarray]) -> np.ndarray:
    """Rows of the blocks in order; empty blocks (a shard with no query) may lack the descriptor width."""
    rows = [b for b in blocks if len(b)]
    return np.concatenate(rows) if rows else blocks[0]


def _save_parts(out: dict[str, dict[str, np.ndarray]], file) -> None:
    np.savez(file, **{f"{part}/{pool}": v for part, d in out.items() for pool, v in d.items()})


def _load_parts(path) -> dict[str, dict[str, np.ndarray]]:
    out: dict = {}
    with np.load(path) as z:
        for k in z.files:
            part, pool = k.split("/", 1)
            out.setdefault(part, {})[pool] = z[k]
    return out

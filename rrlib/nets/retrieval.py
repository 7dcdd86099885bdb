"""The published retrieval networks of Radenović, Tolias, Chum (cirtorch): fine-tuned GeM nets.

They are ResNet / VGG trunks fine-tuned on SfM-120k (or Google Landmarks 2018) with a learned GeM
exponent and, for the ``-w`` networks, a whitening layer trained end-to-end. The checkpoint files
(``{"state_dict", "meta"}``, keys ``features.*``, ``pool.p``, ``whiten.*``) are downloaded by URL
into torchvision's checkpoint cache with the resumable, atomic downloader of
:mod:`rrlib.datasets.transfer`; offline and absent, the error says which file to place where.

No code from the network: the file is read with ``torch.load(weights_only=True)`` (tensors and
plain data only: cirtorch's ``meta`` is a dict of strings, numbers and lists), so a crafted file
cannot run code, neither on the first call nor later from the cache. Integrity: as torch.hub's
``check_hash``, the hex digits after the last ``-`` of the file name (``...-gem-b80fb85.pth``) must
begin the file's SHA-256; a file that does not match is never given its final name (and a cached
file that no longer matches is downloaded again). Those 7 digits detect corruption, not a
determined forger -- ``weights_only`` is what keeps code out. The loader also checks the
checkpoint's structure (architecture, parameter names and shapes) and fails loudly on any mismatch.
"""
from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torchvision
from torch import nn

from ..datasets.transfer import DownloadError, download_file
from ..vectors import normalize_rows
from .pooling import GeM
from .weights import WeightsUnavailableError, checkpoint_dir

__all__ = ["RETRIEVAL_NETWORKS", "RetrievalNetwork", "hash_prefix", "retrieval_network"]

# torch.hub's HASH_REGEX: "bfd8deac" in "resnet18-bfd8deac.pth"
_HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")

_CIRTORCH = "http://cmp.felk.cvut.cz/cnnimageretrieval/data/networks"

#: name -> URL of the checkpoint (cirtorch's PRETRAINED table)
RETRIEVAL_NETWORKS = {
    "retrievalSfM120k-vgg16-gem": f"{_CIRTORCH}/retrieval-SfM-120k/retrievalSfM120k-vgg16-gem-b4dcdc6.pth",
    "retrievalSfM120k-resnet101-gem": f"{_CIRTORCH}/retrieval-SfM-120k/retrievalSfM120k-resnet101-gem-b80fb85.pth",
    "rSfM120k-tl-resnet50-gem-w": f"{_CIRTORCH}/retrieval-SfM-120k/rSfM120k-tl-resnet50-gem-w-97bf910.pth",
    "rSfM120k-tl-resnet101-gem-w": f"{_CIRTORCH}/retrieval-SfM-120k/rSfM120k-tl-resnet101-gem-w-a155e54.pth",
    "rSfM120k-tl-resnet152-gem-w": f"{_CIRTORCH}/retrieval-SfM-120k/rSfM120k-tl-resnet152-gem-w-f39cada.pth",
    "gl18-tl-resnet50-gem-w": f"{_CIRTORCH}/gl18/gl18-tl-resnet50-gem-w-83fdc30.pth",
    "gl18-tl-resnet101-gem-w": f"{_CIRTORCH}/gl18/gl18-tl-resnet101-gem-w-a4d43db.pth",
    "gl18-tl-resnet152-gem-w": f"{_CIRTORCH}/gl18/gl18-tl-resnet152-gem-w-21278d5.pth",
}


@dataclass
class RetrievalNetwork:
    """A fine-tuned retrieval net split into the pieces the rest of rrlib composes.

    ``features`` maps images to feature maps (use it as the ``model`` of
    :func:`rrlib.nets.extract_features`), ``pool`` is its learned GeM, and ``whiten`` (``-w``
    networks) the learned whitening, applied to L2-normalised pooled vectors::

        desc = extract_global(net.features, images, pool=net.pool)
        desc = net.whiten(desc)        # nu(W x + b), as cirtorch's forward
    """

    name: str
    features: nn.Module
    pool: GeM
    whiten: Callable[[np.ndarray], np.ndarray] | None
    meta: dict


def hash_prefix(file_name: str) -> str | None:
    """The SHA-256 prefix in a torch.hub-style file name (``name-<hex>.pth``), or None without one."""
    match = _HASH_IN_NAME.search(file_name)
    return match.group(1) if match and len(match.group(1)) >= 6 else None


def _trunk(architecture: str) -> nn.Module:
    net = torchvision.models.get_model(architecture, weights=None)  # filled from the checkpoint
    if architecture.startswith("resnet"):
        return nn.Sequential(*list(net.children())[:-2])
    if architecture.startswith("vgg"):
        return net.features[:-1]
    raise ValueError(f"unsupported architecture {architecture!r} in the checkpoint")


def retrieval_network(name: str, *, url: str | None = None, retries: int = 5) -> RetrievalNetwork:
    """Download (once, into torchvision's checkpoint cache) and build a cirtorch retrieval network.

    ``url`` overrides the registered address (a mirror); ``retries`` is passed to the downloader.
    The file name's hash prefix is verified and the file is read with ``weights_only=True`` (see the
    module docstring).

    Raises
    ------
    WeightsUnavailableError
        The file cannot be downloaded, or does not match the hash prefix in its name.
    ValueError
        The file holds more than tensors and plain data (it could run code), or is not a cirtorch
        checkpoint of a supported architecture; the message names the file.
    """
    url = url or RETRIEVAL_NETWORKS.get(name)
    if url is None:
        raise ValueError(f"unknown retrieval network {name!r}; available: {sorted(RETRIEVAL_NETWORKS)}")
    dest = checkpoint_dir() / url.rsplit("/", 1)[-1]
    try:
        download_file(url, dest, sha256=hash_prefix(dest.name), retries=retries)
    except DownloadError as err:
        raise WeightsUnavailableError(f"{name}: {err}") from None
    try:
        state = torch.load(dest, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{dest} holds more than tensors and plain data, so loading it could run code; "
                         f"refusing it ({str(err).splitlines()[0]}). Delete it.") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{dest} is not a readable checkpoint ({type(err).__name__}: {err}); delete it and retry") from err
    if not isinstance(state, dict) or not {"state_dict", "meta"} <= set(state):
        raise ValueError(f"{dest} is not a cirtorch checkpoint (no 'state_dict' / 'meta'); delete it and retry")
    meta, sd = state["meta"], state["state_dict"]
    features = _trunk(meta["architecture"])
    body = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")}
    missing, unexpected = features.load_state_dict(body, strict=False)
    if missing or unexpected:
        raise ValueError(f"{dest}: the checkpoint does not fit {meta['architecture']} "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    pool = GeM(p=float(sd["pool.p"].reshape(-1)[0])) if "pool.p" in sd else GeM()
    whiten = None
    if "whiten.weight" in sd:
        Wt, b = sd["whiten.weight"].numpy().astype(np.float64), sd["whiten.bias"].numpy().astype(np.float64)

        def whiten(x: np.ndarray) -> np.ndarray:
            y = np.asarray(x, np.float64) @ Wt.T + b
            return normalize_rows(y).astype(np.float32)

    features.name = name
    features.out_channels = [m for m in features.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
    features = features.eval().requires_grad_(False).to(memory_format=torch.channels_last)
    return RetrievalNetwork(name, features, pool, whiten, meta)

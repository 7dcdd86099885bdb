"""Datasets: where they live on disk, and (later) the registry, downloader and embedded data.

The data root (ARCHITECTURE.md section 3) is, in order of precedence:

1. the ``RRLIB_DATA`` environment variable;
2. ``<repo>/data`` when rrlib is imported from a checkout (the folder has a ``README.md``);
3. ``~/.cache/rrlib``.

Layout under the root (the revisitop layout, so its scripts and ours share files)::

    datasets/<name>/gnd_<name>.pkl    ground truth (imlist, qimlist, gnd)
    datasets/<name>/jpg/              images
    features/<file>.mat               pre-computed descriptors
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root"]


def data_root() -> Path:
    """The folder where rrlib reads and writes every dataset, model and feature file."""
    env = os.environ.get("RRLIB_DATA")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "data"
    if (checkout / "README.md").is_file():
        return checkout
    return Path.home() / ".cache" / "rrlib"

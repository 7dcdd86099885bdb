"""General file helpers every part of rrlib uses: the data root, image reading and hashing.

They live here, not in :mod:`rrlib.datasets`, because nets, local features, learning and the
caches need them without needing the dataset registry.

* :func:`data_root` -- where rrlib reads and writes datasets, models, features and caches.
* :func:`read_rgb` -- the one image reader.
* :func:`sha256sum` -- SHA-256 of a file in constant memory.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["CHUNK", "data_root", "read_rgb", "sha256sum"]

CHUNK = 1 << 20  # bytes read at a time when hashing or copying


def data_root() -> Path:
    """The folder where rrlib reads and writes every dataset, model and feature file.

    In order of precedence (ARCHITECTURE.md section 3):

    1. the ``RRLIB_DATA`` environment variable;
    2. ``<repo>/data`` when rrlib is imported from a checkout (the folder has a ``README.md``);
    3. ``~/.cache/rrlib``.
    """
    env = os.environ.get("RRLIB_DATA")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[1] / "data"
    if (checkout / "README.md").is_file():
        return checkout
    return Path.home() / ".cache" / "rrlib"


def read_rgb(path: str | os.PathLike):
    """An image file read as a PIL RGB image, the file closed (the one reader of rrlib)."""
    from PIL import Image

    with open(path, "rb") as f:  # open explicitly: no file handle left to the garbage collector
        img = Image.open(f)
        return img.convert("RGB")


def sha256sum(path: str | os.PathLike, chunk: int = CHUNK) -> str:
    """Hex SHA-256 digest of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()

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

import numpy as np
from PIL import Image

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


def read_rgb(path: str | os.PathLike) -> Image.Image:
    """An image file read as a PIL RGB image, the file closed (the one reader of rrlib).

    16-bit grey images (PIL modes ``I;16``, ``I;16B``, ``I;16L``, ``I;16N`` and ``I``, e.g. a
    16-bit PNG) are scaled to 8 bits, ``round(v / 257)`` (65535 -> 255), instead of being clipped
    at 255; 32-bit integer values outside 0..65535 and float images (mode ``F``) have no known
    scale and raise ValueError. A file that cannot be decoded (truncated, corrupt, not an image)
    raises OSError naming the file; a missing file raises FileNotFoundError.
    """
    try:
        with open(path, "rb") as f:  # open explicitly: no file handle left to the garbage collector
            img = Image.open(f)
            img.load()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # their messages name the file
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise OSError(f"cannot read the image {path}: {err}") from err
    return _to_rgb(img, path)


def _to_rgb(img: Image.Image, path) -> Image.Image:
    if img.mode.startswith("I;16") or img.mode == "I":
        v = np.asarray(img)
        if v.size and (v.min() < 0 or v.max() > 65535):
            raise ValueError(f"{path}: 32-bit integer image with values in [{v.min()}, {v.max()}], outside the "
                             "16-bit range 0..65535: no known scale to 8 bits")
        img = Image.fromarray(np.rint(v / 257.0).astype(np.uint8))
    elif img.mode == "F":
        raise ValueError(f"{path}: a floating-point image (PIL mode F) has no known scale to 8 bits; convert it first")
    return img.convert("RGB")


def sha256sum(path: str | os.PathLike, chunk: int = CHUNK) -> str:
    """Hex SHA-256 digest of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()

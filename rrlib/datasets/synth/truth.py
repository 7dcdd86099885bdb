"""The generator's ground-truth geometry, for checking what a method estimates."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..pickles import load_pickle
from .build import NAME


def true_homography(data, query: int, image: int, plane: int = 0) -> np.ndarray:
    """The true ``3 x 3`` homography from query picture ``query`` to database picture ``image``.

    Both pictures show plane ``plane`` (0: the main facade) of the same landmark; the generator
    stores each picture's texture-to-image homography :math:`H`, so the map between the two
    pictures is :math:`H_{image} H_{query}^{-1}`. Coordinates are those of the *uncropped* query
    picture (add the query box's corner to points of the cropped query).

    Raises ``ValueError`` for another dataset than synth-landmarks or two pictures of different
    landmarks (no common plane).
    """
    if data.name != NAME:
        raise ValueError(f"true_homography needs {NAME}'s generator records; {data.name} has none")
    path = Path(data.folder) / f"meta_{NAME}.pkl"
    meta = _meta(path, path.stat().st_mtime_ns if path.exists() else 0)
    q, d = meta["queries"][query], meta["db"][image]
    if q["landmark"] != d["landmark"]:
        raise ValueError(f"query {query} (landmark {q['landmark']}) and database image {image} "
                         f"(landmark {d['landmark']}) show different landmarks: no common plane")
    return np.asarray(d["H"][plane], float) @ np.linalg.inv(np.asarray(q["H"][plane], float))


@functools.lru_cache(maxsize=2)
def _meta(path: Path, mtime_ns: int) -> dict:  # mtime: a regenerated file is read again
    try:
        return load_pickle(path)  # plain data only: a crafted file runs no code
    except (OSError, ValueError) as e:
        raise RuntimeError(f"cannot read the generator's records {path}: {e}; "
                           f"regenerate with `python -m rrlib prepare {NAME}`") from e

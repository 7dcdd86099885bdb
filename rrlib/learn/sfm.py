"""cirtorch's retrieval-SfM-120k training set, for the paper setting of notebook 04.

``retrieval-SfM-120k.pkl`` (``python -m rrlib download retrieval-sfm-120k``, ~50 GB of images)
holds, for its ``"train"`` and ``"val"`` parts, the image ids ``cids``, their 3D model
``cluster`` and the query-positive pairs ``qidxs`` / ``pidxs`` that Radenović et al. chose from
the 3D reconstructions [S4] (their positives: the images sharing enough 3D points). Images are
stored as ``ims/<cid[-2:]>/<cid[-4:-2]>/<cid[-6:-4]>/<cid>`` (cirtorch's ``cid2filename``).

The pickle has no published checksum: it is read with :func:`rrlib.datasets.load_pickle`, which
builds plain data (lists, dicts, strings, numbers, numpy arrays) and refuses anything that could run
code, and its fields are checked; every error names the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rrlib.datasets import DatasetNotFoundError, load_pickle
from rrlib.io import data_root

__all__ = ["sfm120k_training", "cid_to_path"]


def cid_to_path(cid: str, ims_root: str | os.PathLike) -> Path:
    """The image file of a retrieval-SfM image id (cirtorch's ``cid2filename``)."""
    return Path(ims_root) / cid[-2:] / cid[-4:-2] / cid[-6:-4] / cid


def sfm120k_training(root: str | os.PathLike | None = None, part: str = "train"):
    """Training images of retrieval-SfM-120k: ``(paths, clusters, (qidxs, pidxs))``.

    ``paths`` and ``clusters`` (the 3D model of each image) feed :func:`rrlib.learn.finetune` as
    ``train``; the pairs feed a :class:`rrlib.learn.TupleMiner` with ``positives="given"``.
    Raises :class:`rrlib.datasets.DatasetNotFoundError` naming the download command when absent, and
    ValueError naming the file when it is not a plain-data retrieval-SfM database.
    """
    folder = Path(root) if root is not None else data_root() / "datasets" / "retrieval-sfm-120k"
    db_file, ims = folder / "retrieval-SfM-120k.pkl", folder / "ims"
    if not db_file.is_file() or not ims.is_dir():
        raise DatasetNotFoundError(f"retrieval-SfM-120k is not under {folder} (needs {db_file.name} and ims/): "
                                   "python -m rrlib download retrieval-sfm-120k (about 50 GB)")
    if part not in ("train", "val"):
        raise ValueError(f"part must be 'train' or 'val', got {part!r}")
    db = load_pickle(db_file)
    try:
        db = db[part]
        cids = db["cids"]
        if isinstance(cids, str) or not all(isinstance(c, str) for c in cids):
            raise TypeError("'cids' should be a list of image ids (str)")
        paths = [cid_to_path(c, ims) for c in cids]
        return paths, np.asarray(db["cluster"]), (np.asarray(db["qidxs"]), np.asarray(db["pidxs"]))
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{db_file} is not a retrieval-SfM database (part {part!r}): {exc!r}") from exc

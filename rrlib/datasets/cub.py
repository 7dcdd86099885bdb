"""CUB-200-2011 for deep metric learning: the class split of Oh Song et al. (CVPR 2016).

[S1]'s fine-grained application trains on the images of the first 100 classes *without their
labels* and tests on the other 100 (the standard metric-learning protocol of Oh Song et al.,
"Deep metric learning via lifted structured feature embedding", CVPR 2016 -- not the
``train_test_split.txt`` of the classification benchmark). ``python -m rrlib download cub200``
fetches and unpacks the archive; :func:`cub200_split` reads its index files::

    <data root>/datasets/cub200/CUB_200_2011/images.txt              <image id> <relative path>
    <data root>/datasets/cub200/CUB_200_2011/image_class_labels.txt  <image id> <class id 1..200>
    <data root>/datasets/cub200/CUB_200_2011/classes.txt             <class id> <name>
    <data root>/datasets/cub200/CUB_200_2011/images/<relative path>
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rrlib.io import data_root
from rrlib.datasets.registry import DatasetNotFoundError

__all__ = ["CUB_TRAIN_CLASSES", "cub200_folder", "cub200_split"]

#: classes 1..100 train, 101..200 test (Oh Song et al. CVPR 2016; [S1] "images for 100 CUB200-2011 classes")
CUB_TRAIN_CLASSES = 100


def cub200_folder(root: str | os.PathLike | None = None) -> Path:
    """The unpacked ``CUB_200_2011`` folder under the data root (``DatasetNotFoundError`` if absent)."""
    folder = Path(root or data_root()) / "datasets" / "cub200" / "CUB_200_2011"
    if not (folder / "images.txt").is_file():
        raise DatasetNotFoundError(f"CUB-200-2011 is not in {folder.parent}: python -m rrlib download cub200")
    return folder


def _index(path: Path, kind: str) -> dict[int, str]:
    """``{id: value}`` from a file of ``<int id> <value>`` lines; malformed lines name the file and line."""
    out: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        head, _, value = line.strip().partition(" ")
        if not head.isdigit() or not value.strip():
            raise ValueError(f"{path}, line {number}: expected '<id> <{kind}>', got {line!r}")
        if int(head) in out:
            raise ValueError(f"{path}, line {number}: id {head} appears twice")
        out[int(head)] = value.strip()
    return out


def cub200_split(root: str | os.PathLike | None = None, *, check_files: bool = True) -> dict:
    """The metric-learning split of CUB-200-2011: ``{"train": (paths, labels), "test": (paths,
    labels), "classes": {id: name}}``, labels being the class ids (1..100 train, 101..200 test).

    Every image of ``images.txt`` must have a class in 1..200 and, with ``check_files``, exist on
    disk: a truncated download or a wrong folder is an error naming the first missing file, never
    a silently smaller training set.
    """
    folder = cub200_folder(root)
    images = _index(folder / "images.txt", "relative path")
    labels = _index(folder / "image_class_labels.txt", "class id")
    classes = {i: name for i, name in _index(folder / "classes.txt", "class name").items()}
    missing = sorted(set(images) - set(labels))
    if missing:
        raise ValueError(f"image id {missing[0]} of images.txt has no class in image_class_labels.txt")
    out: dict = {"classes": classes}
    parts: dict[str, tuple[list[Path], list[int]]] = {"train": ([], []), "test": ([], [])}
    for image_id in sorted(images):
        label = labels[image_id]
        if not label.isdigit() or not 1 <= int(label) <= 200:
            raise ValueError(f"image id {image_id}: class {label!r} is not in 1..200")
        path = folder / "images" / images[image_id]
        if check_files and not path.is_file():
            raise DatasetNotFoundError(f"{path} is missing: the archive is incomplete (python -m rrlib download cub200)")
        part = "train" if int(label) <= CUB_TRAIN_CLASSES else "test"
        parts[part][0].append(path)
        parts[part][1].append(int(label))
    for part, (paths, labs) in parts.items():
        out[part] = (paths, np.array(labs, dtype=np.int64))
    return out

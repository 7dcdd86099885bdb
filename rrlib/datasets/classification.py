"""Image-classification benchmarks of [S3] chapter 3 (active learning): MNIST, SVHN, CIFAR-10/100.

The *paper mode* of notebook 09 trains on the real datasets of [S3] Table 3.1. They are fetched
and read by torchvision's own dataset classes (:class:`torchvision.datasets.MNIST`,
:class:`~torchvision.datasets.SVHN`, :class:`~torchvision.datasets.CIFAR10`,
:class:`~torchvision.datasets.CIFAR100`), which check every downloaded file against its MD5, and
stored under the data root (:func:`rrlib.io.data_root`) in torchvision's own layout::

    <data root>/datasets/mnist/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    <data root>/datasets/svhn/{train,test,extra}_32x32.mat
    <data root>/datasets/cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}
    <data root>/datasets/cifar100/cifar-100-python/{train,test,meta}

so a copy made by torchvision elsewhere can be placed there by hand.

Nothing half-written is ever trusted. torchvision writes its downloads straight to their final
names and leaves a corrupt file in place when the MD5 check fails (and MNIST's check of the
unpacked files is only that they exist). So the download runs in a staging folder beside the data
(``<folder>/.download-<pid>@<host>@<split>``, see :mod:`rrlib.datasets.leftovers`); only once
torchvision has verified and read everything are the files moved, each with one atomic
``os.replace``, to their final names. A failed, corrupt or interrupted download leaves nothing
under the final names; the staging folder is removed (or, for a killed run, by the next run).

Entry point::

    load_classification(name, split="train", root=None, download=True) -> ClassificationDataset
"""
from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rrlib.datasets.leftovers import owner_tag, remove_stale
from rrlib.datasets.registry import DatasetNotFoundError, UnknownDatasetError, resolve_root
from rrlib.datasets.transfer import ChecksumError, DownloadError

__all__ = ["CLASSIFICATION_DATASETS", "ClassificationDataset", "load_classification"]

#: name -> (torchvision class name, splits, display name)
CLASSIFICATION_DATASETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "mnist": ("MNIST", ("train", "test"), "MNIST"),
    "svhn": ("SVHN", ("train", "test", "extra"), "SVHN"),
    "cifar10": ("CIFAR10", ("train", "test"), "CIFAR-10"),
    "cifar100": ("CIFAR100", ("train", "test"), "CIFAR-100"),
}

_STAGING = ".download-"
#: what torchvision expects under <data root>/datasets/<name>/ (for messages)
_LAYOUT = {
    "mnist": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (unpacked)",
    "svhn": "<split>_32x32.mat",
    "cifar10": "cifar-10-batches-py/ (the unpacked cifar-10-python.tar.gz)",
    "cifar100": "cifar-100-python/ (the unpacked cifar-100-python.tar.gz)",
}


@dataclass(frozen=True, eq=False)
class ClassificationDataset:
    """One split of a classification benchmark, as arrays.

    Attributes
    ----------
    name, split : str
        ``"mnist" | "svhn" | "cifar10" | "cifar100"`` and ``"train" | "test"`` (SVHN also ``"extra"``).
    images : numpy.ndarray, uint8
        ``(N, H, W)`` for MNIST (grey), ``(N, H, W, 3)`` otherwise (RGB, channels last; SVHN's
        ``.mat`` stores ``(H, W, 3, N)`` and is transposed).
    labels : numpy.ndarray, int64
        ``(N,)`` class indices in ``0 .. len(classes) - 1`` (SVHN's label 10 of the digit 0 is 0,
        as torchvision maps it).
    classes : tuple of str
        Class names, indexed by label.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (f"ClassificationDataset(name={self.name!r}, split={self.split!r}, "
                f"images={self.images.shape} {self.images.dtype}, n_classes={self.n_classes})")


def _check_name(name: str) -> str:
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in CLASSIFICATION_DATASETS:
        raise UnknownDatasetError(
            f"unknown classification dataset {name!r}; known: {', '.join(CLASSIFICATION_DATASETS)}")
    return key


def _check_split(name: str, split: str) -> str:
    splits = CLASSIFICATION_DATASETS[name][1]
    if split not in splits:
        raise ValueError(f"{CLASSIFICATION_DATASETS[name][2]} has no split {split!r}; splits: {', '.join(splits)}")
    return split


def _torchvision_class(name: str):
    import torchvision.datasets  # imported here: loading rrlib.datasets stays cheap

    return getattr(torchvision.datasets, CLASSIFICATION_DATASETS[name][0])


def _split_kwargs(name: str, split: str) -> dict:
    return {"split": split} if name == "svhn" else {"train": split == "train"}


def _source_url(cls, name: str, split: str) -> str:
    """Where torchvision fetches the (first) file of this split from, for messages."""
    if name == "mnist":
        return cls.mirrors[0]  # four files, each tried on every mirror
    if name == "svhn":
        return cls.split_list[split][0]
    return cls.url


def _is_absent(err: RuntimeError) -> bool:
    # torchvision's words for "missing or failed the MD5 check" ("Dataset not found or corrupted. ...")
    return "not found" in str(err)


def _open(cls, name: str, split: str, folder: Path, download: bool):
    return cls(str(folder), download=download, **_split_kwargs(name, split))


def _publish(staging: Path, folder: Path) -> None:
    """Move every file of ``staging`` to the same place under ``folder``, one ``os.replace`` each."""
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = folder / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def _download(cls, name: str, split: str, folder: Path):
    """torchvision's download of ``split`` into a staging folder, then published under ``folder``."""
    title = CLASSIFICATION_DATASETS[name][2]
    url = _source_url(cls, name, split)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale(folder, _STAGING)
    staging = folder / f"{_STAGING}{owner_tag()}@{split}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    hint = (f"Nothing was kept, so the next load starts afresh. To install it by hand, place "
            f"torchvision's files for {title} in {folder}: {_LAYOUT[name]}.")
    try:
        try:
            data = _open(cls, name, split, staging, download=True)
        except Exception as err:  # noqa: BLE001 -- every failure becomes one clear error
            text = " ".join(str(err).split())
            if "corrupted" in text:
                raise ChecksumError(
                    f"{title} ({split}): a file downloaded from {url} failed torchvision's MD5 check "
                    f"(torchvision: {text!r}) -- a damaged transfer or a changed file on the server. {hint}",
                    url, folder) from err
            raise DownloadError(
                f"could not download {title} ({split}) from {url}: {type(err).__name__}: {text}. "
                f"Check the internet connection. {hint}", url, folder) from err
        _publish(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return data


def _arrays(name: str, data) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    if name == "mnist":
        images = data.data.numpy()
        labels = data.targets.numpy()
    elif name == "svhn":
        images = np.transpose(data.data, (0, 2, 3, 1))  # torchvision gives (N, 3, H, W)
        labels = data.labels
    else:
        images = data.data
        labels = np.asarray(data.targets)
    classes = tuple(str(c) for c in data.classes) if hasattr(data, "classes") else tuple(str(d) for d in range(10))
    return np.ascontiguousarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.int64), classes


def load_classification(name: str, split: str = "train", root: str | os.PathLike | None = None,
                        download: bool = True) -> ClassificationDataset:
    """One split of MNIST, SVHN, CIFAR-10 or CIFAR-100, downloaded by torchvision when absent.

    Parameters
    ----------
    name : {"mnist", "svhn", "cifar10", "cifar100"}
        Case and ``-``/``_`` are ignored (``"CIFAR-10"`` works).
    split : {"train", "test"}, or ``"extra"`` for SVHN
        The sizes of [S3] Table 3.1: MNIST 60000 / 10000, SVHN 73257 / 26032, CIFAR 50000 / 10000.
    root : path, optional
        The data root; default :func:`rrlib.io.data_root`. Files go to ``<root>/datasets/<name>/``.
    download : bool
        Fetch the files with torchvision when they are absent or fail its check (a present,
        valid copy is never downloaded again). ``False``: :class:`DatasetNotFoundError` instead.

    Returns
    -------
    ClassificationDataset
        ``images`` uint8 (N, H, W) or (N, H, W, 3), ``labels`` int64 (N,), ``classes``.

    Raises
    ------
    UnknownDatasetError (a ValueError)
        Unknown ``name``; ValueError for an unknown ``split``.
    DatasetNotFoundError
        Absent (or damaged) and ``download=False``.
    ChecksumError
        A downloaded file failed torchvision's MD5 check (nothing is kept).
    DownloadError
        The download failed (offline, server error; nothing is kept).
    OSError
        A present file that passed torchvision's checks cannot be read.
    """
    name = _check_name(name)
    split = _check_split(name, split)
    cls = _torchvision_class(name)
    title = CLASSIFICATION_DATASETS[name][2]
    folder = resolve_root(root) / "datasets" / name
    try:
        data = _open(cls, name, split, folder, download=False)
    except RuntimeError as err:
        if not _is_absent(err):
            raise OSError(f"cannot read {title} ({split}) in {folder}: {err}; delete {folder} "
                          "and load again to download it afresh") from err
        if not download:
            raise DatasetNotFoundError(
                f"{title} ({split}) is not in {folder} (or fails torchvision's check): "
                f"load_classification({name!r}, {split!r}, download=True) fetches it "
                f"(needs the internet), or place torchvision's files there by hand: {_LAYOUT[name]}") from err
        data = _download(cls, name, split, folder)
    except (ValueError, TypeError, AssertionError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise OSError(f"cannot read {title} ({split}) in {folder}: {type(err).__name__}: {err}; "
                      f"delete {folder} and load again to download it afresh") from err
    images, labels, classes = _arrays(name, data)
    return ClassificationDataset(name=name, split=split, images=images, labels=labels, classes=classes)

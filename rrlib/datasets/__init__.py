"""Datasets: where they live on disk, the registry, the downloader and the loaders.

The data root (ARCHITECTURE.md section 3) is, in order of precedence:

1. the ``RRLIB_DATA`` environment variable;
2. ``<repo>/data`` when rrlib is imported from a checkout (the folder has a ``README.md``);
3. ``~/.cache/rrlib``.

Layout under the root (the revisitop layout, so its scripts and ours share files)::

    datasets/<name>/gnd_<name>.pkl    ground truth (imlist, qimlist, gnd)
    datasets/<name>/jpg/              images
    features/<file>.mat               pre-computed descriptors

Entry points::

    load(name, root=None, download=False) -> RetrievalDataset   # queries, database, gnd, images
    available(root=None) / print_table()                        # what is registered / present
    download(name, root=None)                                   # python -m rrlib download NAME
    prepare("synth-landmarks", root=None, force=False)          # python -m rrlib prepare ...
    download_file(url, dest, sha256=None, size=None)            # resumable, verified, atomic
    extract_archive(path, dest_dir, flatten=False)              # refuses path traversal
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "data_root",
    # registry
    "DatasetSpec",
    "FileSpec",
    "UnknownDatasetError",
    "DatasetNotFoundError",
    "register",
    "get",
    "names",
    "available",
    "format_table",
    "print_table",
    "download",
    "prepare",
    # loaders
    "RetrievalDataset",
    "load",
    "dataset_files",
    "revisitop_features",
    "training_split",
    "whitening_split",
    # downloader
    "DownloadError",
    "ChecksumError",
    "UnsafeArchiveError",
    "download_file",
    "extract_archive",
]


def data_root() -> Path:
    """The folder where rrlib reads and writes every dataset, model and feature file."""
    env = os.environ.get("RRLIB_DATA")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "data"
    if (checkout / "README.md").is_file():
        return checkout
    return Path.home() / ".cache" / "rrlib"


# Imported after data_root() is defined: the registry resolves the default root through it.
from rrlib.datasets.download import (  # noqa: E402
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
)
from rrlib.datasets.registry import (  # noqa: E402
    DatasetNotFoundError,
    DatasetSpec,
    FileSpec,
    UnknownDatasetError,
    available,
    download,
    format_table,
    get,
    names,
    prepare,
    print_table,
    register,
)
from rrlib.datasets.retrieval import RetrievalDataset, dataset_files, load, revisitop_features, training_split, whitening_split  # noqa: E402

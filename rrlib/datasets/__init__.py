"""Datasets: where they live on disk, the registry and its catalogue, downloads and the loaders.

The data root is :func:`rrlib.io.data_root` (re-exported here).

Layout under the root (the revisitop layout, so its scripts and ours share files)::

    datasets/<name>/gnd_<name>.pkl    ground truth (imlist, qimlist, gnd)
    datasets/<name>/jpg/              images
    features/<file>.mat               pre-computed descriptors

Entry points::

    load(name, root=None, download=False) -> RetrievalDataset   # queries, database, gnd, images
    available(root=None) / print_table()                        # what is registered / present
    download(name, root=None)                                   # python -m rrlib download NAME
    prepare("synth-landmarks", root=None, force=False)          # python -m rrlib prepare ...
    download_file(url, dest, sha256=None, size=None)            # resumable, verified, atomic, bounded
    extract_archive(path, dest_dir, flatten=False)              # verified to the end, refuses escapes
    load_pickle(path, sha256=None)                              # data pickles, never code
    object_boxes(data) -> list of (k, 4) arrays                 # object boxes of every database image
    load_instre(root=None, download=False) -> RetrievalDataset  # INSTRE, Iscen et al.'s gnd + boxes

Modules: :mod:`~rrlib.datasets.registry` (what a dataset is), :mod:`~rrlib.datasets.catalogue`
(the registered datasets), :mod:`~rrlib.datasets.transfer` (downloads),
:mod:`~rrlib.datasets.archives` (extraction), :mod:`~rrlib.datasets.pickles` (restricted
unpickling), :mod:`~rrlib.datasets.leftovers` (temporary folders of killed runs),
:mod:`~rrlib.datasets.retrieval` (the loaders), :mod:`~rrlib.datasets.cub` (CUB-200-2011's
metric-learning split), :mod:`~rrlib.datasets.synth` (the generated set),
:mod:`~rrlib.datasets.synth_objects` (the generated object-level set with boxes, and the INSTRE
loader; ``load_instre`` and ``object_boxes`` are imported from it on first use).
"""
from __future__ import annotations

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
    "cub200_split",
    "load_instre",
    "object_boxes",
    # downloader
    "DownloadError",
    "ChecksumError",
    "UnsafeArchiveError",
    "download_file",
    "extract_archive",
    "UnsafePickleError",
    "load_pickle",
]


from rrlib.io import data_root  # noqa: E402  (re-exported: rrlib.datasets.data_root)
from rrlib.datasets.archives import UnsafeArchiveError, extract_archive  # noqa: E402
from rrlib.datasets.pickles import UnsafePickleError, load_pickle  # noqa: E402
from rrlib.datasets.transfer import ChecksumError, DownloadError, download_file  # noqa: E402
from rrlib.datasets import catalogue  # noqa: E402,F401  (registers the datasets)
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
from rrlib.datasets.cub import cub200_split  # noqa: E402
from rrlib.datasets.retrieval import RetrievalDataset, dataset_files, load, revisitop_features, training_split, whitening_split  # noqa: E402


_LAZY = {"load_instre", "object_boxes"}  # from synth_objects, imported on first use (PIL drawing code)


def __getattr__(name: str):
    if name in _LAZY:
        from rrlib.datasets import synth_objects

        return getattr(synth_objects, name)
    raise AttributeError(f"module 'rrlib.datasets' has no attribute {name!r}")
from rrlib.datasets.classification import ClassificationDataset, load_classification; __all__ += ["ClassificationDataset", "load_classification"]  # noqa: E402,E702
from rrlib.datasets.digits import RotatedDigits, rotated_digits; __all__ += ["RotatedDigits", "rotated_digits"]  # noqa: E402,E702

"""The dataset registry's machinery: what a dataset is, where its files come from, where they go.

The registered datasets themselves are listed in :mod:`rrlib.datasets.catalogue`.

A :class:`DatasetSpec` lists the files of a dataset (:class:`FileSpec`: URL, checksum, size, whether
it is an archive to unpack) and where the pieces live under the data root, in the revisitop
layout::

    datasets/<name>/gnd_<name>.pkl     ground truth (imlist, qimlist, gnd)
    datasets/<name>/jpg/               images, flat (archive sub-folders are dropped)
    features/<file>.mat                pre-computed descriptors

Generated datasets (``synth-landmarks``) have no files but a ``prepare`` callable that writes them.

Sizes: ``size`` of a :class:`FileSpec` is exact and verified, and the download stops there;
``approx_size`` is only shown in the table (marked ``~``) for files whose exact size we do not pin.
A file with neither ``sha256`` nor ``size`` is *unpinned*: it is checked only against the length
the server announces (the ``pinned`` column of ``python -m rrlib datasets`` counts the pinned files).
A pinned SHA-256 is checked again whenever the file is looked at (once per process and file
version), so a damaged file of the right size does not count as present.

Functions: :func:`get`, :func:`names`, :func:`register`, :func:`available`, :func:`format_table`,
:func:`download`, :func:`prepare`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from rrlib.datasets.archives import extract_archive
from rrlib.datasets.transfer import download_file
from rrlib.io import data_root, sha256sum

__all__ = [
    "FileSpec",
    "DatasetSpec",
    "DatasetRow",
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
    "human_size",
    "resolve_root",
]

KB, MB, GB = 1000, 1000**2, 1000**3


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """``root`` as a Path, or the default data root (:func:`rrlib.datasets.data_root`)."""
    if root is not None:
        return Path(root).expanduser()
    return data_root()


# Digests of pinned files already computed in this process: (path, size, mtime_ns) -> sha256.
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _digest(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256sum(path)
    return _DIGESTS[key]


class UnknownDatasetError(ValueError):
    """The name is not in the registry; the message lists the registered names."""


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is registered but its files are not under the data root."""


@dataclass(frozen=True)
class FileSpec:
    """One file to download.

    Parameters
    ----------
    url : str
        Where to fetch it.
    dest : str
        Where it lands, relative to the data root (posix separators). For an archive, where the
        archive is kept while it is being downloaded and extracted.
    sha256, size : optional
        Exact checksum and size in bytes (verified when given).
    approx_size : int, optional
        Approximate size for display only, when the exact one is not pinned.
    extract_to : str, optional
        For archives: the folder (relative to the data root) to unpack into. The archive is
        deleted after a successful extraction and a marker ``.<archive>.done`` is left there.
    flatten : bool
        Drop the archive's sub-folders (revisitop's ``jpg/`` is flat).
    optional : bool
        Not needed for the dataset to count as present (e.g. a whitening set).
    """

    url: str
    dest: str
    sha256: str | None = None
    size: int | None = None
    approx_size: int | None = None
    extract_to: str | None = None
    flatten: bool = False
    optional: bool = False

    @property
    def shown_size(self) -> tuple[int | None, bool]:
        """(bytes, exact?) for display."""
        return (self.size, True) if self.size is not None else (self.approx_size, False)

    @property
    def pinned(self) -> bool:
        """Whether the file's exact size or SHA-256 is known (else only the server's word is checked)."""
        return self.sha256 is not None or self.size is not None

    def marker(self, root: Path) -> Path:
        """The file whose presence says this archive was fully extracted."""
        return root / self.extract_to / f".{Path(self.dest).name}.done"

    def problem(self, root: Path) -> str | None:
        """Why the file (or, for an archive, its extracted content) is not usable, or None if it is.

        An archive counts by its marker. A plain file must exist, have the pinned size and the pinned
        SHA-256 (hashed once per process and file version: see :func:`_digest`).
        """
        if self.extract_to is not None:
            return None if self.marker(root).is_file() else "absent"
        path = root / self.dest
        if not path.is_file():
            return "absent"
        actual = path.stat().st_size
        if self.size is not None and actual != self.size:
            return f"present but {actual:,} bytes, expected {self.size:,}: corrupt or another version"
        if self.sha256 is not None and _digest(path) != self.sha256.lower():
            return f"present but its sha256 is {_digest(path)}, expected {self.sha256.lower()}: corrupt"
        return None

    def is_present(self, root: Path) -> bool:
        """Whether the file (or, for an archive, its extracted content) is in place and verifies."""
        return self.problem(root) is None

    def action(self, root: Path) -> str:
        """What :meth:`fetch` will do: ``"none"`` (present), ``"extract"`` (the archive is already
        downloaded: it is verified and extracted) or ``"download"``."""
        if self.is_present(root):
            return "none"
        if self.extract_to is not None and (root / self.dest).is_file():
            return "extract"
        return "download"

    def remaining(self, root: Path) -> tuple[int, bool]:
        """(bytes, exact?) still to download: 0 when present or already downloaded, less what a
        ``.part`` already holds."""
        if self.action(root) != "download":
            return 0, True
        n, exact = self.shown_size
        part = root / f"{self.dest}.part"
        done = part.stat().st_size if part.is_file() else 0
        return max((n or 0) - done, 0), exact and n is not None

    def fetch(self, root: Path, *, retries: int = 5, timeout: float = 60.0, backoff: float = 1.0,
              progress: bool = True) -> Path:
        """Download (and extract) this file under ``root`` unless it is already there.

        An archive is deleted once extracted, and a marker records the extraction; an archive (or
        ``.part``) still there beside its marker -- a run killed between the two -- is deleted.
        """
        if self.is_present(root):
            if self.extract_to is not None:
                (root / self.dest).unlink(missing_ok=True)
                (root / f"{self.dest}.part").unlink(missing_ok=True)
            return root / (self.extract_to or self.dest)
        target = download_file(self.url, root / self.dest, self.sha256, self.size, retries=retries,
                               timeout=timeout, backoff=backoff, progress=progress)
        if self.extract_to is None:
            return target
        out_dir = root / self.extract_to
        extract_archive(target, out_dir, flatten=self.flatten)
        self.marker(root).touch()
        target.unlink()
        return out_dir


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    Parameters
    ----------
    name : str
        Lower-case registry name (``roxford5k``).
    description : str
        One line for the table.
    files : tuple of FileSpec
        What to download (empty for generated datasets).
    kind : str
        ``"retrieval"`` (queries + database + ground truth: :func:`rrlib.datasets.load` works),
        ``"distractors"`` (database images only), ``"training"`` (a training / whitening set),
        ``"features"`` (pre-computed descriptors) or ``"files"`` (downloadable, no loader yet).
    gnd : str, optional
        Ground-truth file relative to the data root (default ``datasets/<name>/gnd_<name>.pkl``
        for retrieval datasets).
    images : str, optional
        Image folder relative to the data root (default ``datasets/<name>/jpg``); datasets that
        share images point at the other one's folder.
    requires : tuple of str
        Datasets downloaded first (e.g. ``oxford5k`` uses the images of ``roxford5k``).
    prepare : callable, optional
        ``prepare(root: Path, force: bool) -> Path`` writes a generated dataset under ``root``.
    current : callable, optional
        ``current(root: Path) -> bool`` of a generated dataset: False when the copy under ``root``
        was written by another version of its generator (:func:`rrlib.datasets.load` then writes it
        again instead of loading stale data).
    homepage : str
        Where a human finds the data and its terms of use.
    """

    name: str
    description: str
    files: tuple[FileSpec, ...] = ()
    kind: str = "retrieval"
    gnd: str | None = None
    images: str | None = None
    requires: tuple[str, ...] = ()
    prepare: Callable[[Path, bool], Path] | None = None
    homepage: str = ""
    current: Callable[[Path], bool] | None = None

    @property
    def folder(self) -> str:
        """The dataset's own folder, relative to the data root."""
        return f"datasets/{self.name}"

    @property
    def gnd_path(self) -> str | None:
        if self.gnd is not None:
            return self.gnd
        return f"{self.folder}/gnd_{self.name}.pkl" if self.kind == "retrieval" else None

    @property
    def images_path(self) -> str:
        return self.images if self.images is not None else f"{self.folder}/jpg"

    @property
    def generated(self) -> bool:
        return self.prepare is not None

    def download_size(self) -> tuple[int, bool]:
        """(bytes, exact?) of this dataset's own files (not those of ``requires``)."""
        total, exact = 0, True
        for f in self.files:
            n, is_exact = f.shown_size
            total += n or 0
            exact = exact and is_exact and n is not None
        return total, exact

    def pending(self, root: Path) -> list[tuple[FileSpec, str]]:
        """``(file, action)`` for every file of this dataset and of those it requires that
        :func:`download` still has to fetch (``"download"``) or only to verify and extract
        (``"extract"``: the archive is on disk already)."""
        out = []
        for dep in self.requires:
            out += get(dep).pending(root)
        for f in self.files:
            action = f.action(root)
            if action != "none":
                out.append((f, action))
        return out

    def total_download_size(self, root: Path) -> tuple[int, bool]:
        """(bytes, exact?) still to download for this dataset and the datasets it requires (files
        on disk, whole or as a ``.part``, are not counted)."""
        total, exact = 0, True
        for f, action in self.pending(root):
            n, is_exact = f.remaining(root)
            total, exact = total + n, exact and is_exact
        return total, exact

    def problems(self, root: Path) -> dict[str, str]:
        """Required pieces that are absent or do not verify: relative path -> why."""
        if self.generated:
            gnd = self.gnd_path
            return {} if gnd is not None and (root / gnd).is_file() else {gnd or self.folder: "absent"}
        out = {}
        for f in self.files:
            why = None if f.optional else f.problem(root)
            if why is not None:
                out[f.extract_to or f.dest] = why
        return out

    def missing(self, root: Path) -> list[str]:
        """Relative paths of required pieces that are absent or do not verify (empty: present)."""
        return list(self.problems(root))

    def file_for(self, rel: str | None) -> FileSpec | None:
        """The registered file that lands at ``rel`` (relative to the data root), if any."""
        return next((f for f in self.files if f.dest == rel), None)

    def is_present(self, root: Path) -> bool:
        return not self.missing(root)

    def local_paths(self, root: Path) -> list[Path]:
        """Where this dataset's own pieces live under ``root`` (files and extraction folders)."""
        if self.generated:
            return [root / self.folder]
        seen: dict[str, None] = {}
        for f in self.files:
            seen.setdefault(f.extract_to or f.dest)
        return [root / p for p in seen]

    def size_on_disk(self, root: Path) -> int:
        """Bytes currently used by this dataset's pieces under ``root`` (0 when absent)."""
        return sum(_tree_size(p) for p in self.local_paths(root))


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    total = 0
    stack = [path]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def human_size(n: int | None, exact: bool = True) -> str:
    """``1.8 GB``; ``~1.8 GB`` when approximate; ``-`` when unknown or zero."""
    if not n:
        return "-"
    for unit, factor in (("GB", GB), ("MB", MB), ("kB", KB)):
        if n >= factor:
            value = n / factor
            text = f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
            break
    else:
        text = f"{n} B"
    return text if exact else f"~{text}"


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------
_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add a dataset to the registry (``replace=True`` to redefine an existing name)."""
    key = spec.name.lower()
    if key != spec.name:
        raise ValueError(f"dataset names are lower case: {spec.name!r}")
    if key in _REGISTRY and not replace:
        raise ValueError(f"dataset {key!r} is already registered (pass replace=True to redefine it)")
    _REGISTRY[key] = spec
    return spec


def names() -> list[str]:
    """Registered dataset names, in registration order."""
    return list(_REGISTRY)


def get(name: str) -> DatasetSpec:
    """The spec of a registered dataset (names are case-insensitive).

    Raises
    ------
    UnknownDatasetError
        With the list of registered names.
    """
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; registered datasets: {', '.join(names())} "
            "(`python -m rrlib datasets` shows them with their sizes)"
        ) from None


class DatasetRow(NamedTuple):
    """One row of :func:`available` (``pinned`` of ``n_files`` files have a known size or SHA-256)."""

    name: str
    present: bool
    size_on_disk: int
    download_size: int
    download_exact: bool
    kind: str
    description: str
    pinned: int = 0
    n_files: int = 0


def available(root: str | os.PathLike | None = None) -> list[DatasetRow]:
    """Every registered dataset with whether it is present under ``root`` and its sizes.

    ``download_size`` is the download of the dataset's own files (0 for generated ones, which need
    no network); ``download_exact`` says whether that number is exact or approximate.
    """
    root = resolve_root(root)
    rows = []
    for spec in _REGISTRY.values():
        size, exact = spec.download_size()
        rows.append(DatasetRow(spec.name, spec.is_present(root), spec.size_on_disk(root), size, exact,
                               spec.kind, spec.description, sum(f.pinned for f in spec.files), len(spec.files)))
    return rows


def format_table(rows: list[DatasetRow] | None = None, root: str | os.PathLike | None = None) -> str:
    """The rows of :func:`available` as a plain-text table."""
    root = resolve_root(root)
    rows = available(root) if rows is None else rows
    header = ("name", "present", "on disk", "download", "pinned", "description")
    body = []
    for r in rows:
        spec = _REGISTRY.get(r.name)
        generated = spec is not None and spec.generated
        download = "generated" if generated else human_size(r.download_size, r.download_exact)
        pinned = "-" if generated else f"{r.pinned}/{r.n_files}"
        body.append((r.name, "yes" if r.present else "no", human_size(r.size_on_disk), download, pinned,
                     r.description))
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header) - 1)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:-1], widths)) + "  " + header[-1]]
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    for row in body:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1])
    lines.append(f"(data root: {root}; '~' = approximate size; pinned = files whose size or SHA-256 is known "
                 "and verified, the others are checked only against the length the server announces)")
    return "\n".join(lines)


def print_table(root: str | os.PathLike | None = None) -> None:
    """Print :func:`format_table` for ``root`` (default: :func:`rrlib.datasets.data_root`)."""
    print(format_table(root=root))


def download(name: str, root: str | os.PathLike | None = None, *, retries: int = 5,
             timeout: float = 60.0, backoff: float = 1.0, progress: bool = True) -> Path:
    """Fetch every file of a dataset (and of the datasets it requires) into the data root.

    Files already present are skipped, so this also resumes an interrupted download. Generated
    datasets are prepared instead (no network).

    Returns
    -------
    pathlib.Path
        The dataset's folder (``<root>/datasets/<name>``), or for feature sets the folder of
        their first file.
    """
    spec = get(name)
    root = resolve_root(root)
    for dep in spec.requires:
        download(dep, root, retries=retries, timeout=timeout, backoff=backoff, progress=progress)
    if spec.generated:
        return prepare(spec.name, root)
    for f in spec.files:
        f.fetch(root, retries=retries, timeout=timeout, backoff=backoff, progress=progress)
    if spec.kind == "features" and spec.files:
        return (root / spec.files[0].dest).parent
    return root / spec.folder


def prepare(name: str, root: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Write a generated dataset (``synth-landmarks``) under the data root; cached unless ``force``."""
    spec = get(name)
    if spec.prepare is None:
        raise ValueError(
            f"{spec.name} is downloaded, not generated: use `python -m rrlib download {spec.name}`"
        )
    root = resolve_root(root)
    return Path(spec.prepare(root, force))

"""The dataset registry: what each benchmark is, where its files come from, where they go.

A :class:`DatasetSpec` lists the files of a dataset (:class:`FileSpec`: URL, checksum, size, whether
it is an archive to unpack) and where the pieces live under the data root, in the revisitop
layout::

    datasets/<name>/gnd_<name>.pkl     ground truth (imlist, qimlist, gnd)
    datasets/<name>/jpg/               images, flat (archive sub-folders are dropped)
    features/<file>.mat                pre-computed descriptors

Generated datasets (``synth-landmarks``) have no files but a ``prepare`` callable that writes them.

Sizes: ``size`` of a :class:`FileSpec` is exact and verified; ``approx_size`` is only shown in the
table (marked ``~``) for files whose exact size we do not pin.

Functions: :func:`get`, :func:`names`, :func:`register`, :func:`available`, :func:`format_table`,
:func:`download`, :func:`prepare`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from rrlib.datasets.download import download_file, extract_archive

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
]

KB, MB, GB = 1000, 1000**2, 1000**3


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """``root`` as a Path, or the default data root (:func:`rrlib.datasets.data_root`)."""
    if root is not None:
        return Path(root).expanduser()
    from rrlib.io import data_root

    return data_root()


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

    def marker(self, root: Path) -> Path:
        """The file whose presence says this archive was fully extracted."""
        return root / self.extract_to / f".{Path(self.dest).name}.done"

    def is_present(self, root: Path) -> bool:
        """Whether the file (or, for an archive, its extracted content) is in place.

        Cheap: an archive counts by its marker, a plain file by existence and exact size when known
        (the SHA-256 is checked at download time, not on every load).
        """
        if self.extract_to is not None:
            return self.marker(root).is_file()
        path = root / self.dest
        return path.is_file() and (self.size is None or path.stat().st_size == self.size)

    def fetch(self, root: Path, *, retries: int = 5, timeout: float = 60.0, backoff: float = 1.0,
              progress: bool = True) -> Path:
        """Download (and extract) this file under ``root`` unless it is already there."""
        if self.is_present(root):
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

    def total_download_size(self, root: Path) -> tuple[int, bool]:
        """(bytes, exact?) still to fetch for this dataset and the absent datasets it requires."""
        total, exact = self.download_size() if not self.is_present(root) else (0, True)
        for dep in self.requires:
            dep_total, dep_exact = get(dep).total_download_size(root)
            total, exact = total + dep_total, exact and dep_exact
        return total, exact

    def missing(self, root: Path) -> list[str]:
        """Relative paths of required pieces that are absent (empty list: the dataset is present)."""
        if self.generated:
            gnd = self.gnd_path
            return [] if gnd is not None and (root / gnd).is_file() else [gnd or self.folder]
        return [f.extract_to or f.dest for f in self.files if not f.optional and not f.is_present(root)]

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
    """One row of :func:`available`."""

    name: str
    present: bool
    size_on_disk: int
    download_size: int
    download_exact: bool
    kind: str
    description: str


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
                               spec.kind, spec.description))
    return rows


def format_table(rows: list[DatasetRow] | None = None, root: str | os.PathLike | None = None) -> str:
    """The rows of :func:`available` as a plain-text table."""
    root = resolve_root(root)
    rows = available(root) if rows is None else rows
    header = ("name", "present", "on disk", "download", "description")
    body = []
    for r in rows:
        spec = _REGISTRY.get(r.name)
        download = "generated" if spec is not None and spec.generated else human_size(r.download_size, r.download_exact)
        body.append((r.name, "yes" if r.present else "no", human_size(r.size_on_disk), download, r.description))
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header) - 1)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:-1], widths)) + "  " + header[-1]]
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    for row in body:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1])
    lines.append(f"(data root: {root}; '~' = approximate size)")
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


# --------------------------------------------------------------------------------------------
# The datasets
# --------------------------------------------------------------------------------------------
VGG = "https://www.robots.ox.ac.uk/~vgg/data"
REVISITOP = "http://cmp.felk.cvut.cz/revisitop/data"
CIRTORCH = "http://cmp.felk.cvut.cz/cnnimageretrieval/data"
R1M = "http://ptak.felk.cvut.cz/revisitop/revisitop1m"


def _prepare_synth(root: Path, force: bool = False) -> Path:
    try:
        from rrlib.datasets.synth import generate
    except ImportError as exc:  # pragma: no cover - only while the generator is missing
        raise RuntimeError(f"the synth-landmarks generator (rrlib.datasets.synth) is not available: {exc}") from exc
    return generate(root, force=force)


register(DatasetSpec(
    name="synth-landmarks",
    description="embedded default: generated landmarks, revisitop format (~70 queries, ~800 db, train split)",
    kind="retrieval",
    prepare=_prepare_synth,
))

# Revisited Oxford / Paris (Radenovic et al., CVPR 2018): the face-blurred "-v1" image archives
# of the VGG pages (June 2022) and the revisitop ground truth (sha256 of the published files).
REVISITED_GND = {
    "roxford5k": FileSpec(f"{REVISITOP}/datasets/roxford5k/gnd_roxford5k.pkl", "datasets/roxford5k/gnd_roxford5k.pkl",
                          sha256="ba7967754bd2d7d2210a5799f9c45ad5835e269a80ef9d3eba44caa35816c471", size=149_871),
    "rparis6k": FileSpec(f"{REVISITOP}/datasets/rparis6k/gnd_rparis6k.pkl", "datasets/rparis6k/gnd_rparis6k.pkl",
                         sha256="d2e729a5293dda7dda8a15c8383424a42e4964a2c4cfea2f32fa85d11d2df499", size=276_508),
}
register(DatasetSpec(
    name="roxford5k",
    description="Revisited Oxford: 4,993 images, 70 queries, Easy/Medium/Hard",
    files=(
        FileSpec(f"{VGG}/oxbuildings/oxbuild_images-v1.tgz", "datasets/roxford5k/oxbuild_images-v1.tgz",
                 approx_size=int(1.8 * GB), extract_to="datasets/roxford5k/jpg", flatten=True),
        REVISITED_GND["roxford5k"],
    ),
    homepage="https://github.com/filipradenovic/revisitop",
))
register(DatasetSpec(
    name="rparis6k",
    description="Revisited Paris: 6,322 images, 70 queries, Easy/Medium/Hard",
    files=tuple(
        FileSpec(f"{VGG}/parisbuildings/paris_{i}-v1.tgz", f"datasets/rparis6k/paris_{i}-v1.tgz",
                 approx_size=int(1.2 * GB), extract_to="datasets/rparis6k/jpg", flatten=True)
        for i in (1, 2)
    ) + (REVISITED_GND["rparis6k"],),
    homepage="https://github.com/filipradenovic/revisitop",
))
register(DatasetSpec(
    name="revisitop1m",
    description="R1M: 1,001,001 distractor images for +R1M (100 archives, optional)",
    kind="distractors",
    files=tuple(
        FileSpec(f"{R1M}/jpg/revisitop1m.{i}.tar.gz", f"datasets/revisitop1m/revisitop1m.{i}.tar.gz",
                 approx_size=3 * GB, extract_to="datasets/revisitop1m/jpg")
        for i in range(1, 101)
    ) + (FileSpec(f"{R1M}/revisitop1m.txt", "datasets/revisitop1m/revisitop1m.txt", approx_size=40 * MB),),
    gnd="datasets/revisitop1m/revisitop1m.txt",
    homepage="https://github.com/filipradenovic/revisitop",
))
# Old protocol (Philbin et al. 2007 / 2008): cirtorch's ok/junk pickles; images shared with the
# revisited sets (cirtorch symlinks them; we point at the same folder).
for _old, _new in (("oxford5k", "roxford5k"), ("paris6k", "rparis6k")):
    register(DatasetSpec(
        name=_old,
        description=f"original {'Oxford 5k' if _old == 'oxford5k' else 'Paris 6k'}, old protocol (ok/junk, 55 queries); images of {_new}",
        files=(FileSpec(f"{CIRTORCH}/test/{_old}/gnd_{_old}.pkl", f"datasets/{_old}/gnd_{_old}.pkl",
                        approx_size=300 * KB),),
        images=f"datasets/{_new}/jpg",
        requires=(_new,),
        homepage="https://github.com/filipradenovic/cnnimageretrieval-pytorch",
    ))
# Training / whitening sets in the cirtorch layout (Radenovic et al., TPAMI 2018): images under
# ims/<cid[-2:]>/<cid[-4:-2]>/<cid[-6:-4]>/<cid>, db pickles with train/val splits.
register(DatasetSpec(
    name="retrieval-sfm-120k",
    description="retrieval-SfM-120k: cirtorch training + whitening set (~50 GB of images)",
    kind="training",
    files=(
        FileSpec(f"{CIRTORCH}/train/ims/ims.tar.gz", "datasets/retrieval-sfm-120k/ims.tar.gz",
                 approx_size=50 * GB, extract_to="datasets/retrieval-sfm-120k/ims"),
        FileSpec(f"{CIRTORCH}/train/dbs/retrieval-SfM-120k.pkl", "datasets/retrieval-sfm-120k/retrieval-SfM-120k.pkl",
                 approx_size=10 * MB),
        FileSpec(f"{CIRTORCH}/train/dbs/retrieval-SfM-120k-whiten.pkl",
                 "datasets/retrieval-sfm-120k/retrieval-SfM-120k-whiten.pkl", approx_size=10 * MB),
    ),
    gnd="datasets/retrieval-sfm-120k/retrieval-SfM-120k.pkl",
    images="datasets/retrieval-sfm-120k/ims",
    homepage="https://github.com/filipradenovic/cnnimageretrieval-pytorch",
))
register(DatasetSpec(
    name="retrieval-sfm-30k",
    description="retrieval-SfM-30k whitening pairs (ECCV 2016); images of retrieval-sfm-120k",
    kind="training",
    files=(FileSpec(f"{CIRTORCH}/train/dbs/retrieval-SfM-30k-whiten.pkl",
                    "datasets/retrieval-sfm-30k/retrieval-SfM-30k-whiten.pkl", approx_size=3 * MB),),
    gnd="datasets/retrieval-sfm-30k/retrieval-SfM-30k-whiten.pkl",
    images="datasets/retrieval-sfm-120k/ims",
    requires=("retrieval-sfm-120k",),
    homepage="https://github.com/filipradenovic/cnnimageretrieval-pytorch",
))
# Pre-computed R101-GeM descriptors shipped with revisitop (the first exact reproduction target:
# ROxf M 64.67 / H 38.47, RPar M 77.20 / H 56.32 with the revisitop evaluation).
register(DatasetSpec(
    name="revisitop-r101-gem",
    description="revisitop's pre-computed ResNet101-GeM (rSfM120k) features for roxford5k/rparis6k "
                "(.mat) with the two gnd files: all the exact reproduction needs, no images",
    kind="features",
    files=tuple(
        FileSpec(f"{REVISITOP}/features/{d}_resnet_rsfm120k_gem.mat", f"features/{d}_resnet_rsfm120k_gem.mat",
                 approx_size=n * MB)
        for d, n in (("roxford5k", 42), ("rparis6k", 53))
    ) + tuple(REVISITED_GND.values()),
    homepage="https://github.com/filipradenovic/revisitop",
))
# Later topics (download only for now: no loader yet).
register(DatasetSpec(
    name="holidays",
    description="INRIA Holidays: 1,491 images, 500 queries (download only, no loader yet)",
    kind="files",
    files=tuple(
        FileSpec(f"ftp://ftp.inrialpes.fr/pub/lear/douze/data/jpg{i}.tar.gz", f"datasets/holidays/jpg{i}.tar.gz",
                 approx_size=n, extract_to="datasets/holidays/jpg", flatten=True)
        for i, n in ((1, int(1.1 * GB)), (2, int(1.7 * GB)))
    ),
    homepage="https://lear.inrialpes.fr/people/jegou/data.php",
))
register(DatasetSpec(
    name="instre",
    description="INSTRE: 28,543 images, 1,250 queries, with Iscen et al.'s gnd_instre.mat (download only)",
    kind="files",
    files=(
        FileSpec("ftp://ftp.irisa.fr/local/texmex/corpus/instre/instre.tar.gz", "datasets/instre/instre.tar.gz",
                 approx_size=int(2.3 * GB), extract_to="datasets/instre"),
        FileSpec("ftp://ftp.irisa.fr/local/texmex/corpus/instre/gnd_instre.mat", "datasets/instre/gnd_instre.mat",
                 approx_size=200 * KB),
    ),
    homepage="http://isia.ict.ac.cn/dataset/instre.html",
))
register(DatasetSpec(
    name="cub200",
    description="CUB-200-2011: 11,788 bird images, 200 classes (metric learning; download only)",
    kind="files",
    files=(FileSpec("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
                    "datasets/cub200/CUB_200_2011.tgz", approx_size=int(1.15 * GB),
                    extract_to="datasets/cub200"),),
    homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
))

"""Query/database retrieval datasets in the revisitop format, and :func:`load`.

The ground-truth file (``gnd_<name>.pkl``, as published by revisitop and cirtorch) is a pickled
dict::

    imlist   list of database image names (no extension: 'all_souls_000013')
    qimlist  list of query image names (queries are NOT in the database for ROxf/RPar)
    gnd      one dict per query:
               revisited sets:  bbx [x1, y1, x2, y2] (pixels), easy, hard, junk (0-based into imlist)
               old protocol:    bbx, ok, junk

Images are read as **PIL images in RGB mode** (what torchvision transforms take; ``np.asarray(img)``
gives an ``H x W x 3`` ``uint8`` array). Queries are cropped to their box with ``img.crop(bbx)``,
exactly as cirtorch does (Pillow rounds the float box to whole pixels).

Pickles are read with :func:`rrlib.datasets.pickles.load_pickle` (plain data only, never code; the
SHA-256 checked where the catalogue pins it), and their content is validated: an error names the file
and the field.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from rrlib.datasets import registry
from rrlib.datasets.pickles import load_pickle
from rrlib.datasets.registry import DatasetNotFoundError, DatasetSpec, human_size, resolve_root
from rrlib.evaluate import revisited_gnd
from rrlib.io import read_rgb

__all__ = ["RetrievalDataset", "load", "dataset_files", "revisitop_features", "training_split", "whitening_split", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff", ".webp"})
DEFAULT_EXT = ".jpg"


def _image_path(folder: Path, name: str) -> Path:
    """revisitop names carry no extension ('.jpg' is appended); names that have one are kept."""
    return folder / (name if Path(name).suffix.lower() in IMAGE_EXTENSIONS else name + DEFAULT_EXT)


@dataclass
class RetrievalDataset:
    """Queries, database and ground truth of one retrieval benchmark.

    Attributes
    ----------
    name : str
        Registry name.
    root : pathlib.Path
        The data root it was loaded from.
    folder : pathlib.Path
        ``<root>/datasets/<name>``.
    image_dir : pathlib.Path
        Folder of the images (may be another dataset's, e.g. ``oxford5k`` uses ``roxford5k/jpg``).
    imlist, qimlist : list of str
        Database and query image names, as in the ground-truth file.
    gnd : list of dict
        Ground truth as in the file (revisitop: ``bbx``, ``easy``, ``hard``, ``junk``; old
        protocol: ``bbx``, ``ok``, ``junk``), indices 0-based into ``imlist``. Passed unchanged to
        :func:`rrlib.evaluate.compute_map` / :func:`rrlib.evaluate.revisited_gnd`.
    extra : dict
        Any other key of the ground-truth file (e.g. the train split of synth-landmarks).
    images, queries : list of pathlib.Path
        Full paths of the database and query images.
    """

    name: str
    root: Path
    folder: Path
    image_dir: Path
    imlist: list[str]
    qimlist: list[str]
    gnd: list[dict]
    extra: dict = field(default_factory=dict, repr=False)
    images: list[Path] = field(init=False, repr=False)
    queries: list[Path] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root, self.folder, self.image_dir = Path(self.root), Path(self.folder), Path(self.image_dir)
        self.imlist, self.qimlist, self.gnd = list(self.imlist), list(self.qimlist), list(self.gnd)
        self.images = [_image_path(self.image_dir, n) for n in self.imlist]
        self.queries = [_image_path(self.image_dir, n) for n in self.qimlist]
        _check_gnd(self.gnd, len(self.qimlist), len(self.imlist), self.name)

    # ---- sizes and views ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.imlist)

    @property
    def n_images(self) -> int:
        return len(self.imlist)

    @property
    def n_queries(self) -> int:
        return len(self.qimlist)

    @property
    def revisited(self) -> bool:
        """True for Easy/Medium/Hard ground truth, False for the old ``ok``/``junk`` one."""
        return bool(self.gnd) and all({"easy", "hard", "junk"} <= g.keys() for g in self.gnd)

    @property
    def bbxs(self) -> np.ndarray | None:
        """Query boxes as an ``(n_queries, 4)`` float array ``[x1, y1, x2, y2]``, or None."""
        if not self.gnd or any("bbx" not in g for g in self.gnd):
            return None
        return np.asarray([g["bbx"] for g in self.gnd], dtype=np.float64).reshape(-1, 4)

    def old_protocol(self, setup: str = "medium") -> list[dict]:
        """Ground truth as ``ok``/``junk`` dicts (the input of :func:`rrlib.evaluate.compute_map`).

        Revisited sets are converted with :func:`rrlib.evaluate.revisited_gnd` for ``setup``
        (easy, medium or hard); old-protocol sets (oxford5k, paris6k) already are ok/junk and are
        returned as arrays, whatever ``setup``.
        """
        if self.revisited:
            return revisited_gnd(self.gnd, setup)
        return [
            {"ok": np.asarray(g.get("ok", []), dtype=np.int64), "junk": np.asarray(g.get("junk", []), dtype=np.int64)}
            for g in self.gnd
        ]

    # ---- images ------------------------------------------------------------------------------
    def read_image(self, i: int):
        """Database image ``i`` as a PIL image in RGB mode."""
        return read_rgb(self.images[i])

    def read_query(self, q: int, crop: bool = True):
        """Query ``q`` as a PIL RGB image, cropped to its ``bbx`` (cirtorch: ``img.crop(bbx)``).

        ``crop=False`` returns the full image. Cropping is the protocol of the revisited (and old)
        Oxford/Paris benchmarks; skipping it changes the results.
        """
        img = read_rgb(self.queries[q])
        if not crop:
            return img
        bbx = self.gnd[q].get("bbx") if q < len(self.gnd) else None
        if bbx is None:
            raise ValueError(f"{self.name}: query {q} has no 'bbx' box; use read_query(q, crop=False)")
        return img.crop(tuple(float(v) for v in bbx))

    def __repr__(self) -> str:
        kind = "revisited (easy/hard/junk)" if self.revisited else ("ok/junk" if self.gnd else "no ground truth")
        return (f"RetrievalDataset({self.name!r}: {self.n_images:,} database images, "
                f"{self.n_queries:,} queries, {kind}; images in {self.image_dir})")


def _check_names(names, field_name: str, where: str) -> None:
    """``imlist`` / ``qimlist`` must be a list (or tuple / 1-D array) of strings."""
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple, np.ndarray)):
        raise ValueError(f"{where}: {field_name!r} should be a list of image names, got a {type(names).__name__}")
    bad = next((i for i, n in enumerate(names) if not isinstance(n, str)), None)
    if bad is not None:
        raise ValueError(f"{where}: {field_name}[{bad}] should be an image name (str), got {names[bad]!r}")


def _check_gnd(gnd: list[dict], n_queries: int, n_db: int, where: str) -> None:
    """Raise ValueError naming ``where`` (the file or dataset), the query and the field when the
    ground truth is malformed: indices must be integers in ``0 .. n_db - 1``, ``bbx`` four numbers."""
    if isinstance(gnd, (str, bytes, dict)) or not isinstance(gnd, (list, tuple)):
        raise ValueError(f"{where}: 'gnd' should be a list with one dict per query, got a {type(gnd).__name__}")
    if n_queries and len(gnd) != n_queries:
        raise ValueError(f"{where}: {len(gnd)} ground-truth entries for {n_queries} queries")
    for q, g in enumerate(gnd):
        if not isinstance(g, dict):
            raise ValueError(f"{where}: gnd[{q}] is a {type(g).__name__}, expected a dict")
        keys = ("easy", "hard", "junk") if "easy" in g or "hard" in g else ("ok", "junk")
        for key in keys:
            if key not in g:
                raise ValueError(f"{where}: gnd[{q}] lacks {key!r} (has {sorted(g)})")
            idx = np.asarray(g[key]).ravel()
            if idx.size and (idx.dtype.kind not in "iu" or idx.dtype == bool):
                raise ValueError(f"{where}: gnd[{q}][{key!r}] should hold integer indices into imlist, "
                                 f"got {idx.dtype} values such as {idx[0]!r}")
            if idx.size and (idx.min() < 0 or idx.max() >= n_db):
                raise ValueError(f"{where}: gnd[{q}][{key!r}] has indices outside 0..{n_db - 1}")
        if "bbx" in g:
            bbx = np.asarray(g["bbx"])
            if bbx.size != 4 or bbx.dtype.kind not in "iuf" or not np.isfinite(bbx.astype(float)).all():
                raise ValueError(f"{where}: gnd[{q}]['bbx'] should be four numbers [x1, y1, x2, y2], got {g['bbx']!r}")


# --------------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------------
def _missing(spec: DatasetSpec, root: Path) -> list[str]:
    out = []
    for dep in spec.requires:
        out += _missing(registry.get(dep), root)
    return out + spec.missing(root)


def _problems(spec: DatasetSpec, root: Path) -> dict[str, str]:
    out = {}
    for dep in spec.requires:
        out.update(_problems(registry.get(dep), root))
    out.update(spec.problems(root))
    return out


def _not_found(spec: DatasetSpec, root: Path, missing: list[str]) -> DatasetNotFoundError:
    size, exact = spec.total_download_size(root)
    problems = _problems(spec, root)
    listing = "\n".join(f"    {root / m}" + (f"  ({problems[m]})" if problems.get(m, "absent") != "absent" else "")
                        for m in missing)
    files = "\n".join(f"    {f.url}  ->  {root / f.dest}" + (f"  (extract into {root / f.extract_to})" if f.extract_to else "")
                      for f in spec.files[:4])
    more = f"\n    ... and {len(spec.files) - 4} more" if len(spec.files) > 4 else ""
    root_arg = "" if root == resolve_root(None) else f" --root {root}"
    return DatasetNotFoundError(
        f"{spec.name} is not in the data root {root}; missing:\n{listing}\n"
        f"Get it with\n    python -m rrlib download {spec.name}{root_arg}\n"
        f"or rrlib.datasets.load({spec.name!r}, download=True): a download of {human_size(size, exact)}"
        f"{' (plus the files it shares with ' + ', '.join(spec.requires) + ')' if spec.requires else ''}.\n"
        f"To place the files by hand (from {spec.homepage or 'the dataset home page'}), save\n{files}{more}\n"
        f"then run `python -m rrlib download {spec.name}{root_arg}`: files already there are verified "
        "and archives extracted without network."
    )


def _ensure(spec: DatasetSpec, root: Path, download: bool) -> None:
    missing = _missing(spec, root)
    if not missing:
        if spec.generated and spec.current is not None and not spec.current(root):
            print(f"{spec.name}: the copy under {root} was written by another version of its generator; "
                  "generating it again")
            registry.prepare(spec.name, root, force=True)
        return
    if spec.generated:
        registry.prepare(spec.name, root)  # no network: generated locally, then cached
    elif download:
        registry.download(spec.name, root)
    else:
        raise _not_found(spec, root, missing)
    still = _missing(spec, root)
    if still:
        raise DatasetNotFoundError(f"{spec.name}: still missing after preparing it: {', '.join(still)}")


def load(name: str, root: str | os.PathLike | None = None, download: bool = False) -> RetrievalDataset:
    """Load a registered retrieval dataset (queries, database, ground truth).

    Parameters
    ----------
    name : str
        A registered name (``rrlib.datasets.names()``): ``synth-landmarks`` (the embedded default,
        generated on first use, no network), ``roxford5k``, ``rparis6k``, ``oxford5k``,
        ``paris6k``, ``revisitop1m`` (database only) ...
    root : path-like, optional
        Data root; default :func:`rrlib.datasets.data_root`.
    download : bool
        Fetch the files when they are absent (otherwise absent data raises).

    Returns
    -------
    RetrievalDataset

    Raises
    ------
    UnknownDatasetError
        ``name`` is not registered (the message lists the registered names).
    DatasetNotFoundError
        The data is absent and ``download`` is False (the message gives the command and the size).
    ValueError
        The dataset is a training set or pre-computed features, which have no query/database view.
    """
    spec = registry.get(name)
    root = resolve_root(root)
    if spec.kind not in ("retrieval", "distractors"):
        hint = {
            "features": f"rrlib.datasets.dataset_files({spec.name!r}) gives the .mat files (read them with scipy.io.loadmat)",
            "training": f"its db pickles are rrlib.datasets.dataset_files({spec.name!r})",
        }.get(spec.kind, f"its files are rrlib.datasets.dataset_files({spec.name!r}) (no loader yet)")
        raise ValueError(f"{spec.name} is a {spec.kind} dataset, not a query/database benchmark: {hint}")
    _ensure(spec, root, download)
    gnd_file = root / spec.gnd_path
    if gnd_file.suffix == ".txt":  # revisitop1m: an image list, no queries
        try:
            data = {"imlist": gnd_file.read_text().splitlines(), "qimlist": [], "gnd": []}
        except UnicodeDecodeError as exc:
            raise ValueError(f"{gnd_file} is not a text list of image names ({exc})") from exc
    else:
        pinned = spec.file_for(spec.gnd_path)
        data = load_pickle(gnd_file, sha256=pinned.sha256 if pinned is not None else None)
        if not isinstance(data, dict):
            raise ValueError(f"{gnd_file} holds a {type(data).__name__}, not a revisitop ground-truth dict")
        missing_keys = {"imlist", "qimlist", "gnd"} - set(data)
        if missing_keys:
            raise ValueError(f"{gnd_file} lacks {sorted(missing_keys)}: not a revisitop ground-truth file")
    _check_names(data["imlist"], "imlist", str(gnd_file))
    _check_names(data["qimlist"], "qimlist", str(gnd_file))
    _check_gnd(data["gnd"], len(data["qimlist"]), len(data["imlist"]), str(gnd_file))
    extra = {k: v for k, v in data.items() if k not in ("imlist", "qimlist", "gnd")}
    return RetrievalDataset(spec.name, root, root / spec.folder, root / spec.images_path,
                            data["imlist"], data["qimlist"], data["gnd"], extra)


def dataset_files(name: str, root: str | os.PathLike | None = None, download: bool = False) -> list[Path]:
    """Local paths of a dataset's files and extraction folders (feature ``.mat`` files, db pickles ...).

    Raises :class:`DatasetNotFoundError` when absent and ``download`` is False.
    """
    spec = registry.get(name)
    root = resolve_root(root)
    _ensure(spec, root, download)
    return spec.local_paths(root)


def revisitop_features(dataset: str, root: str | os.PathLike | None = None, download: bool = False):
    """revisitop's pre-computed R101-GeM descriptors of ``roxford5k`` or ``rparis6k``, with the gnd.

    The files of the ``revisitop-r101-gem`` entry (two ``.mat`` files and the two gnd pickles,
    about 95 MB, no images). Returns ``(X, Q, gnd)``: database descriptors ``X`` of shape
    ``(n_db, d)``, query descriptors ``Q`` of shape ``(n_queries, d)`` (rows; the ``.mat`` files
    store columns) and the revisitop ``gnd`` list, so that the exact reproduction is one line::

        X, Q, gnd = revisitop_features("roxford5k")
        evaluate_revisited(X @ Q.T, gnd)   # E 84.81, M 64.67, H 38.47 (revisitop README)
    """
    if dataset not in ("roxford5k", "rparis6k"):
        raise ValueError(f"revisitop publishes R101-GeM features of 'roxford5k' and 'rparis6k', not {dataset!r}")
    root = resolve_root(root)
    _ensure(registry.get("revisitop-r101-gem"), root, download)
    mat_file = root / "features" / f"{dataset}_resnet_rsfm120k_gem.mat"
    try:
        mat = loadmat(mat_file)
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError(f"{mat_file} is not a readable .mat file ({type(exc).__name__}: {exc}); "
                         "delete it and download it again") from exc
    if "X" not in mat or "Q" not in mat:
        raise ValueError(f"{mat_file} lacks the descriptor matrices 'X' and 'Q'")
    spec = registry.get(dataset)
    gnd_file = root / spec.gnd_path
    cfg = load_pickle(gnd_file, sha256=spec.file_for(spec.gnd_path).sha256)
    X, Q = np.ascontiguousarray(mat["X"].T), np.ascontiguousarray(mat["Q"].T)
    if X.shape[0] != len(cfg["imlist"]) or Q.shape[0] != len(cfg["qimlist"]) or X.shape[1] != Q.shape[1]:
        raise ValueError(
            f"{mat_file}: features X {mat['X'].shape} / Q {mat['Q'].shape} do not match the gnd "
            f"({len(cfg['imlist'])} database images, {len(cfg['qimlist'])} queries)"
        )
    return X, Q, cfg["gnd"]


def training_split(data: RetrievalDataset) -> tuple[list[Path], np.ndarray]:
    """The training split shipped beside a benchmark (``train_<name>.pkl``, e.g. synth-landmarks'):
    image paths and their landmark (cluster) ids. Like SfM-120k it shares no landmark with the
    test split: learn vocabularies, whitening and metric learning there, never on the test set."""
    path = data.folder / f"train_{data.name}.pkl"
    if not path.is_file():
        raise FileNotFoundError(f"{data.name} has no training split ({path} is absent)")
    train = load_pickle(path)
    try:
        return [_image_path(data.image_dir, n) for n in train["imlist"]], np.asarray(train["cluster"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a training split (needs 'imlist' and 'cluster'): {exc!r}") from exc


#: The benchmark each revisited test set learns its whitening (or codebook) on: the other city,
#: as the papers do (Oxford from Paris and vice versa).
OTHER_DATASET = {"roxford5k": "rparis6k", "rparis6k": "roxford5k", "oxford5k": "paris6k", "paris6k": "oxford5k"}


def whitening_split(data: RetrievalDataset, download: bool = False) -> tuple[list[Path], np.ndarray]:
    """Labelled images to learn a whitening for ``data`` on -- never ``data``'s own test images.

    A dataset with a training split (synth-landmarks) uses it (:func:`training_split`). A real
    benchmark uses the *other* city's database: each image positive (easy, or ``ok``) for some
    query is labelled by the first such query, so images of one landmark share a label and give
    the matching pairs of L_w; unlabelled images are left out.
    """
    try:
        return training_split(data)
    except FileNotFoundError:
        pass
    if data.name not in OTHER_DATASET:
        raise ValueError(f"no whitening set is known for {data.name}: pass your own labelled images")
    other = load(OTHER_DATASET[data.name], data.root, download=download)
    label = np.full(len(other.images), -1)
    for q, g in enumerate(other.gnd):
        pos = np.asarray(g.get("easy", g.get("ok", [])), dtype=np.int64)
        pos = pos[label[pos] < 0]
        label[pos] = q
    keep = np.flatnonzero(label >= 0)
    return [other.images[i] for i in keep], label[keep]

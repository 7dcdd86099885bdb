"""INSTRE (Wang & Jiang, TOMM 2015) with Iscen et al.'s evaluation protocol (CVPR 2017): the loader.

[S3] §5.4 evaluates GOD on INSTRE ("around 27k images of small objects in cluttered scenes ...
rotation, occlusion and scale changes") with "the evaluation protocol introduced in [Isc+17]", and
measures saliency precision against "Instre's bounding box annotation". The catalogue entry
``instre`` downloads the images (``instre.tar.gz``, extracted into ``datasets/instre``) and
Iscen et al.'s ``gnd_instre.mat``; :func:`load_instre` reads them into the same
:class:`~rrlib.datasets.RetrievalDataset` as every other benchmark, with the boxes.

The ``.mat`` layout (MATLAB, read with :func:`scipy.io.loadmat`)
-----------------------------------------------------------------
Not documented by its authors; what follows is how public readers of the file use it
[EXT: ``ahmetius/diffusion-retrieval`` ``compute_map.m`` (fields ``gnd(i).ok``, optional
``gnd(i).junk``, 1-based ranks); OS2D ``os2d/data/dataset.py`` (``build_instre_dataset``: comments
"1250 queries", "27293 database images", "indices of positives ... 1-based", "the matlab file has
boxes in x1, y1, x2, y2, but the .txt files in x, y, w, h")]. Not checked against the file itself
here (no network): verify before trusting a number.

``imlist``  ``1 x n_db`` cell array of image paths relative to the data folder, with extension
            (``INSTRE-S1/01a_canada_book/001.jpg``);
``qimlist`` ``1 x n_q`` cell array of query image paths (queries are *not* in ``imlist``);
``gnd``     ``1 x n_q`` struct array with ``ok`` (1-based indices into ``imlist`` of the
            positives), ``bbx`` (the query box) and possibly ``junk``.

One public reader treats ``bbx`` as ``[x, y, w, h]``; the OS2D comment says ``[x1, y1, x2, y2]``.
``box_format`` chooses (default ``"xyxy"``); the loader checks that every box lies in a
plausible range (``x2 > x1``, ``y2 > y1``) and says so when it does not.

Database boxes: INSTRE ships one ``.txt`` beside each image with one line ``x y w h`` per object
(two lines in INSTRE-M, whose pictures hold two objects). They are read into ``db_bbx`` (one list
of ``[x1, y1, x2, y2]`` per database image, empty when the ``.txt`` is missing) -- see
:func:`rrlib.datasets.object_boxes`.

Protocol: Iscen et al. score mAP with the positives ``ok`` (and ``junk`` ignored when present): the
old Oxford protocol, so the dataset is an ``ok``/``junk`` one (``data.revisited`` is False) and
:func:`rrlib.evaluate.compute_map` scores it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from .. import registry
from ..registry import resolve_root
from ..retrieval import RetrievalDataset, _ensure

__all__ = ["INSTRE", "instre_ground_truth", "instre_boxes", "load_instre"]

INSTRE = "instre"
BOX_FORMATS = ("xyxy", "xywh")


def _strings(cell, field: str) -> list[str]:
    """A MATLAB cell array of strings (as loadmat returns it) -> list of str."""
    arr = np.asarray(cell, dtype=object).ravel()
    out = []
    for k, item in enumerate(arr):
        v = np.asarray(item).ravel()
        if v.size != 1 or not isinstance(v[0], str):
            raise ValueError(f"gnd_instre.mat: {field}[{k}] should be one string, got {item!r}")
        out.append(str(v[0]))
    return out


def _field(entry, name: str, q: int, required: bool = True):
    """Field ``name`` of one element of the ``gnd`` struct array (None when absent and optional)."""
    names = entry.dtype.names or ()
    if name in names:
        return entry[name]
    if required:
        raise ValueError(f"gnd_instre.mat: gnd[{q}] has no field {name!r} (has {list(names)})")
    return None


def _indices(value, n_db: int, q: int, field: str) -> np.ndarray:
    idx = np.asarray(value if value is not None else [], dtype=np.float64).ravel()
    if idx.size and (np.any(idx != np.round(idx)) or idx.min() < 1 or idx.max() > n_db):
        raise ValueError(f"gnd_instre.mat: gnd[{q}].{field} should hold 1-based indices into imlist "
                         f"(1..{n_db}), got values in [{idx.min()}, {idx.max()}]")
    return idx.astype(np.int64) - 1


def instre_ground_truth(mat: dict, box_format: str = "xyxy") -> tuple[list[str], list[str], list[dict]]:
    """``(imlist, qimlist, gnd)`` from the dict :func:`scipy.io.loadmat` returns for ``gnd_instre.mat``.

    ``gnd[q] = {"bbx": [x1, y1, x2, y2], "ok": 0-based int64 indices, "junk": ...}`` (the MATLAB
    indices minus one). ``box_format`` says how the file stores ``bbx``: ``"xyxy"`` (corners) or
    ``"xywh"`` (corner, width, height) -- the module docstring says why this is a parameter.
    """
    if box_format not in BOX_FORMATS:
        raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}")
    for key in ("imlist", "qimlist", "gnd"):
        if key not in mat:
            raise ValueError(f"gnd_instre.mat lacks {key!r} (has {sorted(k for k in mat if not k.startswith('__'))})")
    imlist, qimlist = _strings(mat["imlist"], "imlist"), _strings(mat["qimlist"], "qimlist")
    entries = np.asarray(mat["gnd"]).ravel()
    if len(entries) != len(qimlist):
        raise ValueError(f"gnd_instre.mat: {len(entries)} gnd entries for {len(qimlist)} queries")
    gnd = []
    for q, entry in enumerate(entries):
        ok = _indices(_field(entry, "ok", q), len(imlist), q, "ok")
        junk = _indices(_field(entry, "junk", q, required=False), len(imlist), q, "junk")
        bbx = np.asarray(_field(entry, "bbx", q), dtype=np.float64).ravel()
        if bbx.size != 4 or not np.all(np.isfinite(bbx)):
            raise ValueError(f"gnd_instre.mat: gnd[{q}].bbx should be four numbers, got {bbx!r}")
        if box_format == "xywh":
            bbx = np.array([bbx[0], bbx[1], bbx[0] + bbx[2], bbx[1] + bbx[3]])
        if bbx[2] <= bbx[0] or bbx[3] <= bbx[1]:
            raise ValueError(f"gnd_instre.mat: gnd[{q}].bbx {bbx.tolist()} is not a box [x1, y1, x2, y2] with "
                             f"x2 > x1 and y2 > y1 (box_format={box_format!r}: try the other format)")
        gnd.append({"bbx": [float(v) for v in bbx], "ok": ok, "junk": junk})
    return imlist, qimlist, gnd


def instre_boxes(image_dir: str | os.PathLike, imlist: list[str]) -> tuple[list[list[list[float]]], int]:
    """Object boxes of the database images from INSTRE's ``.txt`` files (``x y w h`` per line).

    Returns one list of ``[x1, y1, x2, y2]`` per image and the number of images whose ``.txt``
    is missing (their list is empty).
    """
    image_dir = Path(image_dir)
    boxes, missing = [], 0
    for name in imlist:
        path = (image_dir / name).with_suffix(".txt")
        try:
            lines = path.read_text().split("\n")
        except OSError:
            boxes.append([])
            missing += 1
            continue
        mine = []
        for line in lines:
            vals = line.replace(",", " ").split()
            if len(vals) < 4:
                continue
            x, y, w, h = (float(v) for v in vals[:4])
            mine.append([x, y, x + w, y + h])
        boxes.append(mine)
    return boxes, missing


def load_instre(root: str | os.PathLike | None = None, download: bool = False, *, box_format: str = "xyxy",
                db_boxes: bool = True) -> RetrievalDataset:
    """INSTRE with Iscen et al.'s ground truth, as a :class:`~rrlib.datasets.RetrievalDataset` (paper mode).

    Parameters
    ----------
    root : path-like, optional
        Data root; default :func:`rrlib.datasets.data_root`.
    download : bool
        Fetch the catalogue's ``instre`` files (2.3 GB of images and ``gnd_instre.mat``) when absent;
        otherwise absent files raise :class:`~rrlib.datasets.DatasetNotFoundError` with the command.
    box_format : {"xyxy", "xywh"}
        How ``gnd_instre.mat`` stores the query boxes (see the module docstring).
    db_boxes : bool
        Read the database boxes from the ``.txt`` files (``data.extra["db_bbx"]``,
        :func:`rrlib.datasets.object_boxes`); ``data.extra["db_bbx_missing"]`` counts the images
        without one.

    Returns
    -------
    RetrievalDataset
        ``ok``/``junk`` ground truth with query boxes (``data.bbxs``); queries and database images
        are paths under ``<root>/datasets/instre``.
    """
    spec = registry.get(INSTRE)
    root = resolve_root(root)
    _ensure(spec, root, download)
    folder = root / spec.folder
    mat_file = folder / "gnd_instre.mat"
    try:
        mat = loadmat(mat_file)
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError(f"{mat_file} is not a readable .mat file ({type(exc).__name__}: {exc}); "
                         "delete it and download it again") from exc
    imlist, qimlist, gnd = instre_ground_truth(mat, box_format)
    image_dir = folder
    if imlist and not (folder / imlist[0]).exists() and (folder / "instre" / imlist[0]).exists():
        image_dir = folder / "instre"  # an archive with a top folder
    extra: dict = {}
    if db_boxes:
        extra["db_bbx"], extra["db_bbx_missing"] = instre_boxes(image_dir, imlist)
    return RetrievalDataset(INSTRE, root, folder, image_dir, imlist, qimlist, gnd, extra)

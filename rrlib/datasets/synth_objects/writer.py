"""Writing synth-objects to disk: atomically, deterministically, cached by a parameter stamp.

The same machinery as synth-landmarks (:mod:`rrlib.datasets.synth.writer`): a temporary sibling
folder renamed into place when complete, stale folders of killed runs removed, canonical pickles,
``stamp.json`` for the cache, optional worker processes that do not change a byte.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from ...io import data_root
from ...progress import progress as report
from ..synth.writer import _pickle, _read_stamp, replace_atomically
from .build import NAME, VERSION, ObjectsConfig, _run, ground_truth, instance_names, instance_texture, plan

__all__ = ["generate", "dataset_dir", "stamp_of", "object_boxes"]

STAMP = "stamp.json"


def dataset_dir(root: str | os.PathLike | None = None) -> Path:
    """``<root>/datasets/synth-objects`` (``root`` defaults to :func:`rrlib.datasets.data_root`)."""
    return Path(data_root() if root is None else root) / "datasets" / NAME


def stamp_of(seed: int, image_size: int, config: ObjectsConfig) -> dict:
    """The parameters that determine every byte of the dataset (as JSON reads them back)."""
    return json.loads(json.dumps({"name": NAME, "version": VERSION, "seed": int(seed), "image_size": int(image_size),
                                  "config": asdict(config)}))


def _run_star(a):
    return _run(*a)


def _render_all(tasks, seed: int, image_size: int, cfg: ObjectsConfig, n_jobs: int, progress: bool):
    args = [(t, seed, image_size, cfg) for t in tasks]
    desc = f"rendering {NAME} ({image_size} px)"
    if n_jobs <= 1:
        return [_run(*a) for a in report(args, desc, enabled=progress)]
    # spawn: safe after torch/OpenMP were imported; chunks of consecutive tasks share an instance,
    # so each worker draws few instance textures. Output order is the task order.
    with ProcessPoolExecutor(n_jobs, mp_context=get_context("spawn")) as pool:
        return list(report(pool.map(_run_star, args, chunksize=16), desc, total=len(args), enabled=progress))


def _write(folder: Path, seed: int, image_size: int, cfg: ObjectsConfig, n_jobs: int, progress: bool) -> None:
    db_tasks, q_tasks, train_tasks = plan(seed, cfg)
    everything = db_tasks + q_tasks + train_tasks
    grouped = sorted(range(len(everything)), key=lambda j: (everything[j].instance, j))  # texture reuse
    out = _render_all([everything[j] for j in grouped], seed, image_size, cfg, n_jobs, progress)
    results = dict(zip(grouped, out))
    jpg = folder / "jpg"
    jpg.mkdir(parents=True)
    records = []
    for j, task in enumerate(everything):
        data, rec = results[j]
        (jpg / f"{task.name}.jpg").write_bytes(data)
        records.append(rec)
    db = records[: len(db_tasks)]
    queries = records[len(db_tasks): len(db_tasks) + len(q_tasks)]
    train = records[len(db_tasks) + len(q_tasks):]

    names = instance_names(seed, cfg)
    textures = folder / "objects"
    textures.mkdir()
    instances = {}
    for i, name in enumerate(names):
        rel = f"objects/{name}.png"
        instance_texture(seed, i, cfg.texture_size).save(folder / rel, "PNG", optimize=False)
        instances[i] = {"name": name, "split": "test" if i < cfg.instances else "train", "texture_file": rel}

    gnd = ground_truth(queries, db)
    revisitop = {"gnd": gnd, "imlist": [r["name"] for r in db], "qimlist": [r["name"] for r in queries],
                 "db_bbx": [[] if r["bbx"] is None else [r["bbx"]] for r in db],
                 "db_instance": [r["instance"] for r in db]}
    _pickle(folder / f"gnd_{NAME}.pkl", revisitop)
    stamp = stamp_of(seed, image_size, cfg)
    _pickle(folder / f"meta_{NAME}.pkl", {"stamp": stamp, "instances": instances, "db": db, "queries": queries})
    _pickle(folder / f"train_{NAME}.pkl", {
        "imlist": [r["name"] for r in train], "cluster": [r["instance"] for r in train],
        "bbx": [r["bbx"] for r in train], "records": train,
    })
    (folder / STAMP).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")


def generate(root: str | os.PathLike | None = None, *, seed: int = 0, image_size: int = 512, force: bool = False,
             config: ObjectsConfig | None = None, n_jobs: int = 1, progress: bool = True) -> Path:
    """Generate synth-objects under ``<root>/datasets/synth-objects`` (or return the cached copy).

    Parameters
    ----------
    root : path, optional
        The data root; default :func:`rrlib.datasets.data_root`.
    seed : int
        Every byte of the dataset is a function of ``(seed, image_size, config, VERSION)``.
    image_size : int
        Long side of the pictures in pixels (default 512: a stride-32 network gives 16 x 12 maps,
        32 x 24 without the last stride -- the tens of cells per side that saliency maps need).
    force : bool
        Regenerate even if a folder with a matching ``stamp.json`` exists.
    config : ObjectsConfig, optional
        Sizes; default :class:`ObjectsConfig()` (``ObjectsConfig.small()`` for quick tests).
    n_jobs : int
        Worker processes for rendering (the output does not depend on it).
    progress : bool
        Print how far the rendering is; nothing is printed for a cached copy.

    Returns
    -------
    pathlib.Path
        The dataset folder.
    """
    cfg = config or ObjectsConfig()
    cfg.check()
    if image_size < 64:
        raise ValueError(f"image_size must be at least 64 pixels, got {image_size}")
    target = dataset_dir(root)
    stamp = stamp_of(seed, image_size, cfg)
    if not force and _read_stamp(target) == stamp and (target / f"gnd_{NAME}.pkl").is_file():
        return target
    return replace_atomically(target, NAME, lambda tmp: _write(tmp, seed, image_size, cfg, n_jobs, progress))


def object_boxes(data) -> list[np.ndarray]:
    """The ground-truth object boxes of every database picture of ``data``.

    Returns one ``(k, 4)`` float array ``[x1, y1, x2, y2]`` (pixel edges) per database picture:
    ``k = 1`` for a synth-objects picture of an instance, ``k = 0`` for a clutter picture (no
    object of the dataset in it), ``k = 1`` or ``2`` for INSTRE (INSTRE-M pictures hold two
    objects; :func:`rrlib.datasets.load_instre`). ``data`` is a
    :class:`~rrlib.datasets.RetrievalDataset` whose ground-truth file carries ``db_bbx``; the query
    boxes are ``data.bbxs``.
    """
    boxes = getattr(data, "extra", {}).get("db_bbx")
    if boxes is None:
        raise ValueError(f"{getattr(data, 'name', data)!r} has no database boxes ('db_bbx'): only synth-objects "
                         "and instre (rrlib.datasets.load_instre) carry them")
    if len(boxes) != len(data.imlist):
        raise ValueError(f"{data.name}: {len(boxes)} box lists for {len(data.imlist)} database pictures")
    return [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes]

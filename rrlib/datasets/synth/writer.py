"""Writing synth-landmarks to disk: atomically, deterministically, cached by a parameter stamp."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np

from ...io import data_root
from ...progress import progress as report
from ..leftovers import owner_tag, remove_stale
from .build import (NAME, VERSION, SynthConfig, _landmark_id, _landmark_info, _plan, _run, ground_truth,
                    landmark)

__all__ = ["generate", "dataset_dir", "stamp_of"]

PICKLE_PROTOCOL = 4
STAMP = "stamp.json"


def dataset_dir(root: str | os.PathLike | None = None) -> Path:
    """``<root>/datasets/synth-landmarks`` (``root`` defaults to :func:`rrlib.datasets.data_root`)."""
    if root is None:
        root = data_root()
    return Path(root) / "datasets" / NAME


def stamp_of(seed: int, image_size: int, config: SynthConfig) -> dict:
    """The parameters that determine every byte of the dataset."""
    return {"name": NAME, "version": VERSION, "seed": int(seed), "image_size": int(image_size),
            "config": asdict(config)}


def _read_stamp(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return None


def _render_all(tasks, seed: int, image_size: int, cfg: SynthConfig, n_jobs: int, progress: bool):
    args = [(t, seed, image_size, cfg) for t in tasks]
    desc = f"rendering {NAME} ({image_size} px)"
    if n_jobs <= 1:
        return [_run(*a) for a in report(args, desc, enabled=progress)]
    # spawn: safe after torch/OpenMP were imported; tasks are grouped by landmark (chunks) so that each
    # worker rebuilds few textures. Output order is the task order whatever the scheduling.
    with ProcessPoolExecutor(n_jobs, mp_context=get_context("spawn")) as pool:
        return list(report(pool.map(_run_star, args, chunksize=16), desc, total=len(args), enabled=progress))


def _run_star(a):
    return _run(*a)


def _write(folder: Path, seed: int, image_size: int, cfg: SynthConfig, n_jobs: int, progress: bool) -> None:
    names, db_tasks, q_tasks, train_tasks = _plan(seed, cfg)
    jpg = folder / "jpg"
    jpg.mkdir(parents=True)
    # group by landmark for texture reuse, then restore each list's order
    results = {}
    everything = db_tasks + q_tasks + train_tasks
    grouped = sorted(range(len(everything)), key=lambda j: (everything[j].split, everything[j].index, j))
    out = _render_all([everything[j] for j in grouped], seed, image_size, cfg, n_jobs, progress)
    for j, res in zip(grouped, out):
        results[j] = res
    records = []
    for j, task in enumerate(everything):
        data, rec = results[j]
        (jpg / f"{task.name}.jpg").write_bytes(data)
        records.append(rec)
    db = records[: len(db_tasks)]
    queries = records[len(db_tasks): len(db_tasks) + len(q_tasks)]
    train = records[len(db_tasks) + len(q_tasks):]

    test_lms = {_landmark_id("test", i, cfg): landmark(seed, "test", i, cfg.grid) for i in range(cfg.test_landmarks)}
    planes_dir = folder / "planes"
    planes_dir.mkdir()
    lm_info = {}
    for split, n in (("test", cfg.test_landmarks), ("train", cfg.train_landmarks)):
        for i in range(n):
            textures, planes = landmark(seed, split, i, cfg.grid)
            lid, name = _landmark_id(split, i, cfg), names[(split, i)]
            lm_info[lid] = _landmark_info(name, split, planes)
            lm_info[lid]["texture_files"] = []
            for k, tex in enumerate(textures):
                rel = f"planes/{name}_p{k}.png"
                tex.save(folder / rel, "PNG", optimize=False)
                lm_info[lid]["texture_files"].append(rel)

    gnd = ground_truth(queries, db, {lid: planes[0] for lid, (_, planes) in test_lms.items()}, cfg.grid)
    revisitop = {"gnd": gnd, "imlist": [r["name"] for r in db], "qimlist": [r["name"] for r in queries]}
    _pickle(folder / f"gnd_{NAME}.pkl", revisitop)
    for q, g in zip(queries, gnd):
        q["bbx"] = g["bbx"]
    meta = {"stamp": stamp_of(seed, image_size, cfg), "grid": cfg.grid,
            "landmarks": {k: v for k, v in lm_info.items() if v["split"] == "test"},
            "db": db, "queries": queries}
    _pickle(folder / f"meta_{NAME}.pkl", meta)
    train_pkl = {
        "imlist": [r["name"] for r in train],
        "cluster": [r["landmark"] for r in train],
        "H": [r["H"] for r in train],
        "visible": [r["visible"] for r in train],
        "in_frame": [r["in_frame"] for r in train],
        "viewpoint_deg": [r["viewpoint_deg"] for r in train],
        "scale": [r["scale"] for r in train],
        "landmarks": {k: v for k, v in lm_info.items() if v["split"] == "train"},
        "grid": cfg.grid,
        "records": train,
    }
    _pickle(folder / f"train_{NAME}.pkl", train_pkl)
    (folder / STAMP).write_text(json.dumps(stamp_of(seed, image_size, cfg), indent=1, sort_keys=True) + "\n")


def _canonical(obj):
    """A fresh copy with no shared containers and interned strings.

    Pickle writes back-references for objects it has seen (by identity), so two equal structures can
    serialise differently depending on which strings happen to be the same object -- e.g. results
    that came back from worker processes. Canonicalising makes the bytes depend on the values only.
    """
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_canonical(v) for v in obj)
    if isinstance(obj, np.ndarray):
        out = np.empty(obj.shape, dtype=np.dtype(obj.dtype.str))  # the process-wide dtype singleton:
        out[...] = obj                                            # unpickled arrays carry their own copy
        return out
    return obj


def _pickle(path: Path, obj) -> None:
    with open(path, "wb") as fh:
        pickle.dump(_canonical(obj), fh, protocol=PICKLE_PROTOCOL)


def replace_atomically(target: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Write a generated dataset folder ``target`` with ``write(tmp)`` into a temporary sibling
    ``.<name>.tmp-<pid>@<host>`` and rename it into place only when complete (the old copy is moved
    aside and removed), so an interrupted run leaves no half-made dataset; temporary folders of
    killed runs are removed (:func:`rrlib.datasets.leftovers.remove_stale`), a concurrent run's are
    left alone. Returns ``target``."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    for kind in ("tmp", "old"):
        remove_stale(parent, f".{name}.{kind}-")
    tmp = parent / f".{name}.tmp-{owner_tag()}"
    old = parent / f".{name}.old-{owner_tag()}"
    for stale in (tmp, old):  # this very process, from an earlier call that was interrupted
        if stale.exists():
            shutil.rmtree(stale)
    try:
        write(tmp)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    return target


def generate(root: str | os.PathLike | None = None, *, seed: int = 0, image_size: int = 256, force: bool = False,
             config: SynthConfig | None = None, n_jobs: int = 1, progress: bool = True) -> Path:
    """Generate synth-landmarks under ``<root>/datasets/synth-landmarks`` (or return the cached copy).

    Parameters
    ----------
    root : path, optional
        The data root; default :func:`rrlib.datasets.data_root`.
    seed : int
        Every byte of the dataset is a function of ``(seed, image_size, config, VERSION)``.
    image_size : int
        Long side of the pictures in pixels.
    force : bool
        Regenerate even if a folder with a matching ``stamp.json`` exists.
    config : SynthConfig, optional
        Sizes; default :class:`SynthConfig()` (``SynthConfig.small()`` for quick tests).
    n_jobs : int
        Worker processes for rendering (the output does not depend on it).
    progress : bool
        Print how far the rendering is (:mod:`rrlib.progress`); nothing is printed for a cached copy.

    Returns
    -------
    pathlib.Path
        The dataset folder.

    Notes
    -----
    The dataset is written into a temporary sibling folder ``.synth-landmarks.tmp-<pid>@<host>``
    and renamed into place only when complete, so an interrupted run leaves no half-made dataset;
    the temporary folders of runs that were killed (their process is gone) are removed by the next
    run (:func:`rrlib.datasets.leftovers.remove_stale`), those of a concurrent run are left alone.
    """
    cfg = config or SynthConfig()
    if image_size < 64:
        raise ValueError(f"image_size must be at least 64 pixels, got {image_size}")
    target = dataset_dir(root)
    stamp = stamp_of(seed, image_size, cfg)
    if not force and _read_stamp(target) == stamp and (target / f"gnd_{NAME}.pkl").is_file():
        return target
    return replace_atomically(target, NAME, lambda tmp: _write(tmp, seed, image_size, cfg, n_jobs, progress))

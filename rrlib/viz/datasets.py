"""Pictures of a retrieval dataset: a query with some of its easy, hard and junk database images
(notebook 01, on synth-landmarks or any folder in the revisitop layout).

:func:`query_examples` reads the folder's ground-truth pickle ``gnd_synth-landmarks.pkl`` itself
(with :func:`rrlib.datasets.pickles.load_pickle`, which builds plain data and runs no code) and the
figure reads the pictures from ``jpg/``.
"""
from __future__ import annotations

import operator
import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from ..datasets.pickles import load_pickle
from ..datasets.synth.build import NAME
from ..datasets.synth.writer import dataset_dir
from ..io import read_rgb
from .style import LABEL_COLORS

__all__ = ["plot_query_examples", "query_examples"]

KINDS = ("easy", "hard", "junk")


def _read_gnd(folder: Path) -> dict:
    """The ``{"gnd", "imlist", "qimlist"}`` dictionary of ``folder/gnd_<NAME>.pkl``; any error
    names the file."""
    path = folder / f"gnd_{NAME}.pkl"
    cfg = load_pickle(path)
    if not (isinstance(cfg, dict) and {"gnd", "imlist", "qimlist"} <= cfg.keys()):
        raise ValueError(f"{path}: expected a dict with 'gnd', 'imlist' and 'qimlist'")
    return cfg


def query_examples(folder: str | os.PathLike | None, query: int, n: int = 3) -> dict:
    """Paths of query ``query`` (with its box) and of ``n`` of its easy, hard and junk images.

    ``folder`` is the dataset folder (None: synth-landmarks in the data root). Examples are
    spread evenly over each (sorted) list -- positions ``round(k (m - 1) / (n - 1))`` of a list
    of ``m`` -- so the choice is deterministic.

    Returns
    -------
    dict
        ``{"query": (path, bbx), "easy": [paths], "hard": [paths], "junk": [paths]}``.
    """
    folder = dataset_dir() if folder is None else Path(folder)
    query, n = operator.index(query), operator.index(n)
    if n < 0:
        raise ValueError(f"n={n}: the number of examples per kind cannot be negative")
    cfg = _read_gnd(folder)
    if not 0 <= query < len(cfg["qimlist"]):
        raise IndexError(f"query {query} out of range: the dataset has {len(cfg['qimlist'])} queries")
    g = cfg["gnd"][query]
    out: dict = {"query": (folder / "jpg" / f"{cfg['qimlist'][query]}.jpg", g["bbx"])}
    for key in KINDS:
        idx = sorted(g[key])
        picks = [idx[round(k * (len(idx) - 1) / max(n - 1, 1))] for k in range(min(n, len(idx)))]
        out[key] = [folder / "jpg" / f"{cfg['imlist'][i]}.jpg" for i in dict.fromkeys(picks)]
    return out


def plot_query_examples(folder: str | os.PathLike | None = None, queries: Sequence[int] = (0, 35), n: int = 3):
    """Figure: one row per query -- the query with its box, then ``n`` easy, hard and junk images
    (:func:`query_examples`). Returns the :class:`matplotlib.figure.Figure`."""
    cols = 1 + len(KINDS) * n
    fig, axes = plt.subplots(len(queries), cols, figsize=(1.6 * cols, 1.6 * len(queries) + 0.3), squeeze=False)
    for row, q in zip(axes, queries):
        ex = query_examples(folder, q, n)
        cells = [("query", ex["query"][0])] + [(k, p) for k in KINDS for p in ex[k]]
        for ax in row:
            ax.set_axis_off()
        for ax, (kind, path) in zip(row, cells):
            ax.imshow(read_rgb(path))
            ax.set_title(f"query {q}" if kind == "query" else kind, fontsize="medium", color=LABEL_COLORS[kind])
            if kind == "query":
                x1, y1, x2, y2 = ex["query"][1]
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.5, ec="red"))
    fig.tight_layout()
    return fig

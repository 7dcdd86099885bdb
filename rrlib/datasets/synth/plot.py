"""Pictures of synth-landmarks: a query with some of its easy, hard and junk database images."""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Sequence

__all__ = ["query_examples", "plot_query_examples"]



def _folder(folder) -> Path:
    if folder is None:
        from .writer import dataset_dir

        return dataset_dir()
    return Path(folder)


def query_examples(folder: str | os.PathLike | None, query: int, n: int = 3) -> dict:
    """Paths of query ``query`` (with its box) and of ``n`` of its easy, hard and junk images.

    Examples are spread evenly over each (sorted) list, so the choice is deterministic.

    Returns
    -------
    dict
        ``{"query": (path, bbx), "easy": [paths], "hard": [paths], "junk": [paths]}``.
    """
    folder = _folder(folder)
    with open(folder / "gnd_synth-landmarks.pkl", "rb") as fh:
        cfg = pickle.load(fh)
    if not 0 <= query < len(cfg["qimlist"]):
        raise IndexError(f"query {query} out of range: the dataset has {len(cfg['qimlist'])} queries")
    g = cfg["gnd"][query]
    out: dict = {"query": (folder / "jpg" / f"{cfg['qimlist'][query]}.jpg", g["bbx"])}
    for key in ("easy", "hard", "junk"):
        idx = sorted(g[key])
        picks = [idx[round(k * (len(idx) - 1) / max(n - 1, 1))] for k in range(min(n, len(idx)))]
        out[key] = [folder / "jpg" / f"{cfg['imlist'][i]}.jpg" for i in dict.fromkeys(picks)]
    return out


def plot_query_examples(folder: str | os.PathLike | None = None, queries: Sequence[int] = (0, 35), n: int = 3):
    """Figure: one row per query -- the query with its box, then ``n`` easy, hard and junk images.

    Returns the :class:`matplotlib.figure.Figure`.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from PIL import Image

    from rrlib.viz import LABEL_COLORS

    cols = 1 + 3 * n
    fig, axes = plt.subplots(len(queries), cols, figsize=(1.6 * cols, 1.6 * len(queries) + 0.3), squeeze=False)
    for row, q in zip(axes, queries):
        ex = query_examples(folder, q, n)
        cells = [("query", ex["query"][0])] + [(k, p) for k in ("easy", "hard", "junk") for p in ex[k]]
        for ax in row:
            ax.set_axis_off()
        for ax, (kind, path) in zip(row, cells):
            with Image.open(path) as im:
                ax.imshow(im)
            ax.set_title(f"query {q}" if kind == "query" else kind, fontsize=8, color=LABEL_COLORS[kind])
            if kind == "query":
                x1, y1, x2, y2 = ex["query"][1]
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.5, ec="red"))
    fig.tight_layout()
    return fig

"""Figures of notebook 10 ([S2]): the asymmetric setup, teacher and student embeddings together,
Metrix's positivity and GLAM's attention maps."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .style import image_panel

__all__ = ["plot_asymmetric_setup", "joint_tsne", "plot_joint_embedding", "plot_positivity", "plot_attention_maps"]


def _box(ax, xy, w, h, text, color, fontsize=10):
    ax.add_patch(FancyBboxPatch(xy, w, h, boxstyle="round,pad=0.02", fc=color, ec="0.3", lw=1))
    ax.text(xy[0] + w / 2, xy[1] + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, a, b, text="", color="0.3"):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=14, color=color, lw=1.4))
    if text:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.04, text, ha="center", va="bottom", fontsize=9, color=color)


def plot_asymmetric_setup(ax=None):
    """[S2]'s asymmetric testing as a diagram: the database embedded once, offline, by the large
    teacher ``g``; each query on the device by the light student ``f_theta``; ranking by
    ``sim(f_theta(q), g(x))``. Symmetric testing would embed the database with ``f_theta`` too."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
    teacher, student, index = "#c6dbef", "#fdd0a2", "#e5e5e5"
    _box(ax, (0.00, 0.62), 0.17, 0.26, "database\nimages x", "white")
    _box(ax, (0.27, 0.60), 0.20, 0.30, "teacher g\n(large, fixed)\noffline, once", teacher)
    _box(ax, (0.57, 0.62), 0.17, 0.26, "index\ng(x)", index)
    _box(ax, (0.00, 0.10), 0.17, 0.26, "query q\n(on a phone)", "white")
    _box(ax, (0.29, 0.12), 0.16, 0.22, "student f\u03b8\n(light)", student)
    _box(ax, (0.57, 0.10), 0.17, 0.26, "query vector\nf\u03b8(q)", index)
    _box(ax, (0.82, 0.36), 0.18, 0.28, "rank by\nsim(f\u03b8(q), g(x))", "#c7e9c0")
    _arrow(ax, (0.17, 0.75), (0.27, 0.75))
    _arrow(ax, (0.47, 0.75), (0.57, 0.75))
    _arrow(ax, (0.17, 0.23), (0.29, 0.23))
    _arrow(ax, (0.45, 0.23), (0.57, 0.23))
    _arrow(ax, (0.74, 0.75), (0.82, 0.56))
    _arrow(ax, (0.74, 0.23), (0.82, 0.44))
    ax.text(0.5, 0.97, "asymmetric testing: one shared space, two networks", ha="center", fontsize=11)
    ax.set(xlim=(-0.03, 1.03), ylim=(0.02, 1.02))
    ax.axis("off")
    return ax


def joint_tsne(teacher: np.ndarray, student: np.ndarray, seed: int = 0, perplexity: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """One t-SNE (scikit-learn, cosine metric, PCA initialisation) of teacher and student vectors
    together, so that their positions can be compared: returns their 2-D points."""
    from sklearn.manifold import TSNE

    teacher, student = np.asarray(teacher, np.float64), np.asarray(student, np.float64)
    if teacher.ndim != 2 or teacher.shape[1:] != student.shape[1:]:
        raise ValueError(f"teacher {teacher.shape} and student {student.shape} must be (n, d) of one dimension d")
    both = np.concatenate([teacher, student])
    Y = TSNE(2, perplexity=min(perplexity, (len(both) - 1) / 3), metric="cosine", init="pca",
             random_state=seed).fit_transform(both)
    return Y[: len(teacher)], Y[len(teacher):]


def plot_joint_embedding(teacher_2d: np.ndarray, student_2d: np.ndarray, labels: Sequence[int], *, ax=None,
                         title: str | None = None, legend: bool = False):
    """Teacher points (hollow circles) and student points (filled dots) of the same images,
    coloured by class, in one 2-D map (:func:`joint_tsne`): in asymmetric testing a student
    point must land among the teacher points of its class."""
    ax = ax or plt.gca()
    labels = np.asarray(labels)
    for k, lab in enumerate(np.unique(labels)):
        m = labels == lab
        c = plt.cm.tab10(k % 10)
        ax.scatter(*teacher_2d[m].T, s=30, facecolors="none", edgecolors=[c], lw=1.1,
                   label="teacher" if k == 0 else None)
        ax.scatter(*student_2d[m].T, s=12, color=c, label="student" if k == 0 else None)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="medium")
    if legend:
        ax.legend(frameon=False, fontsize="small", loc="best")
    return ax


def plot_positivity(lam: np.ndarray, curves: Mapping[str, np.ndarray], *, ax=None, title: str | None = None):
    """Metrix's "positivity" [S2]: the probability that a mixed embedding ``v = mix_lambda(p, n)``
    acts as a positive for the anchor, ``P(dl/ds(a, v) <= 0)``, against ``lambda``, one curve per loss."""
    ax = ax or plt.gca()
    for name, p in curves.items():
        ax.plot(lam, p, marker="o", ms=3, label=name)
    ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
    ax.set(xlabel="mixing factor \u03bb (weight of the positive)", ylabel="P(positive)", ylim=(-0.03, 1.03),
           xlim=(0, 1))
    ax.legend(frameon=False)
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def plot_attention_maps(images: Sequence, maps: Sequence[Mapping[str, np.ndarray]], *, names: Sequence[str],
                        titles: Mapping[str, str] | None = None, size: float = 2.2):
    """Rows of pictures with attention maps beside them: ``maps[i][name]`` is a 2-D array for image
    ``i`` (resized over the picture, bilinear), one column per ``name``."""
    if len(images) != len(maps):
        raise ValueError(f"{len(images)} images but {len(maps)} sets of maps")
    fig, axes = plt.subplots(len(images), 1 + len(names), figsize=(size * (1 + len(names)), size * len(images)),
                             layout="constrained", squeeze=False)
    for row, (image, m) in zip(axes, zip(images, maps)):
        image = np.asarray(image)
        image_panel(row[0], image)
        for ax, name in zip(row[1:], names):
            a = np.asarray(m[name], float)
            if a.ndim != 2:
                raise ValueError(f"map {name!r} must be 2-D, got shape {a.shape}")
            ax.imshow(image)
            ax.imshow(a, cmap="inferno", alpha=0.6, extent=(-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5),
                      interpolation="bilinear")
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, name in zip(axes[0, 1:], names):
        ax.set_title((titles or {}).get(name, name), fontsize="medium")
    return fig

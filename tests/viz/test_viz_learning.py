"""rrlib.viz.learning: the siamese picture, tuple galleries, training curves, 2-D embeddings."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from rrlib.viz import pca_2d, plot_curves, plot_embedding_2d, plot_image_rows, plot_siamese

HISTORY = [{"epoch": 0, "loss": None, "easy": 60.0, "medium": 50.0, "hard": 30.0},
           {"epoch": 1, "loss": 0.8, "easy": 62.0, "medium": 53.0, "hard": 31.0},
           {"epoch": 2, "loss": 0.6, "easy": 63.0, "medium": 55.0, "hard": 33.0}]


def test_pca_2d_finds_the_plane_of_the_data_and_reuses_it():
    rng = np.random.default_rng(0)
    # 200 points exactly in a plane of R^5 through `mean`: spread 10 along u, 3 along v
    (u, v), mean = np.linalg.qr(rng.normal(size=(5, 2)))[0].T, rng.normal(size=5)
    X = mean + rng.normal(size=(200, 1)) * 10 * u + rng.normal(size=(200, 1)) * 3 * v
    Y, basis = pca_2d(X)
    assert Y.shape == (200, 2) and basis.shape == (3, 5)
    np.testing.assert_allclose(Y @ basis[:2] + basis[2], X, atol=1e-9)  # nothing is lost
    np.testing.assert_allclose(basis[2], X.mean(0))
    assert abs(basis[0] @ u) > 0.99 and Y[:, 0].var() > Y[:, 1].var()  # the long axis comes first
    off = rng.normal(size=5)
    off -= basis[:2].T @ (basis[:2] @ off)  # orthogonal to the plane
    Z, same = pca_2d(X[:5] + off, basis)  # a shift off the plane does not move the projection
    assert same is basis
    np.testing.assert_allclose(Z, Y[:5], atol=1e-9)
    with pytest.raises(ValueError, match="basis of shape \\(2, 5\\)"):
        pca_2d(X, basis[:2])  # was an IndexError from inside numpy
    with pytest.raises(ValueError, match="X of shape \\(200,\\)"):
        pca_2d(X[:, 0])


def test_curves_draw_one_line_per_run_and_setup():
    axes = plot_curves({"a": HISTORY, "b": HISTORY[:2]}, setups=("easy", "hard"), reference={"ref": 40.0})
    assert [len(l.get_xdata()) for l in axes[0].lines] == [2, 1]  # epochs with a loss only
    *mAP, ref = axes[1].lines  # run a: easy, hard; run b: easy, hard; then the reference
    assert [list(l.get_ydata()) for l in mAP] == [[60, 62, 63], [30, 31, 33], [60, 62], [30, 31]]
    assert list(ref.get_ydata()) == [40.0, 40.0]
    with pytest.raises(ValueError, match="setups holds \\['Medium'\\]"):
        plot_curves({"a": HISTORY}, setups=("Medium",))  # was a bare KeyError


def test_embedding_colours_each_landmark_and_greys_the_rest():
    X = np.random.default_rng(1).normal(size=(9, 4))
    fig, ax = plt.subplots()
    plot_embedding_2d(X, [-1, -1, 0, 0, 0, 3, 3, 3, 3], ax=ax, names={3: "tower"})
    assert [len(c.get_offsets()) for c in ax.collections] == [2, 3, 4]
    assert [c.get_label() for c in ax.collections] == ["no landmark", "0", "tower"]
    with pytest.raises(ValueError, match="labels of shape \\(8,\\)"):
        plot_embedding_2d(X, [0] * 8, ax=ax)


def test_galleries_have_one_panel_per_image():
    im = np.zeros((8, 8, 3))
    fig = plot_image_rows([[im, im, im], [im]], captions=[["q", "p", "n"], ["q"]],
                          colors=[["#9467bd", None, "#d62728"], [None]], row_labels=["one", "two"])
    shown = [a for a in fig.axes if a.images]
    assert len(shown) == 4 and [a.get_title() for a in shown[:3]] == ["q", "p", "n"]
    assert shown[0].spines["left"].get_visible() and not shown[1].spines["left"].get_visible()
    fig = plot_siamese([im, im, im])
    assert [a.get_title() for a in fig.axes if a.images] == ["query", "positive", "negative"]

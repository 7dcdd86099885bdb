"""rrlib.viz.dsm: ellipses, matched ellipses, channel views, the inlier histogram."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from rrlib.viz import LABEL_COLORS
from rrlib.viz.dsm import ellipse_outline, plot_channel_views, plot_dsm_matches, plot_ellipses, plot_inlier_histogram

IMG = np.zeros((40, 60, 3), np.uint8)


def test_ellipse_outline_is_the_n_sigma_ellipse():
    sigma = np.array([[4.0, 1.0], [1.0, 2.0]])
    e = ellipse_outline([10, 5], sigma, n_std=2)
    d = e - [10, 5]
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(sigma), d), 4.0)


def test_ellipses_and_matches():
    fig, ax = plt.subplots()
    plot_ellipses(IMG, [[10, 10], [30, 20]], [np.eye(2), np.diag([4.0, 1.0])], ax=ax, colors=["red", "blue"])
    assert len(ax.lines) == 2 and matplotlib.colors.to_hex(ax.lines[1].get_color()) == "#0000ff"
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_dsm_matches(IMG, IMG[:30], [[1, 1], [5, 5]], [np.eye(2)] * 2, [[2, 2], [6, 6]], [np.eye(2)] * 2, ax=ax)
    assert len(ax.lines) == 6  # two ellipses and a line per correspondence
    x, _ = ax.lines[2].get_data()
    assert x[1] == 62  # the second image starts at x = 60
    with pytest.raises(ValueError, match="one ellipse per side"):
        plot_dsm_matches(IMG, IMG, [[1, 1]], [np.eye(2)] * 2, [[2, 2]], [np.eye(2)], ax=ax)


def test_channel_views_and_histogram():
    maps = [[np.random.default_rng(0).random((4, 6)) for _ in range(3)] for _ in range(2)]
    axes = plot_channel_views([IMG] * 3, maps, row_labels=["channel 1", "channel 2"])
    assert axes.shape == (2, 3) and axes[1, 0].get_ylabel() == "channel 2"
    with pytest.raises(ValueError, match="one map per image"):
        plot_channel_views([IMG] * 3, [maps[0][:2]])
    fig, ax = plt.subplots()
    plot_inlier_histogram([5, 6, 9], [0, 1, 1, 2], ax=ax, log=False)
    heights = [p.get_height() for p in ax.patches]
    assert max(heights) == pytest.approx(0.5)  # two of the four negatives have one inlier
    colours = {matplotlib.colors.to_hex(p.get_facecolor()[:3]) for p in ax.patches}
    assert LABEL_COLORS["negative"] in colours and LABEL_COLORS["easy"] in colours

"""rrlib.viz.local: keypoint frames, patch grids, matches, inverted files."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from rrlib.viz import LABEL_COLORS, plot_frames, plot_inverted_file, plot_matches, plot_patch_grid

IMG = np.zeros((40, 60, 3), np.uint8)


def test_local_feature_figures():
    fig, ax = plt.subplots()
    plot_frames(IMG, [[10, 10, 2, 0], [30, 20, 1, np.pi / 2]], ax=ax, magnify=3)
    assert len(ax.lines) == 4  # a circle and a radius per frame
    x, y = ax.lines[1].get_data()
    np.testing.assert_allclose([x[1], y[1]], [16, 10])  # radius 3 x 2 along angle 0
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_matches(IMG, IMG[:30], [[1, 1], [2, 2], [3, 3]], [[5, 5], [6, 6], [7, 7]], inliers=[True, False, True], ax=ax)
    colours = [matplotlib.colors.to_hex(l.get_color()) for l in ax.lines]
    assert colours.count(LABEL_COLORS["T"]) == 2 and colours.count(LABEL_COLORS["F"]) == 1
    xs = [l.get_xdata()[1] for l in ax.lines if matplotlib.colors.to_hex(l.get_color()) == LABEL_COLORS["T"]]
    assert sorted(xs) == [65, 67]  # image 2 is drawn to the right of image 1 (width 60)
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_inverted_file([3, 8], [[0, 2], [2]], n_images=4, relevant=[2], ax=ax)
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    assert len(offsets) == 3 and [t.get_text() for t in ax.get_yticklabels()] == ["word 3", "word 8"]
    plt.close(fig)
    fig = plot_patch_grid([[np.zeros((4, 4))] * 3, [np.zeros((4, 4))]], row_labels=["a", "b"])
    assert len(fig.axes) == 6


def test_inputs_that_do_not_fit_are_refused():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="frames of shape \\(4, 5\\)"):
        plot_frames(IMG, np.ones((4, 5)), ax=ax)  # was reshaped to 5 wrong frames of 4 numbers
    with pytest.raises(ValueError, match="lists has 1 posting lists for 2 query words"):
        plot_inverted_file([3, 8], [[0, 2]], n_images=4, ax=ax)  # was a row labelled "word 8" left empty
    with pytest.raises(ValueError, match="lists\\[0\\] holds image 4 outside"):
        plot_inverted_file([3], [[0, 4]], n_images=4, ax=ax)
    with pytest.raises(ValueError, match="xy1 has 2 points and xy2 1"):
        plot_matches(IMG, IMG, [[1, 1], [2, 2]], [[5, 5]], ax=ax)
    with pytest.raises(ValueError, match="inliers of shape \\(1,\\)"):
        plot_matches(IMG, IMG, [[1, 1], [2, 2]], [[5, 5], [6, 6]], inliers=[True], ax=ax)
    with pytest.raises(ValueError, match="row_labels has 3 entries for 2 rows"):
        plot_patch_grid([[np.zeros((4, 4))], [np.zeros((4, 4))]], row_labels=["a", "b", "c"])

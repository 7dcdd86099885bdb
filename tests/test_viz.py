import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Rectangle

from rrlib.evaluate import average_precision
from rrlib.viz import LABEL_COLORS, plot_ap_build_up, plot_pr_curve, plot_ranking

SLIDE = [1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0]


def test_shaded_envelope_area_is_the_interpolated_ap():
    fig, ax = plt.subplots()
    plot_pr_curve(SLIDE, ax=ax)
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert [round(b.get_height(), 4) for b in bars] == [1, 1, 0.75, 0.6, 0.6, 0.6]
    area = sum(b.get_width() * b.get_height() for b in bars)
    assert area == pytest.approx(average_precision(SLIDE, method="interpolated"))
    assert ax.get_title() == "AP = 0.7462"
    plt.close(fig)


def test_ranking_strip_colours_follow_labels():
    fig, ax = plt.subplots()
    plot_ranking(["easy", "junk", "negative", "hard"], ax=ax)
    colours = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches[:4]]
    assert colours == [LABEL_COLORS[k] for k in ("easy", "junk", "negative", "hard")]
    plt.close(fig)


def test_build_up_has_one_panel_per_rank():
    fig = plot_ap_build_up(SLIDE, ncols=6)
    titled = [a for a in fig.axes if a.get_title()]
    assert len(titled) == 12 and titled[2].get_title().startswith("rank 3: F")
    plt.close(fig)


def test_rmac_region_panels_and_mac_top_channels():
    from rrlib.viz import plot_crow_weights, plot_mac_top_channels, plot_rmac_regions

    regions = plot_rmac_regions(np.zeros((60, 80, 3)), (6, 8))
    fig = plt.gcf()
    assert len(regions) == 20 and [a.get_title()[:8] for a in fig.axes] == ["level 1:", "level 2:", "level 3:"]
    assert [len(a.patches) for a in fig.axes] == [2, 6, 12]
    plt.close(fig)
    # channel 2 peaks at cell (1, 0) in both maps and contributes most to the MAC product
    A = np.zeros((3, 2, 2))
    A[2, 1, 0], A[0, 0, 0], A[1, 0, 1] = 5.0, 1.0, 0.5
    best, sim = plot_mac_top_channels(np.zeros((20, 20, 3)), A, np.zeros((20, 20, 3)), A, top=2)
    assert best.tolist() == [2, 0] and sim == pytest.approx(1.0)
    box = plt.gcf().axes[0].patches[0]
    assert (box.get_x(), box.get_y(), box.get_width()) == (0.0, 10.0, 10.0)
    plt.close("all")
    S, w = plot_crow_weights(np.zeros((20, 20, 3)), A)
    assert S.shape == (2, 2) and w.shape == (3,)
    plt.close("all")


def test_scores_2d_colours_by_rank_and_draws_edges():
    from rrlib.viz import plot_scores_2d

    fig, ax = plt.subplots()
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    W = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    plot_scores_2d(pts, [1e-9, 5.0, 1e-3], W=W, ax=ax, query=pts[1])
    assert len(ax.lines) == 2  # one line per undirected edge
    colours = ax.collections[0].get_array()
    assert colours.tolist() == [0.0, 1.0, 2.0]  # drawn in ascending score order: ranks 0, 1, 2
    plt.close(fig)


def test_local_feature_figures():
    from rrlib.viz import plot_frames, plot_inverted_file, plot_matches, plot_patch_grid

    img = np.zeros((40, 60, 3), np.uint8)
    fig, ax = plt.subplots()
    plot_frames(img, [[10, 10, 2, 0], [30, 20, 1, np.pi / 2]], ax=ax, magnify=3)
    assert len(ax.lines) == 4  # a circle and a radius per frame
    x, y = ax.lines[1].get_data()
    np.testing.assert_allclose([x[1], y[1]], [16, 10])  # radius 3 x 2 along angle 0
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_matches(img, img[:30], [[1, 1], [2, 2], [3, 3]], [[5, 5], [6, 6], [7, 7]], inliers=[True, False, True], ax=ax)
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
    plt.close(fig)

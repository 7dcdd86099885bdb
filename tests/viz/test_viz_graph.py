"""rrlib.viz.graph: diffusion scores on a 2-D graph."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from rrlib.viz import plot_graph_2d, plot_scores_2d

PTS = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])


def test_scores_2d_colours_by_rank_and_draws_edges():
    fig, ax = plt.subplots()
    W = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    plot_scores_2d(PTS, [1e-9, 5.0, 1e-3], W=W, ax=ax, query=PTS[1])
    assert len(ax.lines) == 2  # one line per undirected edge
    colours = ax.collections[0].get_array()
    assert colours.tolist() == [0.0, 1.0, 2.0]  # drawn in ascending score order: ranks 0, 1, 2


def test_scores_and_graph_must_match_the_points():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="scores of shape \\(2,\\)"):
        plot_scores_2d(PTS, [0.1, 0.2], ax=ax)  # was drawn: two of the three points, silently
    with pytest.raises(ValueError, match="W of shape \\(2, 2\\)"):
        plot_scores_2d(PTS, [0.1, 0.2, 0.3], W=np.ones((2, 2)), ax=ax)


def test_tied_scores_share_one_colour():
    _, ax = plt.subplots()
    plot_scores_2d(PTS, [0.0, 0.0, 2.0], ax=ax)  # two items the diffusion has not reached
    assert sorted(ax.collections[0].get_array().tolist()) == [0.0, 0.0, 2.0]


def test_graph_2d_marks_edges_between_labels():
    _, ax = plt.subplots()
    W = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    plot_graph_2d(PTS, W, labels=[0, 0, 1], ax=ax)
    within, across = ax.collections[0], ax.collections[1]
    assert len(within.get_segments()) == 1 and len(across.get_segments()) == 1
    assert np.allclose(across.get_segments()[0], PTS[[1, 2]])  # the edge 1-2 joins labels 0 and 1
    with pytest.raises(ValueError, match="labels of shape"):
        plot_graph_2d(PTS, W, labels=[0, 1], ax=ax)

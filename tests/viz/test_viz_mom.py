"""rrlib.viz.mom: the sets of [S0]'s mining-on-manifolds sequence, and pi with its anchors."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from rrlib.viz.mom import SET_COLORS, plot_pi_2d, plot_set_2d

PTS = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 1.0]])


def test_set_panel_highlights_members_and_the_query():
    _, ax = plt.subplots()
    plot_set_2d(PTS, [1, 3], query=0, color=SET_COLORS["S+"], label="S+(x)", ax=ax, title="S+")
    everything, members, query = ax.collections
    assert len(everything.get_offsets()) == 4 and np.allclose(members.get_offsets(), PTS[[1, 3]])
    assert np.allclose(query.get_offsets(), PTS[[0]])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data points", "S+(x) (2)", "query x"]
    assert ax.get_title() == "S+"


def test_set_panel_without_members_or_query():
    _, ax = plt.subplots()
    plot_set_2d(PTS, ax=ax)
    assert len(ax.collections) == 1


@pytest.mark.parametrize("kwargs, match", [(dict(members=[4]), "members"), (dict(query=-1), "query")])
def test_set_panel_refuses_indices_outside_the_points(kwargs, match):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=match):
        plot_set_2d(PTS, ax=ax, **kwargs)
    with pytest.raises(ValueError, match="expected \\(n, 2\\)"):
        plot_set_2d(np.zeros((3, 3)), ax=ax)


def test_pi_panel_colours_by_pi_and_circles_the_anchors():
    fig, ax = plt.subplots()
    pi = np.array([0.1, 0.4, 0.2, 0.3])
    plot_pi_2d(PTS, pi, [1, 3], ax=ax)
    points, anchors = ax.collections
    assert sorted(points.get_array().tolist()) == sorted(pi.tolist())
    assert np.allclose(anchors.get_offsets(), PTS[[1, 3]])
    assert len(fig.axes) == 2                                          # the colour bar
    with pytest.raises(ValueError, match="one value per point"):
        plot_pi_2d(PTS, pi[:3], ax=ax)

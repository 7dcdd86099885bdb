"""rrlib.viz.active: Algorithm 1, picks and label propagation on 2-D points, accuracy curves,
rank scatter of two acquisition functions, agreement bars (notebook 09)."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.patches import FancyBboxPatch

from rrlib.viz import (plot_accuracy_curves, plot_active_loop, plot_agreement_bars, plot_picks, plot_propagation,
                       plot_rank_scatter)

X = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 1.0], [4.0, 1.0]])
LABELS = np.array([0, 0, 1, 1, 2])
LABELED = np.array([True, False, True, False, False])


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_active_loop_draws_the_six_boxes_of_algorithm_1():
    ax = plot_active_loop()
    assert ax.figure.get_size_inches().tolist() == [10.0, 4.0]
    assert sum(isinstance(p, FancyBboxPatch) for p in ax.patches) == 6
    texts = " ".join(t.get_text() for t in ax.texts)
    for step in ("PRE", "SUP", "LP", "SEMI", "acquire", "oracle", "jLP", "CoreSet"):
        assert step in texts
    _, given = plt.subplots()
    assert plot_active_loop(given) is given


def test_picks_mark_labeled_unlabeled_and_picked():
    _, ax = plt.subplots()
    assert plot_picks(X, LABELS, LABELED, [3, 4], ax=ax, title="picks") is ax
    unlabeled, labeled, picked = ax.collections
    assert np.allclose(labeled.get_offsets(), X[LABELED]) and len(unlabeled.get_offsets()) == 3
    assert np.allclose(picked.get_offsets(), X[[3, 4]])
    assert _legend(ax) == ["labeled (2)", "unlabeled (3)", "picked (2)"]
    assert ax.get_title() == "picks"
    with pytest.raises(ValueError, match="picked holds indices"):
        plot_picks(X, LABELS, LABELED, [5], ax=ax)
    with pytest.raises(ValueError, match="labeled of shape \\(4,\\)"):
        plot_picks(X, LABELS, LABELED[:4], [], ax=ax)


def test_propagation_shows_certainty_as_opacity():
    _, ax = plt.subplots()
    w = np.array([1.0, 0.0, 1.0, 0.5, 1.0])
    assert plot_propagation(X, LABELED, LABELS, w, ax=ax) is ax
    unlabeled, labeled = ax.collections
    assert np.allclose(unlabeled.get_facecolors()[:, 3], 0.1 + 0.9 * w[~LABELED])
    assert np.allclose(labeled.get_offsets(), X[LABELED])
    assert _legend(ax) == ["labeled", "w = 0", "w = 0.5", "w = 1"]
    assert ax.get_legend().get_title().get_text() == "certainty = marker opacity"


@pytest.mark.parametrize("bad", [1.2, -0.1, np.nan])
def test_propagation_refuses_weights_outside_0_1(bad):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="weights must lie in \\[0, 1\\]"):
        plot_propagation(X, LABELED, LABELS, [0.5, 0.5, bad, 0.5, 0.5], ax=ax)
    with pytest.raises(ValueError, match="weights of shape"):
        plot_propagation(X, LABELED, LABELS, [0.5] * 4, ax=ax)


def test_accuracy_curves_draw_mean_and_std_one_errorbar_per_method():
    _, ax = plt.subplots()
    n = [100, 200, 300]
    acc = np.array([[30.0, 40.0, 50.0], [34.0, 44.0, 52.0]])  # 2 repetitions x 3 cycles
    plot_accuracy_curves(n, {"jLP": acc, "jLP + PRE + SEMI": acc + 5}, ax=ax, styles={"jLP": {"color": "k"}})
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2 and _legend(ax) == ["jLP", "jLP + PRE + SEMI"]
    line, semi = bars[0].lines[0], bars[1].lines[0]
    assert np.allclose(line.get_ydata(), [32, 42, 51]) and np.allclose(semi.get_ydata(), [37, 47, 56])
    assert np.all(line.get_xdata() < semi.get_xdata())                 # shifted apart, not on top
    assert np.allclose(line.get_xdata() + semi.get_xdata(), 2 * np.array(n))  # around the true x
    assert line.get_color() == "k" and line.get_linestyle() == "-" and semi.get_linestyle() == "--"
    assert semi.get_marker() == "s"
    segs = bars[0].lines[2][0].get_segments()                          # the +- std bars
    assert np.allclose([np.ptp(s[:, 1]) for s in segs], 2 * acc.std(0))
    assert ax.get_xlabel() == "labels" and ax.get_ylabel() == "accuracy (%)"
    with pytest.raises(ValueError, match="expected \\(repetitions, 3\\)"):
        plot_accuracy_curves(n, {"bad": np.zeros((2, 4))}, ax=ax)


def test_rank_scatter_correlation_and_subset():
    s = np.random.default_rng(0).random(200)
    _, ax = plt.subplots()
    ax_out, rho = plot_rank_scatter(s, 3 * s + 1, "Uncertainty", "jLP", ax=ax)
    assert ax_out is ax and rho == pytest.approx(1.0)
    assert len(ax.collections[0].get_offsets()) == 10                  # 5 % of 200
    assert np.allclose(*ax.collections[0].get_offsets().T)             # same ranks: on the diagonal
    assert "Spearman" in ax.get_title() and "1.00" in ax.get_title()
    _, rho = plot_rank_scatter(s, -s, "CoreSet", "jLP", ax=ax, fraction=0.5, seed=1)
    assert rho == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="the same \\(m,\\)"):
        plot_rank_scatter(s, s[:5], "a", "b", ax=ax)
    with pytest.raises(ValueError, match="fraction"):
        plot_rank_scatter(s, s, "a", "b", ax=ax, fraction=0)


def test_agreement_bars_group_three_bars_per_strategy():
    _, ax = plt.subplots()
    table = {"Uncertainty vs jLP": dict(agree_pct=30.0, acc_agree=90.0, acc_disagree=55.0),
             "CoreSet vs jLP": dict(agree_pct=12.0, acc_agree=88.0, acc_disagree=60.0)}
    assert plot_agreement_bars(table, ax=ax) is ax
    assert len(ax.patches) == 6 and len(ax.get_legend().get_texts()) == 3
    assert [p.get_height() for p in ax.containers[0]] == [30.0, 12.0]
    with pytest.raises(ValueError, match="lacks \\['acc_disagree'\\]"):
        plot_agreement_bars({"a": dict(agree_pct=1.0, acc_agree=2.0)}, ax=ax)

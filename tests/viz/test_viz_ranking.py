"""rrlib.viz.ranking: PR curves, ranked-list strips, the AP build-up."""
import matplotlib
import matplotlib.pyplot as plt
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


def test_ranking_strip_colours_follow_labels():
    fig, ax = plt.subplots()
    plot_ranking(["easy", "junk", "negative", "hard"], ax=ax)
    colours = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches[:4]]
    assert colours == [LABEL_COLORS[k] for k in ("easy", "junk", "negative", "hard")]


def test_build_up_has_one_panel_per_rank():
    fig = plot_ap_build_up(SLIDE, ncols=6)
    titled = [a for a in fig.axes if a.get_title()]
    assert len(titled) == 12 and titled[2].get_title().startswith("rank 3: F")


def test_bad_arguments_are_named():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="labels holds \\['Easy'\\]"):
        plot_ranking(["easy", "Easy"], ax=ax)  # was a bare KeyError: 'Easy'
    with pytest.raises(ValueError, match="scores has 1 entries for 2 labels"):
        plot_ranking([1, 0], scores=[0.9], ax=ax)  # was an IndexError mid-drawing
    with pytest.raises(ValueError, match="upto=13"):
        plot_pr_curve(SLIDE, upto=13, ax=ax)  # was an IndexError from the annotation loop

"""The AP explorer's state logic, driven without a browser."""
import matplotlib

matplotlib.use("Agg")

import pytest

from rrlib.evaluate import average_precision
from rrlib.widgets import APExplorer

SLIDE = [1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0]


def test_explorer_starts_with_the_slide_numbers():
    ex = APExplorer(SLIDE)
    assert ex.ap()["standard"] == pytest.approx(5641 / 7560)
    assert "0.7462" in ex.scores.value


def test_toggle_updates_relevance_and_ap():
    ex = APExplorer(SLIDE)
    ex.toggle(2)  # rank 3 becomes relevant: T T T T F F T F T T F F
    assert ex.relevance[2] == 1
    assert ex.ap()["standard"] == pytest.approx(average_precision([1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0]))
    ex.buttons[0].value = False  # a click on rank 1
    assert ex.relevance[0] == 0


def test_move_swaps_neighbours_and_keeps_buttons_in_sync():
    ex = APExplorer([1, 0, 1])
    ex.move(2, -1)  # the relevant item at rank 3 moves to rank 2
    assert ex.relevance == [1, 1, 0]
    assert [b.value for b in ex.buttons] == [True, True, False]
    assert ex.rank.value == 2
    assert ex.ap()["standard"] == 1.0
    ex.move(0, -1)  # off the top: nothing happens
    assert ex.relevance == [1, 1, 0]


def test_missed_items_count_in_n_and_empty_lists_are_undefined():
    ex = APExplorer([1, 0])
    ex.missed.value = 1
    assert ex.ap()["standard"] == pytest.approx(0.5)
    ex.toggle(0)
    ex.missed.value = 0
    assert ex.ap() is None and "undefined" in ex.scores.value
    with pytest.raises(ValueError):
        APExplorer([])

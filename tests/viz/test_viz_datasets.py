"""rrlib.viz.datasets: a query with some of its easy, hard and junk images, on a small folder in
the revisitop layout written here (not the generated dataset: building one takes seconds)."""
import os
import pickle

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from rrlib.datasets.synth import NAME
from rrlib.viz import LABEL_COLORS, plot_query_examples, query_examples


class _RunsCode:
    """Unpickles by calling ``os.getcwd()``: any callable would do, a crafted file's runs a shell."""

    def __reduce__(self):
        return os.getcwd, ()


@pytest.fixture
def folder(tmp_path):
    """10 database images, 2 queries: query 0 has easy 1, 3, 5, 7, hard 2, junk none."""
    (tmp_path / "jpg").mkdir()
    names = [f"db{i}" for i in range(10)] + ["q0", "q1"]
    for k, name in enumerate(names):
        Image.fromarray(np.full((12, 16, 3), 20 * k, np.uint8)).save(tmp_path / "jpg" / f"{name}.jpg")
    gnd = [{"bbx": [1.0, 2.0, 9.0, 10.0], "easy": [7, 3, 5, 1], "hard": [2], "junk": []},
           {"bbx": [0.0, 0.0, 16.0, 12.0], "easy": [0], "hard": [4, 6], "junk": [8]}]
    with open(tmp_path / f"gnd_{NAME}.pkl", "wb") as f:
        pickle.dump({"gnd": gnd, "imlist": names[:10], "qimlist": names[10:]}, f)
    return tmp_path


def test_examples_are_spread_over_each_sorted_list(folder):
    ex = query_examples(folder, 0, n=3)
    assert ex["query"] == (folder / "jpg" / "q0.jpg", [1.0, 2.0, 9.0, 10.0])
    assert [p.name for p in ex["easy"]] == ["db1.jpg", "db5.jpg", "db7.jpg"]  # positions 0, 2, 3 of 1 3 5 7
    assert [p.name for p in ex["hard"]] == ["db2.jpg"] and ex["junk"] == []
    with pytest.raises(IndexError, match="query 2 out of range"):
        query_examples(folder, 2)
    with pytest.raises(TypeError):
        query_examples(folder, 0.5)  # an index, not a number to round
    with pytest.raises(ValueError, match="n=-1"):
        query_examples(folder, 0, n=-1)  # was: no examples, silently


def test_figure_has_a_row_per_query_and_frames_the_query_box(folder):
    fig = plot_query_examples(folder, queries=(0, 1), n=1)
    assert len(fig.axes) == 2 * 4
    first = fig.axes[0]
    assert first.get_title() == "query 0" and first.images[0].get_array().shape == (12, 16, 3)
    box = first.patches[0]
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (1.0, 2.0, 8.0, 8.0)
    titles = [(a.get_title(), matplotlib.colors.to_hex(a.title.get_color())) for a in fig.axes[4:] if a.images]
    assert titles == [("query 1", LABEL_COLORS["query"]), ("easy", LABEL_COLORS["easy"]),
                      ("hard", LABEL_COLORS["hard"]), ("junk", LABEL_COLORS["junk"])]
    plt.close(fig)


def test_a_broken_ground_truth_file_is_named(folder):
    path = folder / f"gnd_{NAME}.pkl"
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.raises(ValueError, match=f"gnd_{NAME}.pkl is not a readable pickle"):
        query_examples(folder, 0)  # was a bare UnpicklingError naming no file
    with open(path, "wb") as f:
        pickle.dump(_RunsCode(), f)
    with pytest.raises(ValueError, match="refusing to load it"):
        query_examples(folder, 0)  # was: os.getcwd() called by pickle.load
    with open(path, "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match="expected a dict with 'gnd'"):
        query_examples(folder, 0)
    path.unlink()
    with pytest.raises(FileNotFoundError, match=f"gnd_{NAME}.pkl"):
        query_examples(folder, 0)

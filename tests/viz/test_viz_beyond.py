"""rrlib.viz.beyond: the asymmetric setup, teacher and student embeddings in one t-SNE, Metrix's
positivity curves and GLAM's attention maps (notebook 10)."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import FancyBboxPatch

from rrlib.viz import joint_tsne, plot_asymmetric_setup, plot_attention_maps, plot_joint_embedding, plot_positivity


def test_asymmetric_setup_draws_both_paths():
    ax = plot_asymmetric_setup()
    assert sum(isinstance(p, FancyBboxPatch) for p in ax.patches) == 7
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "teacher g" in texts and "student f" in texts and "sim(f" in texts
    plt.close("all")


def test_joint_tsne_keeps_the_two_sets_apart_and_checks_dimensions():
    rng = np.random.default_rng(0)
    T = rng.standard_normal((30, 8))
    a, b = joint_tsne(T, T + 0.01 * rng.standard_normal(T.shape), seed=0)
    assert a.shape == b.shape == (30, 2)
    # a student equal to the teacher lands on its own teacher point (closer than to the others)
    d = np.linalg.norm(a[:, None] - b[None], axis=2)
    assert (d.argmin(1) == np.arange(30)).mean() > 0.8
    with pytest.raises(ValueError, match="one dimension"):
        joint_tsne(T, T[:, :4])


def test_joint_embedding_marks_teacher_hollow_and_student_filled():
    fig, ax = plt.subplots()
    pts = np.arange(12.0).reshape(6, 2)
    plot_joint_embedding(pts, pts + 1, [0, 0, 1, 1, 2, 2], ax=ax, title="t", legend=True)
    assert len(ax.collections) == 6 and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["teacher", "student"]
    plt.close(fig)


def test_positivity_plots_one_curve_per_loss():
    fig, ax = plt.subplots()
    lam = np.linspace(0, 1, 5)
    plot_positivity(lam, {"a": lam, "b": 1 - lam}, ax=ax)
    assert len(ax.get_lines()) == 2 + 1     # two curves and the 0.5 guide
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), lam)
    plt.close(fig)


def test_attention_maps_lay_out_one_row_per_image_and_check_shapes():
    img = np.zeros((20, 30, 3))
    fig = plot_attention_maps([img, img], [{"m": np.ones((4, 6))}, {"m": np.zeros((4, 6))}], names=["m"],
                              titles={"m": "map"})
    assert len(fig.axes) == 4 and fig.axes[1].get_title() == "map"
    with pytest.raises(ValueError, match="2-D"):
        plot_attention_maps([img], [{"m": np.ones(4)}], names=["m"])
    with pytest.raises(ValueError, match="sets of maps"):
        plot_attention_maps([img], [], names=["m"])
    plt.close("all")

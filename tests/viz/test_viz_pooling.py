"""rrlib.viz.pooling: feature maps, GeM / MAC / R-MAC / CroW pictures."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from rrlib.viz import plot_crow_weights, plot_feature_maps, plot_gem_p, plot_mac_top_channels, plot_rmac_regions


def test_rmac_region_panels_and_mac_top_channels():
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


def test_gem_bars_lie_between_spoc_and_mac():
    A = np.random.default_rng(0).random((4, 3, 3))
    fig, ax = plt.subplots()
    plot_gem_p(A, 3.0, ax=ax, channels=3)
    spoc, gem, mac = (np.array([b.get_height() for b in c]) for c in ax.containers)
    np.testing.assert_allclose(spoc, A[:3].mean(axis=(1, 2)))
    np.testing.assert_allclose(gem, (A[:3] ** 3).mean(axis=(1, 2)) ** (1 / 3), rtol=1e-6)
    np.testing.assert_allclose(mac, A[:3].max(axis=(1, 2)))
    axes = plot_feature_maps(np.zeros((6, 6, 3)), A[None], [0, 3])
    assert [a.get_title() for a in axes] == ["image", "channel 0", "channel 3"]


def test_maps_of_the_wrong_shape_are_refused():
    A = np.zeros((3, 2, 2))
    with pytest.raises(ValueError, match="expected \\(C, H, W\\) or \\(1, C, H, W\\)"):
        plot_feature_maps(np.zeros((6, 6, 3)), np.stack([A, A + 1]), [0])  # a batch of 2: was its first map
    with pytest.raises(ValueError, match="A1 has 3 channels and A2 2"):
        plot_mac_top_channels(np.zeros((4, 4, 3)), A + 1, np.zeros((4, 4, 3)), A[:2] + 1)

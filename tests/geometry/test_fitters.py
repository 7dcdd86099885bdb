"""rrlib.geometry.fitters: least-squares fitters by hand, against OpenCV, on degenerate points; the models table."""
from __future__ import annotations

import numpy as np
import pytest

from rrlib import geometry as g

from geometry_cases import AFFINE, HOMOGRAPHY, SIMILARITY, normalised


# -------------------------------------------------------------------------------------- fitters
@pytest.mark.parametrize("name, T", [
    ("translation", np.array([[1.0, 0, 7.5], [0, 1.0, -3.0], [0, 0, 1.0]])),
    ("similarity", SIMILARITY), ("affine", AFFINE), ("homography", HOMOGRAPHY)])
@pytest.mark.parametrize("n", ["minimal", 50])
def test_fitters_recover_exact_transforms(name, T, n):
    model = g.MODELS[name]
    n = model.min_samples if n == "minimal" else n
    p1 = np.random.default_rng(n).uniform(0, 500, (n, 2))
    np.testing.assert_allclose(model.fit(p1, g.apply(T, p1)), T, rtol=1e-7, atol=1e-7)


def test_fit_translation_is_the_mean_displacement():
    T = g.fit_translation([[0.0, 0.0], [1.0, 1.0]], [[1.0, 2.0], [3.0, 2.0]])
    np.testing.assert_allclose(T, [[1, 0, 1.5], [0, 1, 1.5], [0, 0, 1]])


def test_fit_similarity_two_points_by_hand():
    # (0,0)->(1,1), (1,0)->(1,3): centred z1 = -/+1/2, z2 = -/+i, a = (i/2 + i/2) / (1/2) = 2i
    # (scale 2, rotation 90 degrees), b = (1+2i) - 2i * 1/2 = 1 + i.
    T = g.fit_similarity([[0.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(T, [[0, -2, 1], [2, 0, 1], [0, 0, 1]], atol=1e-12)


def test_fit_similarity_least_squares_by_hand():
    # z1 = 0, 1, i -> z2 = 0, 2, i (not a similarity). Centred: mu1 = (1+i)/3, mu2 = (2+i)/3,
    # sum conj(z1c) z2c = 2 + i/3, sum |z1c|^2 = 4/3, so a = 3/2 + i/4, b = mu2 - a mu1 = 1/4 - i/4.
    p1, p2 = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]
    T = g.fit_similarity(p1, p2)
    np.testing.assert_allclose(T, [[1.5, -0.25, 0.25], [0.25, 1.5, -0.25], [0, 0, 1]], atol=1e-12)
    # the same as the linear least squares in (a, b, tx, ty)
    rows = [[x, -y, 1, 0] for x, y in p1] + [[y, x, 0, 1] for x, y in p1]
    rhs = [u for u, _ in p2] + [v for _, v in p2]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows, float), np.array(rhs, float), rcond=None)[0]
    np.testing.assert_allclose(T[:2], [[a, -b, tx], [b, a, ty]], atol=1e-12)


def test_fit_affine_least_squares_by_hand():
    # unit square, the corner (1,1) moved to (1,2): x' = x exactly; y' = 0,0,1,2 regressed on
    # centred x, y (+-1/2, orthogonal): slopes 1/2 and 3/2, intercept 3/4 - 1/4 - 3/4 = -1/4.
    p1 = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    p2 = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 2.0]]
    np.testing.assert_allclose(g.fit_affine(p1, p2), [[1, 0, 0], [0.5, 1.5, -0.25], [0, 0, 1]], atol=1e-12)


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_fit_homography_agrees_with_opencv(noise):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    p1 = rng.uniform(0, 640, (100, 2))
    p2 = g.apply(HOMOGRAPHY, p1) + rng.normal(0, noise, p1.shape)
    H = g.fit_homography(p1, p2)
    H_cv, _ = cv2.findHomography(p1, p2, 0)
    if noise == 0:
        np.testing.assert_allclose(H, normalised(H_cv), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(H, HOMOGRAPHY, rtol=1e-7, atol=1e-9)
    else:  # DLT (algebraic error) vs OpenCV's DLT + Levenberg-Marquardt (geometric error)
        gap = np.linalg.norm(g.apply(H, p1) - g.apply(H_cv, p1), axis=1)
        assert gap.max() < 0.1 * noise
        truth = np.linalg.norm(g.apply(H, p1) - g.apply(HOMOGRAPHY, p1), axis=1)
        assert truth.mean() < 0.5 * noise


def test_fitters_return_none_on_degenerate_points():
    x = np.linspace(0, 100, 20)
    line = np.c_[x, 2 * x + 1]
    assert g.fit_affine(line, line * 2) is None
    assert g.fit_homography(line, line * 2) is None
    assert g.fit_homography(line[:4], np.random.default_rng(0).uniform(0, 9, (4, 2))) is None
    same = np.tile([[5.0, 5.0]], (4, 1))
    assert g.fit_similarity(same, same + 1) is None
    assert g.fit_affine(same, same + 1) is None
    assert g.fit_homography(same, same + 1) is None
    # a minimal sample with three collinear points has no unique homography
    p1 = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    assert g.fit_homography(p1, g.apply(HOMOGRAPHY, p1)) is None
    # collinear points are enough for a similarity
    np.testing.assert_allclose(g.fit_similarity(line, line * 2), [[2, 0, 0], [0, 2, 0], [0, 0, 1]], atol=1e-9)


@pytest.mark.parametrize("name", ["translation", "similarity", "affine", "homography"])
def test_fitters_reject_too_few_points_and_bad_shapes(name):
    fit, k = g.MODELS[name].fit, g.MODELS[name].min_samples
    pts = np.arange(2.0 * (k + 2)).reshape(-1, 2) ** 1.5
    with pytest.raises(ValueError, match="at least"):
        fit(pts[: k - 1], pts[: k - 1])
    with pytest.raises(ValueError, match="same number"):
        fit(pts, pts[:-1])
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        fit(np.c_[pts, pts[:, :1]], pts)


def test_models_table_and_unknown_name():
    assert {k: m.min_samples for k, m in g.MODELS.items()} == {
        "translation": 1, "similarity": 2, "affine": 3, "homography": 4}
    assert g.get_model("affine") is g.MODELS["affine"]
    with pytest.raises(ValueError, match="unknown model 'projective'"):
        g.get_model("projective")
    with pytest.raises(ValueError, match="unknown model"):
        g.ransac(np.zeros((5, 2)), np.zeros((5, 2)), model="rigid")
    custom = g.Model("mine", g.fit_affine, 3)
    assert custom.solve is g.fit_affine

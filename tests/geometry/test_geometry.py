"""rrlib.geometry: transforms, least-squares fitters, frames and regions, LO-RANSAC, fast spatial matching."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rrlib import geometry as g

AFFINE = np.array([[1.1, 0.2, 30.0], [-0.15, 0.95, -10.0], [0.0, 0.0, 1.0]])
HOMOGRAPHY = np.array([[1.0, 0.1, 20.0], [0.05, 0.9, -10.0], [2e-4, -1e-4, 1.0]])
SIMILARITY = np.array([[1.3 * math.cos(0.4), -1.3 * math.sin(0.4), 25.0],
                       [1.3 * math.sin(0.4), 1.3 * math.cos(0.4), -40.0], [0.0, 0.0, 1.0]])


def synthetic(T, n=300, noise=1.0, outliers=0.5, seed=0, size=640):
    """``n`` correspondences ``p1 -> T p1 + noise``, a fraction of them replaced by random points."""
    rng = np.random.default_rng(seed)
    p1 = rng.uniform(0, size, (n, 2))
    p2 = g.apply(T, p1) + rng.normal(0, noise, (n, 2))
    out = np.zeros(n, bool)
    out[rng.permutation(n)[: int(outliers * n)]] = True
    p2[out] = rng.uniform(0, size, (out.sum(), 2))
    return p1, p2, ~out


def synthetic_frames(T, n=300, noise=1.0, outliers=0.5, seed=0):
    """Frames ``(x, y, scale, angle)`` of correspondences under the affine ``T``: image-2 frames
    get the scale ``sqrt(det A)`` and the rotation of ``A`` (exact for a similarity), jittered."""
    rng = np.random.default_rng(seed + 1000)
    p1, p2, inl = synthetic(T, n, noise, outliers, seed)
    A = T[:2, :2]
    scale, rot = math.sqrt(abs(np.linalg.det(A))), math.atan2(A[1, 0] - A[0, 1], A[0, 0] + A[1, 1])
    s1, a1 = rng.uniform(2, 12, n), rng.uniform(-np.pi, np.pi, n)
    s2 = s1 * scale * np.exp(rng.normal(0, 0.05, n))
    a2 = a1 + rot + rng.normal(0, 0.05, n)
    s2[~inl], a2[~inl] = rng.uniform(2, 30, (~inl).sum()), rng.uniform(-np.pi, np.pi, (~inl).sum())
    return np.c_[p1, s1, a1], np.c_[p2, s2, a2], inl


def precision_recall(found, truth):
    tp = (found & truth).sum()
    return tp / max(found.sum(), 1), tp / truth.sum()


def normalised(H):
    return H / H[2, 2]


# ---------------------------------------------------------------------------------------- apply
def test_apply_hand_matrices():
    T = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, -1.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(g.apply(T, [[1.0, 1.0], [0.0, 0.0], [-1.0, 2.0]]), [[3, 2], [1, -1], [-1, 5]])
    H = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]])  # w = 0.5 x + 1
    np.testing.assert_allclose(g.apply(H, [[2.0, 4.0], [0.0, 3.0]]), [[1, 2], [0, 3]])


def test_apply_maps_points_at_infinity_without_warning():
    H = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    with np.errstate(all="raise"):
        out = g.apply(H, [[-1.0, 0.0]])
    assert not np.isfinite(out).all()
    assert np.isinf(g.reprojection_errors(H, [[-1.0, 0.0]], [[0.0, 0.0]])).all()


@pytest.mark.parametrize("T, pts", [(np.eye(2), np.zeros((3, 2))), (np.eye(3), np.zeros((3, 3))),
                                    (np.eye(3), np.zeros(2)), (np.eye(3), [[np.nan, 0.0]])])
def test_apply_rejects_bad_input(T, pts):
    with pytest.raises(ValueError):
        g.apply(T, pts)


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


# ------------------------------------------------------------------------------------ frames
def test_frame_transform_hand_example():
    # scale 4/2 = 2, rotation pi/2: (1, 0) -> (0, 2) and (0, 1) -> (-2, 0) around the centres
    T = g.frame_transform([10, 20, 2, 0], [30, 40, 4, np.pi / 2])
    np.testing.assert_allclose(g.apply(T, [[11.0, 20.0], [10.0, 20.0], [10.0, 21.0]]),
                               [[30, 42], [30, 40], [28, 40]], atol=1e-12)
    np.testing.assert_allclose(T, [[0, -2, 70], [2, 0, 20], [0, 0, 1]], atol=1e-12)
    assert g.local_scale(T) == pytest.approx(2.0)


def test_frame_transforms_vectorised_and_consistent():
    rng = np.random.default_rng(0)
    F1 = np.c_[rng.uniform(0, 100, (20, 2)), rng.uniform(1, 5, 20), rng.uniform(-3, 3, 20)]
    F2 = np.c_[rng.uniform(0, 100, (20, 2)), rng.uniform(1, 5, 20), rng.uniform(-3, 3, 20)]
    Ts = g.frame_transforms(F1, F2)
    assert Ts.shape == (20, 3, 3)
    for f1, f2, T in zip(F1, F2, Ts):
        np.testing.assert_allclose(T, g.frame_transform(f1, f2))
        # the centre goes to the centre; the point at distance s1 in direction a1 to the one at s2, a2
        tip1 = f1[:2] + f1[2] * np.array([math.cos(f1[3]), math.sin(f1[3])])
        tip2 = f2[:2] + f2[2] * np.array([math.cos(f2[3]), math.sin(f2[3])])
        np.testing.assert_allclose(g.apply(T, np.stack([f1[:2], tip1])), np.stack([f2[:2], tip2]), atol=1e-9)
    np.testing.assert_allclose(g.local_scale(Ts), F2[:, 2] / F1[:, 2])


def test_frame_transforms_reject_bad_frames():
    with pytest.raises(ValueError, match="non-positive scales"):
        g.frame_transforms([[0, 0, 0, 0]], [[0, 0, 1, 0]])
    with pytest.raises(ValueError, match="same shape"):
        g.frame_transforms(np.ones((3, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"\(m, 4\)"):
        g.frame_transforms(np.ones((3, 3)), np.ones((3, 3)))


# ------------------------------------------------------------------------------------ regions
def raster_ellipse(cx, cy, a, b):
    """``(x, y)`` of the pixels inside the axis-aligned ellipse of semi-axes ``a``, ``b``."""
    y, x = np.mgrid[0:400, 0:400].astype(float)
    inside = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1
    return np.c_[x[inside], y[inside]]


def test_ellipse_from_points_of_a_disc_and_an_ellipse():
    mu, S = g.ellipse_from_points(raster_ellipse(200, 150, 60, 60))
    np.testing.assert_allclose(mu, [200, 150], atol=1e-9)  # symmetric raster
    np.testing.assert_allclose(S, np.diag([60 ** 2 / 4] * 2), rtol=0.02, atol=1e-6)  # disc: r^2 / 4
    mu, S = g.ellipse_from_points(raster_ellipse(120, 200, 80, 30))
    np.testing.assert_allclose(mu, [120, 200], atol=1e-9)
    np.testing.assert_allclose(np.diag(S), [80 ** 2 / 4, 30 ** 2 / 4], rtol=0.02)
    assert abs(S[0, 1]) < 1e-9
    # the hand case: four corners of a 2 x 4 rectangle, population covariance diag(1, 4)
    mu, S = g.ellipse_from_points([[0, 0], [2, 0], [0, 4], [2, 4]])
    np.testing.assert_allclose(mu, [1, 2])
    np.testing.assert_allclose(S, [[1, 0], [0, 4]])
    with pytest.raises(ValueError):
        g.ellipse_from_points(np.zeros((0, 2)))


def test_upright_frame_is_the_cholesky_factor():
    S = np.array([[4.0, 2.0], [2.0, 5.0]])
    L = g.upright_frame(S)
    np.testing.assert_allclose(L, [[2, 0], [1, 2]])  # by hand: 2 = sqrt 4, 1 = 2/2, 2 = sqrt(5 - 1)
    Ls = g.upright_frame(np.stack([S, np.diag([9.0, 1.0])]))
    assert Ls.shape == (2, 2, 2) and (Ls[:, 0, 1] == 0).all()
    np.testing.assert_allclose(Ls @ np.swapaxes(Ls, 1, 2), np.stack([S, np.diag([9.0, 1.0])]))
    with pytest.raises(ValueError, match="positive definite"):
        g.upright_frame([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="symmetric"):
        g.upright_frame([[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError):
        g.upright_frame(np.eye(3))


def test_region_transform_recovers_an_upright_affine_map():
    # an upright (lower-triangular, positive diagonal) A keeps L2 = A L1, so one region pair
    # gives back the transform exactly
    coords = raster_ellipse(150, 120, 40, 15)
    A = np.array([[1.5, 0.0], [0.4, 0.8]])
    T_true = np.eye(3)
    T_true[:2, :2], T_true[:2, 2] = A, [-30.0, 12.0]
    mu1, S1 = g.ellipse_from_points(coords)
    mu2, S2 = g.ellipse_from_points(g.apply(T_true, coords))
    T = g.region_transforms(mu1, g.upright_frame(S1), mu2, g.upright_frame(S2))
    np.testing.assert_allclose(T, T_true, atol=1e-9)


def test_region_transforms_map_ellipse_onto_ellipse():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.uniform(0, 100, (5, 2)), rng.uniform(0, 100, (5, 2))
    M1, M2 = rng.normal(size=(5, 2, 2)), rng.normal(size=(5, 2, 2))
    S1, S2 = M1 @ np.swapaxes(M1, 1, 2) + np.eye(2), M2 @ np.swapaxes(M2, 1, 2) + np.eye(2)
    L1, L2 = g.upright_frame(S1), g.upright_frame(S2)
    Ts = g.region_transforms(mu1, L1, mu2, L2)
    assert Ts.shape == (5, 3, 3)
    u = np.c_[np.cos(np.linspace(0, 6, 7)), np.sin(np.linspace(0, 6, 7))]
    for i, T in enumerate(Ts):
        np.testing.assert_allclose(g.apply(T, mu1[i:i + 1]), mu2[i:i + 1], atol=1e-9)
        np.testing.assert_allclose(g.apply(T, mu1[i] + u @ L1[i].T), mu2[i] + u @ L2[i].T, atol=1e-9)
        np.testing.assert_allclose(T[:2, :2] @ S1[i] @ T[:2, :2].T, S2[i], atol=1e-9)
    np.testing.assert_allclose(g.region_transforms(mu1[0], L1[0], mu2[0], L2[0]), Ts[0])
    with pytest.raises(ValueError, match="singular"):
        g.region_transforms(mu1, np.zeros((5, 2, 2)), mu2, L2)
    with pytest.raises(ValueError, match="must have shape"):
        g.region_transforms(mu1, L1[:4], mu2, L2)


# ------------------------------------------------------------------------------------ scoring
def test_reprojection_errors_and_inliers():
    T = np.array([[1.0, 0, 1.0], [0, 1.0, 0], [0, 0, 1.0]])
    p1 = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    p2 = np.array([[1.0, 0.0], [2.0, 4.0], [6.0, 6.0]])  # T p1 = (1,0), (2,1), (3,2)
    np.testing.assert_allclose(g.reprojection_errors(T, p1, p2), [0, 3, 5])
    np.testing.assert_array_equal(g.inlier_mask(T, p1, p2, 3.0), [True, False, False])  # strict <
    Ts = np.stack([T, np.eye(3)])
    np.testing.assert_allclose(g.reprojection_errors(Ts, p1, p2), [[0, 3, 5], [1, math.hypot(1, 3), math.hypot(4, 4)]])
    with pytest.raises(ValueError, match="same number"):
        g.reprojection_errors(T, p1, p2[:2])


def test_local_scale_of_affine_and_homography():
    assert g.local_scale(AFFINE) == pytest.approx(math.sqrt(1.1 * 0.95 + 0.2 * 0.15))
    H = HOMOGRAPHY * 3.0  # the scale of H does not matter
    eps = 1e-6  # numerical Jacobian at the origin
    J = np.stack([(g.apply(H, [[eps, 0.0]]) - g.apply(H, [[-eps, 0.0]]))[0],
                  (g.apply(H, [[0.0, eps]]) - g.apply(H, [[0.0, -eps]]))[0]], axis=1) / (2 * eps)
    assert g.local_scale(H) == pytest.approx(math.sqrt(abs(np.linalg.det(J))), rel=1e-6)


def test_required_iterations():
    # half inliers, affine samples of 3: log(0.01) / log(1 - 1/8) = 4.6052 / 0.13353 = 34.49
    assert g.required_iterations(0.5, 3, 0.99) == pytest.approx(math.log(0.01) / math.log(0.875))
    assert g.required_iterations(0.5, 3, 0.99) == pytest.approx(34.4875, abs=1e-4)
    assert g.required_iterations(0.0, 3, 0.99) == math.inf
    assert g.required_iterations(1.0, 3, 0.99) == 0


# ------------------------------------------------------------------------------------- RANSAC
@pytest.mark.parametrize("model, T", [("affine", AFFINE), ("homography", HOMOGRAPHY)])
def test_ransac_recovers_transform_with_half_outliers(model, T):
    p1, p2, truth = synthetic(T, seed=1)
    r = g.ransac(p1, p2, model, threshold=4.0, seed=0)
    precision, recall = precision_recall(r.inliers, truth)
    assert precision >= 0.95 and recall >= 0.95
    assert r.n_inliers == r.inliers.sum() and r.inliers.shape == (300,) and r.model == model
    corners = np.array([[0.0, 0.0], [640, 0], [0, 640], [640, 640]])
    assert np.abs(g.apply(r.T, corners) - g.apply(T, corners)).max() < 2.0
    assert r.iterations < 200  # adaptive stopping: about 35 samples for w = 1/2, s = 3


def test_ransac_is_deterministic_for_a_seed():
    p1, p2, _ = synthetic(HOMOGRAPHY, seed=2, noise=1.5)
    a = g.ransac(p1, p2, "homography", threshold=3.0, seed=7)
    b = g.ransac(p1, p2, "homography", threshold=3.0, seed=7)
    np.testing.assert_array_equal(a.T, b.T)
    np.testing.assert_array_equal(a.inliers, b.inliers)
    assert a.iterations == b.iterations
    c = g.ransac(p1, p2, "homography", threshold=3.0, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a.T, c.T)


@pytest.mark.parametrize("model, T", [("affine", AFFINE), ("homography", HOMOGRAPHY)])
def test_local_optimisation_never_loses_inliers(model, T):
    gains = []
    for seed in range(5):
        p1, p2, _ = synthetic(T, seed=seed, noise=1.0)
        # the same samples either way (fixed number of iterations): LO can only add inliers
        kw = dict(threshold=3.0, seed=seed, confidence=1 - 1e-15, max_iters=100)
        lo, plain = g.ransac(p1, p2, model, **kw), g.ransac(p1, p2, model, lo=False, **kw)
        assert lo.iterations == plain.iterations == 100
        assert lo.n_inliers >= plain.n_inliers
        # adaptive stopping: LO also stops earlier or at the same time
        lo, plain = g.ransac(p1, p2, model, threshold=3.0, seed=seed), g.ransac(p1, p2, model, threshold=3.0,
                                                                              seed=seed, lo=False)
        assert lo.n_inliers >= plain.n_inliers
        gains.append(lo.n_inliers - plain.n_inliers)
    assert max(gains) > 0  # minimal samples are noisy; their least-squares refits are not


def test_ransac_on_collinear_points_finds_no_model():
    x = np.linspace(0, 100, 30)
    line = np.c_[x, 0.5 * x + 3]
    for model in ("affine", "homography"):
        r = g.ransac(line, line + 1, model, max_iters=50)
        assert r.T is None and r.n_inliers == 0 and not r.inliers.any() and r.iterations == 50


def test_ransac_rejects_bad_input():
    p = np.random.default_rng(0).uniform(0, 10, (10, 2))
    with pytest.raises(ValueError, match="at least 3"):
        g.ransac(p[:2], p[:2], "affine")
    with pytest.raises(ValueError, match="at least 4"):
        g.ransac(p[:3], p[:3], "homography")
    with pytest.raises(ValueError, match="same number"):
        g.ransac(p, p[:9])
    with pytest.raises(ValueError, match="threshold"):
        g.ransac(p, p, threshold=0)
    with pytest.raises(ValueError, match="confidence"):
        g.ransac(p, p, confidence=1.0)


def test_ransac_scale_bound():
    T = np.diag([20.0, 20.0, 1.0])
    p1, p2, _ = synthetic(T, outliers=0.0, noise=0.0)
    assert g.ransac(p1, p2, "similarity", max_scale=10.0, max_iters=50).T is None
    np.testing.assert_allclose(g.ransac(p1, p2, "similarity", max_scale=30.0).T, T, atol=1e-9)


# -------------------------------------------------------------------------- fast spatial matching
def test_fast_spatial_matching_hand_example():
    # three frames translated by (5, 5), one wrong correspondence
    F1 = np.array([[0, 0, 1, 0], [10, 0, 1, 0], [0, 10, 1, 0], [20, 20, 1, 0]], float)
    F2 = np.array([[5, 5, 1, 0], [15, 5, 1, 0], [5, 15, 1, 0], [100, -50, 1, 0]], float)
    r = g.fast_spatial_matching(F1, F2, threshold=1.0, model="similarity")
    np.testing.assert_array_equal(r.inliers, [True, True, True, False])
    np.testing.assert_allclose(r.T, [[1, 0, 5], [0, 1, 5], [0, 0, 1]], atol=1e-12)
    assert r.n_inliers == 3 and r.iterations == 4


@pytest.mark.parametrize("model, T", [("similarity", SIMILARITY), ("affine", AFFINE)])
def test_fast_spatial_matching_recovers_transform(model, T):
    F1, F2, truth = synthetic_frames(T, seed=3)
    r = g.fast_spatial_matching(F1, F2, threshold=4.0, model=model)
    precision, recall = precision_recall(r.inliers, truth)
    assert precision >= 0.95 and recall >= 0.95
    np.testing.assert_allclose(r.T[:2, :2], T[:2, :2], atol=0.01)
    corners = np.array([[0.0, 0.0], [640, 0], [0, 640], [640, 640]])
    assert np.abs(g.apply(r.T, corners) - g.apply(T, corners)).max() < 2.0
    again = g.fast_spatial_matching(F1, F2, threshold=4.0, model=model)
    np.testing.assert_array_equal(again.T, r.T)


def test_fast_spatial_matching_refit_beats_the_single_hypothesis():
    # frame angles and scales are noisy: the best one-correspondence similarity explains part of
    # the inliers, the least-squares affine refit nearly all of them
    F1, F2, truth = synthetic_frames(AFFINE, seed=4)
    F2[:, 2:] *= np.exp(np.random.default_rng(0).normal(0, 0.1, (len(F2), 2)))
    bare = g.fast_spatial_matching(F1, F2, threshold=3.0, lo_iters=0)
    refit = g.fast_spatial_matching(F1, F2, threshold=3.0)
    assert refit.n_inliers > bare.n_inliers
    assert precision_recall(refit.inliers, truth)[1] >= 0.95


def test_fast_spatial_matching_scale_bound_and_bad_input():
    F1, F2, _ = synthetic_frames(np.diag([1.0, 1.0, 1.0]), outliers=0.0, noise=0.0, n=20)
    F2[:, 2] = F1[:, 2] * 20  # every hypothesis zooms by 20
    r = g.fast_spatial_matching(F1, F2, max_scale=10.0)
    assert r.T is None and r.n_inliers == 0 and r.iterations == 20
    assert g.fast_spatial_matching(F1, F2, max_scale=None).T is not None
    with pytest.raises(ValueError, match="at least 1"):
        g.fast_spatial_matching(np.zeros((0, 4)), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="same shape"):
        g.fast_spatial_matching(F1, F2[:-1])
    with pytest.raises(ValueError, match="unknown model"):
        g.fast_spatial_matching(F1, F2, model="rigid")


def test_fast_spatial_matching_with_collinear_inliers_keeps_the_hypothesis():
    # the affine refit of collinear inliers is degenerate: the similarity hypothesis stays
    x = np.linspace(0, 100, 10)
    F1 = np.c_[x, x, np.ones(10), np.zeros(10)]
    F2 = F1 + [3, 4, 0, 0]
    r = g.fast_spatial_matching(F1, F2, threshold=1.0, model="affine")
    assert r.n_inliers == 10
    np.testing.assert_allclose(r.T, [[1, 0, 3], [0, 1, 4], [0, 0, 1]], atol=1e-12)


def test_verify_hypotheses_with_region_hypotheses():
    # deep spatial matching: one affine hypothesis per pair of elliptical regions
    rng = np.random.default_rng(5)
    A = np.array([[1.2, 0.0], [0.3, 0.9]])  # upright: recovered exactly from one region pair
    T = np.eye(3)
    T[:2, :2], T[:2, 2] = A, [10.0, -5.0]
    mu1 = rng.uniform(0, 300, (40, 2))
    M = rng.normal(size=(40, 2, 2))
    S1 = M @ np.swapaxes(M, 1, 2) + np.eye(2)
    mu2, S2 = g.apply(T, mu1), A @ S1 @ A.T
    mu2[30:] = rng.uniform(0, 300, (10, 2))  # ten wrong matches
    H = g.region_transforms(mu1, g.upright_frame(S1), mu2, g.upright_frame(S2))
    r = g.verify_hypotheses(H, mu1, mu2, threshold=1.0, model="affine")
    np.testing.assert_array_equal(r.inliers, np.arange(40) < 30)
    np.testing.assert_allclose(r.T, T, atol=1e-9)
    with pytest.raises(ValueError, match=r"\(m, 3, 3\)"):
        g.verify_hypotheses(np.eye(3), mu1, mu2)
    empty = g.verify_hypotheses(np.zeros((0, 3, 3)), mu1, mu2)
    assert empty.T is None and empty.n_inliers == 0 and empty.iterations == 0


def test_fast_spatial_matching_in_blocks_matches_one_block(monkeypatch):
    F1, F2, _ = synthetic_frames(AFFINE, seed=6)
    whole = g.fast_spatial_matching(F1, F2, threshold=4.0)
    monkeypatch.setattr(g, "_BLOCK", 1000)  # 3 hypotheses at a time
    blocks = g.fast_spatial_matching(F1, F2, threshold=4.0)
    np.testing.assert_array_equal(whole.T, blocks.T)
    np.testing.assert_array_equal(whole.inliers, blocks.inliers)

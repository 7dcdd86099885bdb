"""rrlib.local.verify: the shortlist verifier asks the model how many correspondences it needs,
and checks its keywords before verifying anything."""
import numpy as np
import pytest

from rrlib.local import LocalFeatures, spatial_rerank

# image 2 is image 1 under this homography (a true perspective map, not affine)
H = np.array([[1.1, 0.05, 12.0], [-0.04, 0.95, 7.0], [4e-4, -2e-4, 1.0]])


def _features(xy):
    return LocalFeatures(np.c_[xy, np.ones(len(xy)), np.zeros(len(xy))], np.zeros((len(xy), 2)), (300, 300))


def _projected(xy):
    uvw = np.c_[xy, np.ones(len(xy))] @ H.T
    return uvw[:, :2] / uvw[:, 2:]


@pytest.fixture
def three_and_six():
    """A query of 6 features; database image 0 shares 3 of them, image 1 all 6 (under ``H``)."""
    xy = np.array([[20.0, 30.0], [250.0, 40.0], [40.0, 260.0], [230.0, 220.0], [130.0, 120.0], [70.0, 180.0]])
    query, qwords = _features(xy), np.arange(6)
    db = [_features(_projected(xy[:3])), _features(_projected(xy))]
    dwords = [np.arange(3), np.arange(6)]
    return np.array([[0.9, 0.1]]), [query], [qwords], db, dwords


@pytest.mark.parametrize("method", ["ransac", "fsm"])
def test_homography_with_min_inliers_below_its_sample_size(three_and_six, method):
    # min_inliers = 3 < 4 = a homography's minimal sample: the pair with 3 correspondences is
    # skipped (RANSAC raised "needs at least 4" inside the loop before), the other one verified.
    v = spatial_rerank(*three_and_six, top=2, min_inliers=3, method=method, model="homography",
                       threshold=1.0, max_scale=None)
    np.testing.assert_array_equal(v.shortlist, [[0, 1]])
    np.testing.assert_array_equal(v.tentative, [[3, 6]])
    assert v.inliers[0, 0] == 0
    if method == "ransac":  # (fast spatial matching's similarity hypotheses need real frames)
        np.testing.assert_array_equal(v.inliers, [[0, 6]])
        np.testing.assert_array_equal(v.verified(0), [1])


def test_an_affine_model_still_verifies_three_correspondences(three_and_six):
    scores, query, qwords, _, _ = three_and_six
    xy = query[0].frames[:3, :2]
    T = np.array([[0.9, 0.2, 5.0], [-0.1, 1.2, 3.0]])
    db = [_features(np.c_[xy, np.ones(3)] @ T.T), _features(np.zeros((0, 2)))]
    v = spatial_rerank(scores, query, qwords, db, [np.arange(3), np.zeros(0, np.int64)], top=2, min_inliers=3,
                       method="ransac", model="affine", threshold=1.0)
    np.testing.assert_array_equal(v.inliers, [[3, 0]])


@pytest.mark.parametrize("kw, error, match", [
    (dict(treshold=2.0), TypeError, "unknown verify_pair keywords.*treshold"),
    (dict(method="lmeds"), ValueError, "method"),
    (dict(model="projective"), ValueError, "unknown model"),
    (dict(top=0), ValueError, "top"),
    (dict(min_inliers=-1), ValueError, "min_inliers"),
    (dict(min_inliers=2.5), ValueError, "min_inliers"),
])
def test_bad_keywords_fail_before_any_pair_is_verified(three_and_six, kw, error, match):
    # no pair has enough correspondences for the default min_inliers=5 under `top=1`: the
    # keywords are never used by verify_pair, yet they must be refused
    scores, query, qwords, db, dwords = three_and_six
    kw = {"top": 1, **kw}
    with pytest.raises(error, match=match):
        spatial_rerank(scores, query, qwords, db, dwords, **kw)

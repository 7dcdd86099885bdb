"""rrlib.local: SIFT/RootSIFT, vocabulary, inverted file, tentative correspondences, verification."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

cv2 = pytest.importorskip("cv2")

from rrlib.local import (InvertedFile, LocalFeatures, Vocabulary, rootsift, sift, stack,  # noqa: E402
                         tentative_correspondences, train_vocabulary)


# --------------------------------------------------------------------------- RootSIFT / SIFT
def test_rootsift_hand_values():
    d = np.array([[1.0, 3.0, 0.0, 12.0], [0.0, 0.0, 0.0, 0.0]])
    r = rootsift(d)
    # L1 norm 16: sqrt([1, 3, 0, 12] / 16) = [1/4, sqrt(3)/4, 0, sqrt(12)/4]
    np.testing.assert_allclose(r[0], [0.25, np.sqrt(3) / 4, 0.0, np.sqrt(12) / 4], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(r[0]), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(r[1], 0.0)
    # the dot product of two RootSIFT vectors is the Hellinger kernel of the L1-normalised histograms
    a, b = np.array([[2.0, 2.0, 4.0]]), np.array([[1.0, 0.0, 3.0]])
    np.testing.assert_allclose((rootsift(a) @ rootsift(b).T)[0, 0],
                               np.sqrt(2 / 8 * 1 / 4) + np.sqrt(4 / 8 * 3 / 4), rtol=1e-6)


def test_rootsift_rejects_bad_input():
    with pytest.raises(ValueError, match="negative"):
        rootsift([[1.0, -1.0]])
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        rootsift([1.0, 2.0])


def _textured(seed=0, size=200):
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size), np.uint8)
    for _ in range(60):
        x, y = rng.integers(10, size - 10, 2)
        r = int(rng.integers(3, 12))
        cv2.circle(img, (int(x), int(y)), r, int(rng.integers(80, 256)), -1)
    return cv2.GaussianBlur(img, (3, 3), 0)


def test_sift_frames_follow_a_rotation_of_the_image():
    img = _textured()
    a = sift(img)
    b = sift(np.ascontiguousarray(np.rot90(img, -1)))  # 90 degrees clockwise on screen
    assert len(a) > 30 and len(b) > 30
    assert a.descriptors.shape[1] == 128 and a.size == (200, 200)
    np.testing.assert_allclose(np.linalg.norm(a.descriptors, axis=1), 1.0, rtol=1e-5)  # RootSIFT
    # clockwise rotation on screen: (x, y) -> (H - 1 - y, x), angles grow by +90 degrees
    xy = np.stack([199 - a.xy[:, 1], a.xy[:, 0]], 1)
    d = np.linalg.norm(xy[:, None] - b.xy[None], axis=2)
    j = d.argmin(1)
    close = d[np.arange(len(a)), j] < 1.0  # OpenCV positions carry a half-pixel convention
    assert close.mean() > 0.5
    ratio = b.frames[j[close], 2] / a.frames[close, 2]
    np.testing.assert_allclose(np.median(ratio), 1.0, atol=0.02)
    turn = np.angle(np.exp(1j * (b.frames[j[close], 3] - a.frames[close, 3])))
    assert np.median(np.abs(turn - np.pi / 2)) < 0.1


def test_sift_accepts_paths_and_pil(tmp_path):
    from PIL import Image

    img = _textured(1)
    Image.fromarray(img).save(tmp_path / "x.png")
    a, b = sift(tmp_path / "x.png"), sift(Image.fromarray(img))
    np.testing.assert_array_equal(a.frames, b.frames)
    raw = sift(img, root=False, max_features=10)
    assert len(raw) <= 12 and raw.descriptors.max() > 1  # raw SIFT values, not RootSIFT
    assert len(sift(np.zeros((64, 64), np.uint8))) == 0
    with pytest.raises(ValueError):
        sift(np.zeros((4, 4, 4, 4)))


def test_sift_of_a_float_image_in_0_1_equals_sift_of_its_uint8_levels():
    """A float image in [0, 1] found nothing (it was cast to uint8: all 0 and 1)."""
    img = _textured(2)
    ref = sift(img)
    assert len(ref) > 30
    for arr in (img / 255.0, (img / 255.0).astype(np.float32), np.repeat(img[..., None], 3, axis=2) / 255.0):
        f = sift(arr)
        np.testing.assert_array_equal(f.frames, ref.frames)
        np.testing.assert_array_equal(f.descriptors, ref.descriptors)
    assert len(sift(img.astype(np.int64))) == len(ref)  # integers are grey levels


@pytest.mark.parametrize("arr, match", [(np.full((32, 32), 2.0), r"\[0, 1\]"), (np.full((32, 32), -0.5), r"\[0, 1\]"),
                                        (np.full((32, 32), np.nan), "NaN"), (np.full((32, 32), 300), "255"),
                                        (np.zeros((32, 32, 2)), "shape")])
def test_sift_rejects_images_it_cannot_read_as_grey_levels(arr, match):
    with pytest.raises(ValueError, match=match):
        sift(arr)
    with pytest.raises(TypeError, match="dtype"):
        sift(np.zeros((32, 32), bool))


def test_stack_offsets():
    f = [LocalFeatures(np.ones((n, 4)), np.full((n, 3), n), (5, 5)) for n in (2, 0, 3)]
    frames, desc, off = stack(f)
    np.testing.assert_array_equal(off, [0, 2, 2, 5])
    np.testing.assert_array_equal(desc[off[2]:off[3], 0], 3)
    with pytest.raises(ValueError):
        LocalFeatures(np.ones((2, 4)), np.ones((3, 128)))


# --------------------------------------------------------------------------- vocabulary
def test_vocabulary_assignment_is_nearest_centroid():
    C = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    v = Vocabulary(C)
    x = np.array([[1.0, 1.0], [9.0, -1.0], [1.0, 6.0], [4.0, 4.0]])
    np.testing.assert_array_equal(v.assign(x), [0, 1, 2, 0])
    np.testing.assert_array_equal(v.assign(x, multiple=2)[:3], [[0, 1], [1, 0], [2, 0]])
    with pytest.raises(ValueError):
        v.assign(np.ones((2, 3)))
    with pytest.raises(ValueError):
        v.assign(x, multiple=4)


def test_train_vocabulary_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [20, 0], [0, 20], [20, 20]], float)
    x = np.concatenate([c + rng.normal(size=(200, 2)) for c in centres])
    v = train_vocabulary(x, 4, seed=0)
    key = lambda c: np.argsort(np.round(c[:, 0]) * 100 + np.round(c[:, 1]))
    np.testing.assert_allclose(v.centroids[key(v.centroids)], centres[key(centres)], atol=0.3)
    assert np.array_equal(train_vocabulary(x, 4, seed=0).centroids, v.centroids)  # deterministic
    with pytest.raises(ValueError):
        train_vocabulary(x, 0)


# --------------------------------------------------------------------------- inverted file
def test_inverted_file_tfidf_by_hand():
    # 3 images, 4 words. word 0 is in every image -> idf 0; word 3 in none -> idf 0.
    db = [np.array([0, 1, 1]), np.array([0, 2]), np.array([0, 1, 2, 2])]
    ivf = InvertedFile(db, 4, tf_power=1.0)
    np.testing.assert_allclose(ivf.idf, [0.0, np.log(3 / 2), np.log(3 / 2), 0.0])
    np.testing.assert_array_equal(ivf.list_lengths(), [0, 2, 2, 0])  # zero weights are not stored
    # image 2: tf = [1, 1, 2, 0] -> tf-idf [0, l, 2l, 0] -> normalised [0, 1, 2, 0] / sqrt(5)
    np.testing.assert_allclose(ivf.vectors[2].toarray()[0], np.array([0, 1, 2, 0]) / np.sqrt(5))
    s = ivf.search([np.array([1, 2, 3])])  # query tf-idf [0, l, l, 0] / (sqrt(2) l)
    np.testing.assert_allclose(s[0], [1 / np.sqrt(2), 1 / np.sqrt(2), 3 / np.sqrt(10)])
    sq = InvertedFile(db, 4, tf_power=0.5)
    np.testing.assert_allclose(sq.vectors[2].toarray()[0], np.array([0, 1, np.sqrt(2), 0]) / np.sqrt(3))


def test_inverted_file_equals_dense_cosine():
    rng = np.random.default_rng(3)
    K = 50
    db = [rng.integers(0, K, rng.integers(1, 40)) for _ in range(30)]
    qs = [rng.integers(0, K, rng.integers(1, 40)) for _ in range(5)]
    ivf = InvertedFile(db, K, tf_power=0.5)
    # dense tf-idf by hand
    tf = np.stack([np.bincount(w, minlength=K) for w in db]).astype(float)
    idf = np.log(len(db) / np.maximum((tf > 0).sum(0), 1)) * ((tf > 0).sum(0) > 0)
    X = np.sqrt(tf) * idf
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    tq = np.stack([np.bincount(w, minlength=K) for w in qs]).astype(float)
    Q = np.sqrt(tq) * idf
    Q /= np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(ivf.search(qs), Q @ X.T, atol=1e-12)
    assert sp.isspmatrix_csr(ivf.lists) and ivf.lists.shape == (K, 30)


def test_inverted_file_rejects_bad_words():
    with pytest.raises(ValueError, match="visual words"):
        InvertedFile([np.array([0, 5])], 4)
    with pytest.raises(ValueError):
        InvertedFile([], 4)
    ivf = InvertedFile([np.array([0, 1])], 2)
    with pytest.raises(ValueError):
        ivf.search(sp.csr_matrix((1, 3)))


# --------------------------------------------------------------------------- correspondences
def test_tentative_correspondences_by_hand():
    a = np.array([4, 7, 4, 9])
    b = np.array([7, 4, 1, 4])
    pairs = tentative_correspondences(a, b)
    # word 4: a{0,2} x b{1,3}; word 7: a1 x b0; word 9: none
    expected = {(0, 1), (0, 3), (2, 1), (2, 3), (1, 0)}
    assert set(map(tuple, pairs.tolist())) == expected
    capped = tentative_correspondences(a, b, max_per_word=1)
    assert set(map(tuple, capped.tolist())) == {(0, 1), (1, 0)}
    # multiple assignment on the database side: feature j matches through any of its words
    mb = np.array([[7, 9], [1, 2], [3, 4]])
    assert set(map(tuple, tentative_correspondences(a, mb).tolist())) == {(0, 2), (1, 0), (2, 2), (3, 0)}
    assert tentative_correspondences(np.array([1]), np.array([2])).shape == (0, 2)


def test_normalized_patch_undoes_rotation():
    from rrlib.local import normalized_patch

    img = _textured(2)
    rot = np.ascontiguousarray(np.rot90(img, -1))  # clockwise: (x, y) -> (199 - y, x), angle + 90 deg
    frame = np.array([100.0, 90.0, 6.0, 0.3])
    moved = np.array([199 - 90.0, 100.0, 6.0, 0.3 + np.pi / 2])
    a, b = normalized_patch(img, frame, size=24), normalized_patch(rot, moved, size=24)
    assert a.shape == (24, 24) and a.dtype == np.uint8 and a.std() > 5
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 4  # the same patch, up to resampling
    other = normalized_patch(img, frame + [0, 0, 0, 1.0], size=24)
    assert np.abs(a.astype(int) - other.astype(int)).mean() > 3 * np.abs(a.astype(int) - b.astype(int)).mean()


def _tiny(root, seed=10):
    """A 3-image dataset with one query (the crop (20, 30, 180, 170) of the first image)."""
    from PIL import Image

    from rrlib.datasets.retrieval import RetrievalDataset

    folder = root / "datasets" / "tiny"
    (folder / "jpg").mkdir(parents=True, exist_ok=True)
    for i in range(3):
        Image.fromarray(_textured(seed + i)).convert("RGB").save(folder / "jpg" / f"im{i}.png")
    gnd = [{"bbx": [20, 30, 180, 170], "easy": [0], "hard": [], "junk": []}]
    return RetrievalDataset("tiny", root, folder, folder / "jpg", [f"im{i}.png" for i in range(3)], ["im0.png"],
                            gnd, {})


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("RRLIB_DATA", str(tmp_path))
    return _tiny(tmp_path)


def test_describe_local_caches_in_the_data_root(tiny, monkeypatch):
    import rrlib.local.features as F
    from rrlib.local import describe_local

    first = describe_local(tiny)
    cached = list((tiny.root / "features" / "local").glob("tiny_*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(F, "extract_local", lambda *a, **k: pytest.fail("recomputed"))
    again = describe_local(tiny)
    assert [len(f) for f in first["db"]] == [len(f) for f in again["db"]] and len(first["queries"]) == 1
    for a, b in zip(first["db"] + first["queries"], again["db"] + again["queries"]):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_allclose(a.descriptors, b.descriptors, atol=1e-6)  # raw SIFT is stored exactly
        assert a.size == b.size
    assert first["queries"][0].size == (160, 140)
    raw = describe_local(tiny, root=False)["db"][0]
    assert raw.descriptors.max() > 1


def test_describe_local_images_with_the_default_tag_are_not_the_dataset(tiny):
    from rrlib.local import describe_local

    describe_local(tiny)
    part = describe_local(tiny, images=tiny.images[1:])
    assert list(part) == ["db"] and len(part["db"]) == 2
    np.testing.assert_array_equal(part["db"][0].frames, sift(tiny.images[1]).frames)


def test_describe_local_follows_regenerated_pictures_and_reports_a_corrupt_file(tiny):
    from rrlib.local import describe_local

    first = describe_local(tiny)
    _tiny(tiny.root, seed=20)  # same names and ground truth, other pictures
    second = describe_local(tiny)
    np.testing.assert_array_equal(second["db"][0].frames, sift(tiny.images[0]).frames)
    assert len(second["db"][0]) != len(first["db"][0]) or not np.array_equal(second["db"][0].frames,
                                                                              first["db"][0].frames)
    for path in (tiny.root / "features" / "local").glob("tiny_*.npz"):
        path.write_bytes(b"PK\x03\x04 not a zip file")
    with pytest.warns(UserWarning, match="tiny_test_.*npz.*unreadable"):
        third = describe_local(tiny)
    np.testing.assert_array_equal(third["db"][0].frames, second["db"][0].frames)
    with pytest.raises(ValueError, match="tag"):
        describe_local(tiny, tag="../../..")


def test_dataset_vocabulary_follows_its_training_pictures_and_reports_a_corrupt_file(tiny):
    import pickle

    from rrlib.local import dataset_vocabulary

    with open(tiny.folder / "train_tiny.pkl", "wb") as f:  # the training split: the 3 pictures
        pickle.dump({"imlist": [f"im{i}.png" for i in range(3)], "cluster": [0, 0, 1]}, f)
    first = dataset_vocabulary(tiny, 8, train_images=3)
    (path,) = (tiny.root / "features" / "local").glob("vocab_tiny_*.npy")
    np.testing.assert_array_equal(dataset_vocabulary(tiny, 8, train_images=3).centroids, first.centroids)
    path.write_bytes(b"\x93NUMPY broken")
    with pytest.warns(UserWarning, match="vocab_tiny_.*unreadable"):
        np.testing.assert_array_equal(dataset_vocabulary(tiny, 8, train_images=3).centroids, first.centroids)
    np.testing.assert_array_equal(np.load(path), first.centroids)
    _tiny(tiny.root, seed=30)  # regenerated training pictures, same names
    assert not np.array_equal(dataset_vocabulary(tiny, 8, train_images=3).centroids, first.centroids)


def test_verification_truncated_equals_a_shorter_shortlist():
    from rrlib.local import spatial_rerank

    rng = np.random.default_rng(0)
    feats, words = [], []
    base = rng.uniform(0, 200, (40, 2))
    for i in range(6):  # image i shares the first 40 - 6 i features (translated)
        k = 40 - 6 * i
        xy = np.concatenate([base[:k] + [i, 2 * i], rng.uniform(0, 200, (40 - k, 2))])
        feats.append(LocalFeatures(np.c_[xy, np.ones(40), np.zeros(40)], np.zeros((40, 2)), (200, 200)))
        words.append(np.r_[np.arange(k), 1000 + 100 * i + np.arange(40 - k)])
    query, qwords = feats[0], words[0]
    scores = np.linspace(1, 0.5, 5)[::-1][None]  # BoW prefers the worst matches
    v = spatial_rerank(scores, [query], [qwords], feats[1:], words[1:], top=5, threshold=2.0, min_inliers=5)
    np.testing.assert_array_equal(v.inliers[0][np.argsort(v.shortlist[0])], [34, 28, 22, 16, 10])
    np.testing.assert_array_equal(np.argsort(-v.scores[0]), [0, 1, 2, 3, 4])  # by inliers now
    short = spatial_rerank(scores, [query], [qwords], feats[1:], words[1:], top=2, threshold=2.0, min_inliers=5)
    np.testing.assert_allclose(v.truncated(2).scores, short.scores)
    np.testing.assert_array_equal(v.verified(0), [0, 1, 2, 3, 4])
    with pytest.raises(ValueError):
        v.truncated(6)
    with pytest.raises(ValueError):
        spatial_rerank(scores[:, :3], [query], [qwords], feats[1:], words[1:])


# --------------------------------------------------------------------------- synth-landmarks
@pytest.fixture(scope="module")
def synth_bow():
    from rrlib.datasets import load
    from rrlib.local import build_bow

    data = load("synth-landmarks", download=True)
    return data, build_bow(data, 4096)  # notebook 02's features and vocabulary (cached in the data root)


def test_fast_spatial_matching_finds_the_true_homography_on_synth_landmarks(synth_bow):
    """Inliers of FSM (refined to a homography) between a query and its positives agree with the
    generator's plane homography, and so does the fitted map."""
    import pickle

    from rrlib import geometry
    from rrlib.local import verify_pair

    data, bow = synth_bow
    with open(data.folder / "meta_synth-landmarks.pkl", "rb") as fh:
        meta = pickle.load(fh)
    precision, recall, map_error = [], [], []
    for q in range(0, data.n_queries, 7):
        x0, y0 = (round(v) for v in data.gnd[q]["bbx"][:2])  # Pillow crops at whole pixels
        for j in data.gnd[q]["easy"][:3]:
            pairs = tentative_correspondences(bow.query_words[q], bow.db_words[j], max_per_word=20)
            if len(pairs) < 10:
                continue
            m = verify_pair(bow.query_features[q], bow.db_features[j], pairs, threshold=4.0, model="homography")
            H = meta["db"][j]["H"][0] @ np.linalg.inv(meta["queries"][q]["H"][0])  # main facade, query -> db
            p1 = bow.query_features[q].xy[pairs[:, 0]] + [x0, y0]
            p2 = bow.db_features[j].xy[pairs[:, 1]]
            true = np.linalg.norm(geometry.apply(H, p1) - p2, axis=1) < 4.0
            assert m.n_inliers >= 8
            precision.append((true & m.inliers).sum() / m.n_inliers)
            recall.append((true & m.inliers).sum() / max(true.sum(), 1))
            est = geometry.apply(m.T, p1[m.inliers] - [x0, y0])  # the fitted map works on the crop
            map_error.append(np.median(np.linalg.norm(est - geometry.apply(H, p1[m.inliers]), axis=1)))
    assert len(precision) >= 10
    assert np.median(precision) > 0.95 and np.mean(precision) > 0.85   # inliers are true correspondences
    assert np.median(recall) > 0.8                                      # most true ones are found
    assert np.median(map_error) < 1.0 and np.mean(np.array(map_error) < 2.0) > 0.8  # T is the homography


def test_spatial_verification_and_qe_raise_map_on_synth_landmarks(synth_bow):
    """Directional: BoW < + verification (top 100) < + average QE, on Medium and Hard."""
    from rrlib.evaluate import evaluate_revisited

    data, bow = synth_bow
    scores = bow.search()
    v = bow.rerank(scores, top=100, threshold=4.0)
    base = evaluate_revisited(scores.T, data.gnd).map
    sv = evaluate_revisited(v.scores.T, data.gnd).map
    qe = evaluate_revisited(bow.expand(v, top=10).T, data.gnd).map
    for setup in ("medium", "hard"):
        assert base[setup] + 1.5 < sv[setup] < qe[setup], (base, sv, qe)


def test_multiple_assignment_counts_every_word():
    # one image, two features, each assigned to its 2 nearest words: tf = [1, 2, 1] over words 0..2
    ivf = InvertedFile([np.array([[0, 1], [1, 2]]), np.array([[3, 3]])], 4, tf_power=1.0)
    np.testing.assert_allclose(ivf.vectors[0].toarray()[0], np.array([1, 2, 1, 0]) / np.sqrt(6))
    v = Vocabulary(np.array([[0.0], [1.0], [3.0]]))
    np.testing.assert_array_equal(v.assign(np.array([[0.4], [2.2]]), multiple=2), [[0, 1], [2, 1]])

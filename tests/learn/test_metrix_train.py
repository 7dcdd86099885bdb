"""rrlib.datasets.digits (notebook 06's rotated digits, reproduced exactly) and
rrlib.learn.embedding.train_supervised (P x K batches, Metrix embedding / feature / input mixup)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from rrlib.datasets import rotated_digits
from rrlib.learn.embedding import SupervisedConfig, embed, pk_batches, train_supervised


def _notebook_06(FG_INSTANCES=40, FG_VIEWS=40, FG_TEST_VIEWS=5, FG_MAX_ANGLE=90, SEED=0):
    """A copy of notebooks/06_mining_on_manifolds.ipynb, cells 38-40 (constants of cell 1)."""
    from scipy import ndimage
    from sklearn.datasets import load_digits

    digits = load_digits()

    def rotated_views(image, angles):
        big = ndimage.zoom(image, 2, order=1)
        return np.array([ndimage.rotate(big, a, reshape=False, order=1) for a in angles])

    rng_fg = np.random.default_rng(SEED)
    train_digits = rng_fg.choice(np.flatnonzero(digits.target < 5), FG_INSTANCES, replace=False)
    test_digits = rng_fg.choice(np.flatnonzero(digits.target >= 5), FG_INSTANCES, replace=False)
    train_angles = np.linspace(-FG_MAX_ANGLE, FG_MAX_ANGLE, FG_VIEWS) + rng_fg.uniform(-1, 1, (FG_INSTANCES, FG_VIEWS))
    test_angles = rng_fg.uniform(-FG_MAX_ANGLE, FG_MAX_ANGLE, (FG_INSTANCES, FG_TEST_VIEWS))
    views_tr = np.concatenate([rotated_views(digits.images[i], a) for i, a in zip(train_digits, train_angles)])
    views_te = np.concatenate([rotated_views(digits.images[i], a) for i, a in zip(test_digits, test_angles)])
    y_tr = np.repeat(np.arange(FG_INSTANCES), FG_VIEWS)
    y_te = np.repeat(np.arange(FG_INSTANCES, 2 * FG_INSTANCES), FG_TEST_VIEWS)
    mean = views_tr.reshape(len(views_tr), -1).mean(axis=0)

    def vectors(views):
        v = views.reshape(len(views), -1) - mean
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    return dict(views_tr=views_tr, views_te=views_te, y_tr=y_tr, y_te=y_te, train_angles=train_angles,
                test_angles=test_angles, train_digits=train_digits, test_digits=test_digits, mean=mean,
                Z_tr=vectors(views_tr), Z_te=vectors(views_te))


@pytest.fixture(scope="module")
def digits():
    return rotated_digits()


def test_rotated_digits_equals_notebook_06(digits):
    ref = _notebook_06()
    for name, value in ref.items():
        got = getattr(digits, name)
        assert got.dtype == value.dtype and got.shape == value.shape, name
        assert np.array_equal(got, value), name
    assert digits.Z_tr.shape == (1600, 256) and digits.Z_te.shape == (200, 256)
    assert np.array_equal(digits.vectors(digits.views_te), ref["Z_te"])
    assert np.allclose(np.linalg.norm(digits.Z_tr, axis=1), 1, atol=1e-6)


def test_rotated_digits_other_settings():
    small = rotated_digits(instances=5, views=6, test_views=2, max_angle=30, seed=3)
    ref = _notebook_06(5, 6, 2, 30, 3)
    assert np.array_equal(small.Z_tr, ref["Z_tr"]) and np.array_equal(small.Z_te, ref["Z_te"])
    assert set(small.y_tr) == set(range(5)) and set(small.y_te) == set(range(5, 10))
    with pytest.raises(ValueError):
        rotated_digits(instances=0)


def test_pk_batches():
    labels = np.repeat(np.arange(10), 7)
    batches = pk_batches(labels, 4, 3, np.random.default_rng(0))
    assert len(batches) == 10 * 2 // 4              # 2 groups of 3 per class, dealt 4 classes a batch
    for b in batches:
        cls, counts = np.unique(labels[b], return_counts=True)
        assert len(cls) == 4 and (counts == 3).all()
    flat = np.concatenate(batches)
    assert len(set(flat)) == len(flat)               # no example twice in an epoch
    again = pk_batches(labels, 4, 3, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))


def _small(digits, n_classes=10):
    keep = digits.y_tr < n_classes
    return digits.Z_tr[keep], digits.y_tr[keep]


@pytest.mark.parametrize("loss", ["contrastive", "multi-similarity"])
@pytest.mark.parametrize("kind", ["none", "embedding", "feature", "input"])
def test_train_supervised_runs_deterministic_and_learns(digits, loss, kind):
    X, y = _small(digits)
    c = SupervisedConfig(loss=loss, metrix=0.0 if kind == "none" else 0.4, mixup="embedding" if kind == "none" else kind,
                         epochs=2, dim=16, hidden=32, classes_per_batch=5, per_class=4, lr=3e-3)
    a, b = train_supervised(X, y, c), train_supervised(X, y, c)
    assert all(torch.equal(p, q) for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert len(a.history) == 3 and np.isfinite(a.curve("loss")[1:]).all()
    E = embed(a.model, X)
    assert np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)
    same = y[:, None] == y[None, :]
    S = E @ E.T
    assert S[same].mean() > S[~same].mean() + 0.2          # training separates the classes


def test_train_supervised_metrix_changes_the_run_and_checks(digits):
    X, y = _small(digits, 6)
    c = SupervisedConfig(epochs=1, dim=8, hidden=16, classes_per_batch=3, per_class=4)
    plain, mixed = train_supervised(X, y, c), train_supervised(X, y, replace(c, metrix=0.4))
    assert plain.history[1]["loss"] != mixed.history[1]["loss"]
    with pytest.raises(ValueError):
        train_supervised(X, y, replace(c, mixup="labels"))
    with pytest.raises(ValueError):
        train_supervised(X, y, replace(c, metrix=-1))
    with pytest.raises(ValueError):
        train_supervised(X, y, replace(c, loss="triplet"))
    with pytest.raises(ValueError):
        train_supervised(X, y, replace(c, mixup="feature", hidden=None, metrix=0.4))

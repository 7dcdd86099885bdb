"""Rotated scikit-learn digits: the small fine-grained stand-in of notebooks 06 and 10.

Each *class* is one handwritten digit image of :func:`sklearn.datasets.load_digits` (an 8 x 8
image, upsampled to 16 x 16), seen under many rotations: the classes differ by the handwriting of
one digit, and the views of a class vary by rotation -- a miniature fine-grained retrieval set
(CUB-200-2011's role in [S1] and [S2]), with disjoint training and test classes as in metric
learning (training instances among digits 0-4, test instances among digits 5-9).

``rotated_digits()`` reproduces notebook 06's arrays exactly (same draws of the same generator, in
the same order): ``views_tr``, ``views_te``, ``y_tr``, ``y_te``, the angles, the chosen digits, the
training mean and the input vectors ``Z_tr``, ``Z_te`` (pixels centred on the training mean,
L2-normalised, float32).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RotatedDigits", "rotated_digits", "rotated_views"]


def rotated_views(image: np.ndarray, angles) -> np.ndarray:
    """An 8 x 8 digit upsampled to 16 x 16 (bilinear) and rotated by each angle (degrees, bilinear,
    same frame): ``(len(angles), 16, 16)``."""
    from scipy import ndimage

    big = ndimage.zoom(image, 2, order=1)
    return np.array([ndimage.rotate(big, a, reshape=False, order=1) for a in angles])


@dataclass(frozen=True)
class RotatedDigits:
    """The rotated-digits set (see :func:`rotated_digits`). Views are ``(n, 16, 16)`` float images
    (values of ``load_digits``, 0..16); labels are class ids, ``0..instances-1`` for training and
    ``instances..2 instances-1`` for test; ``Z_tr``, ``Z_te`` are the input vectors."""

    views_tr: np.ndarray
    views_te: np.ndarray
    y_tr: np.ndarray
    y_te: np.ndarray
    train_digits: np.ndarray      # indices into load_digits() of the training classes' images
    test_digits: np.ndarray
    train_angles: np.ndarray      # (instances, views) degrees
    test_angles: np.ndarray       # (instances, test_views)
    mean: np.ndarray              # (256,) mean training view
    Z_tr: np.ndarray              # (n_tr, 256) float32 unit vectors
    Z_te: np.ndarray

    def vectors(self, views: np.ndarray) -> np.ndarray:
        """Input vectors of ``views``: the pixels, centred on the training mean, L2-normalised (float32)."""
        v = np.asarray(views).reshape(len(views), -1) - self.mean
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def rotated_digits(instances: int = 40, views: int = 40, test_views: int = 5, max_angle: float = 90,
                   seed: int = 0) -> RotatedDigits:
    """Notebook 06's fine-grained stand-in (``FG_INSTANCES``, ``FG_VIEWS``, ``FG_TEST_VIEWS``,
    ``FG_MAX_ANGLE``, ``SEED``).

    ``instances`` digit images of classes 0-4 (training) and as many of classes 5-9 (test) are drawn
    without replacement; each training digit is seen at ``views`` angles evenly spaced in
    ``[-max_angle, max_angle]`` plus a uniform jitter in ``[-1, 1]`` degree, each test digit at
    ``test_views`` uniform angles in ``[-max_angle, max_angle]``. One ``np.random.default_rng(seed)``
    makes every draw, in the notebook's order.
    """
    from sklearn.datasets import load_digits

    if min(instances, views, test_views) < 1:
        raise ValueError(f"instances, views and test_views must be >= 1, got {instances}, {views}, {test_views}")
    digits = load_digits()
    rng = np.random.default_rng(seed)
    train_digits = rng.choice(np.flatnonzero(digits.target < 5), instances, replace=False)
    test_digits = rng.choice(np.flatnonzero(digits.target >= 5), instances, replace=False)
    train_angles = np.linspace(-max_angle, max_angle, views) + rng.uniform(-1, 1, (instances, views))
    test_angles = rng.uniform(-max_angle, max_angle, (instances, test_views))
    views_tr = np.concatenate([rotated_views(digits.images[i], a) for i, a in zip(train_digits, train_angles)])
    views_te = np.concatenate([rotated_views(digits.images[i], a) for i, a in zip(test_digits, test_angles)])
    y_tr = np.repeat(np.arange(instances), views)
    y_te = np.repeat(np.arange(instances, 2 * instances), test_views)
    mean = views_tr.reshape(len(views_tr), -1).mean(axis=0)

    def vectors(v: np.ndarray) -> np.ndarray:
        v = v.reshape(len(v), -1) - mean
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    return RotatedDigits(views_tr, views_te, y_tr, y_te, train_digits, test_digits, train_angles, test_angles,
                         mean, vectors(views_tr), vectors(views_te))

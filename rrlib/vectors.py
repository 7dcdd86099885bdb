"""Small numpy helpers on descriptor matrices (one descriptor per row)."""
from __future__ import annotations

import numpy as np

__all__ = ["normalize_rows"]


def normalize_rows(X, eps: float = 1e-12) -> np.ndarray:
    """``X / max(||x||_2, eps)`` row by row: unit rows, zero rows left at zero."""
    X = np.asarray(X)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), eps)

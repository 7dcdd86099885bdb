import numpy as np

from rrlib.vectors import normalize_rows


def test_rows_become_unit_and_zero_rows_stay_zero():
    out = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])

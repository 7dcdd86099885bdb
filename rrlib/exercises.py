"""Self-checks for the notebooks' exercises: a student fills in a value and runs the check."""
from __future__ import annotations

import numpy as np

__all__ = ["check"]


def check(answer, expected, *, tol: float = 1e-4, hint: str = "") -> bool | None:
    """Compare a student's ``answer`` with ``expected`` and say so.

    ``answer`` left as ``None`` (or ``...``) means "not tried yet": the check prints how to
    start and returns ``None`` instead of failing, so a notebook with open exercises still runs
    top to bottom. Numbers and arrays are compared within ``tol``.
    """
    if answer is None or answer is Ellipsis:
        print("not answered yet: replace None with your answer and run the cell again")
        return None
    try:
        ok = bool(np.allclose(np.asarray(answer, dtype=float), np.asarray(expected, dtype=float),
                              rtol=0, atol=tol))
    except (TypeError, ValueError):
        ok = answer == expected
    print("correct" if ok else f"not yet{': ' + hint if hint else ''}")
    return ok

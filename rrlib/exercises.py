"""Self-checks for the notebooks' exercises: a student fills in a value and runs the check.

A check must not give the answer away in its call. Two ways to write one:

* ``check(answer, expected)`` where ``expected`` is *computed* in the call (``ev.compute_map(...)``),
  never typed;
* ``check(answer, digest="3f2a9c0d")`` where the digest is :func:`answer_digest` of the right
  answer, computed once by the author: the call shows eight hex digits, not the answer. Numbers
  are rounded to ``decimals`` first, so any answer that rounds the same way is right; strings are
  compared case- and space-insensitively.
"""
from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["answer_digest", "check"]

_UNSET = object()


def _canonical(value, decimals: int) -> str:
    """The text an answer is hashed as: a stripped lower-case string, or numbers rounded to
    ``decimals`` (lists and arrays element by element; -0.0 written as 0.0)."""
    if isinstance(value, str):
        return "str:" + " ".join(value.lower().split())
    arr = np.asarray(value, dtype=float)
    if not np.isfinite(arr).all():
        raise ValueError(f"an answer must be finite, got {value!r}")
    rounded = np.round(arr, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"num{arr.shape}:" + ",".join(f"{v:.{decimals}f}" for v in rounded.ravel())


def answer_digest(value, decimals: int = 3) -> str:
    """Eight hex digits of SHA-256 of ``value`` in canonical form (see the module docstring)."""
    return hashlib.sha256(_canonical(value, decimals).encode()).hexdigest()[:8]


def check(answer, expected=_UNSET, *, digest: str | None = None, decimals: int = 3, tol: float = 1e-4,
          hint: str = "") -> bool | None:
    """Compare a student's ``answer`` with ``expected`` (numbers and arrays within ``tol``), or
    with ``digest`` = :func:`answer_digest` of the right answer at ``decimals``; say so.

    ``answer`` left as ``None`` (or ``...``) means "not tried yet": the check prints how to
    start and returns ``None`` instead of failing, so a notebook with open exercises still runs
    top to bottom. A wrong answer prints "not yet" and the hint and returns False (it never
    raises, so nbval keeps running).
    """
    if (expected is _UNSET) == (digest is None):
        raise TypeError("check needs exactly one of expected or digest=")
    if answer is None or answer is Ellipsis:
        print("not answered yet: replace None with your answer and run the cell again")
        return None
    if digest is not None:
        try:
            ok = answer_digest(answer, decimals) == digest.lower()
        except (TypeError, ValueError):
            ok = False
    else:
        try:
            ok = bool(np.allclose(np.asarray(answer, dtype=float), np.asarray(expected, dtype=float),
                                  rtol=0, atol=tol))
        except (TypeError, ValueError):
            ok = answer == expected
    print("correct" if ok else f"not yet{': ' + hint if hint else ''}")
    return ok

"""Checked results that hold on every machine: a number within a measured tolerance of its reference.

A notebook's headline numbers (mAP of a pipeline, a table of results) come out of SIMD kernels
(OpenCV's SIFT, faiss k-means, torch convolutions, BLAS): another CPU, another instruction set or
another thread count gives other last digits, and through k-means or SGD sometimes a visibly
different run. A check that compares printed digits pins one machine. :func:`expect` instead
prints the check without any measured digit (the name, the band and the reference, so that the
checked output of a notebook reads the same on every CPU) and raises :class:`ExpectationError` when it leaves the band
``|value - reference| <= tol``; under ``pytest --nbval-lax`` a raised error fails the cell, so a
broken pipeline still fails the notebook tests while a different CPU does not.

The tolerances in the notebooks are measured, not guessed: ``benchmarks/numeric_spread.py`` runs
the notebooks under other numeric code paths (generic SIMD kernels, one thread) and other seeds and
reports, for every check, the largest deviation from its reference next to its tolerance. It reads
what each call recorded: with the environment variable ``RRLIB_EXPECT_LOG`` set to a file path,
every checked value is appended to that file as one JSON line, and a value outside its band is
reported (``✗``) instead of raised, so that one measurement run records every check of a
notebook. Tests never set it.
"""
from __future__ import annotations

import json
import numbers
import os
from collections.abc import Mapping

import numpy as np

__all__ = ["ExpectationError", "check_integer", "expect"]

LOG_VARIABLE = "RRLIB_EXPECT_LOG"


class ExpectationError(AssertionError):
    """A checked result left its tolerance band."""


def expect(value, reference, tol: float, *, name: str, digits: int = 1):
    """Check ``|value - reference| <= tol`` elementwise; print the check (no measured digit: the
    line is a notebook's checked output and must read the same on every CPU); raise if it fails.

    Parameters
    ----------
    value, reference
        A number, an array, or a mapping of names to numbers or arrays (then ``reference`` is a
        mapping with the same keys, rows of a table). Arrays must have the same shape.
    tol : float
        Absolute tolerance, in the unit of the value (mAP points, a count, ...). Choose it from
        the measured spread of the value across machines and seeds (``benchmarks/numeric_spread.py``).
    name : str
        What is checked, for the printed line and the error message ("BoW, Medium mAP").
    digits : int
        Decimals of the printed numbers.

    Returns
    -------
    The value, unchanged, so that ``x = expect(f(), 84.6, 0.8, name=...)`` reads naturally.

    Raises
    ------
    ExpectationError
        When an element is outside its band (or NaN), naming each offending element (printed
        instead while ``RRLIB_EXPECT_LOG`` records the values of a measurement run).
    ValueError
        When the value and reference do not match in shape or keys, or ``tol`` is negative.
    """
    if not tol >= 0:
        raise ValueError(f"expect({name!r}): tol must be a non-negative number, got {tol!r}")
    labels, got, want = _flatten(value, reference, name)
    diff = np.abs(got - want)
    bad = ~(diff <= tol)  # NaN counts as outside
    measuring = _log(name, labels, got, want, tol)
    if bad.any():
        lines = [f"  {label}: {g:.{digits}f}, expected {w:.{digits}f} ± {tol:g} (off by {d:.{digits}f})"
                 for label, g, w, d, b in zip(labels, got, want, diff, bad) if b]
        message = (f"{name}: {int(bad.sum())} of {len(got)} value(s) outside the tolerance band\n"
                   + "\n".join(lines)
                   + "\nIf the change is intended, update the reference in the notebook "
                     "(and re-measure the spread with benchmarks/numeric_spread.py).")
        if measuring:
            print(f"✗ {message}")
            return value
        raise ExpectationError(message)
    if len(got) == 1:
        print(f"✓ {name}: within ± {tol:g} of the expected {want[0]:.{digits}f}")
    else:
        # no measured digit in this line: a checked notebook output must read the same on every CPU
        print(f"✓ {name}: all {len(got)} values within ± {tol:g} of the expected ones")
    return value


def _flatten(value, reference, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(labels, values, references) as flat float arrays, after checking that they correspond."""
    if isinstance(value, Mapping) or isinstance(reference, Mapping):
        if not (isinstance(value, Mapping) and isinstance(reference, Mapping)):
            raise ValueError(f"expect({name!r}): value and reference must both be mappings")
        if set(value) != set(reference):
            raise ValueError(f"expect({name!r}): keys differ: value has {sorted(map(str, value))}, "
                             f"reference has {sorted(map(str, reference))}")
        labels, got, want = [], [], []
        for k in reference:  # a number or an array per key (rows of a table)
            g, w = np.asarray(value[k], dtype=float), np.asarray(reference[k], dtype=float)
            if g.shape != w.shape:
                raise ValueError(f"expect({name!r}): {k!r} has shape {g.shape}, its reference {w.shape}")
            labels += [str(k)] if g.ndim == 0 else [f"{k} [{', '.join(map(str, ix))}]" for ix in np.ndindex(g.shape)]
            got += list(g.ravel())
            want += list(w.ravel())
        return labels, np.array(got), np.array(want)
    got, want = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
    if got.shape != want.shape:
        raise ValueError(f"expect({name!r}): value has shape {got.shape}, reference {want.shape}")
    labels = [name] if got.ndim == 0 else [f"[{', '.join(map(str, ix))}]" for ix in np.ndindex(got.shape)]
    return labels, got.ravel(), want.ravel()


def _log(name: str, labels: list[str], got: np.ndarray, want: np.ndarray, tol: float) -> bool:
    """Append the values to ``$RRLIB_EXPECT_LOG`` if it is set; True when it is (a measurement run)."""
    path = os.environ.get(LOG_VARIABLE)
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as fh:
        for label, g, w in zip(labels, got, want):
            key = name if label == name else f"{name} {label}"
            fh.write(json.dumps({"name": key, "value": float(g), "reference": float(w), "tol": tol}) + "\n")
    return True


def check_integer(value, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int >= minimum`` (the one argument check of counts, sizes and iteration
    limits in rrlib): a TypeError naming ``name`` for a float or bool, a ValueError if smaller."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)

"""Worker processes for the per-picture loops over a collection (joblib), one obvious home.

``n_jobs`` worker processes share a list of items cut into consecutive chunks; each worker runs
torch on one thread, so two workers use two cores where one process with two torch threads
leaves the numpy half of the work (EGM, MSER, matching) on one. The result of an item never
depends on the chunking: only the convolutions' last digits depend on the thread count.
Used by :mod:`rrlib.dsm` (description, matching) and :mod:`rrlib.god.pipeline` (its two passes).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["check_jobs", "chunks", "parallel"]


def check_jobs(n_jobs) -> int:
    """``n_jobs`` as an int; anything but a positive integer raises ValueError naming it."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive number of worker processes, got {n_jobs!r}")
    return int(n_jobs)


def chunks(n: int, n_jobs: int) -> list[range]:
    """``n`` items cut into at most ``n_jobs`` consecutive ranges of nearly equal length."""
    bounds = np.linspace(0, n, max(1, min(int(n_jobs), n)) + 1).round().astype(int)
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def parallel(fn: Callable, jobs: Sequence, n_jobs: int) -> list:
    """``[fn(job) for job in jobs]``, in ``n_jobs`` worker processes (joblib) when it is more than 1."""
    if n_jobs <= 1 or len(jobs) <= 1:
        return [fn(job) for job in jobs]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs)(delayed(fn)(job) for job in jobs)

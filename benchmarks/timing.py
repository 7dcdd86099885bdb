"""Timing helpers shared by the benchmarks (bench_mom, bench_god, bench_active): a timed call, the fastest
of a few repeats for cheap calls, a fixed machine-speed probe, and the scaling table against n.

Timings on a shared 2-core machine are noisy: the benchmarks report ratios measured in one run, and the
machine check shows whether the machine's speed changed during it."""
from __future__ import annotations

import math
import time

import numpy as np

from rrlib import graph


def timed(fn):
    """``(seconds, fn())``."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def timed_min(fn, short=0.2, repeat=5):
    """``timed``, but a call shorter than ``short`` seconds is repeated (``repeat`` calls in all) and the
    fastest kept: the time of a cheap call is otherwise mostly the machine's noise."""
    t, out = timed(fn)
    if t < short:
        t = min([t] + [timed(fn)[0] for _ in range(repeat - 1)])
    return t, out


def machine_check(dim, seed=1):
    """A fixed workload (faiss search of 768 queries among 20,000 vectors of ``dim`` dimensions), timed before
    every size: if the machine's speed changes during the run (another job; an OpenMP library sharing its
    cores can slow down several times), its time changes, and ratios across sizes mix scaling and load."""
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(20_000, dim)).astype(np.float32)
    Q = rng.normal(size=(768, dim)).astype(np.float32)
    return timed_min(lambda: graph.knn(R, 10, Q), short=1.0, repeat=3)[0]


def exponent(t0, t1, n0, n1):
    """``b`` of ``t ~ n^b`` between two measurements."""
    return math.log(t1 / t0) / math.log(n1 / n0) if t0 > 0 and t1 > 0 and n1 != n0 else float("nan")


def print_scaling(name, sizes, times):
    """One line per size: seconds (or why not measured, a string), ratio to the smallest measured size,
    exponent b of t ~ n^b from the previous measured size."""
    print(name)
    first = prev = None
    for n in sizes:
        t = times.get(n)
        if isinstance(t, str):
            print(f"  n = {n:>9,}: {t}")
            continue
        if first is None:
            first = (n, t)
            print(f"  n = {n:>9,}: {t:9.4f} s   x1 (reference)")
        else:
            b = exponent(prev[1], t, prev[0], n)
            print(f"  n = {n:>9,}: {t:9.4f} s   x{t / first[1]:<8.3g} (vs n = {first[0]:,})   "
                  f"n^{b:.2f} from n = {prev[0]:,}")
        prev = (n, t)

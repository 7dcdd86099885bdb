"""Progress of the long first-run computations, as a few plain lines.

The first run of a notebook builds caches for minutes (synth-landmarks, SIFT, vocabularies,
descriptors, the frozen maps of the training images, trained networks). :func:`progress` says
what is being built and how far it is, in at most a handful of printed lines -- never a redrawn
bar, so a notebook's stored output stays readable and ``scripts/run_notebooks.sh`` can echo the
lines to the terminal as they come. Warm runs load the caches and print nothing.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress", "say"]

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, *, total: int | None = None, enabled: bool = True,
             steps: int = 4) -> Iterator[T]:
    """Yield ``items``, printing ``desc`` at the start, after each ``1/steps`` of the way (with the
    elapsed and estimated remaining time) and at the end."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = 0
    if not enabled:
        yield from items
        return
    start = time.perf_counter()
    say(f"{desc}: {total:,} to do" if total else f"{desc} ...")
    done, mark = 0, 1
    for item in items:
        yield item
        done += 1
        if total and done < total and done * steps >= mark * total:
            elapsed = time.perf_counter() - start
            say(f"{desc}: {done:,} / {total:,} ({done / total:.0%}) in {_duration(elapsed)}, "
                f"about {_duration(elapsed * (total - done) / done)} left")
            mark = done * steps // total + 1
    say(f"{desc}: done ({done:,}) in {_duration(time.perf_counter() - start)}")


def say(message: str) -> None:
    """Print one progress line now (flushed, so that a terminal or notebook shows it at once)."""
    print(message, flush=True)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"

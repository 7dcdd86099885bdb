"""Execute notebooks in place, saying in the terminal what each one is doing.

    python scripts/run_notebooks.py notebooks/02_bow_spatial_verification.ipynb [...]

What ``jupyter nbconvert --execute --inplace`` does (same kernel, same stored outputs and timing
metadata), plus a live account on the terminal: every cell that takes more than a few seconds,
and what such a slow cell prints while it runs -- the progress of the caches that a first run
builds (synth-landmarks, SIFT, vocabularies, descriptors, trained networks; :mod:`rrlib.progress`).
Quick cells stay quiet. The executing is :func:`rrlib.reproduce.execute_notebook`, which
``python -m rrlib reproduce`` uses too.
Exit status 1 when a cell raises (the notebook is still saved, with the error in its output).

Stored figures are re-encoded as 256-colour PNGs (same pixel sizes; lossless for line plots,
near-lossless for photos) so that a notebook stays under 2 MB; ``--compact`` does only that,
without executing.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat

from rrlib.reproduce import compact_figures, execute_notebook


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take")
    ap.add_argument("--compact", action="store_true", help="only re-encode the stored figures; execute nothing")
    args = ap.parse_args()
    failed = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if not args.compact:
            print(f">> executing {path}", flush=True)
            start = time.time()
            error = execute_notebook(nb, path.parent, timeout=args.timeout)
            if error:
                print(f"   error: {error}", file=sys.stderr)
                failed.append(path)
            print(f"   done in {time.time() - start:.0f} s", flush=True)
        compact_figures(nb)
        nbformat.write(nb, path)
    if failed:
        sys.exit(f"cells raised errors in: {', '.join(map(str, failed))}")


if __name__ == "__main__":
    main()

"""Execute notebooks in place, saying in the terminal what each one is doing.

    python scripts/run_notebooks.py notebooks/02_bow_spatial_verification.ipynb [...]

What ``jupyter nbconvert --execute --inplace`` does (same kernel, same stored outputs and timing
metadata), plus a live account on the terminal: every cell that takes more than a few seconds,
and what such a slow cell prints while it runs -- the progress of the caches that a first run
builds (synth-landmarks, SIFT, vocabularies, descriptors, trained networks; :mod:`rrlib.progress`).
Quick cells stay quiet.
Exit status 1 when a cell raises (the notebook is still saved, with the error in its output).

Stored figures are re-encoded as 256-colour PNGs (same pixel sizes; lossless for line plots,
near-lossless for photos) so that a notebook stays under 2 MB; ``--compact`` does only that,
without executing.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import base64
import io

import nbformat
from PIL import Image
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

SLOW_CELL = 5.0  # seconds: cells at least this long are named in the terminal
ECHO_AFTER = 2.0  # seconds: a cell running this long has its printed lines echoed


class EchoingClient(NotebookClient):
    """A notebook client that also prints a slow cell's stdout lines to the terminal as they come."""

    cell_started = 0.0

    def output(self, outs, msg, display_id, cell_index):
        if (msg["msg_type"] == "stream" and msg["content"].get("name") == "stdout"
                and time.time() - self.cell_started >= ECHO_AFTER):
            for line in msg["content"]["text"].splitlines():
                if line.strip():
                    print(f"     | {line}", flush=True)
        return super().output(outs, msg, display_id, cell_index)


def first_code_line(cell) -> str:
    for line in cell.source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()[:70]
    return ""


def compact_figures(nb) -> None:
    """Re-encode every stored PNG with an adaptive 256-colour palette where that makes it smaller."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            raw = base64.b64decode(data["image/png"])
            image = Image.open(io.BytesIO(raw)).convert("RGB")
            small = io.BytesIO()
            image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                small, "PNG", optimize=True)
            if small.tell() < len(raw):
                data["image/png"] = base64.b64encode(small.getvalue()).decode("ascii")


def execute(path: Path, timeout: int) -> bool:
    nb = nbformat.read(path, as_version=4)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    order = {i: k for k, i in enumerate(i for i, c in enumerate(nb.cells) if c.cell_type == "code")}

    def on_start(cell, cell_index, **_):
        client.cell_started = time.time()

    def on_done(cell, cell_index, **_):
        took = time.time() - client.cell_started
        if took >= SLOW_CELL:
            print(f"   cell {order[cell_index] + 1}/{n_code} ({first_code_line(cell)}): {took:.0f} s", flush=True)

    client = EchoingClient(nb, timeout=timeout, kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
                           resources={"metadata": {"path": str(path.parent)}},
                           on_cell_start=on_start, on_cell_executed=on_done)
    ok = True
    try:
        client.execute()
    except CellExecutionError as e:
        ok = False
        last = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()[-1]  # without terminal colours
        print(f"   error: {last}", file=sys.stderr)
    compact_figures(nb)
    nbformat.write(nb, path)
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take")
    ap.add_argument("--compact", action="store_true", help="only re-encode the stored figures; execute nothing")
    args = ap.parse_args()
    if args.compact:
        for path in args.notebooks:
            nb = nbformat.read(path, as_version=4)
            compact_figures(nb)
            nbformat.write(nb, path)
        return
    failed = []
    for path in args.notebooks:
        print(f">> executing {path}", flush=True)
        start = time.time()
        if not execute(path, args.timeout):
            failed.append(path)
        print(f"   done in {time.time() - start:.0f} s", flush=True)
    if failed:
        sys.exit(f"cells raised errors in: {', '.join(map(str, failed))}")


if __name__ == "__main__":
    main()

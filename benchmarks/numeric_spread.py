"""Measure how far the notebooks' checked numbers move across numeric code paths and seeds.

Every headline number a notebook checks goes through :func:`rrlib.checks.expect`, with a reference
and a tolerance. This script executes the notebooks under several *variants* and reports, for each
check, the value each variant gave, its largest deviation from the reference, and the tolerance
the notebook uses -- the evidence behind the tolerances:

* ``native``: this machine as the README's commands run it (2 threads);
* ``one-thread``: one thread (other summation orders in BLAS, OpenMP reductions, faiss);
* ``generic-simd``: ``scripts/generic_simd.env`` -- torch, oneDNN, MKL, OpenCV, numpy and faiss
  pushed off their fastest SIMD kernels, one thread: what another CPU does to the digits;
* ``seed-1``, ``seed-2``: the notebooks' ``SEED`` parameter changed (k-means initialisation,
  RANSAC samples, training order): how far a chaotic pipeline moves when its trajectory changes,
  which is what a different CPU does to k-means and SGD in the worst case.

A numeric variant gets its own empty data root, so that every cache (synth-landmarks, SIFT,
vocabularies, descriptors, trained networks) is rebuilt under its code path, as on a new machine;
the seed variants reuse ``native``'s root (only the seeded steps are recomputed). A tolerance
must cover the numeric variants with room to spare; the seed columns show the scale of chaos.

    .venv/bin/python benchmarks/numeric_spread.py                    # all variants, notebooks 02-05
    .venv/bin/python benchmarks/numeric_spread.py --variants native generic-simd --notebooks 02
    .venv/bin/python benchmarks/numeric_spread.py --report-only      # re-read the last run's logs

Costs about as much as the cold notebook runs it makes (15-25 min per numeric variant on 2 cores;
``--jobs 2`` runs two one-thread variants side by side). Results go to ``--out`` (default
``data/numeric_spread``): executed notebooks, one JSON-lines log of checked values per notebook
and variant, ``times.json`` and ``report.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NUMERIC = ("native", "one-thread", "generic-simd")
SEEDS = ("seed-1", "seed-2")


def generic_simd_env() -> dict[str, str]:
    """The variables of ``scripts/generic_simd.env`` (the same file CI sources)."""
    env = {}
    for line in (ROOT / "scripts" / "generic_simd.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value.strip('"')
    return env


def variant_settings(name: str) -> tuple[dict[str, str], dict[str, object], str]:
    """(environment, notebook parameters, data-root group) of a variant."""
    if name == "native":
        return {"OMP_NUM_THREADS": "2"}, {}, "native"
    if name == "one-thread":
        return {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}, {}, "one-thread"
    if name == "generic-simd":
        return generic_simd_env(), {}, "generic-simd"
    if name.startswith("seed-"):
        return {"OMP_NUM_THREADS": "2"}, {"SEED": int(name.split("-", 1)[1])}, "native"
    raise SystemExit(f"unknown variant {name!r}: use {', '.join(NUMERIC + SEEDS)} or seed-N")


def with_parameters(src: Path, dest: Path, params: dict[str, object]) -> bool:
    """Copy a notebook, adding a cell after its ``parameters`` cell that overrides ``params``
    (papermill's convention). False when the notebook has none of these parameters."""
    nb = nbformat.read(src, as_version=4)
    if params:
        idx = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), None)
        if idx is None or not any(f"{k} =" in nb.cells[idx].source for k in params):
            return False
        lines = "\n".join(f"{k} = {v!r}" for k, v in params.items())
        cell = nbformat.v4.new_code_cell(f"# injected by benchmarks/numeric_spread.py\n{lines}")
        cell.metadata["tags"] = ["injected-parameters"]
        nb.cells.insert(idx + 1, cell)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return True


def run_group(variants: list[str], notebooks: list[Path], out: Path) -> dict[str, dict[str, float]]:
    """Execute the notebooks under each variant of one data-root group, in order."""
    times: dict[str, dict[str, float]] = {}
    for variant in variants:
        env_changes, params, group = variant_settings(variant)
        times[variant] = {}
        for src in notebooks:
            dest = out / variant / src.name
            log = out / variant / f"{src.stem}.jsonl"
            if not with_parameters(src, dest, params):
                continue  # nothing to vary (e.g. no SEED): the native run stands for it
            log.unlink(missing_ok=True)
            env = {**os.environ, **env_changes, "RRLIB_DATA": str(out / "roots" / group),
                   "RRLIB_EXPECT_LOG": str(log)}
            start = time.time()
            proc = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                                   "--allow-errors", "--inplace", "--ExecutePreprocessor.timeout=3600", str(dest)],
                                  env=env, capture_output=True, text=True)
            times[variant][src.stem] = round(time.time() - start, 1)
            status = "ok" if proc.returncode == 0 else f"nbconvert exit {proc.returncode}: {proc.stderr[-500:]}"
            print(f"[{variant}] {src.name}: {times[variant][src.stem]:.0f} s, {status}", flush=True)
    return times


def read_logs(out: Path, variants: list[str]) -> dict[str, dict[str, dict]]:
    """{notebook: {check name: {"reference", "tol", variant: value, ...}}} from the logs."""
    table: dict[str, dict[str, dict]] = {}
    for variant in variants:
        for log in sorted((out / variant).glob("*.jsonl")):
            for line in log.read_text().splitlines():
                row = json.loads(line)
                entry = table.setdefault(log.stem, {}).setdefault(row["name"], {})
                entry.update(reference=row["reference"], tol=row["tol"])
                entry[variant] = row["value"]
    return table


def report(table: dict[str, dict[str, dict]], variants: list[str]) -> str:
    numeric = [v for v in variants if v in NUMERIC]
    seeds = [v for v in variants if v not in NUMERIC]
    lines = ["| notebook | check | reference | tol | " + " | ".join(variants)
             + " | max dev. numeric | max dev. seeds | tol / numeric dev. |",
             "|" + "---|" * (len(variants) + 7)]
    worst = {}
    for nb, checks in table.items():
        for name, e in checks.items():
            def dev(vs):
                d = [abs(e[v] - e["reference"]) for v in vs if v in e]
                return max(d) if d else float("nan")
            dn, ds = dev(numeric), dev(seeds)
            ratio = e["tol"] / dn if dn > 0 else float("inf")
            flag = " **over tol**" if dn > e["tol"] else ""
            cells = [f"{e[v]:.4g}" if v in e else "-" for v in variants]
            lines.append(f"| {nb} | {name} | {e['reference']:.4g} | {e['tol']:g} | " + " | ".join(cells)
                         + f" | {dn:.3g}{flag} | {ds:.3g} | {ratio:.1f} |")
            w = worst.setdefault((nb, e["tol"]), [0.0, 0.0, 0])
            w[0], w[1], w[2] = max(w[0], dn if dn == dn else 0), max(w[1], ds if ds == ds else 0), w[2] + 1
    lines += ["", "Per notebook and tolerance: the largest deviation over all its checks.", "",
              "| notebook | tol | checks | max dev. numeric | max dev. seeds |", "|---|---|---|---|---|"]
    for (nb, tol), (dn, ds, n) in sorted(worst.items()):
        lines.append(f"| {nb} | {tol:g} | {n} | {dn:.3g} | {ds:.3g} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", nargs="+", default=list(NUMERIC + SEEDS))
    ap.add_argument("--notebooks", nargs="+", default=["02", "03", "04", "05"],
                    help="notebook numbers (01 checks only exact values)")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "numeric_spread")
    ap.add_argument("--jobs", type=int, default=1, help="data-root groups run side by side")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    for v in args.variants:
        variant_settings(v)  # fail early on a typo
    notebooks = [p for n in args.notebooks for p in sorted((ROOT / "notebooks").glob(f"{n}_*.ipynb"))]
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        groups: dict[str, list[str]] = {}
        for v in args.variants:
            groups.setdefault(variant_settings(v)[2], []).append(v)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda vs: run_group(vs, notebooks, args.out), groups.values()))
        times = {k: v for r in results for k, v in r.items()}
        (args.out / "times.json").write_text(json.dumps(times, indent=1))
    text = report(read_logs(args.out, args.variants), args.variants)
    (args.out / "report.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""Execute the notebooks and write what they reproduced: ``python -m rrlib reproduce``.

    python -m rrlib reproduce                      # every notebook on the embedded default data
    python -m rrlib reproduce 03 05 --dataset roxford5k
    python -m rrlib reproduce --full               # also paper mode on every benchmark in the data root

Each notebook is executed (nbclient, the kernel of this Python) with its ``parameters`` cell kept and
a cell of overrides injected after it, as papermill does; the executed copy is saved under
``<out>/notebooks/`` and the notebook in ``notebooks/`` is left as it is. While it runs,
:mod:`rrlib.ledger` appends what the notebook reports (measured values and checked claims) to a
log that this module reads back, and :func:`write_report` turns it into ``REPRODUCTION.md``: one
row per ledger target with the reported value, ours (only what a notebook measured; never a
reported number), the data ours was measured on and the status:

- *matches within tolerance* / *differs by ±x*: the notebook measured the target's own setting;
- *trend reproduced on <data>* / *trend not reproduced on <data>*: the target's setting needs data
  or a network that is not here, but the notebook checked the source's claim on the embedded data;
- *needs a GPU: ...* / *needs data: ...*: not run here, with what it takes (the download command);
- *notebook failed: ...*: the notebook raised; the other notebooks still run.

The same module executes notebooks in place for ``scripts/run_notebooks.py`` (the main job):
:func:`execute_notebook` echoes slow cells and the progress of caches being built.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

from rrlib import ledger

__all__ = ["Run", "execute_notebook", "find_notebooks", "inject_parameters", "read_log", "reproduce",
           "target_rows", "write_report"]

SLOW_CELL = 5.0  # seconds: cells at least this long are named in the terminal
ECHO_AFTER = 2.0  # seconds: a cell running this long has its printed lines echoed
PAPER_DATASETS = ("roxford5k", "rparis6k")  # what --full runs each DATASET notebook on, when present


def repo_root() -> Path:
    """The checkout this rrlib was imported from (the notebooks live in its ``notebooks/``)."""
    return Path(__file__).resolve().parent.parent


def find_notebooks(numbers: Iterable[str] = (), folder: Path | None = None) -> list[Path]:
    """The notebooks ``NN_*.ipynb`` of ``folder`` (default: the checkout's), all or those numbered."""
    folder = folder or repo_root() / "notebooks"
    found = {p.name[:2]: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}
    if not found:
        raise FileNotFoundError(f"no notebooks NN_*.ipynb in {folder}: reproduce runs the notebooks of a "
                                "checkout (git clone the repository and pip install -e it)")
    wanted = [f"{int(n):02d}" if str(n).isdigit() else str(n) for n in numbers]
    unknown = [n for n in wanted if n not in found]
    if unknown:
        raise ValueError(f"no notebook numbered {', '.join(unknown)}; there are {', '.join(found)}")
    return [found[n] for n in (wanted or found)]


# ---------------------------------------------------------------------------------------------
# Executing a notebook


def _parameters_index(nb) -> int:
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    raise ValueError("the notebook has no cell tagged 'parameters'")


def parameter_names(nb) -> set[str]:
    """Names assigned at the top level of the notebook's ``parameters`` cell."""
    source = nb.cells[_parameters_index(nb)].source
    lines = re.findall(r"^([A-Z_][A-Z0-9_]*(?:\s*,\s*[A-Z_][A-Z0-9_]*)*)\s*=", source, flags=re.M)
    return {name.strip() for line in lines for name in line.split(",")}


def inject_parameters(nb, params: Mapping[str, object]) -> None:
    """Insert a cell assigning ``params`` right after the ``parameters`` cell (papermill's convention:
    tagged ``injected-parameters``). Names the notebook does not define are an error, not ignored."""
    import nbformat

    if not params:
        return
    unknown = set(params) - parameter_names(nb)
    if unknown:
        raise ValueError(f"the notebook has no parameter {', '.join(sorted(unknown))}")
    source = "# Parameters injected by python -m rrlib reproduce\n" + "".join(
        f"{name} = {value!r}\n" for name, value in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(_parameters_index(nb) + 1, cell)


def _first_code_line(cell) -> str:
    for line in cell.source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()[:70]
    return ""


def compact_figures(nb) -> None:
    """Re-encode every stored PNG with an adaptive 256-colour palette where that makes it smaller."""
    from PIL import Image

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


def execute_notebook(nb, cwd: Path, *, timeout: int | None = None, env: Mapping[str, str] | None = None,
                     echo: bool = True) -> str | None:
    """Execute ``nb`` (an nbformat notebook, outputs stored in it) in a kernel started in ``cwd``.

    With ``echo``, every cell that takes at least SLOW_CELL seconds is named on stdout, and what a
    slow cell prints is echoed as it comes (the progress of the caches a first run builds).
    ``env`` is added to the kernel's environment. Returns None, or the error of the cell that raised
    (execution stops there; the outputs so far are in ``nb``).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    n_code = sum(c.cell_type == "code" for c in nb.cells)
    order = {i: k for k, i in enumerate(i for i, c in enumerate(nb.cells) if c.cell_type == "code")}
    started = [0.0]

    class EchoingClient(NotebookClient):
        def output(self, outs, msg, display_id, cell_index):
            if (echo and msg["msg_type"] == "stream" and msg["content"].get("name") == "stdout"
                    and time.time() - started[0] >= ECHO_AFTER):
                for line in msg["content"]["text"].splitlines():
                    if line.strip():
                        print(f"     | {line}", flush=True)
            return super().output(outs, msg, display_id, cell_index)

    def on_start(cell, cell_index, **_):
        started[0] = time.time()

    def on_done(cell, cell_index, **_):
        took = time.time() - started[0]
        if echo and took >= SLOW_CELL:
            print(f"   cell {order[cell_index] + 1}/{n_code} ({_first_code_line(cell)}): {took:.0f} s", flush=True)

    client = EchoingClient(nb, timeout=timeout, kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
                           resources={"metadata": {"path": str(cwd)}}, on_cell_start=on_start,
                           on_cell_executed=on_done)
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})  # the kernel inherits this process's environment
    try:
        client.execute()
    except CellExecutionError as e:
        lines = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()  # without terminal colours
        return lines[-1] if lines else type(e).__name__
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return None


# ---------------------------------------------------------------------------------------------
# Reproducing: runs, the ledger log, the report


@dataclass
class Run:
    """One execution of one notebook: what was set, how long it took, what it reported."""

    notebook: str  # "03"
    title: str
    params: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    records: list = field(default_factory=list)  # the ledger log lines of this run
    when: str = ""  # UTC, when it ended

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Run":
        return cls(**json.loads(Path(path).read_text()))


def saved_runs(out: Path, folder: Path | None = None) -> list[Run]:
    """The runs saved under ``<out>/runs/`` of notebooks that still exist, in notebook order: a later
    ``reproduce 03`` replaces notebook 03's run and keeps the others, so the report stays whole."""
    numbers = {p.name[:2] for p in find_notebooks((), folder)}
    runs = [Run.load(p) for p in sorted(Path(out, "runs").glob("*.json"))]
    return [r for r in runs if r.notebook in numbers]


def read_log(path: Path) -> list[dict]:
    """The JSON lines :mod:`rrlib.ledger` appended to ``path`` (none if the file is absent)."""
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def _present(dataset: str, root) -> bool:
    from rrlib.datasets import get
    from rrlib.datasets.registry import resolve_root

    try:
        return not get(dataset).pending(resolve_root(root))
    except Exception:  # an unknown name or an unreadable root: not present
        return False


def plan(paths: list[Path], dataset: str | None = None, full: bool = False, root=None) -> list[tuple[Path, dict]]:
    """(notebook, parameters) pairs to execute: the default once per notebook (or ``dataset`` where the
    notebook has a DATASET parameter), and with ``full`` each paper dataset present in the data root too."""
    import nbformat

    jobs = []
    for path in paths:
        names = parameter_names(nbformat.read(path, as_version=4))
        if dataset and "DATASET" in names:
            jobs.append((path, {"DATASET": dataset}))
        else:
            jobs.append((path, {}))
        if full and "DATASET" in names:
            jobs += [(path, {"DATASET": d}) for d in PAPER_DATASETS if d != dataset and _present(d, root)]
    return jobs


def reproduce(numbers: Iterable[str] = (), *, dataset: str | None = None, full: bool = False,
              out: Path | None = None, report: Path | None = None, root=None, echo: bool = True,
              folder: Path | None = None) -> list[Run]:
    """Execute the notebooks, collect their ledger records and write the report; returns the runs.

    ``out`` (default ``<checkout>/reproduction``) receives the executed copies (``notebooks/``) and each
    run's record (``runs/``); ``report`` (default ``<checkout>/REPRODUCTION.md``) the table of every run
    saved in ``out``, so that reproducing a few notebooks updates their rows and keeps the others.
    A notebook that raises is reported with its error and the others still run. ``root`` is the data
    root (default: rrlib's, $RRLIB_DATA). Returns the runs of this call.
    """
    import nbformat

    paths = find_notebooks(numbers, folder)
    out = Path(out or repo_root() / "reproduction")
    for sub in ("notebooks", "runs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    env = {"RRLIB_DATA": str(root)} if root else {}
    runs = []
    for path, params in plan(paths, dataset, full, root):
        nb = nbformat.read(path, as_version=4)
        run = Run(path.name[:2], _title(nb), params)
        suffix = f"_{params['DATASET']}" if params else ""
        print(f">> {path.name}{f' with {params}' if params else ''}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "ledger.jsonl"
            start = time.time()
            try:
                inject_parameters(nb, params)
                run.error = execute_notebook(nb, path.parent, env={**env, ledger.LOG_ENV: str(log)}, echo=echo)
            except Exception as e:  # the kernel did not start, a parameter is unknown...: reported, go on
                run.error = f"{type(e).__name__}: {e}"
            run.seconds = time.time() - start
            run.records = read_log(log)
        run.when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        compact_figures(nb)
        nbformat.write(nb, out / "notebooks" / f"{path.stem}{suffix}.ipynb")
        run.save(out / "runs" / f"{path.stem}{suffix}.json")
        print(f"   {'failed: ' + run.error if run.error else 'done'} in {run.seconds:.0f} s", flush=True)
        runs.append(run)
    write_report(saved_runs(out, folder), Path(report or repo_root() / "REPRODUCTION.md"))
    return runs


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def target_rows(runs: list[Run]) -> list[dict]:
    """One row per ledger target of the notebooks run: reported, ours, data, status.

    Ours comes only from what a notebook passed to :func:`rrlib.ledger.report` for that target;
    a trend verdict fills the status, never the ours column.
    """
    rows = []
    for number in dict.fromkeys(r.notebook for r in runs):
        mine = [r for r in runs if r.notebook == number]
        ours, trends = {}, {}
        for run in mine:
            for rec in run.records:
                if rec["kind"] == "ours":
                    for tid, value in rec["ours"].items():
                        ours[tid] = (float(value), rec["data"] or "this run")
                elif rec["kind"] == "trend":
                    for tid in rec["ids"]:
                        trends[tid] = rec
        failed = [r for r in mine if r.error]
        for t in ledger.targets(number):
            row = {"id": t.id, "notebook": number, "source": t.source, "method": t.method, "dataset": t.dataset,
                   "setup": t.setup, "metric": t.metric, "reported": _fmt(t.reported), "ours": "–", "data": "–"}
            if t.id in ours:
                value, data = ours[t.id]
                diff = value - t.reported
                row.update(ours=_fmt(value), data=data, status="matches within tolerance"
                           if t.matches(value) else f"differs by {diff:+.2f} (tolerance {t.tolerance:g})")
            elif t.id in trends:
                rec = trends[t.id]
                verdict = "reproduced" if rec["holds"] else "not reproduced"
                row.update(data=rec["data"], status=f"trend {verdict} on {rec['data']}: {rec['claim']}")
            elif failed and len(failed) == len(mine):
                row["status"] = f"notebook failed: {failed[0].error}"
            elif "GPU" in t.needs:
                row["status"] = f"needs a GPU: {t.needs}"
            else:
                row["status"] = f"needs data: {t.needs}"
            rows.append(row)
    return rows


STATUS_KINDS = ("matches within tolerance", "differs by", "trend reproduced", "trend not reproduced",
                "needs data", "needs a GPU", "notebook failed")


def summary(rows: list[dict]) -> dict[str, int]:
    """How many targets are in each kind of status."""
    counts = dict.fromkeys(STATUS_KINDS, 0)
    for row in rows:
        counts[next(k for k in STATUS_KINDS if row["status"].startswith(k))] += 1
    return counts


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(repo_root()), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_report(runs: list[Run], path: Path) -> str:
    """Write ``REPRODUCTION.md`` for ``runs`` to ``path``; returns its text."""
    rows = target_rows(runs)
    counts = summary(rows)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Reproduction report", "",
             f"Written by `python -m rrlib reproduce` on {when} (rrlib at commit {_commit()}, "
             f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}).",
             "*Reported* is the number printed by the source (its table and row in the source column); "
             "*ours* is only what a notebook measured in the same setting, on the data named beside it. "
             "A *trend* status checks the source's claim on the embedded data, without a number of ours.", "",
             f"**{len(rows)} ledger targets**: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + ".", "",
             "## Notebooks", "", "| notebook | parameters | run | time | result |", "|---|---|---|---|---|"]
    for r in runs:
        params = ", ".join(f"{k} = {v!r}" for k, v in r.params.items()) or "defaults"
        result = f"failed: {_cell(r.error)}" if r.error else "ran"
        lines.append(f"| {_cell(r.title or r.notebook)} | {_cell(params)} | {r.when} | {r.seconds:.0f} s | {result} |")
    head = "| target | source | method / dataset | setup | metric | reported | ours | ours measured on | status |"
    for number in dict.fromkeys(r.notebook for r in runs):
        mine = [row for row in rows if row["notebook"] == number]
        title = next(r.title for r in runs if r.notebook == number)
        lines += ["", f"## {title or number}", ""]
        if not mine:
            lines.append("No ledger target: this notebook reproduces no reported number.")
            continue
        lines += [head, "|---|---|---|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(_cell(row[k]) for k in ("id", "source")) + f" | {_cell(row['method'])} / "
                  f"{_cell(row['dataset'])} | " + " | ".join(_cell(row[k]) for k in
                                                          ("setup", "metric", "reported", "ours", "data", "status"))
                  + " |" for row in mine]
    text = "\n".join(lines) + "\n"
    Path(path).write_text(text)
    return text


def main(args) -> int:
    """The ``reproduce`` command (arguments parsed by :mod:`rrlib.__main__`); exit 1 if a notebook failed."""
    out = args.out or repo_root() / "reproduction"
    runs = reproduce(args.notebooks, dataset=args.dataset, full=args.full, out=out, report=args.report,
                     root=args.root)
    rows = target_rows(saved_runs(out))
    print(f">> {args.report or repo_root() / 'REPRODUCTION.md'}: {len(rows)} targets: "
          + ", ".join(f"{n} {k}" for k, n in summary(rows).items() if n))
    failed = [r.notebook for r in runs if r.error]
    if failed:
        print(f"error: notebooks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0

"""``python -m rrlib reproduce``: parameters injected, ledger records collected, REPRODUCTION.md."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

from rrlib import ledger
from rrlib import reproduce as rp
from rrlib.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def _notebook(params: str, *body: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A tiny notebook"),
                nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in body]
    return nb


def test_parameter_names_and_injection():
    nb = _notebook('DATASET = "synth-landmarks"   # a comment\nK, KQ = 10, 5\nTOL_MAP = 0.3\nx = 1\n')
    assert rp.parameter_names(nb) == {"DATASET", "K", "KQ", "TOL_MAP"}
    rp.inject_parameters(nb, {"DATASET": "roxford5k", "K": 20})
    cell = nb.cells[2]
    assert cell.metadata["tags"] == ["injected-parameters"]
    assert "DATASET = 'roxford5k'\nK = 20\n" in cell.source
    with pytest.raises(ValueError, match="no parameter NOPE"):
        rp.inject_parameters(nb, {"NOPE": 1})
    with pytest.raises(ValueError, match="tagged 'parameters'"):
        rp.parameter_names(nbformat.v4.new_notebook())


def test_find_notebooks_checks_numbers(tmp_path):
    for name in ("01_a.ipynb", "03_b.ipynb"):
        nbformat.write(_notebook("X = 1"), tmp_path / name)
    assert [p.name for p in rp.find_notebooks([], tmp_path)] == ["01_a.ipynb", "03_b.ipynb"]
    assert [p.name for p in rp.find_notebooks(["3"], tmp_path)] == ["03_b.ipynb"]
    with pytest.raises(ValueError, match="no notebook numbered 02; there are 01, 03"):
        rp.find_notebooks(["02"], tmp_path)
    with pytest.raises(FileNotFoundError):
        rp.find_notebooks([], tmp_path / "empty")


def _run(number: str, records: list[dict], error: str | None = None) -> rp.Run:
    return rp.Run(number, "title", records=records, error=error)


def test_rows_fill_ours_only_from_measured_values():
    t = ledger.targets("01")
    measured = {t[0].id: t[0].reported + 0.005, t[1].id: t[1].reported + 3.0}
    rows = rp.target_rows([_run("01", [
        {"kind": "ours", "notebook": "01", "data": "toy", "ours": measured},
        {"kind": "trend", "notebook": "01", "ids": [t[2].id], "holds": False, "data": "synth", "claim": "A beats B"},
    ])])
    by_id = {r["id"]: r for r in rows}
    assert [r["id"] for r in rows] == [x.id for x in t]  # every target, in the ledger's order
    assert by_id[t[0].id]["status"] == "matches within tolerance" and by_id[t[0].id]["data"] == "toy"
    assert by_id[t[1].id]["status"].startswith("differs by +3.00")
    assert by_id[t[1].id]["ours"] == f"{t[1].reported + 3:.2f}"
    assert by_id[t[2].id]["ours"] == "–"  # a trend is a verdict, never a number of ours
    assert by_id[t[2].id]["status"] == "trend not reproduced on synth: A beats B"
    for row in rows[3:]:  # nothing measured: the reported number never reaches the ours column
        assert row["ours"] == "–" and row["status"].startswith(("needs data", "needs a GPU"))


def test_rows_of_a_failed_notebook_and_of_gpu_targets():
    rows = rp.target_rows([_run("09", [], error="ZeroDivisionError: boom")])
    assert {r["status"] for r in rows} == {"notebook failed: ZeroDivisionError: boom"}
    gpu = [t for t in ledger.targets("04") if "GPU" in t.needs]
    assert gpu, "notebook 04's paper recipe rows say they need a GPU"
    rows = {r["id"]: r for r in rp.target_rows([_run("04", [])])}
    assert all(rows[t.id]["status"].startswith("needs a GPU") for t in gpu)


def test_trend_checks_its_arguments(monkeypatch, tmp_path):
    monkeypatch.setenv(ledger.LOG_ENV, str(tmp_path / "log.jsonl"))
    tid = ledger.targets("10")[0].id
    line = ledger.trend("10", tid, True, data="synth-landmarks", claim="X beats Y")
    assert line.startswith("the source's claim holds on synth-landmarks: X beats Y")
    with pytest.raises(KeyError):
        ledger.trend("10", ["no-such-id"], True, data="d", claim="c")
    with pytest.raises(ValueError):
        ledger.trend("10", [], True, data="d", claim="c")
    with pytest.raises(ValueError):
        ledger.trend("10", tid, True, data="", claim="c")
    ledger.report("01", {"rgem-roxf-E": 84.81}, data="toy")
    assert rp.read_log(tmp_path / "log.jsonl") == [
        {"kind": "trend", "notebook": "10", "ids": [tid], "holds": True, "data": "synth-landmarks",
         "claim": "X beats Y"},
        {"kind": "ours", "notebook": "01", "data": "toy", "ours": {"rgem-roxf-E": 84.81}}]


def test_reproduce_executes_collects_and_goes_on_after_a_failure(tmp_path, capsys):
    """Two real kernels: notebook 01 reports a value and a trend under an injected parameter, notebook
    02 raises; the report lists every target of both, and the command exits 1."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(_notebook(
        'DATASET = "synth-landmarks"',
        "from rrlib import ledger\n"
        "assert DATASET == 'roxford5k', DATASET\n"
        "print(ledger.report('01', {'rgem-roxf-E': 84.81}, data=DATASET))\n"
        "print(ledger.trend('01', ['rgem-roxf-M'], True, data='synth-landmarks', claim='a claim'))"),
        folder / "01_first.ipynb")
    nbformat.write(_notebook("SEED = 0", "1 / 0"), folder / "02_second.ipynb")
    report = tmp_path / "REPRODUCTION.md"
    runs = rp.reproduce(dataset="roxford5k", out=tmp_path / "out", report=report, folder=folder, echo=False)
    assert [(r.notebook, r.params) for r in runs] == [("01", {"DATASET": "roxford5k"}), ("02", {})]
    assert runs[0].error is None and "ZeroDivisionError" in runs[1].error
    assert (tmp_path / "out" / "notebooks" / "01_first_roxford5k.ipynb").exists()
    assert (tmp_path / "out" / "notebooks" / "02_second.ipynb").exists()
    text = report.read_text()
    for t in ledger.targets("01") + ledger.targets("02"):
        assert f"| {t.id} |" in text
    assert re.search(r"\| rgem-roxf-E \|.*\| 84\.81 \| 84\.81 \| roxford5k \| matches within tolerance \|", text)
    assert re.search(r"\| rgem-roxf-M \|.*\| – \| synth-landmarks \| trend reproduced on synth-landmarks", text)
    assert "notebook failed: ZeroDivisionError" in text
    # a later run of one notebook replaces its rows and keeps the others' (the runs saved in out/runs)
    nbformat.write(_notebook("SEED = 0", "print(1)"), folder / "02_second.ipynb")
    again = rp.reproduce(["2"], out=tmp_path / "out", report=report, folder=folder, echo=False)
    assert [(r.notebook, r.error) for r in again] == [("02", None)]
    text = report.read_text()
    assert "notebook failed" not in text and "| 84.81 | 84.81 | roxford5k | matches within tolerance |" in text


def test_command_line_rejects_an_unknown_notebook(capsys):
    assert main(["reproduce", "99"]) == 2
    assert "no notebook numbered 99" in capsys.readouterr().err


def _table_rows(text: str) -> list[list[str]]:
    head = "| target | source |"
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith(head):
            inside = True
        elif inside and line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        elif not line.startswith("|"):
            inside = False
    return rows


def test_committed_report_lists_every_target_and_no_reported_value_as_ours():
    """The committed REPRODUCTION.md (the embedded default): every ledger target once; an ours cell holds
    a number only where a notebook measured the target's own setting (status matches / differs)."""
    path = ROOT / "REPRODUCTION.md"
    assert path.exists(), "REPRODUCTION.md is written by `python -m rrlib reproduce` and committed"
    rows = _table_rows(path.read_text())
    ids = [r[0] for r in rows]
    assert sorted(ids) == sorted(t.id for t in ledger.targets()), "every ledger target, each once"
    for row in rows:
        ours, status = row[6], row[8]
        if ours != "–":
            assert status.startswith(("matches within tolerance", "differs by")), row
        else:
            assert not status.startswith(("matches", "differs")), row

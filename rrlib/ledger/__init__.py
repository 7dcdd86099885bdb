"""The reproduction ledger: what the papers report, what we measured, and whether they agree.

``targets.csv`` beside this file lists every *reported* number a notebook tries to reproduce,
with its source and what a user needs to run it. A notebook measures its own values and calls
:func:`report`, which prints one line per target: reported, ours (or why it was not run here),
and the status. Reported numbers are never filled in as ours. Where a notebook cannot measure a
target's own setting (no such data or network here) but checks the target's *claim* on the embedded
data (a ranking of methods, a gain, a collapse), it calls :func:`trend` with the verdict.

When the environment variable ``RRLIB_LEDGER_LOG`` names a file, :func:`report` and :func:`trend`
also append what they were given to it as JSON lines: this is how ``python -m rrlib reproduce``
collects the values of notebooks it executes (:mod:`rrlib.reproduce`).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

__all__ = ["LOG_ENV", "Target", "report", "targets", "trend"]

_CSV = Path(__file__).with_name("targets.csv")
LOG_ENV = "RRLIB_LEDGER_LOG"


def _log(record: dict) -> None:
    """Append ``record`` as one JSON line to $RRLIB_LEDGER_LOG, when it is set."""
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


@dataclass(frozen=True)
class Target:
    id: str
    notebook: str
    method: str
    dataset: str
    setup: str
    metric: str
    reported: float
    tolerance: float
    source: str
    needs: str

    def matches(self, value: float) -> bool:
        """Whether a value measured in this target's own setting reproduces it: within ``tolerance``."""
        return abs(value - self.reported) <= self.tolerance


def targets(notebook: str | None = None) -> list[Target]:
    """The ledger rows, optionally only those of one notebook (``"01"``, ``"03"``...)."""
    with open(_CSV, newline="") as f:
        rows = [
            Target(**{**r, "reported": float(r["reported"]), "tolerance": float(r["tolerance"])})
            for r in csv.DictReader(f)
        ]
    return [t for t in rows if notebook is None or t.notebook == notebook]


def _check_ids(notebook: str, ids) -> None:
    unknown = set(ids) - {t.id for t in targets(notebook)}
    if unknown:
        raise KeyError(f"no ledger target {sorted(unknown)} for notebook {notebook}")


def trend(notebook: str, ids, holds: bool, *, data: str, claim: str) -> str:
    """Record whether a reported *claim* holds on other data, for the targets ``ids`` behind it.

    For a target whose own setting cannot run here: ``claim`` says what the source's numbers show
    ("Contr+ beats Contr in asymmetric testing"), ``holds`` whether the same comparison made on
    ``data`` (the embedded collection) shows it too. No value is filled in as ours: the reported
    numbers stay reported, and the verdict is about a direction, not a number.
    Returns the one-line verdict (a notebook prints it).
    """
    ids = [ids] if isinstance(ids, str) else list(ids)
    if not ids:
        raise ValueError("trend() needs at least one ledger target id")
    _check_ids(notebook, ids)
    if not data or not claim:
        raise ValueError("trend() needs the data it was checked on and the claim, in words")
    _log({"kind": "trend", "notebook": notebook, "ids": ids, "holds": bool(holds), "data": data, "claim": claim})
    verdict = "holds" if holds else "does not hold"
    rows = ", ".join(ids) if len(ids) <= 3 else f"{ids[0]} and {len(ids) - 1} more"
    return f"the source's claim {verdict} on {data}: {claim} (ledger: {rows})"


def report(notebook: str, ours: Mapping[str, float] | None = None, *, data: str = "") -> str:
    """A text table of the notebook's targets: reported (paper) vs reproduced (ours).

    ``ours`` maps target ids to the values this run measured; a target without a value is
    shown as "not run here" with what it needs. ``data`` names what ours was measured on.
    """
    ours = {k: float(v) for k, v in (ours or {}).items()}
    _check_ids(notebook, ours)
    _log({"kind": "ours", "notebook": notebook, "data": data, "ours": ours})
    head = ["method / dataset", "setup", "metric", "reported", f"ours{f' ({data})' if data else ''}", "status"]
    lines, missing = [], []
    for t in targets(notebook):
        if t.id in ours:
            diff = ours[t.id] - t.reported
            status = "reproduced" if t.matches(ours[t.id]) else f"differs by {diff:+.2f}"
            ours_text = f"{ours[t.id]:.2f}"
        else:
            ours_text, status = "-", "not run here"
            missing.append(t.needs)
        lines.append([f"{t.method} / {t.dataset}", t.setup, t.metric, f"{t.reported:.2f}", ours_text, status])
    widths = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    out += [fmt.format(*r).rstrip() for r in lines]
    out += ["", "reported = as printed by the source; ours = measured by this run."]
    out += ["sources: " + "; ".join(dict.fromkeys(t.source for t in targets(notebook)))]
    out += [f"not run here: needs {need}" for need in dict.fromkeys(missing)]
    return "\n".join(out)

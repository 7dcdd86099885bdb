"""The reproduction ledger: what the papers report, what we measured, and whether they agree.

``targets.csv`` beside this file lists every *reported* number a notebook tries to reproduce,
with its source and what a user needs to run it. A notebook measures its own values and calls
:func:`report`, which prints one line per target: reported, ours (or why it was not run here),
and the status. Reported numbers are never filled in as ours.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

__all__ = ["Target", "report", "targets"]

_CSV = Path(__file__).with_name("targets.csv")


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


def targets(notebook: str | None = None) -> list[Target]:
    """The ledger rows, optionally only those of one notebook (``"01"``, ``"03"``...)."""
    with open(_CSV, newline="") as f:
        rows = [
            Target(**{**r, "reported": float(r["reported"]), "tolerance": float(r["tolerance"])})
            for r in csv.DictReader(f)
        ]
    return [t for t in rows if notebook is None or t.notebook == notebook]


def report(notebook: str, ours: Mapping[str, float] | None = None, *, data: str = "") -> str:
    """A text table of the notebook's targets: reported (paper) vs reproduced (ours).

    ``ours`` maps target ids to the values this run measured; a target without a value is
    shown as "not run here" with what it needs. ``data`` names what ours was measured on.
    """
    ours = dict(ours or {})
    unknown = set(ours) - {t.id for t in targets(notebook)}
    if unknown:
        raise KeyError(f"no ledger target {sorted(unknown)} for notebook {notebook}")
    head = ["method / dataset", "setup", "metric", "reported", f"ours{f' ({data})' if data else ''}", "status"]
    lines, missing = [], []
    for t in targets(notebook):
        if t.id in ours:
            diff = ours[t.id] - t.reported
            status = "reproduced" if abs(diff) <= t.tolerance else f"differs by {diff:+.2f}"
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

import pytest

from rrlib import ledger
from rrlib.exercises import check


def test_ledger_rows_are_well_formed():
    rows = ledger.targets("01")
    assert {t.id for t in rows} >= {"rgem-roxf-M", "rgem-rpar-H"}
    m = next(t for t in rows if t.id == "rgem-roxf-M")
    assert (m.reported, m.setup, m.metric, m.dataset) == (64.67, "medium", "mAP", "roxford5k")


def test_report_marks_reproduced_differs_and_not_run():
    text = ledger.report("01", {"rgem-roxf-M": 64.67, "rgem-roxf-H": 38.0}, data="toy")
    assert any("64.67" in r and "reproduced" in r for r in text.splitlines())
    assert any("38.00" in r and "differs by -0.47" in r for r in text.splitlines())
    assert any("rparis6k" in r and "not run here" in r for r in text.splitlines())
    assert "ours (toy)" in text
    with pytest.raises(KeyError):
        ledger.report("01", {"no-such-target": 1.0})


def test_check_answers(capsys):
    assert check(None, 1.0) is None
    assert check(0.74616, 5641 / 7560) is True
    assert check(0.7, 5641 / 7560, hint="mean of precisions") is False
    assert check([1, 2], [1, 2]) is True
    assert check("medium", "medium") is True
    out = capsys.readouterr().out
    assert "not answered yet" in out and "correct" in out and "mean of precisions" in out

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


def test_check_by_digest_hides_the_answer_and_accepts_equivalent_forms(capsys):
    from rrlib.exercises import answer_digest

    d = answer_digest(5641 / 7560)  # 0.746 at 3 decimals
    assert len(d) == 8 and "0.746" not in d
    assert check(0.7462, digest=d) is True          # rounds to the same 3 decimals
    assert check(0.7475, digest=d) is False         # rounds to 0.748
    assert check("Medium ", digest=answer_digest("medium")) is True
    assert check("hard", digest=answer_digest("medium")) is False
    assert check([1, 2], digest=answer_digest([1.0, 2.0])) is True
    assert check([2, 1], digest=answer_digest([1, 2])) is False
    assert check(-0.0001, digest=answer_digest(0.0)) is True
    assert check(float("nan"), digest=d) is False   # a wrong answer never raises
    assert check(None, digest=d) is None
    with pytest.raises(TypeError):
        check(1.0)                                  # neither expected nor digest
    with pytest.raises(TypeError):
        check(1.0, 1.0, digest=d)                   # both
    assert "not yet" in capsys.readouterr().out

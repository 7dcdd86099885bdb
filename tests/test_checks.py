import json

import numpy as np
import pytest

from rrlib.checks import ExpectationError, expect


def test_inside_the_band_prints_and_returns_the_value(capsys):
    assert expect(84.63, 84.6, 1.0, name="BoW, Medium mAP") == 84.63
    assert capsys.readouterr().out == "✓ BoW, Medium mAP: within ± 1 of the expected 84.6\n"
    assert expect(85.6, 84.6, 1.0, name="edge of the band") == 85.6  # |85.6 - 84.6| = 1.0 (float: 0.99999...)


def test_outside_the_band_raises_naming_the_value():
    with pytest.raises(ExpectationError, match=r"(?s)spatial verification: 1 of 1 .*84\.6, expected 87\.0 ± 1 \(off by 2\.4\)"):
        expect(84.6, 87.0, 1.0, name="spatial verification")
    with pytest.raises(AssertionError):  # nbval and pytest see an ordinary assertion failure
        expect(np.nan, 87.0, 1.0, name="NaN is never inside")


def test_tables_check_every_element(capsys):
    table = np.array([[60.6, 49.8], [68.4, 58.3]])
    expect(table + 0.2, table, 0.5, name="table")
    assert "all 4 values within ± 0.5" in capsys.readouterr().out
    broken = table.copy()
    broken[1, 0] -= 3
    with pytest.raises(ExpectationError, match=r"(?s)1 of 4 .*\[1, 0\]: 65\.4, expected 68\.4"):
        expect(broken, table, 0.5, name="table")
    with pytest.raises(ValueError, match="shape"):
        expect(table[0], table, 0.5, name="table")


def test_mappings_are_matched_by_key(capsys):
    expect({"easy": 97.8, "medium": 84.7}, {"medium": 84.6, "easy": 97.9}, 0.5, name="BoW")
    with pytest.raises(ExpectationError, match="medium"):
        expect({"easy": 97.9, "medium": 80.0}, {"easy": 97.9, "medium": 84.6}, 0.5, name="BoW")
    with pytest.raises(ValueError, match="keys differ"):
        expect({"easy": 97.9}, {"easy": 97.9, "medium": 84.6}, 0.5, name="BoW")
    with pytest.raises(ValueError, match="tol"):
        expect(1.0, 1.0, -0.1, name="negative tolerance")


def test_mappings_of_rows_are_matched_by_key_and_element():
    table = {"Reg": [23.1, 29.5, 20.7], "RKD": [1.6, 4.1, 2.7]}
    expect({"RKD": [1.9, 4.0, 2.5], "Reg": [23.0, 30.0, 21.0]}, table, 0.5, name="rows")
    with pytest.raises(ExpectationError, match=r"RKD \[1\]: 6.1, expected 4.1"):
        expect({"RKD": [1.6, 6.1, 2.7], "Reg": [23.1, 29.5, 20.7]}, table, 0.5, name="rows")
    with pytest.raises(ValueError, match="'Reg' has shape"):
        expect({"RKD": [1.6, 4.1, 2.7], "Reg": [23.1, 29.5]}, table, 0.5, name="rows")


def test_a_measurement_run_logs_every_value_and_reports_failures_without_raising(tmp_path, monkeypatch, capsys):
    log = tmp_path / "expect.jsonl"
    monkeypatch.setenv("RRLIB_EXPECT_LOG", str(log))
    expect(84.63, 84.6, 1.0, name="BoW M")
    expect({"E": 1.0, "M": 2.0}, {"E": 1.0, "M": 2.5}, 1.0, name="row")
    assert expect(70.0, 84.6, 1.0, name="broken") == 70.0  # recorded and reported, not raised
    assert "✗ broken: 1 of 1 value(s) outside" in capsys.readouterr().out
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["name"] for r in rows] == ["BoW M", "row E", "row M", "broken"]
    assert rows[0] == {"name": "BoW M", "value": 84.63, "reference": 84.6, "tol": 1.0}
    assert rows[3]["value"] == 70.0  # a failing value is recorded too


def test_check_integer_names_the_argument():
    from rrlib.checks import check_integer

    assert check_integer(3, "k") == 3 and type(check_integer(np.int64(0), "k", 0)) is int
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        check_integer(0, "k")
    for bad in (2.0, True, "3", None):
        with pytest.raises(TypeError, match="k must be an integer"):
            check_integer(bad, "k")

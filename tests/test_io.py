from pathlib import Path

from rrlib.datasets import data_root


def test_env_var_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("RRLIB_DATA", str(tmp_path))
    assert data_root() == tmp_path


def test_checkout_default(monkeypatch):
    monkeypatch.delenv("RRLIB_DATA", raising=False)
    assert data_root() == Path(__file__).resolve().parents[1] / "data"

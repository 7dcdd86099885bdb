"""rrlib.nets.weights: the offline weights package is located without running its code."""
from __future__ import annotations

import sys

from rrlib.nets import weights as W


def test_packaged_file_is_found_without_importing_the_package(tmp_path, monkeypatch):
    package = tmp_path / "fake_offline_weights_pkg"
    (package / "weights").mkdir(parents=True)
    marker = tmp_path / "imported"
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")  # code that must not run
    (package / "weights" / W.MOBILENET_V2_FILE).write_bytes(b"checkpoint bytes")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(W, "OFFLINE_PACKAGE", package.name)
    assert W.packaged_mobilenet_v2_file() == package / "weights" / W.MOBILENET_V2_FILE
    assert not marker.exists() and package.name not in sys.modules


def test_absent_package_or_file_gives_none(tmp_path, monkeypatch):
    monkeypatch.setattr(W, "OFFLINE_PACKAGE", "no_such_offline_weights_package")
    assert W.packaged_mobilenet_v2_file() is None
    (tmp_path / "empty_weights_pkg").mkdir()
    (tmp_path / "empty_weights_pkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(W, "OFFLINE_PACKAGE", "empty_weights_pkg")
    assert W.packaged_mobilenet_v2_file() is None

"""The test suite's own data root: tests and notebooks run under pytest never read or write the
user's data root (``$RRLIB_DATA`` or ``data/``), so a test can neither use a stale cache of the
user's nor overwrite one.

The root is ``$RRLIB_TEST_DATA`` when set, else ``.test-data/`` in the checkout (git-ignored,
kept between runs so that a second run reuses what the first one built). It is exported as
``RRLIB_DATA`` before any test runs, so notebook kernels started by nbval inherit it.
"""
from __future__ import annotations

import os
from pathlib import Path

TEST_DATA = Path(os.environ.get("RRLIB_TEST_DATA") or Path(__file__).resolve().parent / ".test-data")


def pytest_configure(config):
    TEST_DATA.mkdir(parents=True, exist_ok=True)
    os.environ["RRLIB_DATA"] = str(TEST_DATA)


def pytest_report_header(config):
    return f"rrlib data root for this run: {TEST_DATA}"

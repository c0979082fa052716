"""Repo-wide pytest hooks.

Why: in CI every backing service is up and its URL exported, so a skipped test means a
broken environment, not an optional one. With TIANJI_REQUIRE_SERVICES=1 a skip fails.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and os.environ.get("TIANJI_REQUIRE_SERVICES") == "1":
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (TIANJI_REQUIRE_SERVICES=1): {report.longrepr}"

"""Whole-suite hooks."""

from __future__ import annotations

from typing import Any

_MATRICES: list[str] = []


def pytest_runtest_logreport(report: Any) -> None:
    # A test's recorded properties reach this process with its report, also from xdist workers.
    if report.when == "call":
        _MATRICES.extend(str(value) for name, value in report.user_properties if name == "crash_matrix")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The crash matrices (crash point × outcome), whenever a matrix test ran."""
    for text in _MATRICES:
        terminalreporter.section("crash matrix")
        for line in text.splitlines():
            terminalreporter.write_line(line)

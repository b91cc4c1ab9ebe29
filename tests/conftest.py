"""Whole-suite hooks."""

from __future__ import annotations

from typing import Any

from tests.helpers import crashmatrix


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The crash matrices (crash point × outcome), whenever a matrix test ran."""
    for text in crashmatrix.REPORTS:
        terminalreporter.section("crash matrix")
        for line in text.splitlines():
            terminalreporter.write_line(line)

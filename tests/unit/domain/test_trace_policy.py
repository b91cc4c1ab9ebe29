"""The task policy's `trace` field as a task file author writes it."""

from __future__ import annotations

import pytest

from app.domain.errors import TaskValidationError
from app.domain.task import load_task

TASK = "name: t\nsite: http://127.0.0.1:1\npolicy: {trace: %s}\nsteps:\n  - goto: /\n"


@pytest.mark.parametrize(
    ("written", "mode"),
    [("on", "on"), ("off", "off"), ("retain-on-failure", "retain-on-failure"), ('"on"', "on")],
)
def test_trace_modes_including_yaml_booleans(written: str, mode: str) -> None:
    # A bare `on`/`off` is a YAML 1.1 boolean: it still means the mode it reads as.
    assert load_task(TASK % written).policy.trace == mode


def test_trace_is_off_unless_asked() -> None:
    assert load_task("name: t\nsteps:\n  - goto: http://127.0.0.1:1/\n").policy.trace == "off"


def test_an_unknown_trace_mode_names_the_line_and_the_choices() -> None:
    with pytest.raises(TaskValidationError) as info:
        load_task(TASK % "always")
    text = str(info.value)
    assert ":3:" in text and "trace" in text and "retain-on-failure" in text

"""Task files: spec, loading with line-accurate errors, templating."""

from __future__ import annotations

from app.domain.task.expectations import (
    AfterReload,
    CountCheck,
    Expectation,
    RequestCheck,
    StatusRange,
    TextCheck,
    ValueCheck,
    match_pattern,
    request_url_matches,
)
from app.domain.task.loader import bind_inputs, load_step, load_task, resolve_inputs, step_outputs
from app.domain.task.spec import (
    Action,
    AskArgs,
    ClickArgs,
    Effect,
    ExtractArgs,
    FillArgs,
    GotoArgs,
    Login,
    Policy,
    PressArgs,
    SelectArgs,
    Step,
    TargetArgs,
    Task,
    UploadArgs,
    WaitForArgs,
)
from app.domain.task.targets import Target

__all__ = [
    "Action",
    "AfterReload",
    "AskArgs",
    "ClickArgs",
    "CountCheck",
    "Effect",
    "Expectation",
    "ExtractArgs",
    "FillArgs",
    "GotoArgs",
    "Login",
    "Policy",
    "PressArgs",
    "RequestCheck",
    "SelectArgs",
    "StatusRange",
    "Step",
    "Target",
    "TargetArgs",
    "Task",
    "TextCheck",
    "UploadArgs",
    "ValueCheck",
    "WaitForArgs",
    "bind_inputs",
    "load_step",
    "load_task",
    "match_pattern",
    "request_url_matches",
    "resolve_inputs",
    "step_outputs",
]

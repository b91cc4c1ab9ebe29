"""What a task says about the person who may not be there: which questions the engine asks on
its own (`ask_on`), and how long each kind of handoff waits before its safe default applies."""

from __future__ import annotations

import pytest

from app.domain.errors import TaskValidationError
from app.domain.task import load_task

TASK = "name: t\nsite: http://x.test\n{policy}steps:\n  - goto: /\n"


def test_every_handoff_kind_waits_a_bounded_time_by_default() -> None:
    policy = load_task(TASK.format(policy=""), "t.yaml").policy
    assert policy.approval_timeout == 3600 and policy.approval_default == "deny"
    assert policy.question_timeout == 3600
    assert policy.takeover_timeout == 3600
    assert policy.verification_timeout == 86400
    # By default the engine asks about everything it can ask about.
    assert set(policy.ask_on) == {
        "ambiguous_target",
        "missing_target",
        "stuck",
        "unexpected",
        "missing_input",
        "login",
        "recovery",
    }


def test_waiting_forever_is_said_explicitly() -> None:
    policy = load_task(
        TASK.format(
            policy="policy:\n  question_timeout: null\n  approval_timeout: null\n"
            "  takeover_timeout: null\n  verification_timeout: 2h\n"
        ),
        "t.yaml",
    ).policy
    assert (policy.question_timeout, policy.approval_timeout, policy.takeover_timeout) == (None, None, None)
    assert policy.verification_timeout == 7200


def test_ask_on_names_the_questions_a_task_allows() -> None:
    policy = load_task(TASK.format(policy="policy: {ask_on: [login, recovery]}\n"), "t.yaml").policy
    assert policy.ask_on == ["login", "recovery"]
    assert load_task(TASK.format(policy="policy: {ask_on: []}\n"), "t.yaml").policy.ask_on == []


def test_an_unknown_question_kind_names_line_field_and_the_kinds() -> None:
    with pytest.raises(TaskValidationError) as info:
        load_task(TASK.format(policy="policy:\n  ask_on: [logins]\n"), "t.yaml")
    (issue,) = (str(i) for i in info.value.issues)
    assert issue.startswith("t.yaml:4: policy.ask_on[0]:")
    for kind in ("'login'", "'recovery'", "'missing_input'", "'missing_target'"):
        assert kind in issue

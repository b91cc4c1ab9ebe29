from __future__ import annotations

import dataclasses

import pytest

from app.domain.errors import FailureClass, IllegalTransition
from app.domain.events import GENESIS, Event, chain_hash, first_broken
from app.domain.retry import RetryPolicy
from app.domain.states import RunStatus, check_transition
from app.domain.task.expectations import StatusRange, match_pattern
from app.domain.task.templating import TemplateError, render


def test_retry_policy_backoff_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(initial_interval=0.5, backoff_coefficient=2, maximum_interval=3, maximum_attempts=5)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert policy.delay(1, retry_after=2.5) == 2.5
    assert policy.delay(1, retry_after=60) == 3.0


def test_permanent_failures_are_never_retried() -> None:
    policy = RetryPolicy(maximum_attempts=10)
    assert policy.should_retry(1, FailureClass.TRANSIENT)
    assert not policy.should_retry(1, FailureClass.PERMANENT)
    assert not policy.should_retry(1, FailureClass.AMBIGUOUS_OUTCOME)
    assert not policy.should_retry(10, FailureClass.TRANSIENT)
    custom = RetryPolicy(non_retryable=frozenset({FailureClass.TRANSIENT}))
    assert not custom.should_retry(1, FailureClass.TRANSIENT)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"maximum_attempts": 0},
        {"backoff_coefficient": 0.5},
        {"initial_interval": -1},
        {"initial_interval": 5, "maximum_interval": 1},
    ],
)
def test_retry_policy_validates_itself(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_transition_table() -> None:
    check_transition(RunStatus.QUEUED, RunStatus.RUNNING)
    check_transition(RunStatus.RUNNING, RunStatus.WAITING)
    check_transition(RunStatus.WAITING, RunStatus.RUNNING)
    check_transition(RunStatus.PAUSED, RunStatus.QUEUED)
    with pytest.raises(IllegalTransition, match="from succeeded to running"):
        check_transition(RunStatus.SUCCEEDED, RunStatus.RUNNING)
    with pytest.raises(IllegalTransition):
        check_transition(RunStatus.QUEUED, RunStatus.SUCCEEDED)


def _chain(n: int) -> list[Event]:
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        data = {"i": seq}
        h = chain_hash(prev, "r1", seq, "x", "2026-01-01T00:00:00", data)
        out.append(Event("r1", seq, "x", "2026-01-01T00:00:00", data, prev, h))
        prev = h
    return out


def test_event_chain_detects_edit_gap_and_reorder() -> None:
    events = _chain(5)
    assert first_broken(events) is None
    edited = [*events]
    edited[2] = dataclasses.replace(edited[2], data={"i": 99})
    assert first_broken(edited) == (3, "its content does not match its hash (edited)")
    assert first_broken(events[:2] + events[3:])[0] == 4  # type: ignore[index]
    swapped = [events[0], events[2], events[1], *events[3:]]
    assert first_broken(swapped)[0] == 3  # type: ignore[index]


def test_status_ranges_and_url_patterns() -> None:
    assert 201 in StatusRange.model_validate("2xx")
    assert 404 not in StatusRange.model_validate("200-399")
    assert 201 in StatusRange.model_validate(201)
    base = "http://127.0.0.1:8000"
    assert match_pattern("/notes", "http://127.0.0.1:8000/notes", base)
    assert match_pattern("**/api/order", "http://127.0.0.1:8000/api/order")
    assert not match_pattern("**/api/order", "http://127.0.0.1:8000/api/orders")
    assert match_pattern("re:/items/\\d+", "http://h/items/12/delete")


def test_templating_keeps_types_and_rejects_unknown() -> None:
    assert render("{{ n }}", {"n": 3}, {}) == 3
    assert render("x{{ inputs.n }}y{{ outputs.t }}", {"n": 3}, {"t": "z"}) == "x3yz"
    with pytest.raises(TemplateError):
        render("{{ missing }}", {}, {})

"""Rate limits, budgets and no-progress detection: the guards against bursts and loops."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from app.domain.checkpoint import Checkpoint
from app.domain.errors import FailureClass, StepFailure
from app.domain.task import Policy, Step, load_task
from app.engine.owner import new_owner_id, owner_is_dead
from app.engine.progress import Budget, NoProgressDetector
from app.engine.ratelimit import SiteRateLimiter, TokenBucket


async def test_token_bucket_allows_a_burst_then_paces() -> None:
    bucket = TokenBucket(rate=5, burst=5)
    started = time.monotonic()
    for _ in range(5):
        await bucket.acquire()
    assert time.monotonic() - started < 0.4  # the burst is free (paced, it would take 0.8 s)
    for _ in range(4):
        await bucket.acquire()
    assert time.monotonic() - started >= 0.75  # four more tokens at 5/s cannot come sooner


async def test_rate_limit_is_per_site_and_the_strictest_policy_wins() -> None:
    limiter = SiteRateLimiter()
    slow = Policy.model_validate({"rate_limit": {"per_second": 5, "burst": 1}})
    fast = Policy.model_validate({"rate_limit": {"per_second": 1000, "burst": 1000}})
    await limiter.acquire("http://a.test/x", slow)
    started = time.monotonic()
    await limiter.acquire("http://b.test/y", slow)  # another site: its own bucket
    assert time.monotonic() - started < 0.15  # a.test's bucket would make it wait 0.2 s
    waited = await limiter.acquire("http://a.test/z", fast)  # a looser task cannot loosen it
    assert waited >= 0.1


async def test_concurrent_runs_share_one_bucket() -> None:
    limiter = SiteRateLimiter()
    policy = Policy.model_validate({"rate_limit": {"per_second": 10, "burst": 2}})
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire("http://a.test/", policy) for _ in range(6)))
    assert time.monotonic() - started >= 0.35  # 4 beyond the burst at 10/s


def _step(text: str) -> Step:
    return load_task(f"name: t\nsite: http://a.test\nsteps:\n  - {text}\n").steps[0]


def test_no_progress_stops_a_repeated_action_that_changes_nothing() -> None:
    cp = Checkpoint()
    detector = NoProgressDetector(Policy(), cp)
    step = _step("click: {text: Next}")
    detector.record(step, changed=True)
    detector.check()
    detector.record(step, changed=False)
    detector.record(step, changed=False)
    with pytest.raises(StepFailure) as info:
        detector.check()
    assert info.value.failure_class is FailureClass.STUCK


def test_no_progress_counts_unchanged_actions_but_ignores_reads() -> None:
    cp = Checkpoint()
    detector = NoProgressDetector(Policy.model_validate({"no_progress": {"max_unchanged": 3}}), cp)
    for _ in range(5):
        detector.record(_step("assert: {text: x}"), changed=False)
    detector.check()  # assertions change nothing by design
    for i in range(3):
        detector.record(_step(f"click: {{text: b{i}}}"), changed=False)
    with pytest.raises(StepFailure, match="3 actions in a row left the page unchanged"):
        detector.check()


def test_budget_max_steps_and_deadline() -> None:
    cp = Checkpoint(attempts_used=2)
    with pytest.raises(StepFailure, match="max_steps"):
        Budget(Policy.model_validate({"max_steps": 2}), cp).check()
    late = Checkpoint(elapsed=11.0)
    with pytest.raises(StepFailure, match="deadline"):
        Budget(Policy.model_validate({"deadline": 10}), late).check()
    budget = Budget(Policy.model_validate({"deadline": 100, "step_timeout": 10}), Checkpoint(elapsed=95))
    assert budget.timeout_for(_step("goto: /")) <= 5.0


def test_a_dead_local_owner_is_recognised_and_a_live_one_is_not() -> None:
    assert not owner_is_dead(new_owner_id())  # this very process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host_owner = new_owner_id().split(":")[0]
    assert owner_is_dead(f"{host_owner}:{child.pid}:abcd1234")
    assert not owner_is_dead(f"other-host:{os.getpid()}:abcd1234")  # lease expiry decides there

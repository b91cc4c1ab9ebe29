"""Events: the append-only, hash-chained record of a run (G8)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64


class EventType(StrEnum):
    RUN_CREATED = "run.created"
    RUN_STATUS = "run.status"  # every state transition
    RUN_RECOVERED = "run.recovered"
    STEP_STARTED = "step.started"
    STEP_FINISHED = "step.finished"
    STEP_SKIPPED = "step.skipped"  # already done before a crash; not redone
    ATTEMPT_STARTED = "attempt.started"
    ACTION_INTENT = "action.intent"  # committed before an irreversible dispatch (G3)
    ACTION_DONE = "action.done"
    ATTEMPT_FINISHED = "attempt.finished"
    # Requests of a recorded attempt that started, or were answered, after it was recorded.
    ATTEMPT_REQUESTS = "attempt.requests"
    RETRY_SCHEDULED = "retry.scheduled"
    OBSTRUCTION_DISMISSED = "obstruction.dismissed"
    OUTPUT_EXTRACTED = "output.extracted"
    HANDOFF_OPENED = "handoff.opened"
    HANDOFF_ANSWERED = "handoff.answered"
    HANDOFF_EXPIRED = "handoff.expired"  # its deadline passed: the default answer applied
    HANDOFF_CANCELLED = "handoff.cancelled"
    APPROVAL_USED = "approval.used"  # the approval that let an action fire
    APPROVAL_VOID = "approval.void"  # the page/target/values changed since it was given
    IRREVERSIBLE_RECOGNISED = "step.irreversible"  # the approval policy's rules matched
    POLICY_NOTICE = "policy.notice"  # e.g. approvals switched off by the task
    REQUEST_HELD = "request.held"  # network guard (G6)
    REQUEST_RELEASED = "request.released"
    REQUEST_BLOCKED = "request.blocked"
    TARGET_LEARNED = "target.learned"
    TARGET_SUBSTITUTED = "target.substituted"  # a learned/answered target used instead
    TAKEOVER_STARTED = "takeover.started"
    TAKEOVER_INPUT = "takeover.input"
    TAKEOVER_ENDED = "takeover.ended"
    RATE_LIMITED = "rate.limited"
    SESSION_EXPIRED = "session.expired"  # sent to the login page (or a 401): log in again
    # Whether a session is still signed in, asked before it is relied on (an approved action
    # on a page that waited, a session profile with login.at_start): signed_out is why not.
    SESSION_CHECKED = "session.checked"
    LOGIN_STARTED = "login.started"
    LOGIN_STEP = "login.step"  # one step of the task's login block, with its evidence
    LOGIN_FINISHED = "login.finished"  # ok, or why not (credential rejected…)
    PROFILE_LOADED = "profile.loaded"  # the session profile's saved cookies/storage were loaded
    PROFILE_SAVED = "profile.saved"
    AGENT_STEP = "agent.step"  # an agent sent the next step of an open task (who, which client)
    AGENT_FINISHED = "agent.finished"  # the agent ended its run, with its outcome and summary
    TRACE_SAVED = "trace.saved"  # the run's Playwright trace, stored as an artifact (sha256)
    # The page a step needs was rebuilt before its next attempt (the last one left it elsewhere).
    PAGE_REBUILT = "page.rebuilt"
    # A write that may have reached the site, re-read before it is sent again: done or not.
    STEP_REREAD = "step.reread"
    # A completed step done again to rebuild the page (after a crash, a login, before a retry),
    # with what it sent: every action the browser performs is in the record.
    STEP_REPLAYED = "step.replayed"


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, run_id: str, seq: int, type: str, at: str, data: Any) -> str:
    body = canonical({"run": run_id, "seq": seq, "type": type, "at": at, "data": data})
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Event:
    run_id: str
    seq: int  # 1-based, no gaps
    type: str
    at: str  # ISO 8601 UTC
    data: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def expected_hash(self) -> str:
        return chain_hash(self.prev_hash, self.run_id, self.seq, self.type, self.at, self.data)


def first_broken(events: Iterable[Event]) -> tuple[int, str] | None:
    """(seq, reason) of the first event that does not verify, or None when the chain holds."""
    prev = GENESIS
    expected_seq = 1
    for event in events:
        if event.seq != expected_seq:
            return event.seq, f"expected event #{expected_seq}, found #{event.seq} (missing or reordered)"
        if event.prev_hash != prev:
            return event.seq, "its link to the previous event does not match"
        if event.expected_hash() != event.hash:
            return event.seq, "its content does not match its hash (edited)"
        prev = event.hash
        expected_seq += 1
    return None

"""Roundup, a real issue tracker with classic forms and CSRF tokens, driven by the real
`flightdeck` command: sign in with a credential from the OS keyring, open an issue, prove it was
stored, retire it once a person approves — plainly, through a fault-injecting proxy, and across
`kill -9`. Every verdict is read from the tracker's own SQLite database: how many issues carry
the title, whether they are retired, and how many times Roundup's journal says one was retired."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.realapps.apps import roundup
from tests.realapps.harness import process
from tests.realapps.harness.flightdeck import TASKS, Flightdeck
from tests.realapps.harness.person import Person, new_title
from tests.realapps.harness.proxy import FaultProxy

TASK = TASKS / "roundup" / "issue-lifecycle.yaml"
CREATE = r"^/issue$"  # the new-issue form posts to /issue; the retire form to /issueN


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[roundup.Roundup]:
    tracker = roundup.create(tmp_path_factory.mktemp("roundup"))
    tracker.serve()
    yield tracker
    tracker.stop()


@pytest.fixture
def person(fd: Flightdeck, tracker: roundup.Roundup) -> Iterator[Person]:
    """Someone with the tracker's admin login in their keyring, running the task from a terminal."""
    fd.add_credential("roundup", tracker.username, tracker.password)
    person = Person(fd, TASK)
    yield person
    person.close()


@pytest.fixture
def proxied(tracker: roundup.Roundup, fault_proxy: Any) -> Iterator[FaultProxy]:
    """The tracker behind a fault proxy, serving the proxy's address as its own (its CSRF checks
    compare Origin, Referer and Host with it); back to its own address after the test."""
    port = process.free_port()
    tracker.serve(f"http://127.0.0.1:{port}")
    proxy: FaultProxy = fault_proxy(tracker.upstream, port=port)
    yield proxy
    tracker.serve()


def created_once_not_retired(tracker: roundup.Roundup, title: str) -> bool:
    return [i.retired for i in tracker.issues_titled(title)] == [False]


def retired_once(tracker: roundup.Roundup, title: str) -> bool:
    issues = tracker.issues_titled(title)
    return [i.retired for i in issues] == [True] and tracker.times_retired(issues[0].id) == 1


def lifecycle(person: Person, tracker: roundup.Roundup, site: str, title: str) -> None:
    """Run the task with a terminal waiting; approve the retire once the issue is in the tracker
    (and only then); the tracker ends with the issue stored once and retired once."""
    waiting = person.run_until_asked({"title": title}, site=site)
    assert created_once_not_retired(tracker, title), person.explain(
        f"before the approval the tracker holds {tracker.issues_titled(title)}"
    )
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    done = person.approve_and_finish(waiting)
    assert retired_once(tracker, title), person.explain(
        f"after the approval the tracker holds {tracker.issues_titled(title)}", done
    )
    assert done.code == 0, person.explain("the tracker is right but the run did not succeed", done)
    assert person.fd.verifies(waiting.run_id)


# ---------------------------------------------------------------------------- the variants
def test_lifecycle(person: Person, tracker: roundup.Roundup) -> None:
    lifecycle(person, tracker, tracker.serve(), new_title("Printer on fire"))


def test_faults_503_then_ok(person: Person, tracker: roundup.Roundup, proxied: FaultProxy) -> None:
    proxied.set_rules([{"method": "POST", "path": CREATE, "action": "status", "status": 503, "times": 1}])
    title = new_title("Server busy")
    lifecycle(person, tracker, proxied.url, title)
    statuses = [e["status"] for e in proxied.log() if e["method"] == "POST" and e["path"] == "/issue"]
    assert statuses == [503, 302], f"the create POSTs: {statuses}"  # sent again once, stored once


def test_faults_latency_on_gets(person: Person, tracker: roundup.Roundup, proxied: FaultProxy) -> None:
    proxied.set_rules([{"method": "GET", "action": "delay", "delay_ms": 600}])
    lifecycle(person, tracker, proxied.url, new_title("Slow pages"))
    assert any(e["fault"] == "delayed" for e in proxied.log())


def test_faults_429_retry_after(person: Person, tracker: roundup.Roundup, proxied: FaultProxy) -> None:
    proxied.set_rules(
        [{"method": "POST", "path": CREATE, "action": "status", "status": 429, "retry_after": 2, "times": 1}]
    )
    lifecycle(person, tracker, proxied.url, new_title("Rate limited"))
    statuses = [e["status"] for e in proxied.log() if e["method"] == "POST" and e["path"] == "/issue"]
    assert statuses == [429, 302], f"the create POSTs: {statuses}"


def test_dropped_write(person: Person, tracker: roundup.Roundup, proxied: FaultProxy) -> None:
    """The create POST is swallowed and answered with a redirect to the issue list, as a server
    that lost the write but said it went through would: the run must not pass, nothing may be
    stored, and the write is never sent a second time without a person."""
    proxied.set_rules(
        [{"method": "POST", "path": CREATE, "action": "drop_redirect", "location": "/issue", "times": 1}]
    )
    title = new_title("Lost in transit")
    final = person.run_to_the_end({"title": title}, site=proxied.url, answer="fail")
    creates = [e for e in proxied.log() if e["method"] == "POST" and e["path"] == "/issue"]
    assert tracker.issues_titled(title) == [], person.explain("the dropped issue was stored after all")
    assert len(creates) == 1, person.explain(f"the create was sent {len(creates)} times: {creates}")
    assert final["status"] == "failed", person.explain(f"a lost write ended {final['status']}")
    assert person.fd.verifies(person.run_id)


def test_kill_mid_form(person: Person, tracker: roundup.Roundup) -> None:
    """`kill -9` with the new-issue form filled in, as its submit is about to go (the run's first
    write; the sign-in is its login block's), then `flightdeck resume`: the issue is created once,
    and retired once after the approval."""
    title = new_title("Half typed")
    killed = person.run_killed({"title": title}, site=tracker.serve(), crash_at="before_intent:1")
    assert killed.code == -9, person.explain("the run was meant to die before submitting", killed)
    assert tracker.issues_titled(title) == []  # killed before anything was submitted
    final = person.operate(happened=lambda: retired_once(tracker, title))
    issues = tracker.issues_titled(title)
    assert len(issues) == 1, person.explain(f"after resuming the tracker holds {issues}")
    assert retired_once(tracker, title), person.explain(f"after resuming the tracker holds {issues}")
    assert final["status"] == "succeeded", person.explain(f"the resumed run ended {final['status']}")
    assert person.fd.verifies(person.run_id)


def test_kill_after_approval(person: Person, tracker: roundup.Roundup) -> None:
    """The waiting terminal is killed right after it sent the approved retire (its 2nd write:
    create, retire), before the outcome is recorded; `resume` must not retire it again
    on its own — a person confirms what the tracker shows."""
    title = new_title("Retire once")
    waiting = person.run_until_asked({"title": title}, site=tracker.serve(), crash_at="after_dispatch:2")
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    assert created_once_not_retired(tracker, title)
    killed = person.approve_and_finish(waiting)
    assert killed.code == -9, person.explain("the waiting process was meant to die after the retire", killed)
    final = person.operate(happened=lambda: retired_once(tracker, title))
    issues = tracker.issues_titled(title)
    assert len(issues) == 1 and issues[0].retired, person.explain(f"after resuming: {issues}")
    assert tracker.times_retired(issues[0].id) == 1, person.explain("retired more than once")
    assert final["status"] == "succeeded", person.explain(f"the resumed run ended {final['status']}")
    assert person.fd.verifies(person.run_id)

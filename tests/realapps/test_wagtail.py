"""Wagtail, a Django CMS whose page editor is a rich, script-heavy form, driven by the real
`flightdeck` command: sign in with a credential from the OS keyring, publish a page under the
home page, prove it is listed after a reload, delete it once a person approves — plainly,
through a fault-injecting proxy, across `kill -9`, and with the approval given after the site's
session expired. Every verdict is read from Wagtail's own SQLite file: the pages with the
title (live or not, their slug) and Wagtail's audit log of what was done to them."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realapps.apps import wagtail
from tests.realapps.harness.flightdeck import TASKS, Flightdeck
from tests.realapps.harness.person import Person, new_title
from tests.realapps.harness.proxy import FaultProxy

LIFECYCLE = TASKS / "wagtail" / "page-lifecycle.yaml"
PUBLISH = TASKS / "wagtail" / "publish-page.yaml"
CREATE = r"^/admin/pages/add/"  # the editor posts the new page to /admin/pages/add/home/homepage/3/


@pytest.fixture(scope="module")
def cms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wagtail.Wagtail]:
    site = wagtail.start(tmp_path_factory.mktemp("wagtail") / "site")
    yield site
    site.stop()


def person_for(fd: Flightdeck, cms: wagtail.Wagtail, task: Path) -> Person:
    """Someone with the CMS's editor login in their keyring, running `task` from a terminal."""
    fd.add_credential("wagtail", cms.username, cms.password)
    return Person(fd, task)


@pytest.fixture
def person(fd: Flightdeck, cms: wagtail.Wagtail) -> Iterator[Person]:
    person = person_for(fd, cms, LIFECYCLE)
    yield person
    person.close()


@pytest.fixture
def proxied(cms: wagtail.Wagtail, fault_proxy: Any) -> FaultProxy:
    """The CMS behind a fault proxy that keeps the Host header: Django's CSRF check compares
    the Origin with it, and ALLOWED_HOSTS matches 127.0.0.1 on any port."""
    proxy: FaultProxy = fault_proxy(cms.url)
    return proxy


def slug_of(title: str) -> str:
    """What the editor's own script derives from a title like ours (words and hex digits)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def published_once(cms: wagtail.Wagtail, title: str) -> bool:
    """One live page with this title, its slug derived from it, created once."""
    pages = cms.pages_titled(title)
    return [(p.live, p.slug) for p in pages] == [(True, slug_of(title))] and cms.history(title).count(
        "wagtail.create"
    ) == 1


def deleted_once(cms: wagtail.Wagtail, title: str) -> bool:
    return cms.pages_titled(title) == [] and cms.history(title).count("wagtail.delete") == 1


def lifecycle(person: Person, cms: wagtail.Wagtail, site: str, title: str) -> None:
    """Run the task with a terminal waiting; approve the delete once the page is published
    (and only then); Wagtail ends with the page created once and deleted once."""
    waiting = person.run_until_asked({"title": title}, site=site)
    assert published_once(cms, title), person.explain(
        f"before the approval Wagtail holds {cms.pages_titled(title)}, history {cms.history(title)}"
    )
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    done = person.approve_and_finish(waiting)
    assert deleted_once(cms, title), person.explain(
        f"after the approval Wagtail holds {cms.pages_titled(title)}, history {cms.history(title)}", done
    )
    assert done.code == 0, person.explain("Wagtail is right but the run did not succeed", done)
    assert person.fd.verifies(waiting.run_id)


# ---------------------------------------------------------------------------- the variants
def test_lifecycle(person: Person, cms: wagtail.Wagtail) -> None:
    lifecycle(person, cms, cms.url, new_title("Spring news"))


def test_publish_repeatedly(fd: Flightdeck, cms: wagtail.Wagtail) -> None:
    """Issue 12, defect 12: the editor's own script derives the slug 100 ms after the title
    loses focus (on the click of "More actions"); a "Publish" sent sooner posts the form without
    a slug, Wagtail re-renders it with its errors (200) and autosaves it in the background (400),
    and nothing is created. It happened in about one run of ten: the same task, run again and
    again, must publish every page, once, with the slug the editor derived."""
    person = person_for(fd, cms, PUBLISH)
    try:
        for n in range(5):
            title = new_title(f"Weekly notes {n}")
            final = person.run_to_the_end({"title": title}, site=cms.url)
            assert published_once(cms, title), person.explain(
                f"run {n + 1}: Wagtail holds {cms.pages_titled(title)}, history {cms.history(title)}"
            )
            assert final["status"] == "succeeded", person.explain(f"run {n + 1} ended {final['status']}")
    finally:
        person.close()


def test_faults_503_then_ok(person: Person, cms: wagtail.Wagtail, proxied: FaultProxy) -> None:
    """The publish POST is answered 503 by the proxy (Wagtail never sees it), then goes through:
    the page is created once."""
    proxied.set_rules([{"method": "POST", "path": CREATE, "action": "status", "status": 503, "times": 1}])
    lifecycle(person, cms, proxied.url, new_title("Server busy"))
    statuses = [e["status"] for e in proxied.log() if e["method"] == "POST" and re.match(CREATE, e["path"])]
    assert statuses == [503, 302], f"the publish POSTs: {statuses}"  # sent again once, stored once


def test_faults_latency(person: Person, cms: wagtail.Wagtail, proxied: FaultProxy) -> None:
    """Every request of the editor's pages and scripts is 400 ms late, the publish POST 1.5 s."""
    proxied.set_rules(
        [
            {"method": "POST", "path": CREATE, "action": "delay", "delay_ms": 1500},
            {"path": "^/", "action": "delay", "delay_ms": 400},
        ]
    )
    lifecycle(person, cms, proxied.url, new_title("Slow network"))
    assert any(e["fault"] == "delayed" for e in proxied.log())


def test_dropped_write(person: Person, cms: wagtail.Wagtail, proxied: FaultProxy) -> None:
    """The publish POST is swallowed and answered with a redirect to the page listing, as a
    server that lost the write but said it went through would: the run must end failed, nothing
    may be stored, and the write is never sent a second time without a person."""
    proxied.set_rules(
        [{"method": "POST", "path": CREATE, "action": "drop_redirect", "location": "/admin/pages/3/"}]
    )
    title = new_title("Lost in transit")
    final = person.run_to_the_end({"title": title}, site=proxied.url, answer="fail")
    publishes = [e for e in proxied.log() if e["method"] == "POST" and re.match(CREATE, e["path"])]
    assert cms.pages_titled(title) == [], person.explain("the dropped page was stored after all")
    assert len(publishes) == 1, person.explain(f"the publish was sent {len(publishes)} times: {publishes}")
    assert final["status"] == "failed", person.explain(f"a lost write ended {final['status']}")
    assert person.fd.verifies(person.run_id)


def test_kill_mid_form(person: Person, cms: wagtail.Wagtail) -> None:
    """`kill -9` with the title typed into the editor, as its "More actions" menu is about to
    be opened (the 2nd write-effect click, after "Add child page"), then `flightdeck resume`:
    the page is created once, and deleted once after the approval."""
    title = new_title("Half typed")
    killed = person.run_killed({"title": title}, site=cms.url, crash_at="before_intent:2")
    assert killed.code == -9, person.explain("the run was meant to die before publishing", killed)
    assert cms.pages_titled(title) == []  # killed before anything was published
    final = person.operate(happened=lambda: "wagtail.delete" in cms.history(title))
    assert cms.history(title).count("wagtail.create") == 1, person.explain(
        f"after resuming, Wagtail's history of the page: {cms.history(title)}"
    )
    assert deleted_once(cms, title), person.explain(f"after resuming Wagtail holds {cms.pages_titled(title)}")
    assert final["status"] == "succeeded", person.explain(f"the resumed run ended {final['status']}")
    assert person.fd.verifies(person.run_id)


def test_kill_after_approval(person: Person, cms: wagtail.Wagtail) -> None:
    """The waiting terminal is killed right after it sent the approved delete (its 5th write:
    "Add child page", "More actions", "Publish", "More options", "Yes, delete it"), before the
    outcome is recorded; `resume` must not delete again on its own — a person confirms what
    Wagtail shows."""
    title = new_title("Gone once")
    waiting = person.run_until_asked({"title": title}, site=cms.url, crash_at="after_dispatch:5")
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    assert published_once(cms, title)
    killed = person.approve_and_finish(waiting)
    assert killed.code == -9, person.explain("the waiting process was meant to die after the delete", killed)
    # What a person checks before answering "did it happen?": Wagtail's history of the page.
    final = person.operate(happened=lambda: "wagtail.delete" in cms.history(title))
    assert deleted_once(cms, title), person.explain(f"after resuming, history {cms.history(title)}")
    assert final["status"] == "succeeded", person.explain(f"the resumed run ended {final['status']}")
    assert person.fd.verifies(person.run_id)


SESSION_AGE_S = 20


@pytest.fixture
def short_sessions(tmp_path: Path) -> Iterator[wagtail.Wagtail]:
    """An instance of its own whose sessions lapse after SESSION_AGE_S unused (an idle timeout:
    the run keeps its session alive while it works, not while it waits for a person)."""
    site = wagtail.start(tmp_path / "short-sessions", session_age=SESSION_AGE_S)
    yield site
    site.stop()


def test_approval_after_session_expired(fd: Flightdeck, short_sessions: wagtail.Wagtail) -> None:
    """The approval is given only once Wagtail has dropped the session the run signed in with:
    the delete must not be sent to a dead session (a redirect to the sign-in page); signed in
    again, the page is deleted once."""
    cms = short_sessions
    person = person_for(fd, cms, LIFECYCLE)
    try:
        title = new_title("Outlived")
        waiting = person.run_until_asked({"title": title}, site=cms.url)
        assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
        assert published_once(cms, title)
        # Django refuses a session from its expiry date on (and the browser drops the cookie):
        # wait until Wagtail's session table says none is alive any more.
        deadline = time.monotonic() + SESSION_AGE_S + 60
        while cms.sessions_alive():
            assert time.monotonic() < deadline, "Wagtail's sessions never expired"
            assert waiting.waiter.poll() is None, person.explain("the waiting run ended on its own")
            with contextlib.suppress(subprocess.TimeoutExpired):
                waiting.waiter.wait(timeout=0.2)  # polls the session table; wakes if the run ends
        done = person.approve_and_finish(waiting)
        assert deleted_once(cms, title), person.explain(
            f"after the approval Wagtail holds {cms.pages_titled(title)}, history {cms.history(title)}", done
        )
        assert done.code == 0, person.explain("Wagtail is right but the run did not succeed", done)
        assert person.fd.verifies(waiting.run_id)
    finally:
        person.close()

"""A NiceGUI application (the framework real and pinned, the notes app ours), whose UI is
rendered and driven over a websocket, run by the real `flightdeck` command: sign in through the
login block when the app sends the browser to /login, add a note in a dialog, prove it after a
reload, delete it through a confirmation dialog once a person approves — plainly, across
`kill -9`, and with the websocket slowed by a proxy. No HTTP request carries any of these
writes: every verdict is read from the application's SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.realapps.apps import nicegui
from tests.realapps.harness.flightdeck import TASKS, Flightdeck
from tests.realapps.harness.person import Person, new_title
from tests.realapps.harness.proxy import FaultProxy

TASK = TASKS / "nicegui" / "note-lifecycle.yaml"


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nicegui.NiceGuiNotes]:
    notes = nicegui.start(tmp_path_factory.mktemp("nicegui"))
    yield notes
    notes.stop()


@pytest.fixture
def person(fd: Flightdeck, notes: nicegui.NiceGuiNotes) -> Iterator[Person]:
    """Someone with the app's admin login in their keyring, running the task from a terminal."""
    fd.add_credential("notes", notes.username, notes.password)
    person = Person(fd, TASK)
    yield person
    person.close()


def stored(notes: nicegui.NiceGuiNotes, title: str) -> int:
    return len(notes.notes_titled(title))


def added_then_deleted_once(notes: nicegui.NiceGuiNotes, title: str) -> bool:
    return stored(notes, title) == 0 and notes.times("add", title) == notes.times("delete", title) == 1


def holds(notes: nicegui.NiceGuiNotes, title: str) -> str:
    return (
        f"the app holds {notes.notes_titled(title)}; its activity: added "
        f"{notes.times('add', title)}×, deleted {notes.times('delete', title)}×"
    )


def lifecycle(person: Person, notes: nicegui.NiceGuiNotes, site: str, title: str) -> None:
    """Run the task with a terminal waiting; approve the delete once the note is stored (and
    only then); the note was stored once and is gone at the end."""
    waiting = person.run_until_asked({"title": title}, site=site)
    assert stored(notes, title) == 1, person.explain(f"before the approval: {notes.notes_titled(title)}")
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    done = person.approve_and_finish(waiting)
    assert added_then_deleted_once(notes, title), person.explain(
        f"after the approval {holds(notes, title)}", done
    )
    assert done.code == 0, person.explain("the app is right but the run did not succeed", done)
    assert person.fd.verifies(waiting.run_id)


# ---------------------------------------------------------------------------- the variants
def test_lifecycle(person: Person, notes: nicegui.NiceGuiNotes) -> None:
    lifecycle(person, notes, notes.url, new_title("Buy milk"))


def test_kill_mid_form(person: Person, notes: nicegui.NiceGuiNotes) -> None:
    """`kill -9` with the "Add" dialog filled in, as "Save" is about to be clicked (the run's
    first write), then `flightdeck resume`: the note is stored once, and deleted after the
    approval."""
    title = new_title("Half typed")
    killed = person.run_killed({"title": title}, site=notes.url, crash_at="before_intent:1")
    assert killed.code == -9, person.explain("the run was meant to die before saving", killed)
    assert notes.times("add", title) == 0  # killed before "Save"
    final = person.operate(happened=lambda: stored(notes, title) == 0)
    assert added_then_deleted_once(notes, title), person.explain(f"after resuming {holds(notes, title)}")
    assert final["status"] == "succeeded", person.explain(f"the resumed run ended {final['status']}")
    assert person.fd.verifies(person.run_id)


def test_kill_after_approval(person: Person, notes: nicegui.NiceGuiNotes) -> None:
    """The waiting terminal is killed right after it sent the approved delete (its 2nd write:
    save, delete), before the outcome is recorded; `resume` must not click it again on its own —
    a person confirms from the app that the note is gone."""
    title = new_title("Delete once")
    waiting = person.run_until_asked({"title": title}, site=notes.url, crash_at="after_dispatch:2")
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    assert stored(notes, title) == 1
    killed = person.approve_and_finish(waiting)
    assert killed.code == -9, person.explain("the waiting process was meant to die after the delete", killed)
    final = person.operate(happened=lambda: stored(notes, title) == 0)
    assert added_then_deleted_once(notes, title), person.explain(f"after resuming {holds(notes, title)}")
    assert final["status"] == "succeeded", person.explain(f"the resumed run ended {final['status']}")
    assert person.fd.verifies(person.run_id)


WEBSOCKET = "^/_nicegui_ws/"  # NiceGUI's Socket.IO endpoint (websocket, or polling as a fallback)


@pytest.fixture
def proxied(notes: nicegui.NiceGuiNotes, fault_proxy: Any) -> FaultProxy:
    proxy: FaultProxy = fault_proxy(notes.url)
    return proxy


def test_websocket_latency(person: Person, notes: nicegui.NiceGuiNotes, proxied: FaultProxy) -> None:
    """Every websocket message (both ways) and every page load slowed by the proxy: what the
    run types and clicks reaches the server late, and the table updates late."""
    proxied.set_rules(
        [
            {"websocket": True, "path": WEBSOCKET, "action": "delay", "delay_ms": 150},
            {"method": "GET", "action": "delay", "delay_ms": 300},
        ]
    )
    lifecycle(person, notes, proxied.url, new_title("Slow socket"))
    assert any(e["method"] == "WS" and e["fault"] == "delayed" for e in proxied.log())


def test_websocket_lost_while_waiting(
    person: Person, notes: nicegui.NiceGuiNotes, proxied: FaultProxy
) -> None:
    """While the run waits for the approval, the page's websocket drops and cannot come back
    until NiceGUI has given the page up (its client deleted, the open confirmation dialog with
    it). Approving then must neither click into the dead page nor fire anything else: the note
    is deleted once, after the approval, and the run succeeds (asking again if it must)."""
    title = new_title("Dropped socket")
    waiting = person.run_until_asked({"title": title}, site=proxied.url)
    assert stored(notes, title) == 1, person.explain(f"before the approval: {notes.notes_titled(title)}")
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    page, mark = notes.newest_client(), len(notes.log())
    proxied.set_rules(
        [
            {"websocket": True, "path": WEBSOCKET, "action": "drop"},
            {"path": WEBSOCKET, "action": "status", "status": 503},  # no reconnecting meanwhile
        ]
    )
    notes.wait_for_log(f"client {page} deleted", after=mark)
    proxied.set_rules([])
    assert stored(notes, title) == 1  # nothing fired while the page was cut off
    done = person.approve_and_finish(waiting, approvals=2)
    assert added_then_deleted_once(notes, title), person.explain(
        f"after the approval {holds(notes, title)}", done
    )
    assert done.code == 0, person.explain("the app is right but the run did not succeed", done)
    assert person.fd.verifies(waiting.run_id)

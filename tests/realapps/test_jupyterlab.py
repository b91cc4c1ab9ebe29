"""JupyterLab, a large single-page application (file browser, context menus, animated modal
dialogs, a websocket to its server, background saves of its own layout), driven by the real
`flightdeck` command: sign in on its server-rendered password page with a credential from the
OS keyring, make a folder (or a text file) named by an input, prove the file browser lists it
after a reload, delete it from the file browser once a person approves — plainly, through a
fault-injecting proxy, across `kill -9`, and with the approval given after the sign-in expired.

Every verdict is read from what JupyterLab serves: the files under its root directory (what is
there, under which name, with which text; a leftover "Untitled Folder" or "untitled1.txt" is a
create sent twice or a rename lost), and its server log (every delete its contents API carried
out, a second one of something already gone too; every sign-in, with its time)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realapps.apps import jupyterlab
from tests.realapps.harness.flightdeck import TASKS, Flightdeck
from tests.realapps.harness.person import Person, new_title
from tests.realapps.harness.proxy import FaultProxy

FOLDER = TASKS / "jupyterlab" / "folder-lifecycle.yaml"
TEXT_FILE = TASKS / "jupyterlab" / "text-file-lifecycle.yaml"
CREATE = r"^/api/contents\?"  # "New Folder" / "Text File": POST /api/contents
RENAME = r"^/api/contents/Untitled"  # naming it: PATCH /api/contents/Untitled%20Folder
TEXT = "Minutes of the Tuesday meeting"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[jupyterlab.JupyterLab]:
    server = jupyterlab.start(tmp_path_factory.mktemp("jupyterlab"))
    yield server
    server.stop()


def person_for(fd: Flightdeck, lab: jupyterlab.JupyterLab, task: Path) -> Person:
    """Someone with the server's password in their keyring, running `task` from a terminal, on
    a JupyterLab that opens with its default layout (not the last test's tabs)."""
    fd.add_credential("jupyterlab", "jupyter", lab.password)  # JupyterLab asks for no user name
    lab.forget_layout()
    return Person(fd, task)


@pytest.fixture
def person(fd: Flightdeck, lab: jupyterlab.JupyterLab) -> Iterator[Person]:
    person = person_for(fd, lab, FOLDER)
    yield person
    person.close()


@pytest.fixture
def proxied(lab: jupyterlab.JupyterLab, fault_proxy: Any) -> FaultProxy:
    """JupyterLab behind a fault proxy that keeps the Host header (jupyter_server compares the
    Origin of API calls and websockets with it)."""
    proxy: FaultProxy = fault_proxy(lab.url)
    return proxy


# ---------------------------------------------------------------------------- the truth
class Files:
    """What a test added to JupyterLab's root directory, against what was there before it ran
    (the server lives for the whole module)."""

    def __init__(self, lab: jupyterlab.JupyterLab) -> None:
        self.lab = lab
        self.before = set(lab.files())

    def added(self) -> list[str]:
        return sorted(set(self.lab.files()) - self.before)

    def holds_once(self, name: str, text: str | None = None) -> bool:
        """`name` was made, once, and nothing else (no untitled leftover of a second create or
        a lost rename); a file holds `text`."""
        return self.added() == [name] and (text is None or self.lab.read(name) == text)

    def deleted_once(self, name: str) -> bool:
        """Nothing the test made is left, and the server deleted it once (its log)."""
        return self.added() == [] and self.lab.deletes(name) == 1

    def __str__(self) -> str:
        return f"JupyterLab's root now holds {self.added()} besides what was there before"

    def deleted(self, name: str) -> str:
        return f"{self}; the server deleted {name!r} {self.lab.deletes(name)} time(s)"


def lifecycle(person: Person, lab: jupyterlab.JupyterLab, site: str, name: str) -> None:
    """Run the task with a terminal waiting; the first thing it asks is the approval of the
    delete, once the file browser shows the new folder; approved, the folder is gone, once."""
    files = Files(lab)
    waiting = person.run_until_asked({"name": name}, site=site)
    assert files.holds_once(name), person.explain(
        f"before the approval {files} (asked {waiting.kind}: {waiting.question})"
    )
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    done = person.approve_and_finish(waiting)
    assert files.deleted_once(name), person.explain(f"after the approval {files.deleted(name)}", done)
    assert done.code == 0, person.explain("JupyterLab is right but the run did not succeed", done)
    assert person.fd.verifies(waiting.run_id)


def resume_then_approve(person: Person, files: Files, name: str, text: str | None = None) -> dict[str, Any]:
    """After the crash: `flightdeck resume`, which carries the run on until it asks for the
    delete; the person looks at JupyterLab (the item is there, once), approves, and goes on
    resuming and answering until the run ends (`show --json` of it)."""
    resumed = person.fd.resume(person.run_id)
    person.said.append(resumed)
    assert files.holds_once(name, text), person.explain(f"resumed, before the approval {files}", resumed)
    return person.operate(happened=lambda: files.deleted_once(name))


# ---------------------------------------------------------------------------- the variants
def test_lifecycle(person: Person, lab: jupyterlab.JupyterLab) -> None:
    lifecycle(person, lab, lab.url, new_title("Reports"))


def test_faults_503_then_ok(person: Person, lab: jupyterlab.JupyterLab, proxied: FaultProxy) -> None:
    """The contents API answers the folder's create 503 once (the proxy's; JupyterLab never sees
    it), then lets it through: one folder, named once, deleted once."""
    proxied.set_rules([{"method": "POST", "path": CREATE, "action": "status", "status": 503, "times": 1}])
    lifecycle(person, lab, proxied.url, new_title("Server busy"))
    creates = [e["status"] for e in proxied.log() if e["method"] == "POST" and re.match(CREATE, e["path"])]
    assert creates == [503, 201], f"the creates: {creates}"


def test_faults_latency(person: Person, lab: jupyterlab.JupyterLab, proxied: FaultProxy) -> None:
    """The contents API is slow: its writes answer after 1.5 s, its listings after 0.5 s, and the
    sign-in after 1 s (the application's own scripts and styles come at once: slowing them down
    too would only make the module longer)."""
    proxied.set_rules(
        [
            {"method": "POST", "path": "^/login", "action": "delay", "delay_ms": 1000},
            {"method": "GET", "path": "^/api/contents", "action": "delay", "delay_ms": 500},
            {"path": "^/api/contents", "action": "delay", "delay_ms": 1500},
        ]
    )
    lifecycle(person, lab, proxied.url, new_title("Slow network"))
    slow = {e["method"] for e in proxied.log() if e["fault"] == "delayed"}
    assert {"POST", "PATCH", "DELETE"} <= slow, f"delayed: {slow}"


def dropped(person: Person, lab: jupyterlab.JupyterLab, proxied: FaultProxy, name: str) -> None:
    """The rename never reaches JupyterLab: the run must end failed, with no folder under the
    name and the rename sent once (a lost write is never sent again without a person)."""
    files = Files(lab)
    final = person.run_to_the_end({"name": name}, site=proxied.url)
    renames = [e for e in proxied.log() if e["method"] == "PATCH" and e["path"].startswith("/api/contents/")]
    assert name not in lab.files(), person.explain(f"the lost rename happened after all: {files}")
    assert len(renames) == 1, person.explain(f"the rename was sent {len(renames)} times: {renames}")
    assert final["status"] == "failed", person.explain(f"a lost write ended {final['status']}")
    assert person.fd.verifies(person.run_id)


def test_dropped_write(person: Person, lab: jupyterlab.JupyterLab, proxied: FaultProxy) -> None:
    """The rename PATCH is swallowed and answered with a redirect to the application's page."""
    proxied.set_rules([{"method": "PATCH", "path": RENAME, "action": "drop_redirect", "location": "/lab"}])
    dropped(person, lab, proxied, new_title("Lost in transit"))


def test_dropped_write_answered_ok(person: Person, lab: jupyterlab.JupyterLab, proxied: FaultProxy) -> None:
    """The rename PATCH is swallowed and answered `200` with the very model JupyterLab would
    send: the file browser shows the new name, only a reload tells it never happened."""
    name = new_title("Said it was done")
    model = {
        "name": name,
        "path": name,
        "type": "directory",
        "writable": True,
        "created": "2026-12-02T12:00:00.000000Z",
        "last_modified": "2026-12-02T12:00:00.000000Z",
        "mimetype": None,
        "content": None,
        "format": None,
        "size": None,
        "hash": None,
        "hash_algorithm": None,
    }
    proxied.set_rules(
        [{"method": "PATCH", "path": RENAME, "action": "status", "status": 200, "body": json.dumps(model)}]
    )
    dropped(person, lab, proxied, name)


def test_kill_early(person: Person, lab: jupyterlab.JupyterLab) -> None:
    """`kill -9` as the first write is about to go ("New Folder", signed in, nothing made yet),
    then `flightdeck resume`: one folder, named once, deleted once after the approval."""
    name = new_title("Started over")
    files = Files(lab)
    killed = person.run_killed({"name": name}, site=lab.url, crash_at="before_intent:1")
    assert killed.code == -9, person.explain("the run was meant to die before its first write", killed)
    assert files.added() == [], person.explain(f"killed before anything was made, yet {files}")
    final = resume_then_approve(person, files, name)
    assert files.deleted_once(name), person.explain(f"after resuming {files.deleted(name)}")
    assert final["status"] == "succeeded", person.explain(f"the resumed run ended {final['status']}")
    assert person.fd.verifies(person.run_id)


def test_kill_mid_form(fd: Flightdeck, lab: jupyterlab.JupyterLab) -> None:
    """A text file this time: typed into JupyterLab's editor (a CodeMirror `contenteditable`, not
    a form field), named in the "Rename file" dialog its first save opens. `kill -9` with that
    dialog open (after "Text File" and the save that opened it, before "Rename and Save"), then
    `flightdeck resume`.

    JupyterLab opens that dialog only in the page whose launcher made the file. The resumed run's
    new browser opens untitled.txt by its address, where Ctrl+S saves the file as it is: redoing
    that step to rebuild the page would send a write the first run never sent. The rebuild
    refuses it, so the dialog cannot come back and the run fails, saying what it could not find
    — and JupyterLab holds the one untitled file the launcher made, empty: nothing saved on a
    guess, nothing made twice. (A task that names the file through the file browser's Rename
    does not depend on that page.)"""
    person = person_for(fd, lab, TEXT_FILE)
    try:
        name = f"notes-{uuid.uuid4().hex[:8]}.txt"
        files = Files(lab)
        killed = person.run_killed({"name": name, "text": TEXT}, site=lab.url, crash_at="before_intent:3")
        assert killed.code == -9, person.explain("the run was meant to die in the rename dialog", killed)
        assert files.added() == ["untitled.txt"], person.explain(f"killed in the dialog, yet {files}")
        resumed = person.fd.resume(person.run_id)
        person.said.append(resumed)
        assert files.added() == ["untitled.txt"], person.explain(f"resumed: {files}", resumed)
        assert lab.read("untitled.txt") == "", person.explain("the rebuild saved the file as it was", resumed)
        shown = person.fd.show(person.run_id)
        ended = f"the resumed run ended {shown['status']}"
        assert shown["status"] == "failed", person.explain(ended, resumed)
        assert 'name="File name"' in (shown.get("error") or ""), person.explain("failed for another reason")
        rebuild = "rebuilt without sending a write"
        refused = [
            e["data"]["url"]
            for e in shown["events"]
            if e["type"] == "request.blocked" and rebuild in e["data"].get("reason", "")
        ]
        assert [u.split("?")[0] for u in refused] == [f"{lab.url}/api/contents/untitled.txt"], refused
        assert person.fd.verifies(person.run_id)
    finally:
        person.close()


def test_kill_after_approval(person: Person, lab: jupyterlab.JupyterLab) -> None:
    """The waiting terminal is killed right after it sent the approved delete (its 3rd write:
    "New Folder", the rename, "Delete"), before the outcome is recorded; `resume` must not
    delete again on its own — a person confirms what the file browser shows."""
    name = new_title("Gone once")
    files = Files(lab)
    waiting = person.run_until_asked({"name": name}, site=lab.url, crash_at="after_dispatch:3")
    assert files.holds_once(name), person.explain(f"before the approval {files} (asked {waiting.question})")
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    killed = person.approve_and_finish(waiting)
    assert killed.code == -9, person.explain("the waiting process was meant to die after the delete", killed)
    final = person.operate(happened=lambda: files.deleted_once(name))
    assert files.deleted_once(name), person.explain(f"after resuming {files.deleted(name)}")
    assert final["status"] == "succeeded", person.explain(f"the resumed run ended {final['status']}")
    assert person.fd.verifies(person.run_id)


SESSION_AGE_S = 40.0  # the run asks ~11 s after signing in (measured under load): ample margin


@pytest.fixture
def short_sessions(tmp_path: Path) -> Iterator[jupyterlab.JupyterLab]:
    """A server of its own whose sign-ins last SESSION_AGE_S (the cookie's lifetime in the
    browser and the age the server accepts)."""
    server = jupyterlab.start(tmp_path / "short-sessions", session_age=SESSION_AGE_S)
    yield server
    server.stop()


def test_approval_after_session_expired(fd: Flightdeck, short_sessions: jupyterlab.JupyterLab) -> None:
    """The approval is given only once JupyterLab no longer accepts the sign-in the run made:
    the delete must not be sent with a dead session (answered 403); signed in again, the folder
    is deleted once."""
    lab = short_sessions
    person = person_for(fd, lab, FOLDER)
    try:
        name = new_title("Outlived")
        files = Files(lab)
        waiting = person.run_until_asked({"name": name}, site=lab.url)
        asked_at = dt.datetime.now()
        assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
        assert files.holds_once(name), person.explain(f"before the approval {files}")
        signed_in = lab.signed_in_at()
        assert len(signed_in) == 1, f"sign-ins before the approval: {signed_in}"
        expiry = signed_in[0] + dt.timedelta(seconds=SESSION_AGE_S)
        assert asked_at < expiry, "the session ran out before the approval was asked: lengthen SESSION_AGE_S"
        while dt.datetime.now() <= expiry + dt.timedelta(seconds=1):
            assert waiting.waiter.poll() is None, person.explain("the waiting run ended on its own")
            with contextlib.suppress(subprocess.TimeoutExpired):
                waiting.waiter.wait(timeout=0.2)  # the session ages by the clock; wake if the run ends
        done = person.approve_and_finish(waiting)
        assert files.deleted_once(name), person.explain(f"after the approval {files.deleted(name)}", done)
        assert done.code == 0, person.explain("JupyterLab is right but the run did not succeed", done)
        assert person.fd.verifies(waiting.run_id)
    finally:
        person.close()

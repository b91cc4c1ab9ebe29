"""Node-RED, a real single-page editor (npm), driven by the real `flightdeck` command: sign in
through the dialog the editor shows at its own URL (credential from the OS keyring), add a flow
tab, deploy it, prove the server kept it, and deploy its deletion once a person approves —
plainly, through a fault-injecting proxy, across `kill -9`, and with the approval given after
the editor's session expired. Every verdict is read from Node-RED's own store, `flows.json`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.realapps.apps import nodered
from tests.realapps.harness.flightdeck import TASKS, Flightdeck
from tests.realapps.harness.person import Person, new_title

TASK = TASKS / "nodered" / "flow-lifecycle.yaml"
SESSION_SECONDS = 30  # long enough to create the flow, short enough to lapse while an approval waits


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nodered.NodeRed]:
    server = nodered.start(tmp_path_factory.mktemp("nodered"), session_seconds=SESSION_SECONDS)
    yield server
    server.stop()


@pytest.fixture
def person(fd: Flightdeck, app: nodered.NodeRed) -> Iterator[Person]:
    fd.add_credential("nodered", app.username, app.password)
    person = Person(fd, TASK)
    yield person
    person.close()


def lifecycle(person: Person, app: nodered.NodeRed, site: str, flow: str) -> None:
    waiting = person.run_until_asked({"flow": flow}, site=site)
    assert app.tabs_named(flow) == 1, person.explain(f"before the approval flows.json holds {app.flows()}")
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}: {waiting.question}")
    done = person.approve_and_finish(waiting)
    assert app.tabs_named(flow) == 0, person.explain("the approved deletion was not deployed", done)
    assert done.code == 0, person.explain("flows.json is right but the run did not succeed", done)
    assert person.fd.verifies(waiting.run_id)


def test_lifecycle(person: Person, app: nodered.NodeRed) -> None:
    lifecycle(person, app, app.url, new_title("Flow"))


def test_deploy_through_faults(person: Person, app: nodered.NodeRed, fault_proxy: Any) -> None:
    """The Deploy is answered 503 once by the proxy (Node-RED never sees it), the editor's reads
    are slow: the flow is deployed exactly once."""
    proxy = fault_proxy(app.url)
    proxy.set_rules(
        [
            {"method": "POST", "path": "^/flows", "action": "status", "status": 503, "times": 1},
            {"method": "GET", "path": "^/(flows|settings|nodes)", "action": "delay", "delay_ms": 300},
        ]
    )
    flow = new_title("Flow")
    lifecycle(person, app, proxy.url, flow)
    # The add once, the deletion once; on failure, what the proxy saw besides the editor's GETs.
    writes = [entry for entry in proxy.log() if entry.get("method") != "GET"]
    assert proxy.reached_app("POST", "/flows") == 2, person.explain(f"writes at the proxy: {writes}")


def test_approval_after_session_expired(person: Person, app: nodered.NodeRed) -> None:
    """The editor's token dies SESSION_SECONDS after signing in; the person approves later: the
    run must sign in again and deploy the deletion once."""
    flow = new_title("Flow")
    waiting = person.run_until_asked({"flow": flow}, site=app.url)
    assert waiting.kind == "approval" and app.tabs_named(flow) == 1, person.explain("not asked")
    # Node-RED keeps its sessions (and when each expires) in the user dir: wait until the one
    # this run signed in with has lapsed. Nothing happens at that moment to wait on.
    time.sleep(max(0.0, app.last_session_expiry() - time.time()) + 1)
    done = person.approve_and_finish(waiting)
    assert app.tabs_named(flow) == 0, person.explain("the deletion was not deployed", done)
    assert done.code == 0, person.explain("flows.json is right but the run did not succeed", done)


@pytest.mark.parametrize("crash_at", ["after_intent", "after_dispatch"])
def test_kill_after_approval(person: Person, app: nodered.NodeRed, crash_at: str) -> None:
    """`flightdeck approve` SIGKILLs itself right after the approval (before or after the Deploy
    went out); `resume` and a person who looks at the editor finish it: deleted exactly once."""
    flow = new_title("Flow")
    waiting = person.run_until_asked({"flow": flow}, site=app.url)
    assert waiting.kind == "approval", person.explain(f"asked {waiting.kind}")
    person.close()  # the terminal that waited is closed; the approval continues elsewhere
    killed = person.fd.approve(waiting.run_id, crash_at=crash_at)
    assert killed.code == -9, person.explain(f"not killed at {crash_at}", killed)
    shown = person.operate(happened=lambda: app.tabs_named(flow) == 0)
    assert app.tabs_named(flow) == 0, person.explain(f"ended {shown.get('status')} with the tab still there")
    assert shown["status"] == "succeeded", person.explain("deleted, but the run did not succeed")
    assert person.fd.verifies(waiting.run_id)


def test_kill_mid_form(person: Person, app: nodered.NodeRed) -> None:
    """Killed as the Deploy is about to be sent (the tab added and named in the editor only):
    after `resume` the flow is deployed once, and deleted once when approved."""
    flow = new_title("Flow")
    person.run_killed({"flow": flow}, site=app.url, crash_at="before_intent")
    assert app.tabs_named(flow) == 0, "nothing was deployed before the kill"
    shown = person.operate(happened=lambda: app.tabs_named(flow) == 0)
    ended = f"ended {shown.get('status')}: {json.dumps(app.flows())}"
    assert app.tabs_named(flow) == 0, person.explain(ended)
    assert shown["status"] == "succeeded", person.explain("deleted, but the run did not succeed")

"""Node-RED: a single-page editor signed into through a dialog at the same URL, popups that come
and go, a Deploy that rewrites the whole flow file. Judged by `flows.json`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realapps.apps import nodered
from tests.realapps.harness.flightdeck import TASKS, Flightdeck

TASK = TASKS / "nodered" / "flow-lifecycle.yaml"
SESSION_SECONDS = 25  # short enough to expire while an approval waits


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nodered.NodeRed]:
    server = nodered.start(tmp_path_factory.mktemp("nodered"), session_seconds=SESSION_SECONDS)
    yield server
    server.stop()


def _flow() -> str:
    return f"Realapps {uuid.uuid4().hex[:8]}"


def _started(fd: Flightdeck, app: nodered.NodeRed, flow: str, **kwargs: object) -> str:
    fd.add_credential("nodered", app.username, app.password)
    ran = fd.run(TASK, {"flow": flow}, site=app.url, **kwargs)  # type: ignore[arg-type]
    assert ran.code == 3, f"the run should wait for the approval of the deletion:\n{ran}"
    return str(ran.json()["run_id"])


def test_lifecycle(fd: Flightdeck, app: nodered.NodeRed) -> None:
    flow = _flow()
    run_id = _started(fd, app, flow)
    assert app.tabs_named(flow) == 1, "the deployed flow file holds the new tab once"
    approved = fd.approve(run_id)
    assert app.tabs_named(flow) == 0, f"the approved deletion was deployed:\n{approved}"
    assert approved.code == 0, approved
    assert fd.verifies(run_id)


def test_approval_after_session_expired(fd: Flightdeck, app: nodered.NodeRed) -> None:
    flow = _flow()
    started = time.monotonic()
    run_id = _started(fd, app, flow)
    assert app.tabs_named(flow) == 1
    # The editor's token lives SESSION_SECONDS from the sign-in: answer only after it has died.
    while time.monotonic() - started < SESSION_SECONDS + 2:
        fd.run_status(run_id)  # something to do while the clock runs; the app offers no event
    approved = fd.approve(run_id)
    assert app.tabs_named(flow) == 0, f"signed in again and deployed the deletion once:\n{approved}"
    assert approved.code == 0, approved


@pytest.mark.parametrize("crash_at", ["after_intent", "after_dispatch"])
def test_kill_after_approval(fd: Flightdeck, app: nodered.NodeRed, crash_at: str) -> None:
    flow = _flow()
    run_id = _started(fd, app, flow)
    killed = fd.approve(run_id, crash_at=crash_at)
    assert killed.code == -9, f"the approving process was killed at {crash_at}:\n{killed}"
    resumed = fd.resume(run_id)
    # Fired at most once: either the deletion is proven done, or a person is asked.
    if resumed.code == 3:
        answered = fd("answer", run_id, "not_done" if app.tabs_named(flow) else "done", "--json")
        assert answered.code in (0, 3), answered
        if answered.code == 3:
            fd.approve(run_id)
    assert app.tabs_named(flow) == 0
    assert fd.verifies(run_id)


def test_deploy_through_faults(fd: Flightdeck, app: nodered.NodeRed, fault_proxy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proxy = fault_proxy(app.url)
    proxy.set_rules(
        [
            {"method": "POST", "path": "^/flows", "action": "status", "status": 503, "times": 1},
            {"method": "GET", "path": "^/(flows|settings)", "action": "delay", "delay_ms": 400},
        ]
    )
    flow = _flow()
    fd.add_credential("nodered", app.username, app.password)
    ran = fd.run(TASK, {"flow": flow}, site=proxy.url)
    assert app.tabs_named(flow) == 1, f"the deploy went through once after the 503:\n{ran}"
    assert proxy.reached_app("POST", "/flows") == 1
    assert ran.code == 3, ran
    fd.approve(str(ran.json()["run_id"]))
    assert app.tabs_named(flow) == 0

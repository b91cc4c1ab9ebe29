"""One recorded run shared by the record tests (export, verify, report, trace): it signs in
with credentials, has a page load retried, waits for an approval a person gives, and then
fails. Built once per test session (real Chromium, the hostile site on 127.0.0.1, a real SQLite
file), in the data dir the `flightdeck` subprocesses of the tests read."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.browser import PlaywrightProvider
from app.cli.demo import load_site_module
from app.domain.states import RunStatus
from app.engine.service import Engine
from app.store import ArtifactStore, Database
from tests.helpers.cli import Cli
from tests.helpers.tasks import task_from
from tests.integration.engine.conftest import PASSWORD, USER, MemorySecrets

TASK = """
name: delete-then-check
site: SITE
login:
  - goto: /login
  - fill: {target: {label: Username}, secret: shop.username}
  - fill: {target: {label: Password}, secret: shop.password}
  - click: {role: button, name: Sign in}
policy:
  trace: on
  screenshots: all
  retry: {maximum_attempts: 3, initial_interval: 0.1}
  ask_on: []
steps:
  - goto: /flaky
  - assert: {title: Inventory}
  - goto: /items
  - click: {test_id: delete-1}
    effect: write
    expect: {url: "/items/1/delete"}
  - id: confirm-delete
    click: {role: button, name: "Yes, delete"}
    effect: irreversible
    description: Permanently delete Invoice 1001
    expect:
      after_reload:
        goto: /items
        hidden: {text: Invoice 1001, exact: true}
  - id: refund-shown
    assert: {visible: {text: "Refund issued <b>now</b>"}}
    timeout: 1
"""


@dataclass(frozen=True)
class Recorded:
    home: Path
    run_id: str
    cli: Cli
    secrets: tuple[str, ...]

    @property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.home / "artifacts")


async def _record(home: Path, base_url: str) -> str:
    db = Database(f"sqlite:///{home / 'flightdeck.db'}")
    provider = PlaywrightProvider(headless=True)
    secrets = MemorySecrets({"shop.username": USER, "shop.password": PASSWORD})
    engine = Engine(db, provider, ArtifactStore(home / "artifacts"), secrets=secrets)
    try:
        task, snapshot = task_from(TASK, base_url)
        run_id = engine.submit(task, snapshot, task.resolve_inputs({}))
        waiting = await engine.run(run_id)
        assert waiting.status is RunStatus.WAITING, waiting.error
        (approval,) = engine.open_handoffs(run_id)
        assert engine.answer(approval.id, {"decision": "approve", "comment": "ok <go>"}, by="ops-lead")
        result = await engine.run(run_id)
        assert result.status is RunStatus.FAILED, result
        return run_id
    finally:
        await engine.close()
        await provider.close()
        db.dispose()


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    home = tmp_path_factory.mktemp("record")
    site = load_site_module().HostileSite(delay_ms=400)
    site.start(host="127.0.0.1", port=0)
    try:
        site.configure(require_login=True, users={USER: PASSWORD}, flaky_failures=2)
        run_id = asyncio.run(_record(home, site.base_url))
        yield Recorded(home, run_id, Cli(home), (USER, PASSWORD))
    finally:
        site.stop()


@pytest.fixture(scope="session")
def bundle(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run exported by `flightdeck export`."""
    out = tmp_path_factory.mktemp("bundle") / "run.zip"
    r = recorded.cli("export", recorded.run_id, "-o", str(out))
    assert r.code == 0, r.err
    assert f"verify {out}" in r.out  # says how to check it
    return out


@pytest.fixture(scope="session")
def report(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's report written by `flightdeck report` (the run named by a prefix of its id)."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    r = recorded.cli("report", recorded.run_id[:6], "-o", str(out))
    assert r.code == 0, r.err
    assert str(out) in r.out
    return out

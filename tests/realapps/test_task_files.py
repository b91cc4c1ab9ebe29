"""The real-apps task files are what a user would write from the README: `flightdeck check`
accepts every one of them (the same checks as `run`, nothing run)."""

from __future__ import annotations

from tests.realapps.harness.flightdeck import TASKS, Flightdeck


def test_check(fd: Flightdeck) -> None:
    checked = fd("check", str(TASKS), "--json")
    assert checked.code == 0, checked
    files = checked.json()["files"]
    apps = {f["path"].split("/")[-2] for f in files}
    assert len(apps) >= 5 and all(f["valid"] for f in files), files

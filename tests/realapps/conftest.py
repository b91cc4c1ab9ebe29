"""The real-apps suite: real open-source web applications, installed once from PyPI or npm into a
cache outside the checkout, served on 127.0.0.1, driven by the real `flightdeck` command with
credentials in a real Secret Service — and judged by each application's own store.

`packaging/dev realapps` runs it alone; `packaging/dev test` (CI) runs it after the rest. The end
of the run prints a table (application × variant → result, wall time) and `realapps: PASSED/TOTAL`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realapps.harness.flightdeck import Flightdeck
from tests.realapps.harness.keyring_session import secret_service
from tests.realapps.harness.proxy import FaultProxy, start_proxy

_results: dict[str, tuple[str, str, str, float]] = {}  # nodeid → (app, variant, outcome, seconds)


@pytest.fixture(scope="session")
def keyring_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One real Secret Service for the whole suite (a private D-Bus bus + gnome-keyring)."""
    with secret_service(tmp_path_factory.mktemp("keyring")) as env:
        yield env


@pytest.fixture
def fd(tmp_path: Path, keyring_env: dict[str, str]) -> Flightdeck:
    """A fresh Flightdeck installation: its own data dir and database, the suite's keyring."""
    return Flightdeck(tmp_path / "flightdeck", keyring_env)


@pytest.fixture
def fault_proxy(tmp_path: Path) -> Iterator[object]:
    """`fault_proxy(upstream_url)` starts mitmdump in front of an application (stopped after)."""
    started: list[FaultProxy] = []

    def start(upstream: str, port: int | None = None) -> FaultProxy:
        proxy = start_proxy(upstream, tmp_path / f"proxy{len(started)}", port=port)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


# ---------------------------------------------------------------------------- the summary
def _names(nodeid: str) -> tuple[str, str]:
    path, _, name = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1].removesuffix(".py")
    return module.removeprefix("test_"), name.removeprefix("test_")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Reports reach this hook in the process that prints the summary, also from xdist workers.
    if "realapps" not in report.nodeid:
        return
    app, variant = _names(report.nodeid)
    previous = _results.get(report.nodeid)
    seconds = (previous[3] if previous else 0.0) + report.duration
    if report.failed:
        state = "FAILED" if report.when == "call" else f"ERROR ({report.when})"
    elif report.skipped:
        state = "SKIPPED"
    elif report.when == "call":
        state = "passed"
    else:
        state = previous[2] if previous else "…"
    if previous is None or previous[2] in ("…", "passed"):
        _results[report.nodeid] = (app, variant, state, seconds)
    else:
        _results[report.nodeid] = (*previous[:3], seconds)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _results:
        return
    write = terminalreporter.write_line
    write("")
    write("real applications (each verdict read from the application's own store):")
    width = max(len(f"{a} × {v}") for a, v, _, _ in _results.values())
    for app, variant, state, seconds in sorted(_results.values()):
        write(f"  {f'{app} × {variant}':<{width}}  {state:<8} {seconds:6.1f} s")
    passed = sum(1 for *_, state, _ in _results.values() if state == "passed")
    total = len(_results)
    wall = sum(seconds for *_, seconds in _results.values())
    write(f"realapps: {passed}/{total}  ({wall:.0f} s)")

"""Playwright traces: `trace: on` keeps a trace Playwright's viewer opens, with no credential
in it (every zip member decompressed and searched in every encoding); the export and the report
carry no credential either; `--trace retain-on-failure` keeps a trace only for a failed run."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from app.secrets import MASK, encodings
from tests.helpers.cli import Cli
from tests.integration.record.conftest import Recorded


def leaks(secrets: tuple[str, ...], data: bytes) -> list[str]:
    return [form for secret in secrets for form in encodings(secret) if form.encode() in data]


def zip_leaks(secrets: tuple[str, ...], path_or_bytes: Any) -> dict[str, list[str]]:
    source = path_or_bytes if isinstance(path_or_bytes, Path) else io.BytesIO(path_or_bytes)
    found = {}
    with zipfile.ZipFile(source) as z:
        for name in z.namelist():
            hits = leaks(secrets, z.read(name))
            if hits:
                found[name] = hits
    return found


def trace_events(recorded: Recorded) -> list[dict[str, Any]]:
    r = recorded.cli("show", recorded.run_id, "--events", "--json")
    return [e["data"] for e in r.json()["events"] if e["type"] == "trace.saved"]


def test_trace_opens_in_playwright_and_holds_no_secret(recorded: Recorded) -> None:
    saved = trace_events(recorded)
    assert [t["status"] for t in saved] == ["waiting", "failed"]  # one per stretch the run ran
    fills: list[dict[str, Any]] = []
    for t in saved:
        data = recorded.artifacts.read(t["sha256"])
        assert recorded.artifacts.verify(t["sha256"]) and len(data) == t["size"]
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
            assert "trace.trace" in names and "trace.network" in names, names
            assert any(n.startswith("resources/") for n in names)  # snapshots and screenshots
            actions = [json.loads(line) for line in z.read("trace.trace").splitlines() if line.strip()]
        fills += [a for a in actions if a.get("method") == "fill"]
        assert zip_leaks(recorded.secrets, data) == {}
        assert not leaks(recorded.secrets, data)  # the compressed bytes too
    # Both sign-ins typed both credentials; the trace kept that they were typed, not what.
    assert len(fills) >= 2
    assert all(f["params"]["value"] == MASK for f in fills), [f["params"] for f in fills]


def test_export_and_report_hold_no_secret(recorded: Recorded, bundle: Path, report: Path) -> None:
    assert zip_leaks(recorded.secrets, bundle) == {}
    assert not leaks(recorded.secrets, bundle.read_bytes())
    assert not leaks(recorded.secrets, report.read_bytes())


def test_retain_on_failure_keeps_a_trace_only_for_a_failed_run(site: Any, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    task = tmp_path / "task.yaml"
    task.write_text(
        "name: look\nsite: http://127.0.0.1:1\n"
        "policy: {ask_on: [], step_timeout: 1, retry: {maximum_attempts: 1}}\n"
        'steps:\n  - goto: /items\n  - assert: {title: "{{ title }}"}\n'
        "inputs:\n  title: {type: string}\n"
    )
    common = ("--site", site.base_url, "--trace", "retain-on-failure", "--json")

    def traces() -> list[Path]:
        return [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file() and zipfile.is_zipfile(p)]

    ok = cli("run", str(task), "-i", "title=Items", *common)
    assert ok.code == 0, ok.out + ok.err
    assert traces() == []  # succeeded: the trace was dropped
    bad = cli("run", str(task), "-i", "title=Nope", *common)
    assert bad.code == 1, bad.out + bad.err
    (kept,) = traces()
    events = cli("show", bad.json()["run_id"], "--events", "--json").json()["events"]
    (saved,) = [e["data"] for e in events if e["type"] == "trace.saved"]
    assert saved["mode"] == "retain-on-failure" and saved["status"] == "failed"
    assert kept.name == saved["sha256"]
    with zipfile.ZipFile(kept) as z:
        assert "trace.trace" in z.namelist()

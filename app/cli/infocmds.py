"""Commands that read or change records without running a browser."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

from app.cli import exitcodes
from app.cli.context import database
from app.cli.output import ICONS, print_json, print_sign_in, print_steps, print_summary, run_summary
from app.domain.states import RunStatus
from app.engine.service import control_run
from app.store import Database, count_runs, events, runs


def cmd_runs(args: argparse.Namespace) -> int:
    statuses = [RunStatus(s) for s in args.status] if args.status else None
    with database(args) as db, db.session(readonly=True) as s:
        rows = runs.list_runs(s, statuses=statuses, limit=args.limit)
        data = [
            {
                "run_id": r.id,
                "task": r.task_name,
                "status": r.status,
                "failure_class": r.failure_class,
                "site": r.site,
                "created_at": r.created_at.isoformat() if r.created_at else None,
            }
            for r in rows
        ]
        total = count_runs(s, statuses)
    if args.json:
        print_json(data)
        return exitcodes.OK
    if not data:
        print("no runs yet: try `flightdeck demo` or `flightdeck run TASK.yaml`")
        return exitcodes.OK
    print(f"{'RUN':<13} {'STATUS':<12} {'TASK':<28} {'CREATED':<20} FAILURE")
    for r in data:
        created = (r["created_at"] or "")[:19].replace("T", " ")
        icon = ICONS.get(str(r["status"]), "?")
        task = str(r["task"])[:28]
        print(
            f"{r['run_id']:<13} {icon} {r['status']:<10} {task:<28} {created:<20} {r['failure_class'] or ''}"
        )
    if total > len(data):
        print(f"… {total - len(data)} more (use --limit)")
    return exitcodes.OK


def cmd_show(args: argparse.Namespace) -> int:
    with database(args) as db, db.session(readonly=True) as s:
        run_id = runs.resolve_run_id(s, args.run)
        run = runs.get_run(s, run_id)
        assert run is not None
        summary = run_summary(s, run)
        broken = events.verify_events(s, run_id) if args.verify else None
        evs = events.list_events(s, run_id) if args.events else []
    if args.verify:
        summary["verified"] = broken is None
        if broken:
            summary["verify_error"] = {"seq": broken[0], "reason": broken[1]}
    if args.events:
        summary["events"] = [{"seq": e.seq, "type": e.type, "at": e.at, "data": e.data} for e in evs]
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
        print_steps(summary)
        print_sign_in(summary["sign_in"])
        for e in summary.get("events", []):
            print(f"  #{e['seq']:<4} {e['at'][11:23]} {e['type']:<20} {_short(e['data'])}")
        if args.verify:
            if broken:
                print(f"✗ event chain broken at event #{broken[0]}: {broken[1]}")
            else:
                print("✓ event chain verifies")
    if args.verify and broken:
        return exitcodes.FAILED
    return exitcodes.OK


def _short(data: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("requests", "checks"))
    return text if len(text) < 110 else text[:110] + "…"


def cmd_cancel(args: argparse.Namespace) -> int:
    with database(args) as db:
        run_id = _resolve(db, args.run)
        control_run(db, run_id, RunStatus.CANCELLED, "cancelled by the operator")
        print(f"⊘ run {run_id} cancelled")
    return exitcodes.OK


def cmd_pause(args: argparse.Namespace) -> int:
    with database(args) as db:
        run_id = _resolve(db, args.run)
        control_run(db, run_id, RunStatus.PAUSED, "paused by the operator")
        print(f"‖ run {run_id} paused; continue with: flightdeck resume {run_id}")
    return exitcodes.OK


def _resolve(db: Database, text: str) -> str:
    with db.session(readonly=True) as s:
        return runs.resolve_run_id(s, text)


def cmd_doctor(args: argparse.Namespace) -> int:
    checks: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str, fix: str = "") -> None:
        checks.append({"check": name, "ok": ok, "detail": detail, "fix": fix})

    add("python", sys.version_info >= (3, 11), platform.python_version(), "install Python ≥ 3.11")
    from app.browser import BrowserNotFound, find_browser

    try:
        info = find_browser()
        add("browser", True, f"{info.path} ({info.source})")
    except BrowserNotFound as exc:
        add("browser", False, "no Chromium found", str(exc))
    try:
        with database(args) as db, db.session(readonly=True) as s:
            add("database", True, f"{_safe_url(db.url)} ({count_runs(s, None)} runs)")
    except Exception as exc:
        add("database", False, f"{type(exc).__name__}: {exc}", "check --db / FLIGHTDECK_DATABASE_URL")
    from app.secrets import keyring_status

    ks = keyring_status()
    add("keyring", ks.usable, ks.backend, ks.fix)
    _doctor_credentials(add)
    display = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
    qpa = os.environ.get("QT_QPA_PLATFORM")
    if display or qpa in ("offscreen", "minimal") or sys.platform in ("win32", "darwin"):
        add(
            "display",
            True,
            display or f"QT_QPA_PLATFORM={qpa}"
            if not sys.platform.startswith(("win", "darwin"))
            else sys.platform,
        )
    else:
        add(
            "display",
            False,
            "no display",
            "the console needs a desktop session (headless: `xvfb-run flightdeck`); "
            "the headless commands (run, resume, …) work without one",
        )
    if args.json:
        print_json(checks)
    else:
        for c in checks:
            print(f"{'✓' if c['ok'] else '✗'} {c['check']:<11} {c['detail']}")
            if not c["ok"] and c["fix"]:
                print(f"    fix: {c['fix']}")
    # The display and keyring are optional for headless runs; browser and database are not.
    essential = all(c["ok"] for c in checks if c["check"] in ("python", "browser", "database"))
    return exitcodes.OK if essential else exitcodes.FAILED


def _doctor_credentials(add: Callable[..., None]) -> None:
    """Whether tasks' credential references can be resolved here, and which names exist."""
    from app.engine.ports import SecretUnavailable
    from app.secrets import KeyringSecrets

    try:
        names = list(KeyringSecrets().catalog())
    except SecretUnavailable as exc:
        add("credentials", False, "cannot be read", str(exc).partition("fix: ")[2] or str(exc))
        return
    if names:
        add("credentials", True, f"{len(names)} stored: {', '.join(names)}")
    else:
        add("credentials", True, "none stored (add one with `flightdeck credentials add NAME`)")


def _safe_url(url: str) -> str:
    # Never print a database password.
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)

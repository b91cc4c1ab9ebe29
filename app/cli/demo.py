"""`flightdeck demo`: the bundled demo tasks against the bundled hostile site, headless."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from types import ModuleType
from typing import Any

from app.cli import exitcodes
from app.cli.context import database, engine
from app.cli.output import ICONS, ProgressPrinter, run_summary
from app.domain.states import RunStatus
from app.engine.service import Engine
from app.engine.taskfiles import load_task_file
from app.resources import demo_site_dir, demo_tasks_dir
from app.store import Database, handoffs, runs

# What each demo task shows a newcomer, and the outcome that proves it.
EXPECTED = {
    "add-note": ("a cookie banner is dismissed; the note is proven stored after reload", "succeeded"),
    "place-order": ("a 503 is retried with backoff, then the order goes through", "succeeded"),
    "signup-wizard": ("a two-step wizard across pages", "succeeded"),
    "save-profile": ("the page says 'Saved!' but the POST returned 500: caught", "failed"),
    "silent-drop": ("the form 'works' but the server dropped it: caught after reload", "failed"),
    "delete-invoice": ("an irreversible delete waits for a person's approval", "waiting"),
    "remove-member": ("three buttons say 'Remove': the run asks which one is meant", "waiting"),
}


def load_site_module() -> ModuleType:
    path = str(demo_site_dir())
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("hostile_site")


def cmd_demo(args: argparse.Namespace) -> int:
    site_mod = load_site_module()
    site = site_mod.HostileSite(delay_ms=800)
    base = site.start(host="127.0.0.1", port=args.port)
    site.configure(order_503=1)
    try:
        with database(args) as db:
            return asyncio.run(_demo(args, db, base))
    finally:
        site.stop()


async def _demo(args: argparse.Namespace, db: Database, base: str) -> int:
    files = sorted(demo_tasks_dir().glob("*.yaml"))
    print(f"Demo site: {base}  ·  {len(files)} tasks  ·  database: {db.url}\n")
    sinks = [] if args.json else [ProgressPrinter()]
    async with engine(args, db, sinks) as eng:
        run_ids: dict[str, str] = {}
        for file in files:
            task, text = load_task_file(str(file), base)
            inputs = task.resolve_inputs({})
            run_ids[task.name] = eng.submit(task, text, inputs)
        for name, run_id in run_ids.items():
            if not args.json:
                print(f"▶ {name} (run {run_id}): {EXPECTED.get(name, ('', ''))[0]}", flush=True)
            await eng.run(run_id)  # one at a time, so the log reads as a story
        if sys.stdin.isatty() and not args.json and not args.no_input:
            await _offer_approvals(eng, db, run_ids)
        return _report(args, db, run_ids)


async def _offer_approvals(eng: Engine, db: Database, run_ids: dict[str, str]) -> None:
    for name, run_id in run_ids.items():
        for h in eng.open_handoffs(run_id):
            if h.kind != "approval":
                continue
            preview = h.payload or {}
            print(f"\n? {name} wants to: {preview.get('summary')} on {preview.get('url')}")
            reply = await asyncio.to_thread(input, "  approve? [y/N] ")
            decision = "approve" if reply.strip().lower() in ("y", "yes") else "deny"
            eng.answer(h.id, {"decision": decision})
            await eng.run(run_id)


def _report(args: argparse.Namespace, db: Database, run_ids: dict[str, str]) -> int:
    rows: list[dict[str, Any]] = []
    with db.session(readonly=True) as s:
        for name, run_id in run_ids.items():
            run = runs.get_run(s, run_id)
            assert run is not None
            summary = run_summary(s, run)
            shows, expected = EXPECTED.get(name, ("", ""))
            summary["demonstrates"] = shows
            summary["as_expected"] = expected in ("", run.status) or (
                expected == "waiting" and run.status in ("succeeded", "failed")
            )
            summary["open_handoffs"] = [h.id for h in handoffs.list_handoffs(s, run_id=run_id, status="open")]
            rows.append(summary)
    if args.json:
        from app.cli.output import print_json

        print_json(rows)
    else:
        print("\nOutcome")
        for r in rows:
            mark = ICONS.get(r["status"], "?")
            klass = f" ({r['failure_class']})" if r["failure_class"] else ""
            print(f"  {mark} {r['task']:<15} {r['status']:<9}{klass:<14} {r['demonstrates']}")
        waiting = [r for r in rows if r["status"] == RunStatus.WAITING]
        if waiting:
            print(
                "\nRuns waiting for a person stay in the database: `flightdeck inbox`, then "
                "`flightdeck approve RUN` (the demo site stops with this command, so continue "
                "them with `flightdeck demo` running, or in the console)."
            )
    return exitcodes.OK if all(r["as_expected"] for r in rows) else exitcodes.FAILED

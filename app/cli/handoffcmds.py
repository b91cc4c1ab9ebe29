"""Commands for what waits on a person: inbox, takeover, handback, learned targets."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from app.cli import exitcodes
from app.cli.context import database
from app.cli.output import handoff_json, print_json
from app.engine.service import open_takeover
from app.store import ArtifactStore, default_artifacts_dir, forget_learned, handoffs, list_learned, runs
from app.store.types import utcnow


def cmd_inbox(args: argparse.Namespace) -> int:
    with database(args) as db:
        with db.session() as s, s.begin():
            handoffs.expire_due(s)  # a passed deadline applies its default before anyone looks
        with db.session(readonly=True) as s:
            items = [handoff_json(h) for h in handoffs.list_handoffs(s, status="open")]
    # Urgent first: the nearest deadline, then the oldest.
    items.sort(key=lambda h: (h["deadline"] or "9999", h["created_at"] or ""))
    if args.json:
        print_json(items)
        return exitcodes.OK
    if not items:
        print("inbox empty: nothing needs you")
    shots = ArtifactStore(default_artifacts_dir())
    for h in items:
        print(f"{h['id']}  {h['kind']:<13} run {h['run_id']}  {h['question']}")
        for line in describe(h, shots):
            print(f"    {line}")
    return exitcodes.OK


def describe(h: dict[str, Any], shots: ArtifactStore) -> list[str]:
    """The few lines a person needs to answer from the terminal."""
    p = h.get("payload") or {}
    lines: list[str] = []
    if p.get("reason"):
        lines.append(f"why: {p['reason']}")
    if p.get("url"):
        lines.append(f"page: {p['url']}")
    target = p.get("target") or {}
    if target.get("description"):
        box = target.get("box")
        where = f" at {', '.join(f'{v:.0f}' for v in box)}" if box else ""
        lines.append(f"target: {target['description']}{where}")
    request = p.get("request") or p.get("expected_request")
    if request:
        lines.append(f"request: {request.get('method')} {request.get('url')}")
    for f in p.get("fields") or []:
        lines.append(f"  field {f.get('name')} ({f.get('label') or f.get('kind')}): {f.get('value')}")
    for name, value in (p.get("values") or {}).items():
        lines.append(f"  value {name}: {value}")
    for c in p.get("candidates") or []:
        lines.append(f"  {c['choice']}. {c['description']}")
    for c in p.get("checks") or []:
        lines.append(f"  check {'ok' if c.get('ok') else 'NOT MET'}: {c.get('name')} {c.get('detail') or ''}")
    for a in (p.get("attempts") or [])[-3:]:
        if a.get("error"):
            lines.append(f"  attempt {a['number']}: {a.get('failure_class')}: {a['error']}")
    if p.get("choices"):
        lines.append("choices: " + ", ".join(map(str, p["choices"])))
    if p.get("accepts"):
        lines.append("or: --target SELECTOR, --point X,Y")
    if p.get("screenshot"):
        lines.append(f"screenshot: {shots.path(p['screenshot'])}")
    if h.get("deadline"):
        left = datetime.fromisoformat(h["deadline"]) - utcnow()
        lines.append(f"deadline: {max(0, int(left.total_seconds()))} s left, then {h.get('default_answer')}")
    return lines


def cmd_takeover(args: argparse.Namespace) -> int:
    with database(args) as db:
        with db.session(readonly=True) as s:
            run_id = runs.resolve_run_id(s, args.run)
        handoff_id = open_takeover(db, run_id, by=args.by or _user())
    print(f"✋ run {run_id} stops before its next step; takeover {handoff_id}")
    print("   drive the page (the console's live view, or the window of a --headed run),")
    print(f"   then: flightdeck handback {run_id}")
    return exitcodes.OK


def cmd_handback(args: argparse.Namespace) -> int:
    with database(args) as db:
        with db.session(readonly=True) as s:
            run_id = runs.resolve_run_id(s, args.run)
            open_h = [h for h in handoffs.list_handoffs(s, run_id=run_id) if h.kind == "takeover"]
        if not open_h:
            print(f"run {run_id} is not taken over")
            return exitcodes.INVALID
        with db.session() as s, s.begin():
            handoffs.answer_handoff(s, open_h[0].id, answer={"decision": "hand_back"}, by=args.by or _user())
    print(f"↩ run {run_id} handed back: it re-checks the current step and goes on")
    return exitcodes.OK


def cmd_learned(args: argparse.Namespace) -> int:
    with database(args) as db:
        if args.forget:
            with db.session() as s, s.begin():
                n = forget_learned(s, args.forget, args.step)
            print(f"forgot {n} learned target(s) of {args.forget}")
            return exitcodes.OK
        with db.session(readonly=True) as s:
            rows = [
                {
                    "task": r.task_name,
                    "step": r.step_id,
                    "target": r.target,
                    "run": r.source_run_id,
                    "by": r.learned_by,
                    "at": r.created_at.isoformat(),
                }
                for r in list_learned(s, args.task)
            ]
    if args.json:
        print_json(rows)
    elif not rows:
        print("no learned targets")
    for r in rows if not args.json else []:
        print(f"{r['task']} / {r['step']}: {r['target']}  (run {r['run']}, {r['by']})")
    return exitcodes.OK


def _user() -> str:
    import getpass

    return getpass.getuser()

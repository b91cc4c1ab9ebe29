"""Commands that execute runs: run, resume, approve, deny, answer."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from app.cli import exitcodes
from app.cli.context import database, engine
from app.cli.output import ProgressPrinter, print_json, print_summary, run_summary
from app.domain.errors import TaskValidationError, ValidationIssue
from app.domain.states import TERMINAL, RunStatus
from app.domain.task import Task, bind_inputs, resolve_inputs
from app.engine import answers
from app.engine.answers import invalid
from app.engine.service import Engine
from app.engine.taskfiles import load_task_file
from app.store import Database, handoffs, runs


def parse_inputs(pairs: list[str], source: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise TaskValidationError(
                [
                    ValidationIssue(
                        source, None, "--input", f"'{pair}' is not NAME=VALUE", "e.g. --input title=Hello"
                    )
                ]
            )
        values[key.strip()] = value
    return values


def cmd_run(args: argparse.Namespace) -> int:
    task, text = load_task_file(args.task, args.site)
    inputs = resolve_inputs(
        task, parse_inputs(args.input or [], args.task), allow_missing=getattr(args, "ask_missing", False)
    )
    with database(args) as db:
        return asyncio.run(_run_new(args, db, task, text, inputs))


async def _run_new(
    args: argparse.Namespace, db: Database, task: Task, text: str, inputs: dict[str, Any]
) -> int:
    sinks = [] if args.json else [ProgressPrinter()]
    async with engine(args, db, sinks) as eng:
        run_id = eng.submit(task, text, inputs)
        if not args.json:
            print(f"▶ run {run_id} · {task.name} · {bind_inputs(task, inputs).site or ''}", flush=True)
        return await _drive(args, db, eng, run_id)


async def _drive(args: argparse.Namespace, db: Database, eng: Engine, run_id: str) -> int:
    """Run until the run finishes; with --wait keep going while a person answers elsewhere."""
    try:
        await eng.drive(run_id, wait=getattr(args, "wait", False))
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: flightdeck resume {run_id}", file=sys.stderr)
        return exitcodes.INTERRUPTED
    return _finish(args, db, run_id)


def _finish(args: argparse.Namespace, db: Database, run_id: str) -> int:
    with db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        assert run is not None
        summary = run_summary(s, run)
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    return exitcodes.for_run(summary["status"], summary["failure_class"])


def cmd_resume(args: argparse.Namespace) -> int:
    with database(args) as db:
        with db.session(readonly=True) as s:
            run_id = runs.resolve_run_id(s, args.run)
            run = runs.get_run(s, run_id)
            assert run is not None
            status = RunStatus(run.status)
        if status in TERMINAL:
            print(f"run {run_id} is {status}; nothing to resume", file=sys.stderr)
            return exitcodes.for_run(status, run.failure_class)
        return asyncio.run(_resume(args, db, run_id))


async def _resume(args: argparse.Namespace, db: Database, run_id: str) -> int:
    sinks = [] if args.json else [ProgressPrinter()]
    async with engine(args, db, sinks) as eng:
        eng.recover()
        if not args.json:
            print(f"▶ resuming run {run_id}", flush=True)
        return await _drive(args, db, eng, run_id)


def cmd_answer_like(args: argparse.Namespace, decision: str) -> int:
    """approve / deny / answer: record the answer, then continue the run here if nobody else is."""
    with database(args) as db:
        target = args.target
        with db.session(readonly=True) as s:
            handoff_id = _find_handoff(
                s, target, kinds=None if decision == "answer" else ("approval", "verification")
            )
            h = handoffs.get_handoff(s, handoff_id)
            assert h is not None
            run_id = h.run_id
            payload = dict(h.payload or {})
        answer: dict[str, Any] = {"decision": decision}
        if decision == "answer":
            answer.update(_answer_from_args(args, payload, handoff_id))
        edits = getattr(args, "set", None)
        if edits:
            answer["values"] = answers.checked_edits(_parsed_edits(edits, handoff_id), payload, handoff_id)

        async def go() -> int:
            async with engine(args, db, [] if args.json else [ProgressPrinter()]) as eng:
                changed = eng.answer(handoff_id, answer, by=args.by, comment=getattr(args, "comment", None))
                if not changed:
                    print(f"handoff {handoff_id} was already answered; nothing changed", file=sys.stderr)
                if eng.run_owner_alive(run_id):
                    # Someone (run --wait, the console) holds the run and picks the answer up.
                    if not args.json:
                        print(f"✓ recorded; run {run_id} continues in the process waiting for it")
                        return exitcodes.OK
                    return _finish(args, db, run_id)
                if getattr(args, "no_resume", False):
                    return _finish(args, db, run_id)
                with db.session(readonly=True) as s:
                    run = runs.get_run(s, run_id)
                    assert run is not None
                    if RunStatus(run.status) in TERMINAL:
                        return _finish(args, db, run_id)
                if not args.json:
                    print(f"▶ continuing run {run_id}", flush=True)
                return await _drive(args, db, eng, run_id)

        return asyncio.run(go())


def _answer_from_args(args: argparse.Namespace, payload: dict[str, Any], handoff_id: str) -> dict[str, Any]:
    """`answer H VALUE`, `answer H --point X,Y` or `answer H --target SELECTOR`."""
    if args.point:
        try:
            x, y = (float(v) for v in args.point.split(","))
        except ValueError:
            if "point" not in (payload.get("accepts") or []):
                raise invalid(
                    handoff_id, "--point", "this question is not about a missing target", "answer VALUE"
                ) from None
            raise invalid(
                handoff_id, "--point", f"'{args.point}' is not X,Y", "e.g. --point 640,212"
            ) from None
        return answers.point_answer(payload, handoff_id, x, y)
    if args.new_target:
        return answers.target_answer(payload, handoff_id, args.new_target)
    if args.value is None:
        raise invalid(handoff_id, "value", "no answer given", "answer HANDOFF VALUE")
    return answers.value_answer(payload, handoff_id, args.value)


def _parsed_edits(pairs: list[str], handoff_id: str) -> dict[str, str]:
    """--set NAME=VALUE pairs (checked against the preview by `answers.checked_edits`)."""
    edits: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise invalid(handoff_id, "--set", f"'{pair}' is not FIELD=VALUE", "e.g. --set amount=10.00")
        edits[name] = value
    return edits


def _find_handoff(s: Any, target: str, kinds: tuple[str, ...] | None) -> str:
    """A handoff id (or prefix), or a run id whose single open handoff is meant."""
    try:
        return str(handoffs.resolve_handoff_id(s, target))
    except LookupError:
        pass
    run_id = runs.resolve_run_id(s, target)
    open_h = [
        h for h in handoffs.list_handoffs(s, run_id=run_id, status="open") if kinds is None or h.kind in kinds
    ]
    if not open_h:
        raise LookupError(f"run {run_id} has no open handoff to answer")
    if len(open_h) > 1:
        ids = ", ".join(h.id for h in open_h)
        raise LookupError(f"run {run_id} has several open handoffs ({ids}); name one")
    return str(open_h[0].id)

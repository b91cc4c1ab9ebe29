"""What the command line prints: a line per step as it happens, a summary, or JSON."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from sqlalchemy.orm import Session

from app.domain.events import Event, EventType
from app.engine.ports import RequestRecord
from app.store import handoffs, runs
from app.store.models import Run

ICONS = {
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "·",
    "waiting": "…",
    "running": "▶",
    "pending": " ",
    "cancelled": "⊘",
    "queued": " ",
    "paused": "‖",
    "interrupted": "!",
}


class ProgressPrinter:
    """An EventSink printing one line per finished step (and retries, handoffs) as they happen."""

    def __init__(self, stream: TextIO | None = None, prefix: str = "") -> None:
        self.stream = stream or sys.stdout
        self.prefix = prefix

    def __call__(self, event: Event) -> None:
        line = self.format(event)
        if line:
            print(f"{self.prefix}{line}", file=self.stream, flush=True)

    @staticmethod
    def format(event: Event) -> str | None:
        d = event.data
        kind = event.type
        if kind == EventType.STEP_FINISHED:
            icon = ICONS.get(d.get("status", ""), "?")
            parts = []
            if d.get("duration_ms") is not None:
                parts.append(f"{d['duration_ms']:.0f} ms")
            if d.get("attempts", 1) > 1:
                parts.append(f"{d['attempts']} attempts")
            if d.get("verified_after_recovery"):
                parts = ["verified after recovery (not redone)"]
            text = f"  {icon} {d.get('step', '?'):<18} {', '.join(parts)}"
            if d.get("failure_class"):
                text += f"\n      {d['failure_class']}: {d.get('error', '')}"
            return text.rstrip() if "\n" not in text else text
        if kind == EventType.RETRY_SCHEDULED:
            return (
                f"  ↻ {d.get('step', '?'):<18} {d.get('failure_class')}: retry "
                f"#{d.get('attempt')} in {d.get('delay', 0):g} s"
            )
        if kind == EventType.OBSTRUCTION_DISMISSED and d.get("dismissed"):
            return f"  ⌫ {d.get('step', '?'):<18} dismissed {', '.join(d['dismissed'])}"
        if kind == EventType.STEP_SKIPPED:
            return f"  · {d.get('step', '?'):<18} {d.get('reason', 'skipped')}"
        if kind == EventType.HANDOFF_OPENED:
            return f"  ? {d.get('kind', 'handoff')} {d.get('handoff_id', '')}: {d.get('question', '')}"
        if kind == EventType.RUN_RECOVERED:
            return f"  ↺ recovering: replaying from step {d.get('from_step', 0) + 1}"
        return None


def run_summary(s: Session, run: Run) -> dict[str, Any]:
    steps = runs.get_steps(s, run.id)
    open_h = handoffs.list_handoffs(s, run_id=run.id, status="open")
    return {
        "run_id": run.id,
        "task": run.task_name,
        "status": run.status,
        "failure_class": run.failure_class,
        "error": run.error,
        "site": run.site,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "steps": [
            {
                "id": st.step_id,
                "action": st.action,
                "effect": st.effect,
                "status": st.status,
                "attempts": st.attempts,
                "failure_class": st.failure_class,
                "error": st.error,
                "duration_ms": round(st.duration_ms, 1) if st.duration_ms is not None else None,
                "evidence": _evidence_summary(st.evidence or {}),
            }
            for st in steps
        ],
        "open_handoffs": [handoff_json(h) for h in open_h],
    }


def handoff_json(h: Any) -> dict[str, Any]:
    return {
        "id": h.id,
        "run_id": h.run_id,
        "kind": h.kind,
        "status": h.status,
        "question": h.question,
        "step_index": h.step_index,
        "payload": h.payload,
        "answer": h.answer,
        "answered_by": h.answered_by,
        "comment": h.comment,
        "created_at": h.created_at.isoformat() if h.created_at else None,
        "deadline": h.deadline.isoformat() if h.deadline else None,
        "default_answer": h.default_answer,
        "action_hash": h.action_hash,
    }


def _evidence_summary(evidence: dict[str, Any]) -> dict[str, Any]:
    requests = evidence.get("requests") or []
    checks = evidence.get("checks") or []
    return {
        "url": evidence.get("url"),
        "requests": [
            f"{r['method']} {r['url']} → {r.get('status')}" + (f" ({note})" if (note := _note(r)) else "")
            for r in requests
            if r.get("resource_type") in ("document", "fetch", "xhr", "") or r["method"] != "GET"
        ],
        "checks": [f"{'ok' if c['ok'] else 'FAILED'} {c['name']}" for c in checks],
    }


def _note(request: dict[str, Any]) -> str:
    return RequestRecord.from_json(request).note


def print_summary(summary: dict[str, Any], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    status = summary["status"]
    done = sum(1 for st in summary["steps"] if st["status"] == "succeeded")
    total = len(summary["steps"])
    icon = ICONS.get(status, "?")
    line = f"{icon} run {summary['run_id']} {status} · {summary['task']} · {done}/{total} steps"
    print(line, file=out)
    if summary.get("failure_class"):
        print(f"  {summary['failure_class']}: {summary.get('error') or ''}", file=out)
    for h in summary["open_handoffs"]:
        verb = {"approval": "approve", "clarification": "answer", "verification": "approve"}.get(
            h["kind"], "answer"
        )
        print(f"  waiting for you: {h['kind']} {h['id']}: {h['question']}", file=out)
        if verb == "answer":
            print(f"    answer with: flightdeck answer {h['id']} VALUE", file=out)
        else:
            print(
                f"    flightdeck approve {summary['run_id']}   |   flightdeck deny {summary['run_id']}",
                file=out,
            )


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))

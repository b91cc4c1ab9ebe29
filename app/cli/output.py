"""What the command line prints: a line per step as it happens, a summary, or JSON."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from sqlalchemy.orm import Session

from app.domain.events import Event, EventType
from app.engine.ports import RequestRecord
from app.store import attempts, events, handoffs, runs
from app.store.models import Attempt, Run

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
            if d.get("from_url"):
                return (
                    f"  ↺ recovering: from {d['from_url']} (where {d.get('left_by')} left the page), "
                    f"replaying from step {d.get('from_step', 0) + 1}"
                )
            return f"  ↺ recovering: replaying from step {d.get('from_step', 0) + 1}"
        if kind == EventType.STEP_REPLAYED:
            return f"  ↺ {d.get('step', '?'):<18} done again {d.get('purpose', '')}".rstrip()
        if kind == EventType.PAGE_REBUILT:
            why = f": {d['why']}" if d.get("why") else " for the next attempt"
            return f"  ↺ {d.get('step', '?'):<18} page rebuilt{why} ({d.get('url')})"
        if kind == EventType.STEP_REREAD:
            said = "done: not sent again" if d.get("done") else "not there: sending it again"
            return f"  ≟ {d.get('step', '?'):<18} re-read after the failed attempt: {said}"
        return None


def run_summary(s: Session, run: Run) -> dict[str, Any]:
    steps = runs.get_steps(s, run.id)
    tried: dict[int, list[Attempt]] = {}
    for a in attempts.list_attempts(s, run.id):
        tried.setdefault(a.step_index, []).append(a)
    open_h = handoffs.list_handoffs(s, run_id=run.id, status="open")
    signing_in = events.list_events(s, run.id, types=SIGN_IN_EVENTS)
    redone: dict[int, list[dict[str, Any]]] = {}
    for e in events.list_events(s, run.id, types=(EventType.STEP_REPLAYED,)):
        redone.setdefault(int(e.data.get("index", -1)), []).append(
            {"purpose": e.data.get("purpose"), "requests": _request_lines(e.data.get("requests") or [])}
        )
    return {
        "run_id": run.id,
        "task": run.task_name,
        "kind": str(run.kind),  # "open": an agent sends the steps (MCP / SDK)
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
                "verified_after_recovery": bool((st.evidence or {}).get("verified_after_recovery")),
                "by_operator": bool((st.evidence or {}).get("by_operator")),
                "evidence": _evidence_summary(st.evidence or {}),
                "attempt_list": [_attempt_summary(a) for a in tried.get(st.index, [])],
                "replays": redone.get(st.index, []),
            }
            for st in steps
        ],
        "open_handoffs": [handoff_json(h) for h in open_h],
        "sign_in": sign_in_record(signing_in),
    }


SIGN_IN_EVENTS = (
    EventType.LOGIN_STARTED,
    EventType.LOGIN_STEP,
    EventType.RETRY_SCHEDULED,
    EventType.LOGIN_FINISHED,
)


def sign_in_record(evs: list[Event]) -> list[dict[str, Any]]:
    """Each login of the run: the step that needed it, how it ended, and in order every try of
    every login step (with its requests) and every retry it scheduled."""
    logins: list[dict[str, Any]] = []
    for e in evs:
        d = e.data
        if e.type == EventType.LOGIN_STARTED:
            logins.append({"login": d.get("login"), "for_step": d.get("step"), "ok": None, "tries": []})
        elif not logins:
            continue
        elif e.type == EventType.LOGIN_STEP:
            logins[-1]["tries"].append(
                {
                    "attempt": d.get("attempt", 1),
                    "step": d.get("step"),
                    "ok": d.get("ok"),
                    "failure_class": d.get("failure_class"),
                    "error": d.get("error"),
                    "requests": _evidence_summary({"requests": d.get("requests") or []})["requests"],
                }
            )
        elif e.type == EventType.RETRY_SCHEDULED and d.get("login"):
            logins[-1]["tries"].append(
                {
                    "retry": d.get("attempt"),
                    "step": d.get("step"),
                    "delay": d.get("delay"),
                    "error": d.get("error"),
                }
            )
        elif e.type == EventType.LOGIN_FINISHED:
            logins[-1].update(
                ok=d.get("ok"),
                attempts=d.get("attempts", 1),
                rejected=d.get("rejected"),
                error=d.get("error"),
            )
    return logins


def print_sign_in(logins: list[dict[str, Any]], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    for login in logins:
        ended = {True: "signed in", False: "failed", None: "did not finish"}[login["ok"]]
        tries = login.get("attempts", 1)
        print(
            f"  sign-in #{login['login']} for {login['for_step']}: {ended}"
            + (f" after {tries} attempts" if tries > 1 else "")
            + (f" — {login['error']}" if login["ok"] is False and login.get("error") else ""),
            file=out,
        )
        for t in login["tries"]:
            if "retry" in t:
                print(f"    ↻ retry #{t['retry']} in {t['delay']:g} s", file=out)
                continue
            line = f"    {t['attempt']} {ICONS['succeeded'] if t['ok'] else ICONS['failed']} {t['step']:<18}"
            if t["failure_class"]:
                line += f" {t['failure_class']}: {t['error']}"
            print(line.rstrip(), file=out)
            for req in t["requests"]:
                print(f"        ⇄ {req}", file=out)


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
    summary = {
        "url": evidence.get("url"),
        "requests": _request_lines(evidence.get("requests") or []),
        "checks": _check_lines(evidence.get("checks") or []),
    }
    for key in ("near_misses", "form_errors"):
        if evidence.get(key):
            summary[key] = evidence[key]
    return summary


def _attempt_summary(a: Attempt) -> dict[str, Any]:
    return {
        "number": a.number,
        "outcome": str(a.outcome) if a.outcome is not None else None,
        "failure_class": a.failure_class,
        "error": a.error,
        "started_at": a.started_at.isoformat() if a.started_at else None,
        "requests": _request_lines(a.requests or []),
        "checks": _check_lines(a.checks or []),
    }


def _request_lines(requests: list[dict[str, Any]]) -> list[str]:
    """The requests a person reads a step by: documents, fetch/XHR and anything not a GET (the
    images, styles and scripts of a page would only bury them)."""
    lines = []
    for r in requests:
        if r.get("frames_sent") is not None:
            lines.append(_frames_line(r))
            continue
        if r.get("resource_type") not in ("document", "fetch", "xhr", "") and r["method"] == "GET":
            continue
        status = r.get("status")
        answer = str(status) if status is not None else (r.get("failure") or "no response")
        note = _note(r)  # third-party, background, refused: evidence that decided nothing
        lines.append(f"{r['method']} {r['url']} → {answer}" + (f" ({note})" if note else ""))
    return lines


def _frames_line(r: dict[str, Any]) -> str:
    """A WebSocket's traffic during the action: what the page sent the site, what came back."""
    sent, received = r.get("frames_sent") or 0, r.get("frames_received") or 0
    return (
        f"WS {r['url']}: {sent} frame{'s' * (sent != 1)} sent ({_size(r.get('bytes_sent'))}), "
        f"{received} received ({_size(r.get('bytes_received'))})"
    )


def _size(n: int | None) -> str:
    n = n or 0
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} kB"


def _check_lines(checks: list[dict[str, Any]]) -> list[str]:
    """'ok NAME', or 'FAILED NAME: what was found instead'."""
    return [
        f"ok {c['name']}"
        if c["ok"]
        else f"FAILED {c['name']}" + (f": {c['detail']}" if c.get("detail") else "")
        for c in checks
    ]


ATTEMPT_ICONS = {"succeeded": "✓", "failed": "✗", "unknown": "?"}


def print_steps(summary: dict[str, Any], stream: TextIO | None = None) -> None:
    """Each step with every attempt it took and what each one sent and checked."""
    out = stream or sys.stdout
    for st in summary["steps"]:
        icon = ICONS.get(st["status"], "?")
        line = f"  {icon} {st['id']:<18} {st['action']:<8} {st['effect']:<12} {st['status']}"
        if st["attempts"] and st["attempts"] > 1:
            line += f" ({st['attempts']} attempts)"
        if st.get("verified_after_recovery"):
            line += " · verified after recovery (not redone)"
        if st.get("by_operator"):
            line += " · done by the operator"
        print(line, file=out)
        if st["failure_class"]:
            print(f"      {st['failure_class']}: {st['error']}", file=out)
        tried = st.get("attempt_list") or []
        only = tried[0] if len(tried) == 1 else None
        if only is not None and (only["outcome"], only["error"]) in (
            ("succeeded", None),
            ("failed", st["error"]),
        ):
            _print_attempt_evidence(only, "      ", out)  # one attempt, and the step's line says how it went
        else:
            for a in tried:
                head = f"      attempt {a['number']} {ATTEMPT_ICONS.get(a['outcome'] or '', '…')}"
                if a["failure_class"]:
                    head += f" {a['failure_class']}: {a['error']}"
                print(head, file=out)
                if a["outcome"] == "unknown" and not a["requests"]:
                    print(
                        "        (its requests were not recorded: the process ended before writing them)",
                        file=out,
                    )
                _print_attempt_evidence(a, "        ", out)
        if not tried:
            for req in st["evidence"]["requests"]:
                print(f"      ⇄ {req}", file=out)
        for replay in st.get("replays") or []:
            print(f"      ↺ done again {replay['purpose']}", file=out)
            for req in replay["requests"]:
                print(f"        ⇄ {req}", file=out)
        decided = tried[-1]["checks"] if tried else []
        for check in st["evidence"]["checks"]:
            if check not in decided:  # e.g. the checks that verified it after a recovery
                print(f"      ☐ {check}", file=out)


def _print_attempt_evidence(attempt: dict[str, Any], indent: str, out: TextIO) -> None:
    for req in attempt["requests"]:
        print(f"{indent}⇄ {req}", file=out)
    for check in attempt["checks"]:
        print(f"{indent}☐ {check}", file=out)


def _note(request: dict[str, Any]) -> str:
    return RequestRecord.from_json(request).note


def print_summary(summary: dict[str, Any], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    status = summary["status"]
    done = sum(1 for st in summary["steps"] if st["status"] == "succeeded")
    total = len(summary["steps"])
    icon = ICONS.get(status, "?")
    by = " (steps sent by an agent)" if summary.get("kind") == "open" else ""
    line = f"{icon} run {summary['run_id']} {status} · {summary['task']}{by} · {done}/{total} steps"
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

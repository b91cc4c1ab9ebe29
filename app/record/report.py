"""The run report: one self-contained HTML file a person can read and keep (no network: the
stylesheet is inline, screenshots are data: URIs, no fonts or scripts from anywhere).

Everything taken from the run is HTML-escaped: page titles, URLs, errors and answers come from
pages nobody vouches for. stdlib `string.Template` + `html.escape` rather than Jinja2: the page
is a fixed skeleton with a few repeated blocks, and escaping by hand at each of them is short
enough to read in one sitting, with no dependency to ship.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

from app import __version__
from app.domain.events import Event
from app.engine.ports import RequestRecord
from app.engine.views import AttemptView, StepView
from app.record.report_data import ReportData, gather
from app.record.report_style import CSS
from app.store import ArtifactStore, Database
from app.store.files import write_atomically

_PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title><style>$css</style></head>
<body><main>
<section id="summary">$summary</section>
<h2>Verification</h2><section id="verification">$verification</section>
<h2>Timeline</h2><section id="timeline">$timeline</section>
<h2>Steps and attempts</h2><div id="steps">$steps</div>
<h2>Handoffs</h2><section id="handoffs">$handoffs</section>
<h2>Outcome</h2><section id="outcome">$outcome</section>
<h2>Event log</h2><section id="events">$events</section>
<footer>Written by flightdeck $version at $written. Verify the exported bundle with
<code>flightdeck verify run.zip</code>.</footer>
</main></body></html>
""")


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def render(data: ReportData) -> str:
    run = data.detail.run
    return _PAGE.substitute(
        title=e(f"Run {run.id} · {run.task_name} · {run.status.value}"),
        css=CSS,
        summary=_summary(data),
        verification=_verification(data),
        timeline=_timeline(data.detail.steps),
        steps="".join(_step(st, data) for st in data.detail.steps) or "<p class=muted>No steps ran.</p>",
        handoffs=_handoffs(data),
        outcome=_outcome(data),
        events=_events(data),
        version=e(__version__),
        written=e(datetime.now(UTC).isoformat(timespec="seconds")),
    )


def _badge(status: str) -> str:
    return f'<span class="badge {e(status)}">{e(status)}</span>'


def _when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else value
    return e(text[:23].replace("T", " "))


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _summary(data: ReportData) -> str:
    run = data.detail.run
    duration = run.duration_s()
    facts = [
        ("Run", f"<span class=mono>{e(run.id)}</span>"),
        ("Site", e(run.site)),
        ("Created", _when(run.created_at)),
        ("Finished", _when(run.finished_at)),
        ("Duration", "" if duration is None else f"{duration:.1f} s"),
        ("Steps done", f"{run.steps_done} of {run.step_count}"),
    ]
    inputs = ", ".join(f"{k}={v}" for k, v in data.detail.inputs.items())
    if inputs:
        facts.append(("Inputs", e(inputs)))
    rows = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return f"<h1>{e(run.task_name)} {_badge(run.status.value)}</h1><dl class=facts>{rows}</dl>"


def _verification(data: ReportData) -> str:
    c = data.chain
    if c.ok:
        text = (
            f'<p class="verdict ok">✓ The event chain verifies: {c.events} events, every '
            f"screenshot and trace intact.</p>"
        )
    else:
        text = f'<p class="verdict bad">✗ The record does not verify: {e(c.problem)}</p>'
    return text + f"<p class=muted>Chain head (sha256 of the last event): <code>{e(c.head_hash)}</code></p>"


def _timeline(steps: list[StepView]) -> str:
    if not steps:
        return "<p class=muted>No steps.</p>"
    rows = "".join(
        f"<tr><td class=num>{st.index + 1}</td><td><a href='#step-{st.index}'>{e(st.step_id)}</a></td>"
        f"<td class=mono>{e(st.summary or st.action)}</td><td>{e(st.effect)}</td>"
        f"<td>{_badge(st.status)}</td><td class=num>{st.attempts}</td>"
        f"<td class=num>{_ms(st.duration_ms)}</td>"
        f"<td class=time>{_when(st.started_at)}</td></tr>"
        for st in steps
    )
    head = (
        "<tr><th>#</th><th>Step</th><th>Action</th><th>Effect</th><th>Status</th><th>Attempts</th>"
        "<th>Duration</th><th>Started (UTC)</th></tr>"
    )
    return f"<table>{head}{rows}</table>"


def _step(st: StepView, data: ReportData) -> str:
    parts = [
        f"<div class=card id='step-{st.index}'><h3>{st.index + 1}. {e(st.step_id)} {_badge(st.status)}</h3>",
        f"<div class=mono>{e(st.summary or st.action)}</div>",
    ]
    if st.error:
        parts.append(f"<p class=error>{e(st.failure_class)}: {e(st.error)}</p>")
    retries = [ev for ev in data.events if ev.type == "retry.scheduled" and ev.data.get("index") == st.index]
    for ev in retries:
        parts.append(
            f"<p class=muted>↻ retry #{e(ev.data.get('attempt'))} scheduled after "
            f"{e(ev.data.get('failure_class'))}, in {e(ev.data.get('delay'))} s ({_when(ev.at)})</p>"
        )
    for ev in data.events:
        if ev.type == "approval.used" and ev.data.get("index") == st.index:
            parts.append(f"<p>✔ approved by {e(ev.data.get('by'))} ({_when(ev.at)})</p>")
    for attempt in st.attempt_list:
        parts.append(_attempt(st.index, attempt, data))
    if not st.attempt_list:
        parts.append("<p class=muted>No attempt recorded.</p>")
    decided = st.attempt_list[-1].checks if st.attempt_list else []
    extra = [c for c in st.evidence.get("checks") or [] if c not in decided]
    if extra:  # e.g. the checks that proved the step done after the session was renewed
        why = "verified after recovery" if st.evidence.get("verified_after_recovery") else "the step's checks"
        parts.append(f"<p class=muted>Checked for the step ({e(why)}):</p>{_checks(extra)}")
    parts.append("</div>")
    return "".join(parts)


def _attempt(index: int, a: AttemptView, data: ReportData) -> str:
    outcome = a.outcome or "unfinished"
    # The action's own time, from its attempt.finished event: the attempt row of a read step is
    # written once, when it ends, so its start and end times say nothing about the action.
    took = data.action_ms.get((index, a.number))
    timing = _when(a.started_at) + (f" · action {_ms(took)}" if took is not None else "")
    head = (
        f"<div class=attempt><strong>Attempt {a.number}</strong> {_badge(outcome)} "
        f"<span class=muted>{timing}</span>"
    )
    body = [head]
    if a.error:
        body.append(f"<div class=error>{e(a.failure_class)}: {e(a.error)}</div>")
    pairs = [("before", a.screenshot_before), ("after", a.screenshot_after)]
    if a.screenshot_before and a.screenshot_before == a.screenshot_after:
        pairs = [("before = after (the page did not change)", a.screenshot_after)]
    shots = [_figure(label, sha, data) for label, sha in pairs]
    shots = [s for s in shots if s]
    if shots:
        body.append(f"<div class=shots>{''.join(shots)}</div>")
    if a.requests:
        rows = "".join(
            f"<tr><td>{e(r.get('method'))}</td><td class=mono>{e(r.get('url'))}</td>"
            f"<td>{_status(r)}</td><td class=num>{_ms(r.get('duration_ms'))}</td></tr>"
            for r in a.requests
        )
        body.append(
            "<table class=requests><tr><th>Method</th><th>Request</th><th>Status</th><th>Time</th></tr>"
            f"{rows}</table>"
        )
    elif a.outcome == "unknown":
        body.append(
            "<p class=muted>Requests not recorded: the run was interrupted after the action was "
            "sent, before they were written.</p>"
        )
    if a.checks:
        body.append(_checks(a.checks))
    body.append("</div>")
    return "".join(body)


def _checks(checks: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_badge('ok' if c.get('ok') else 'failed')}</td><td class=mono>{e(c.get('name'))}</td>"
        f"<td>{e(c.get('detail'))}</td></tr>"
        for c in checks
    )
    return f"<table class=checks><tr><th>Check</th><th>Expectation</th><th>Found</th></tr>{rows}</table>"


def _status(request: dict[str, Any]) -> str:
    record = RequestRecord.from_json(request)
    note = f" <span class=note>({e(record.note)})</span>" if record.note else ""
    status = request.get("status")
    if status is None:
        cls = "error" if record.judged else ""
        return f"<span class='{cls}'>{e(request.get('failure') or 'no response')}</span>{note}"
    cls = "error" if int(status) >= 400 and record.judged else ""
    return f"<span class='{cls}'>{e(status)}</span>{note}"


def _figure(label: str, sha: str | None, data: ReportData) -> str:
    if sha is None:
        return ""
    image = data.images.get(sha)
    if image is None:
        caption = f"{e(label)}: screenshot {e(sha[:12])}… missing or altered"
        return f"<figure><figcaption>{caption}</figcaption></figure>"
    kind = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
    uri = f"data:{kind};base64,{base64.b64encode(image).decode()}"
    caption = f"{e(label)} · {e(sha[:12])}"
    return f"<figure><img alt='{e(label)}' src='{uri}'><figcaption>{caption}</figcaption></figure>"


def _handoffs(data: ReportData) -> str:
    # From the events, not the handoff rows: the chain covers them, and they keep every
    # question of the run (also ones asked again after a page changed).
    opened = [ev for ev in data.events if ev.type == "handoff.opened"]
    if not opened:
        return "<p class=muted>Nobody was asked anything during this run.</p>"
    closed = {
        ev.data.get("handoff_id"): ev
        for ev in data.events
        if ev.type in ("handoff.answered", "handoff.expired", "handoff.cancelled")
    }
    rows = "".join(_handoff_row(ev, closed.get(ev.data.get("handoff_id"))) for ev in opened)
    head = (
        "<tr><th>Kind</th><th>Question</th><th>Asked (UTC)</th><th>Status</th><th>Answer</th>"
        "<th>By</th><th>Answered (UTC)</th></tr>"
    )
    return f"<table class=handoffs>{head}{rows}</table>"


def _handoff_row(opened: Event, closed: Event | None) -> str:
    if closed is None:
        status, answer, by, at = "open", "", "", None
    else:
        status = closed.type.removeprefix("handoff.")
        answer = _answer_text(closed.data.get("answer"), closed.data.get("comment"))
        by = closed.data.get("by") or ("(deadline: default applied)" if status == "expired" else "")
        at = closed.at
    d = opened.data
    return (
        f"<tr><td>{e(d.get('kind'))}</td><td>{e(d.get('question'))}</td>"
        f"<td class=time>{_when(opened.at)}</td>"
        f"<td>{_badge(status)}</td><td>{e(answer)}</td><td>{e(by)}</td><td class=time>{_when(at)}</td></tr>"
    )


def _answer_text(answer: Any, comment: Any) -> str:
    if isinstance(answer, dict):
        rest = {k: v for k, v in answer.items() if k not in ("decision", "comment")}
        text = str(answer.get("decision") or "")
        if rest:
            text += " " + json.dumps(rest, ensure_ascii=False, default=str)
        comment = comment or answer.get("comment")
    else:
        text = "" if answer is None else str(answer)
    return f"{text} — “{comment}”" if comment else text


def _outcome(data: ReportData) -> str:
    run = data.detail.run
    parts = [f"<p>The run {_badge(run.status.value)} after {run.steps_done} of {run.step_count} steps.</p>"]
    if run.failure_class or run.error:
        parts.append(f"<p class=error>{e(run.failure_class)}: {e(run.error)}</p>")
    if data.trace:
        parts.append(
            f"<p>A Playwright trace was recorded (<code>{e(str(data.trace.get('sha256'))[:12])}…</code>, "
            f"{int(data.trace.get('size') or 0) // 1024} KiB): export the run and open "
            "<code>artifacts/&lt;sha256&gt;.zip</code> with <code>playwright show-trace</code>.</p>"
        )
    return "".join(parts)


def _events(data: ReportData) -> str:
    rows = "".join(
        f"<tr><td class=num>{ev.seq}</td><td class=time>{_when(ev.at)}</td><td>{e(ev.type)}</td>"
        f"<td class=mono>{e(_short(ev.data))}</td></tr>"
        for ev in data.events
    )
    return (
        f"<details><summary>{len(data.events)} events (each one's hash covers the one before)</summary>"
        f"<table><tr><th>#</th><th>At (UTC)</th><th>Event</th><th>Data</th></tr>{rows}</table></details>"
    )


def _short(data: dict[str, Any]) -> str:
    text = json.dumps(
        {k: v for k, v in data.items() if k not in ("requests", "checks")}, ensure_ascii=False, default=str
    )
    return text if len(text) <= 240 else text[:240] + "…"


def write_report(db: Database, store: ArtifactStore, run_id: str, out: Path) -> Path:
    """Gather, render and write the report of `run_id` to `out` (a Path); returns `out`.
    Written aside then renamed: a browser opening it never sees half a page."""
    path = Path(out)
    page = render(gather(db, store, run_id))
    write_atomically(path, page.encode("utf-8"))
    return path

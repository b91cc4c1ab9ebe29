"""What the run report shows, read from the store in one go: the run's steps, attempts and
handoffs (the console's read model), its events, the chain's verdict and the screenshots."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from app.domain.events import GENESIS, Event, first_broken
from app.engine.views import RunDetail, run_detail
from app.record.bundle import artifact_refs
from app.store import ArtifactStore, Database, events, runs


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    events: int
    head_hash: str
    problem: str | None = None  # the first thing that does not verify


@dataclass
class ReportData:
    detail: RunDetail
    events: list[Event]
    chain: ChainStatus
    images: dict[str, bytes] = field(default_factory=dict)  # sha256 → JPEG, intact ones only
    trace: dict[str, Any] | None = None  # the last trace.saved event's data
    action_ms: dict[tuple[int, int], float] = field(default_factory=dict)  # (step, attempt) → ms


def gather(db: Database, store: ArtifactStore, run_id: str) -> ReportData:
    """Raises LookupError (fit to show) for an unknown run."""
    with db.session(readonly=True) as s:
        resolved = runs.resolve_run_id(s, run_id)
        evs = events.list_events(s, resolved)
    detail = run_detail(db, resolved)
    if detail is None:
        raise LookupError(f"no run {run_id}: list runs with `flightdeck runs`")
    images: dict[str, bytes] = {}
    problem: str | None = None
    broken = first_broken(evs)
    if not evs:
        problem = "the run has no events at all (expected run.created)"
    elif broken is not None:
        problem = f"event #{broken[0]}: {broken[1]}"
    for sha, seq in artifact_refs(evs):
        if sha in images:
            continue
        data = store.read(sha) if store.exists(sha) else None
        if data is None or hashlib.sha256(data).hexdigest() != sha:
            state = "missing" if data is None else "altered"
            problem = problem or f"artifact {sha[:12]}… (event #{seq}) is {state}"
            continue
        if not data.startswith(b"PK"):  # screenshots only; a trace zip is linked, not shown
            images[sha] = data
    traces = [e.data for e in evs if e.type == "trace.saved"]
    chain = ChainStatus(problem is None, len(evs), evs[-1].hash if evs else GENESIS, problem)
    action_ms = {
        (int(ev.data["index"]), int(ev.data["attempt"])): float(ev.data["duration_ms"])
        for ev in evs
        if ev.type == "attempt.finished" and ev.data.get("duration_ms") is not None and "index" in ev.data
    }
    return ReportData(detail, evs, chain, images, traces[-1] if traces else None, action_ms)

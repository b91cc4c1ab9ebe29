"""`flightdeck export`: a run's events and artifacts, with a manifest, in one zip."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import __version__
from app.domain.events import Event
from app.record.bundle import (
    EVENTS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    artifact_path,
    artifact_refs,
    event_line,
)
from app.store import ArtifactStore, Database, events, runs
from app.store.models import Artifact, Run


@dataclass
class Exported:
    path: Path
    events: int
    artifacts: int
    head_hash: str
    # Referenced by an event but gone from the artifact store: listed in the manifest, so the
    # bundle does not verify (the record is incomplete, and says so).
    missing: list[str] = field(default_factory=list)


def run_summary(s: Any, run: Run) -> dict[str, Any]:
    steps = runs.get_steps(s, run.id)
    return {
        "run_id": run.id,
        "task": run.task_name,
        "kind": str(run.kind),  # "open": an agent sent the steps one at a time
        "status": str(run.status),
        "failure_class": run.failure_class,
        "error": run.error,
        "site": run.site,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "steps": [{"id": st.step_id, "status": str(st.status), "attempts": st.attempts} for st in steps],
    }


def export_run(db: Database, store: ArtifactStore, run_id: str, out: Path) -> Exported:
    """Write the bundle of `run_id` to `out` (replaced whole: written aside, then renamed).
    Raises LookupError for an unknown run."""
    with db.session(readonly=True) as s:
        run = runs.get_run(s, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}: list runs with `flightdeck runs`")
        summary = run_summary(s, run)
        evs = events.list_events(s, run_id)
        listed = _artifacts(s, evs)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": "flightdeck",
        "tool_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": summary,
        "chain": {
            "events": len(evs),
            "head_seq": evs[-1].seq if evs else 0,
            "head_hash": evs[-1].hash if evs else None,
        },
        "artifacts": listed,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    missing: list[str] = []
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
            z.writestr(EVENTS, "".join(event_line(e) + "\n" for e in evs))
            for item in listed:
                if not store.exists(item["sha256"]):
                    missing.append(item["sha256"])
                    continue
                # JPEGs and zips are compressed already.
                z.write(store.path(item["sha256"]), item["path"], compress_type=zipfile.ZIP_STORED)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Exported(out, len(evs), len(listed) - len(missing), manifest["chain"]["head_hash"] or "", missing)


def _artifacts(s: Any, evs: list[Event]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for sha, seq in artifact_refs(evs):
        if sha in seen:
            continue
        row = s.get(Artifact, sha)
        media_type = row.media_type if row is not None else "application/octet-stream"
        seen[sha] = {
            "path": artifact_path(sha, media_type),
            "sha256": sha,
            "size": row.size if row is not None else None,
            "media_type": media_type,
            "kind": row.kind if row is not None else "unknown",
            "first_event": seq,
        }
    return list(seen.values())

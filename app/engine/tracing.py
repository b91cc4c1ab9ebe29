"""A run's Playwright trace (task policy `trace`, or `flightdeck run --trace`): started with the
run's browser session, stopped when the run lets the session go, redacted, stored as a
content-addressed artifact and referenced by a `trace.saved` event, so the hash chain covers it.

Playwright writes fill values, DOM snapshots and network bodies into the trace. A `secret:`
value therefore passes through it in several places; rather than hoping to catch each one, the
whole zip (every member, decompressed) goes through the run's Redactor before it is stored (G7).
"""

from __future__ import annotations

import asyncio
import io
import logging
import zipfile
from typing import Any, Literal, Protocol, runtime_checkable

from app.domain.events import EventType
from app.domain.states import RunStatus
from app.engine.recorder import RunRecorder
from app.secrets import Redactor
from app.store import ArtifactStore, record_artifact

log = logging.getLogger("flightdeck.engine")

TraceMode = Literal["on", "retain-on-failure", "off"]
TRACE_MODES: tuple[TraceMode, ...] = ("on", "retain-on-failure", "off")
TRACE_MEDIA_TYPE = "application/zip"


@runtime_checkable
class TracingSession(Protocol):
    """A browser session that can record a Playwright trace (PlaywrightSession can)."""

    async def start_trace(self) -> None: ...

    async def stop_trace(self) -> bytes: ...


def redact_zip(data: bytes, redactor: Redactor) -> bytes:
    """`data` (a zip) with every member's bytes redacted, names and order kept. Members are
    rewritten even where nothing matched: cheap next to tracing itself, and simple to trust."""
    if not redactor:
        return data
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, redactor.redact_bytes(src.read(info)))
    return out.getvalue()


class RunTrace:
    """Starts and stops one session's trace for one execution of a run (a run that parks and
    resumes later gets one trace per stretch it ran)."""

    def __init__(self, mode: TraceMode, recorder: RunRecorder, artifacts: ArtifactStore) -> None:
        self.mode = mode
        self.recorder = recorder
        self.artifacts = artifacts
        self._session: TracingSession | None = None

    async def start(self, session: Any) -> None:
        if self.mode == "off" or not isinstance(session, TracingSession):
            return
        try:
            await session.start_trace()
        except Exception:
            # Evidence is worth having, not worth failing the run for.
            log.warning("could not start a trace", exc_info=True)
            return
        self._session = session

    async def finish(self, status: RunStatus | None) -> str | None:
        """Stop tracing; store and record the trace unless the mode says to drop it. Returns its
        sha256 when stored. Awaits the commit: the event must be durable with the file."""
        session, self._session = self._session, None
        if session is None:
            return None
        try:
            raw = await session.stop_trace()
        except Exception:
            log.warning("could not stop the trace", exc_info=True)
            return None
        if self.mode == "retain-on-failure" and status is not RunStatus.FAILED:
            return None
        # Both are heavy (a trace is megabytes): off the event loop, which may be the console's.
        data = await asyncio.to_thread(redact_zip, raw, self.recorder.redactor)
        sha = await asyncio.to_thread(self.artifacts.put, data)
        size = len(data)
        self.recorder.stage(lambda s, run: record_artifact(s, sha, TRACE_MEDIA_TYPE, size, "trace"))
        self.recorder.emit(
            EventType.TRACE_SAVED,
            sha256=sha,
            size=size,
            mode=self.mode,
            status=status.value if status else None,
        )
        await self.recorder.commit()
        return sha

"""Redaction of what the engine writes (DESIGN.md G7): each run's Redactor knows the values of
the secret fields its task can type; every row a run's transaction writes and every log line
pass through it — except what the run executes from, which is sealed instead (never masked)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.domain.sealing import Sealer
from app.secrets import Redactor
from app.store.events import EVENT_DATA_FILTER
from app.store.models import EventRecord, LearnedTarget, Run, StepRecord

# What a run is continued from (by this process or another): a masked value there would be
# acted on ("/[secret]/…" answers 404). Its secret values are replaced by placeholders instead.
EXECUTED_FROM = {
    Run: ("task_text", "inputs", "checkpoint"),
    StepRecord: ("spec",),  # an open run's step as its agent sent it
    LearnedTarget: ("target",),
}


def redact_rows(s: Session, redactor: Redactor, sealer: Sealer | None = None) -> None:
    """From now on, every text and JSON column of the rows `s` inserts or updates: redacted
    when it is part of the record, sealed when the run executes from it (EXECUTED_FROM).

    Event rows are left alone: the data of every event the transaction appends (the engine's
    and the store's own: a status change's error, a handoff's question) is redacted before it
    is hashed (a redaction after the hash would break the chain, G8)."""
    s.info[EVENT_DATA_FILTER] = redactor.redact_value

    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        for row in [*session.new, *session.dirty]:
            if isinstance(row, EventRecord):
                continue
            executed_from = EXECUTED_FROM.get(type(row), ())
            for column in inspect(row).mapper.column_attrs:
                value = getattr(row, column.key)
                if not isinstance(value, str | dict | list):
                    continue
                if column.key not in executed_from:
                    clean = redactor.redact_value(value)
                elif sealer:
                    clean = sealer.seal(value)
                else:
                    continue
                if clean != value:
                    setattr(row, column.key, clean)
            if isinstance(row, Run) and sealer and (row.checkpoint or {}).get("seal_tag") != sealer.tag:
                # Placeholders in its inputs resolve only with the tag they were sealed with.
                row.checkpoint = {**(row.checkpoint or {}), "seal_tag": sealer.tag}

    event.listen(s, "before_flush", before_flush)


class LogRedaction(logging.Filter):
    """A filter for the engine's and the browser's loggers: every message (and traceback) is
    redacted with the Redactors of the runs executing in this process."""

    LOGGERS = ("flightdeck", "flightdeck.engine", "flightdeck.browser", "app.browser.guard")

    def __init__(self) -> None:
        super().__init__()
        self._redactors: dict[str, Redactor] = {}

    def add(self, run_id: str, redactor: Redactor) -> None:
        self._redactors[run_id] = redactor

    def discard(self, run_id: str) -> None:
        self._redactors.pop(run_id, None)

    def install(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)

    def uninstall(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self)

    def redact(self, text: str) -> str:
        for redactor in list(self._redactors.values()):
            text = redactor.redact(text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not any(self._redactors.values()):
            return True
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True

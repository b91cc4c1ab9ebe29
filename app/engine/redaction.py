"""Redaction of what the engine writes (DESIGN.md G7): each run's Redactor knows the values the
run resolved; every row a run's transaction writes and every log line pass through it."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.secrets import Redactor
from app.store.models import EventRecord


def redact_rows(s: Session, redactor: Redactor) -> None:
    """Redact every text and JSON column of the rows `s` inserts or updates from now on.

    Events are left alone: their data is redacted before it is hashed (a redaction after the
    hash would break the chain, G8)."""

    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        for row in [*session.new, *session.dirty]:
            if isinstance(row, EventRecord):
                continue
            for column in inspect(row).mapper.column_attrs:
                value = getattr(row, column.key)
                if isinstance(value, str | dict | list):
                    clean = redactor.redact_value(value)
                    if clean != value:
                        setattr(row, column.key, clean)

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

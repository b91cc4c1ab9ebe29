"""The append-only, hash-chained event log of each run (G8).

Each event's hash covers the previous event's hash, so editing, deleting or reordering any
event is found by `verify_events`. Rows are only ever inserted.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, SessionTransaction

from app.domain.events import GENESIS, Event, canonical, chain_hash, first_broken
from app.store.commits import CARRIED
from app.store.models import EventRecord, Run

# Session.info key of the per-transaction cache of each run's last (seq, hash).
_HEADS = "flightdeck.event_heads"
# Session.info key of a function every event's data passes through before it is hashed: the
# engine's redaction (G7), for every event its transaction writes, whoever appends it.
EVENT_DATA_FILTER = "flightdeck.event_data_filter"
# Session.info key: the events appended in the session's current transaction, in append order,
# whoever appended them (a staged change, a handoff opened in it). Whoever owns the transaction
# hands exactly these on after it commits (the run recorder's sinks) instead of reading back
# what it just wrote.
APPENDED = "flightdeck.appended_events"


def event_time() -> str:
    """Now as UTC ISO-8601 with microseconds: the exact text stored and hashed."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    # Hash exactly what the database will hand back: canonical() turns tuples into lists,
    # enum members into their values and (via default=str) anything else into text.
    result: dict[str, Any] = json.loads(canonical(dict(data)))
    return result


def _head(s: Session, run_id: str) -> tuple[int, str]:
    """(seq, hash) of the run's last event, or (0, GENESIS).

    Cached per transaction: many appends in one transaction query once. The cache is dropped
    whenever the transaction changes, because another process may append in between (the CLI
    answering a handoff while the engine runs), and inside savepoints, whose rollback would
    leave it ahead of the database.
    """
    if s.in_nested_transaction():
        s.info.pop(_HEADS, None)
        return _query_head(s, run_id)
    cached: tuple[SessionTransaction, dict[str, tuple[int, str]]] | None = s.info.get(_HEADS)
    if cached is not None and cached[0] is s.get_transaction() and run_id in cached[1]:
        return cached[1][run_id]
    return _query_head(s, run_id)


def _remember(s: Session, run_id: str, head: tuple[int, str]) -> None:
    if s.in_nested_transaction():
        return
    tx = s.get_transaction()
    cached: tuple[SessionTransaction, dict[str, tuple[int, str]]] | None = s.info.get(_HEADS)
    if cached is None or cached[0] is not tx:
        if tx is None:
            return
        cached = (tx, {})
        s.info[_HEADS] = cached
    cached[1][run_id] = head


def _query_head(s: Session, run_id: str) -> tuple[int, str]:
    row = s.execute(
        select(EventRecord.seq, EventRecord.hash)
        .where(EventRecord.run_id == run_id)
        .order_by(EventRecord.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS) if row is None else (row.seq, row.hash)


def last_seq(s: Session, run_id: str) -> int:
    """The sequence number of the run's last event (0: none yet), from the index alone."""
    return _query_head(s, run_id)[0]


def _build(run_id: str, items: Sequence[tuple[str, Mapping[str, Any]]], head: tuple[int, str]) -> list[Event]:
    seq, prev = head
    events = []
    for type_, data in items:
        seq += 1
        type_text = str(type_)
        body = _normalise(data)
        at = event_time()  # the append time; whoever buffers events keeps its own times in data
        digest = chain_hash(prev, run_id, seq, type_text, at, body)
        events.append(Event(run_id, seq, type_text, at, body, prev, digest))
        prev = digest
    return events


def append_events(s: Session, run_id: str, items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Event]:
    """Append events in order with one multi-row INSERT. Committed with the caller's transaction.

    On SQLite writers are serialised by the write lock; on PostgreSQL two concurrent appenders
    to one run collide on the (run_id, seq) key and one transaction fails, never forks the chain.
    """
    if not items:
        return []
    clean = s.info.get(EVENT_DATA_FILTER)
    if clean is not None:
        items = [(type_, clean(data)) for type_, data in items]
    events = _build(run_id, items, _head(s, run_id))
    s.execute(
        insert(EventRecord),
        [
            {
                "run_id": e.run_id,
                "seq": e.seq,
                "type": e.type,
                "at": e.at,
                "data": e.data,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in events
        ],
    )
    _remember(s, run_id, (events[-1].seq, events[-1].hash))
    s.info.setdefault(CARRIED, []).extend(e.type for e in events)  # for commits.py's trace
    s.info.setdefault(APPENDED, []).extend(events)
    return events


def take_appended(s: Session, run_id: str) -> list[Event]:
    """The events of `run_id` appended in this session since the last take (or since it
    started), in seq order, each once; forgets them. Call it last in the transaction, after
    everything that may append: what it returns is exactly what the commit makes durable."""
    appended: list[Event] = s.info.get(APPENDED, [])
    taken = {e.seq: e for e in appended if e.run_id == run_id}
    s.info[APPENDED] = [e for e in appended if e.run_id != run_id]
    return [taken[seq] for seq in sorted(taken)]


def append_event(s: Session, run_id: str, type: str, data: Mapping[str, Any] | None = None) -> Event:
    """Append one event to the run's chain (committed with the caller's transaction)."""
    return append_events(s, run_id, [(type, data or {})])[0]


def list_events(
    s: Session, run_id: str, after_seq: int = 0, *, types: Collection[str] | None = None
) -> list[Event]:
    """The run's events in order (after `after_seq`; of `types` only, when given)."""
    # Plain column rows, not ORM objects: exports and verification read whole logs.
    query = (
        select(
            EventRecord.run_id,
            EventRecord.seq,
            EventRecord.type,
            EventRecord.at,
            EventRecord.data,
            EventRecord.prev_hash,
            EventRecord.hash,
        )
        .where(EventRecord.run_id == run_id, EventRecord.seq > after_seq)
        .order_by(EventRecord.seq)
    )
    if types is not None:
        query = query.where(EventRecord.type.in_([str(t) for t in types]))
    return [Event(*row) for row in s.execute(query)]


def verify_events(s: Session, run_id: str) -> tuple[int, str] | None:
    """(seq, reason) of the first event that does not verify, or None when the chain holds.

    A hash chain cannot notice its last events being cut off; every run starts with
    `run.created`, so at least an emptied log is reported.
    """
    events = list_events(s, run_id)
    if not events and s.get(Run, run_id) is not None:
        return 1, "the run has no events at all (expected run.created)"
    return first_broken(events)

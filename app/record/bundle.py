"""The evidence bundle's layout, shared by the writer (export) and the checker (verify).

    manifest.json   format, version, tool, created time, run summary, chain head, artifacts
    events.jsonl    one event per line: run_id, seq, type, at, data, prev_hash, hash
    artifacts/      <sha256>.jpg screenshots, <sha256>.zip Playwright traces

Pure: no database, no Playwright; only the standard library and the domain's chain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from app.domain.events import Event

FORMAT = "flightdeck-evidence"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
EVENTS = "events.jsonl"
ARTIFACTS_DIR = "artifacts/"
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "application/zip": ".zip"}

# Where events refer to artifacts by sha256. Other 64-hex values (an approval's action_hash,
# the chain's own hashes) are not files.
ARTIFACT_KEYS = frozenset({"screenshot", "screenshot_before", "screenshot_after"})
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BundleError(Exception):
    """The file is not an evidence bundle this version can read; the message says what it is
    and what to do instead. (A bundle that reads but does not verify is a Verdict, not this.)"""


def artifact_path(sha: str, media_type: str) -> str:
    return f"{ARTIFACTS_DIR}{sha}{EXTENSIONS.get(media_type, '.bin')}"


def event_line(event: Event) -> str:
    return json.dumps(
        {
            "run_id": event.run_id,
            "seq": event.seq,
            "type": event.type,
            "at": event.at,
            "data": event.data,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def parse_event(line: str) -> Event:
    """An event from its line; ValueError when the line is not one (bad JSON, missing field)."""
    raw = json.loads(line)
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    try:
        return Event(
            run_id=str(raw["run_id"]),
            seq=int(raw["seq"]),
            type=str(raw["type"]),
            at=str(raw["at"]),
            data=raw["data"] if isinstance(raw["data"], dict) else {},
            prev_hash=str(raw["prev_hash"]),
            hash=str(raw["hash"]),
        )
    except KeyError as exc:
        raise ValueError(f"no {exc.args[0]!r} field") from None


def artifact_refs(events: Iterable[Event]) -> Iterator[tuple[str, int]]:
    """(sha256, seq of the event) of every artifact the events refer to, in event order:
    screenshots (also inside a handoff's payload) and `trace.saved`'s trace."""
    for event in events:
        if event.type == "trace.saved" and _is_sha(event.data.get("sha256")):
            yield event.data["sha256"], event.seq
        for sha in _walk(event.data):
            yield sha, event.seq


def _walk(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ARTIFACT_KEYS and _is_sha(item):
                yield item
            else:
                yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _is_sha(value: Any) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None

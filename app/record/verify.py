"""`flightdeck verify`: check an evidence bundle with nothing but the zip (no database).

Recomputes the event chain with the same function the store uses (app.domain.events), checks
that the chain ends where the manifest says (a cut-off tail is invisible to the chain alone),
that the manifest's summary agrees with the events, and that every artifact is present, listed,
referenced and hashes to its name. Anything else in the zip is reported as an extra file.

What it cannot tell: a bundle rebuilt from scratch by someone who cut events and rewrote the
manifest to match. Against that, compare the printed chain head with one recorded elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.domain.events import Event, first_broken
from app.record.bundle import (
    ARTIFACTS_DIR,
    EVENTS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BundleError,
    artifact_refs,
    parse_event,
)

_EXPORT_HINT = "make one with `flightdeck export RUN -o run.zip`"


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify. `what`: "event" (with `seq`), "artifact" (with
    `path`), "manifest" or "file"."""

    what: str
    reason: str
    seq: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        if self.seq is not None:
            return f"event #{self.seq}: {self.reason}"
        if self.path is not None:
            return f"{self.path}: {self.reason}"
        return f"{self.what}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "seq": self.seq, "path": self.path, "reason": self.reason}


@dataclass
class Verdict:
    manifest: dict[str, Any]
    events: int = 0
    artifacts: int = 0
    head_hash: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(path: str | Path) -> Verdict:
    """The bundle's verdict. Raises BundleError when the file is not a bundle at all."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no such file ({_EXPORT_HINT})")
    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise BundleError(f"{path} is not a zip file, so not an evidence bundle ({_EXPORT_HINT})") from None
    with z:
        manifest = _manifest(z, path)
        verdict = Verdict(manifest)
        evs = _events(z, verdict)
        if evs is not None:
            _chain(evs, manifest, verdict)
        _artifacts(z, manifest, evs or [], verdict)
    return verdict


def _manifest(z: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(z.read(MANIFEST))
    except KeyError:
        raise BundleError(f"{path} has no {MANIFEST}: not an evidence bundle ({_EXPORT_HINT})") from None
    except (ValueError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: {MANIFEST} cannot be read ({exc}); the bundle is damaged") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BundleError(f"{path} is not a flightdeck evidence bundle ({_EXPORT_HINT})")
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise BundleError(
            f"{path} is evidence format version {version!r}; this flightdeck reads version "
            f"{FORMAT_VERSION}: verify it with a flightdeck at least as new as "
            f"{raw.get('tool_version', 'the one that made it')}"
        )
    return raw


def _events(z: zipfile.ZipFile, verdict: Verdict) -> list[Event] | None:
    try:
        text = z.read(EVENTS).decode("utf-8")
    except KeyError:
        verdict.problems.append(Problem("file", "missing: the bundle has no event log", path=EVENTS))
        return None
    except (UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
        verdict.problems.append(Problem("file", f"cannot be read ({exc})", path=EVENTS))
        return None
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(parse_event(line))
        except ValueError as exc:
            verdict.problems.append(Problem("file", f"line {number} is not an event ({exc})", path=EVENTS))
            return None
    verdict.events = len(found)
    return found


def _chain(evs: list[Event], manifest: dict[str, Any], verdict: Verdict) -> None:
    broken = first_broken(evs)
    if broken is not None:
        verdict.problems.append(Problem("event", broken[1], seq=broken[0]))
        return
    run = manifest.get("run") or {}
    chain = manifest.get("chain") or {}
    verdict.head_hash = evs[-1].hash if evs else None
    if not evs or evs[0].type != "run.created":
        verdict.problems.append(Problem("event", "the log does not start with run.created (cut off)", seq=1))
        return
    if any(e.run_id != run.get("run_id") for e in evs):
        verdict.problems.append(
            Problem("manifest", f"names run {run.get('run_id')!r}, the events are of run {evs[0].run_id}")
        )
    head_seq = chain.get("head_seq")
    if head_seq != evs[-1].seq or chain.get("head_hash") != evs[-1].hash:
        # Cut off: the first event that fails is the first one missing.
        cut = isinstance(head_seq, int) and head_seq > evs[-1].seq
        verdict.problems.append(
            Problem(
                "event",
                f"the log ends at event #{evs[-1].seq} but the manifest's chain head is event "
                f"#{head_seq} ({str(chain.get('head_hash'))[:12]}…): truncated, or "
                "the manifest was edited",
                seq=evs[-1].seq + 1 if cut else evs[-1].seq,
            )
        )
    statuses = [e.data.get("to") for e in evs if e.type == "run.status"]
    last = statuses[-1] if statuses else "queued"
    if run.get("status") != last:
        verdict.problems.append(
            Problem("manifest", f"says the run is {run.get('status')!r}; its events say {last!r}")
        )


def _artifacts(z: zipfile.ZipFile, manifest: dict[str, Any], evs: list[Event], verdict: Verdict) -> None:
    listed: dict[str, dict[str, Any]] = {}
    for item in manifest.get("artifacts") or []:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            listed[item["path"]] = item
    names = set(z.namelist())
    by_sha = {str(item.get("sha256")): p for p, item in listed.items()}
    for sha, seq in artifact_refs(evs):
        if sha not in by_sha:
            verdict.problems.append(
                Problem("artifact", f"referenced by event #{seq} but not listed in the manifest", path=sha)
            )
            by_sha[sha] = sha  # once
    for p, item in listed.items():
        sha = str(item.get("sha256"))
        if not p.startswith(ARTIFACTS_DIR) or not Path(p).name.startswith(sha):
            verdict.problems.append(Problem("artifact", "its file name is not its sha256", path=p))
        elif p not in names:
            verdict.problems.append(Problem("artifact", "missing from the bundle", path=p))
        elif hashlib.sha256(z.read(p)).hexdigest() != sha:
            reason = "its bytes do not match its sha256 (altered)"
            verdict.problems.append(Problem("artifact", reason, path=p))
        else:
            verdict.artifacts += 1
    for extra in sorted(names - set(listed) - {MANIFEST, EVENTS}):
        if not extra.endswith("/"):
            reason = "extra file: not part of the exported record"
            verdict.problems.append(Problem("file", reason, path=extra))

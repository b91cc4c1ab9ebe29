"""`export`, `verify` and `report`: a run's record outside the database (README "The record")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli import exitcodes
from app.cli.context import database
from app.cli.output import print_json
from app.store import ArtifactStore, Database, default_artifacts_dir, runs


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write a run's evidence bundle: events, screenshots, trace and a manifest, in one zip",
        description="write a run's evidence bundle: events, screenshots, trace and a manifest, in one zip",
    )
    p.set_defaults(func=cmd_export)
    p.add_argument("run", metavar="RUN")
    p.add_argument("-o", "--output", metavar="ZIP", help="where to write it (default: run-RUN.zip here)")
    _store_flags(p)

    p = sub.add_parser(
        "verify",
        help="check an evidence bundle (no database needed): exit 0 intact, 1 not",
        description="recompute an exported run's event chain and artifact hashes: exit 0 when intact, "
        "1 naming the first event or file that does not verify, 2 when it is not a bundle",
    )
    p.set_defaults(func=cmd_verify)
    p.add_argument("bundle", metavar="RUN.zip")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")

    p = sub.add_parser(
        "report",
        help="write a run's report: one self-contained HTML page",
        description="write a run's report: one self-contained HTML page (steps, attempts, screenshots, "
        "requests, checks, handoffs, outcome, chain verification)",
    )
    p.set_defaults(func=cmd_report)
    p.add_argument("run", metavar="RUN")
    p.add_argument("-o", "--output", metavar="HTML", help="where to write it (default: run-RUN.html here)")
    _store_flags(p)


def _store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="SQLAlchemy database URL (env FLIGHTDECK_DATABASE_URL)")
    p.add_argument("--artifacts", metavar="DIR", help="the artifact directory (env FLIGHTDECK_ARTIFACTS_DIR)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def _resolve(db: Database, text: str) -> str:
    with db.session(readonly=True) as s:
        try:
            return runs.resolve_run_id(s, text)
        except LookupError as exc:
            raise LookupError(
                f"{exc.args[0] if exc.args else exc} (list runs with `flightdeck runs`)"
            ) from None


def _store(args: argparse.Namespace) -> ArtifactStore:
    return ArtifactStore(Path(args.artifacts) if args.artifacts else default_artifacts_dir())


def cmd_export(args: argparse.Namespace) -> int:
    from app.record import export_run

    with database(args) as db:
        run_id = _resolve(db, args.run)
        out = Path(args.output or f"run-{run_id}.zip")
        done = export_run(db, _store(args), run_id, out)
    if args.json:
        print_json(
            {
                "path": str(done.path),
                "run_id": run_id,
                "events": done.events,
                "artifacts": done.artifacts,
                "head_hash": done.head_hash,
                "missing": done.missing,
            }
        )
    else:
        print(f"✓ exported run {run_id} to {done.path}: {done.events} events, {done.artifacts} artifacts")
        print(f"  chain head {done.head_hash}")
        print(f"  check it anywhere with: flightdeck verify {done.path}")
    for sha in done.missing:
        print(
            f"warning: artifact {sha} is gone from the artifact store; the bundle will not verify",
            file=sys.stderr,
        )
    return exitcodes.OK


def cmd_verify(args: argparse.Namespace) -> int:
    from app.record import BundleError, verify_bundle

    try:
        verdict = verify_bundle(args.bundle)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.INVALID
    run = verdict.manifest.get("run") or {}
    if args.json:
        print_json(
            {
                "ok": verdict.ok,
                "run_id": run.get("run_id"),
                "events": verdict.events,
                "artifacts": verdict.artifacts,
                "head_hash": verdict.head_hash,
                "problems": [p.to_json() for p in verdict.problems],
            }
        )
    elif verdict.ok:
        print(
            f"✓ {args.bundle} verifies: run {run.get('run_id')} ({run.get('task')}, {run.get('status')}), "
            f"{verdict.events} events, {verdict.artifacts} artifacts"
        )
        print(f"  chain head {verdict.head_hash}")
    else:
        print(f"✗ {args.bundle} does not verify: {verdict.problems[0]}")
        for problem in verdict.problems[1:]:
            print(f"  also: {problem}")
    return exitcodes.OK if verdict.ok else exitcodes.FAILED


def cmd_report(args: argparse.Namespace) -> int:
    from app.record import write_report

    with database(args) as db:
        run_id = _resolve(db, args.run)
        out = write_report(db, _store(args), run_id, Path(args.output or f"run-{run_id}.html"))
    if args.json:
        print_json({"path": str(out), "run_id": run_id})
    else:
        print(f"✓ report of run {run_id} written to {out}")
    return exitcodes.OK

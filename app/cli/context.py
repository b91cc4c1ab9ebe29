"""Building the engine for one command: database, artifacts, browser."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from app.engine.recorder import EventSink
from app.engine.service import Engine
from app.store import ArtifactStore, Database, default_artifacts_dir


def open_db(args: argparse.Namespace) -> Database:
    return Database(getattr(args, "db", None))


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[Database]:
    db = open_db(args)
    try:
        yield db
    finally:
        db.dispose()


@contextlib.asynccontextmanager
async def engine(args: argparse.Namespace, db: Database, sinks: Sequence[EventSink]) -> AsyncIterator[Engine]:
    from app.browser import PlaywrightProvider  # Playwright import is slow; only when needed
    from app.cli.profilecmds import profile_store
    from app.secrets import KeyringSecrets

    provider = PlaywrightProvider(headless=not getattr(args, "headed", False))
    artifacts_dir = Path(args.artifacts) if getattr(args, "artifacts", None) else default_artifacts_dir()
    eng = Engine(
        db,
        provider,
        ArtifactStore(artifacts_dir),
        concurrency=getattr(args, "concurrency", 4) or 4,
        sinks=sinks,
        # Always the keyring, usable or not: a task that needs a credential is then refused with
        # the fix (`flightdeck credentials add …`, or how to get a keyring), not a bare "no store".
        secrets=KeyringSecrets(),
        profiles=profile_store(),
        trace=getattr(args, "trace", None),
    )
    try:
        yield eng
    finally:
        try:
            await eng.close()
        finally:
            await provider.close()

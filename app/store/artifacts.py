"""Content-addressed artifact files (screenshots, traces), referenced from events by sha256.

A file's name is its hash, so storing the same bytes twice is free and editing a stored file
is detectable (`ArtifactStore.verify`, G8).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.store.db import default_data_dir
from app.store.files import write_atomically
from app.store.models import Artifact
from app.store.types import utcnow

_SHA256 = re.compile(r"[0-9a-f]{64}")


def default_artifacts_dir() -> Path:
    env = os.environ.get("FLIGHTDECK_ARTIFACTS_DIR")
    return Path(env) if env else default_data_dir() / "artifacts"


class ArtifactStore:
    """Files under `root/ab/abcdef…` (the first two hex digits spread them over 256 dirs)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        if not _SHA256.fullmatch(sha):
            # Never build a path from arbitrary text (an id from an export could be "../..").
            raise ValueError(f"not a sha256 hex digest: {sha!r}")
        return self.root / sha[:2] / sha

    def put(self, data: bytes) -> str:
        """Store `data` durably and return its sha256. Storing it again is a no-op."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists():
            return sha
        write_atomically(target, data)
        return sha

    def read(self, sha: str) -> bytes:
        return self.path(sha).read_bytes()

    def exists(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def verify(self, sha: str) -> bool:
        """True if the file is present and still hashes to its name."""
        return self.exists(sha) and hashlib.sha256(self.read(sha)).hexdigest() == sha


def record_artifact(s: Session, sha: str, media_type: str, size: int, kind: str) -> Artifact:
    """The artifact's row, created if missing (idempotent, also when two writers race)."""
    existing = s.get(Artifact, sha)
    if existing is not None:
        return existing
    artifact = Artifact(sha256=sha, media_type=media_type, size=size, kind=kind, created_at=utcnow())
    try:
        with s.begin_nested():  # a concurrent insert of the same sha must not doom the caller
            s.add(artifact)
    except IntegrityError:
        return s.get_one(Artifact, sha)
    return artifact

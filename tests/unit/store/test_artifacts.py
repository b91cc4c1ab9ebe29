from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.store import Artifact, ArtifactStore, default_artifacts_dir, record_artifact


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    data = b"\x89PNG fake screenshot"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.path(sha) == tmp_path / "artifacts" / sha[:2] / sha
    assert store.put(data) == sha
    assert store.read(sha) == data
    assert store.exists(sha) and store.verify(sha)
    assert [p.name for p in store.path(sha).parent.iterdir()] == [sha]  # no temp files left


def test_edited_artifact_does_not_verify(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    sha = store.put(b"original")
    store.path(sha).write_bytes(b"edited")
    assert not store.verify(sha)
    assert not store.exists("0" * 64) and not store.verify("0" * 64)


def test_path_refuses_anything_but_a_digest(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a sha256"):
        ArtifactStore(tmp_path).path("../../etc/passwd")


def test_record_artifact_is_idempotent(session: Session) -> None:
    sha = "ab" * 32
    first = record_artifact(session, sha, "image/png", 123, "screenshot")
    again = record_artifact(session, sha, "image/png", 123, "screenshot")
    assert first is again
    assert session.get(Artifact, sha) is first


def test_default_artifacts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLIGHTDECK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FLIGHTDECK_ARTIFACTS_DIR", raising=False)
    assert default_artifacts_dir() == tmp_path / "data" / "artifacts"
    monkeypatch.setenv("FLIGHTDECK_ARTIFACTS_DIR", str(tmp_path / "elsewhere"))
    assert default_artifacts_dir() == tmp_path / "elsewhere"

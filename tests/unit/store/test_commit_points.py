"""Every write transaction is a crash point (app/store/commits.py): named after the code that made
it, traced, and a real process SIGKILLed right before it lands or right after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from app.store import Database, get_run

REPO = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent(
    """
    import sys
    from app.domain.states import RunStatus
    from app.store import Database, create_run, get_run, transition

    def create(db):
        with db.session() as s, s.begin():
            return create_run(s, task_name="points", task_source=None, task_text="",
                              inputs={}, site=None, steps=[("s0", "click", "write", "")]).id

    def move(db, run_id, to):
        with db.session() as s, s.begin():
            transition(s, get_run(s, run_id), to, reason="moved")

    db = Database(sys.argv[1])
    run_id = create(db)
    print(run_id, flush=True)
    with db.session() as s, s.begin():  # a savepoint is part of its transaction, not a point
        with s.begin_nested():
            pass
    move(db, run_id, RunStatus.RUNNING)
    move(db, run_id, RunStatus.WAITING)
    """
)


def _write(db_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WRITER, db_url],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_each_commit_is_named_after_its_code_and_counted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fd.db'}"
    Database(url).dispose()  # migrated: the migration's own commits are not the writer's
    trace = tmp_path / "trace.txt"
    done = _write(url, FLIGHTDECK_COMMIT_TRACE=str(trace))
    assert done.returncode == 0, done.stderr
    names = [line.split("\t")[0] for line in trace.read_text().splitlines()]
    assert names == ["<string>:create#1", "<string>:<module>#1", "<string>:move#1", "<string>:move#2"]


def test_a_kill_before_a_commit_loses_it_and_after_keeps_it(tmp_path: Path) -> None:
    for when, status in (("before", "queued"), ("after", "running")):
        url = f"sqlite:///{tmp_path / f'{when}.db'}"
        Database(url).dispose()
        died = _write(url, FLIGHTDECK_CRASH_AT_COMMIT=f"<string>:move#1@{when}")
        assert died.returncode == -signal.SIGKILL, died.stderr
        run_id = died.stdout.split()[0]
        db = Database(url)
        with db.session(readonly=True) as s:
            run = get_run(s, run_id)
            assert run is not None and run.status == status, when
        db.dispose()

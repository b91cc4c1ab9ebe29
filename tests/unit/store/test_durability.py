"""G1 and G2 across real processes: kill -9 after a commit, and several writers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from app.domain.states import RunStatus
from app.store import Database, get_run, list_events, verify_events

from .conftest import new_run

REPO = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent(
    """
    import sys
    from app.domain.states import RunStatus
    from app.store import Database, append_event, create_run, get_run, transition

    db = Database(sys.argv[1])
    with db.session() as s, s.begin():
        run = create_run(s, task_name="durable", task_source=None, task_text="",
                         inputs={}, site=None, steps=[("s0", "click", "write", "")])
    with db.session() as s, s.begin():
        transition(s, get_run(s, run.id), RunStatus.RUNNING, reason="committed before the kill")
    print("committed", run.id, flush=True)
    i = 0
    while True:  # keep writing so the kill lands mid-transaction
        with db.session() as s, s.begin():
            append_event(s, run.id, "tick", {"i": i})
        i += 1
    """
)

CLAIMER = textwrap.dedent(
    """
    import sys
    from app.store import Database, append_event, claim

    db = Database(sys.argv[1])
    run_id, name = sys.argv[2], sys.argv[3]
    sys.stdin.readline()  # start together
    with db.session() as s, s.begin():
        won = claim(s, run_id, name, ttl_s=60)
    for i in range(20):
        with db.session() as s, s.begin():
            append_event(s, run_id, "tick", {"by": name, "i": i})
    db.dispose()
    print("won" if won else "lost", flush=True)
    """
)


def _python(script: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", script, *args], cwd=REPO, env=env, text=True, **kwargs
    )


def test_committed_transition_survives_kill_9(db_url: str) -> None:
    with _python(WRITER, db_url, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()  # blocks until the commit is reported (or the child dies)
        if not line.startswith("committed"):
            proc.wait()
            raise AssertionError(f"writer failed: {line!r}\n{proc.stderr.read()}")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    run_id = line.split()[1]

    db = Database(db_url)
    try:
        with db.session(readonly=True) as s:
            run = get_run(s, run_id)
            assert run is not None and run.status is RunStatus.RUNNING
            assert run.started_at is not None
            events = list_events(s, run_id)
            assert [e.type for e in events[:2]] == ["run.created", "run.status"]
            assert verify_events(s, run_id) is None  # a half-written batch never lands
    finally:
        db.dispose()


def test_concurrent_processes_one_claim_one_chain(db: Database, db_url: str) -> None:
    with db.session() as s, s.begin():
        run_id = new_run(s).id
    procs = [
        _python(CLAIMER, db_url, run_id, f"w{i}", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for i in range(4)
    ]
    try:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert sorted(outputs) == ["lost", "lost", "lost", "won"]
    with db.session(readonly=True) as s:
        assert len(list_events(s, run_id)) == 1 + 4 * 20
        assert verify_events(s, run_id) is None

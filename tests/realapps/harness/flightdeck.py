"""Driving Flightdeck as a user does: the real `flightdeck` command in subprocesses, with its own
data dir and SQLite file, credentials in the suite's real Secret Service.

Nothing here decides whether a test passed: the verdict of every real-apps test is read from the
application's own store. Flightdeck's output is kept for the failure message."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
TASKS = ROOT / "tests" / "realapps" / "tasks"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-4000:]}\n--- stderr\n{self.err[-4000:]}"


class Flightdeck:
    def __init__(self, home: Path, keyring_env: Mapping[str, str]) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.db_path = home / "flightdeck.db"
        self.env = {
            **os.environ,
            **keyring_env,
            "FLIGHTDECK_DATA_DIR": str(home),
            "FLIGHTDECK_DATABASE_URL": f"sqlite:///{self.db_path}",
            "PYTHONPATH": str(ROOT),
        }
        for key in ("FLIGHTDECK_CRASH_AT", "PYTHON_KEYRING_BACKEND"):
            self.env.pop(key, None)

    # ------------------------------------------------------------------ the command
    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "app", *args]

    def __call__(
        self,
        *args: str,
        stdin: str = "",
        timeout: float = 300,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        proc = subprocess.run(
            self.argv(*args),
            env={**self.env, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            start_new_session=True,
        )

    # ------------------------------------------------------------------ what a user types
    def add_credential(self, name: str, username: str, password: str) -> None:
        """`flightdeck credentials add NAME` with the values piped in, as a script would."""
        done = self("credentials", "add", name, "--no-totp", "--replace", stdin=f"{username}\n{password}\n")
        if done.code != 0:
            raise AssertionError(f"credentials add {name} failed:\n{done}")

    def run(
        self,
        task: Path | str,
        inputs: Mapping[str, object] | None = None,
        *,
        site: str | None = None,
        wait: bool = False,
        crash_at: str | None = None,
        timeout: float = 300,
    ) -> Result:
        """`flightdeck run TASK --json`; `crash_at`: FLIGHTDECK_CRASH_AT for this process."""
        args = ["run", str(task), "--json", *self._inputs(inputs)]
        if site:
            args += ["--site", site]
        if wait:
            args.append("--wait")
        env = {"FLIGHTDECK_CRASH_AT": crash_at} if crash_at else None
        return self(*args, timeout=timeout, env=env)

    def start(
        self,
        task: Path | str,
        inputs: Mapping[str, object] | None = None,
        *,
        site: str | None = None,
        wait: bool = False,
        crash_at: str | None = None,
    ) -> subprocess.Popen[str]:
        """`flightdeck run TASK --json` in the background (to be killed or waited for); `wait`:
        with `--wait`, as a person who keeps the terminal open to answer from another one;
        `crash_at`: FLIGHTDECK_CRASH_AT for this process."""
        args = ["run", str(task), "--json", *self._inputs(inputs)]
        if site:
            args += ["--site", site]
        if wait:
            args.append("--wait")
        return self.popen(*args, env={"FLIGHTDECK_CRASH_AT": crash_at} if crash_at else None)

    def resume(self, run_id: str, *, wait: bool = False, crash_at: str | None = None) -> Result:
        args = ["resume", run_id, "--json"] + (["--wait"] if wait else [])
        return self(*args, env={"FLIGHTDECK_CRASH_AT": crash_at} if crash_at else None)

    def approve(self, run_id: str, *, crash_at: str | None = None) -> Result:
        env = {"FLIGHTDECK_CRASH_AT": crash_at} if crash_at else None
        return self("approve", run_id, "--json", env=env)

    def show(self, run_id: str) -> dict[str, Any]:
        shown = self("show", run_id, "--json", "--events")
        if shown.code != 0:
            raise AssertionError(f"show {run_id} failed:\n{shown}")
        data: dict[str, Any] = shown.json()
        return data

    def verifies(self, run_id: str) -> bool:
        return self("show", run_id, "--verify").code == 0

    @staticmethod
    def _inputs(inputs: Mapping[str, object] | None) -> list[str]:
        return [arg for k, v in (inputs or {}).items() for arg in ("--input", f"{k}={v}")]

    # ------------------------------------------------------------------ reading its database
    def events(self, run_id: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(run id, type, data) of every event so far, read-only from Flightdeck's SQLite file
        (for choosing the moment of a kill, never for a verdict)."""
        if not self.db_path.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)) as db:
            try:
                rows = db.execute("SELECT run_id, type, data FROM events ORDER BY run_id, seq").fetchall()
            except sqlite3.OperationalError:
                return []  # not migrated yet
        return [(r, t, json.loads(d)) for r, t, d in rows if run_id is None or r == run_id]

    def run_status(self, run_id: str) -> str:
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)) as db:
            row = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        return str(row[0]) if row else ""

    def kill_when(
        self,
        proc: subprocess.Popen[str],
        moment: Callable[[str, dict[str, Any]], bool],
        *,
        timeout: float = 120,
    ) -> str:
        """SIGKILL `proc` (a `flightdeck run`) as soon as an event satisfying `moment(type, data)`
        is committed; returns the run id. Fails if the run ends before that moment."""
        run_id = self.wait_for(proc, moment, timeout=timeout, what="the moment to kill the run")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _close(proc)
        return run_id

    def asked(
        self, proc: subprocess.Popen[str], *, timeout: float = 150
    ) -> tuple[str, dict[str, Any] | None]:
        """Wait until the run of `proc` (a `flightdeck run --wait`) asks a person something, or
        the process ends: (run id, the `handoff.opened` event's data, or None if it ended)."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            for run_id, type_, data in events:
                if type_ == "handoff.opened" and self._still_open(run_id, data["handoff_id"], events):
                    return run_id, data
            if proc.poll() is not None:
                return (events[0][0] if events else ""), None
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                _close(proc)
                raise AssertionError(f"the run neither asked anything nor ended within {timeout:.0f} s")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)  # the database is polled; wake early if the run ends

    @staticmethod
    def _still_open(run_id: str, handoff_id: str, events: list[tuple[str, str, dict[str, Any]]]) -> bool:
        closing = ("handoff.answered", "handoff.expired", "handoff.cancelled")
        return not any(
            r == run_id and t in closing and d.get("handoff_id") == handoff_id for r, t, d in events
        )

    def wait_for(
        self,
        proc: subprocess.Popen[str],
        moment: Callable[[str, dict[str, Any]], bool],
        *,
        timeout: float = 120,
        what: str = "the awaited event",
    ) -> str:
        """Return the run id as soon as an event satisfying `moment(type, data)` is committed
        while `proc` (a `flightdeck run`) runs (e.g. the approval it waits for was asked).
        Fails if the process ends first."""
        deadline = time.monotonic() + timeout
        while True:
            for run_id, type_, data in self.events():
                if moment(type_, data):
                    return run_id
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"the run ended before {what}:\n{out[-3000:]}\n{err[-3000:]}")
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                _close(proc)
                raise AssertionError(f"{what} never came")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)  # the database is polled; wake early if the run ends


def _close(proc: subprocess.Popen[str]) -> None:
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()

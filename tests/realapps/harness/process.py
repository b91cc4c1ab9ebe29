"""Starting a real application on 127.0.0.1 and stopping it by PID.

Each server runs in its own process group (so its workers and children stop with it), writes its
output to a log file the failing test can show, and counts as started once it answers HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StartError(RuntimeError):
    pass


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after 10 s; returns when it has exited."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Whatever it started in its group and left behind goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def start(
    name: str,
    argv: list[str],
    *,
    port: int,
    log: Path,
    ready_path: str = "/",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> Server:
    """Start `argv` and wait until `http://127.0.0.1:{port}{ready_path}` answers (any status
    below 500: a sign-in redirect or a 404 means the server is up)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=_app_environment(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, proc, port, log)
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}{ready_path}"
    while True:
        if proc.poll() is not None:
            raise StartError(f"{name} exited with {proc.returncode} while starting:\n{server.tail()}")
        if _answers(url):
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise StartError(f"{name} did not answer {url} within {timeout:.0f} s:\n{server.tail()}")
        # Nothing tells us when a foreign server is ready: wait for it to exit, briefly, then ask again.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.2)


def _app_environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    """The test's environment without pytest's own variables: a real application must not find
    itself under test (NiceGUI, seeing PYTEST_CURRENT_TEST, switches to its screen-test mode)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return {**inherited, **(extra or {})}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=2) as response:
            return int(response.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False

"""A real Secret Service for the suite: a private D-Bus session bus with gnome-keyring unlocked in
it, its keyring files under a temp home (PLATFORM.md). Every `flightdeck` command the suite runs
gets its address, so credentials are added and read as on a desktop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path


class KeyringUnavailable(RuntimeError):
    pass


@contextlib.contextmanager
def secret_service(home: Path) -> Iterator[dict[str, str]]:
    """Yields the environment variables that point a process at the session's keyring."""
    for tool in ("dbus-daemon", "gnome-keyring-daemon", "dbus-send"):
        if shutil.which(tool) is None:
            raise KeyringUnavailable(f"{tool} is missing: apt-get install gnome-keyring dbus-x11")
    runtime = home / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),  # the keyring's files
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_RUNTIME_DIR": str(runtime),
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime / 'bus'}",
    }
    full = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"} | env
    bus = subprocess.Popen(
        [
            "dbus-daemon",
            "--session",
            "--nofork",
            "--nopidfile",
            "--address=" + env["DBUS_SESSION_BUS_ADDRESS"],
        ],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    daemon: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(lambda: (runtime / "bus").exists(), bus, "the D-Bus session bus")
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env=full,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert daemon.stdin is not None
        daemon.stdin.write(b"pw")  # the login keyring's password: a new keyring is created with it
        daemon.stdin.close()
        _wait_for(lambda: _has_secrets(full), daemon, "gnome-keyring's Secret Service")
        yield env
    finally:
        for proc in (daemon, bus):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def _has_secrets(env: dict[str, str]) -> bool:
    proc = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.secrets",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    return "boolean true" in proc.stdout


def _wait_for(
    ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise KeyringUnavailable(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise KeyringUnavailable(f"{what} did not start within {timeout:.0f} s")
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)  # nothing to wait on but the process itself

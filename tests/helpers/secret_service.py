"""A real Secret Service for a test: a private D-Bus session with gnome-keyring unlocked in it
(PLATFORM.md), its keyring files under a temp home. Commands run inside it see the
`keyring.backends.SecretService.Keyring` backend, like a desktop user's."""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from tests.helpers.cli import ROOT


def available() -> bool:
    return bool(shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon"))


def env(home: Path) -> dict[str, str]:
    runtime = home / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    base = {
        k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")
    }
    return base | {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),  # the keyring files
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_RUNTIME_DIR": str(runtime),
        "FLIGHTDECK_DATA_DIR": str(home / "flightdeck"),
        "FLIGHTDECK_DATABASE_URL": f"sqlite:///{home / 'flightdeck.db'}",
        "PYTHONPATH": str(ROOT),
    }


def argv(*command: str) -> list[str]:
    """`command` run inside a new session bus with an unlocked login keyring."""
    return [
        "dbus-run-session",
        "--",
        "sh",
        "-c",
        "echo pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "
        + shlex.join(command),
    ]

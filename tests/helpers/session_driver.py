"""Runs a scenario inside one process tree that shares a Secret Service session (see
`secret_service.argv`): `python -m tests.helpers.session_driver PLAN.json` prints a JSON list,
one result per step of the plan.

Steps:
- {"cli": [args], "stdin": "lines"} — `python -m app ARGS` with stdin piped (not a terminal)
- {"cli": [args], "tty": ["answer", …]} — the same on a pseudo-terminal (hidden prompts);
  each answer is typed when the next prompt (text ending in ": ") appears
- {"resolve": ["NAME.FIELD", …], "clock": T} — KeyringSecrets.resolve, as the engine would
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any


def cli(args: list[str], stdin: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "app", *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    return {"code": proc.returncode, "out": proc.stdout, "err": proc.stderr}


def cli_on_tty(args: list[str], answers: list[str]) -> dict[str, Any]:
    master, slave = os.openpty()
    # `setsid -c` makes the pty the controlling terminal, so getpass reads /dev/tty as on a desktop.
    proc = subprocess.Popen(
        ["setsid", "-c", sys.executable, "-m", "app", *args], stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    transcript = b""
    pending = list(answers)
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break  # a safety net against a hang, never a way of waiting
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        transcript += chunk
        if pending and transcript.rstrip(b" ").endswith(b":"):
            os.write(master, pending.pop(0).encode() + b"\n")
    os.close(master)
    return {"code": proc.wait(timeout=30), "out": transcript.decode(errors="replace"), "unanswered": pending}


def resolve(refs: list[str], clock: float) -> dict[str, Any]:
    from app.engine.ports import SecretUnavailable
    from app.secrets import KeyringSecrets

    secrets = KeyringSecrets(clock=lambda: clock)
    values: dict[str, Any] = {}
    for ref in refs:
        try:
            values[ref] = secrets.resolve(ref)
        except SecretUnavailable as exc:
            values[ref] = {"unavailable": str(exc)}
    return values


def main() -> None:
    results = []
    for step in json.loads(Path(sys.argv[1]).read_text()):
        if "resolve" in step:
            results.append(resolve(step["resolve"], step.get("clock", 0.0)))
        elif "tty" in step:
            results.append(cli_on_tty(step["cli"], step["tty"]))
        else:
            results.append(cli(step["cli"], step.get("stdin", "")))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""Running the real `flightdeck` command in a subprocess, isolated in a temp data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.db_url = f"sqlite:///{home / 'flightdeck.db'}"
        self.env = {
            **os.environ,
            "FLIGHTDECK_DATA_DIR": str(home),
            "FLIGHTDECK_DATABASE_URL": self.db_url,
            "PYTHONPATH": str(ROOT),
        }

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "app", *args]

    def __call__(self, *args: str, timeout: float = 120) -> Result:
        proc = subprocess.run(
            self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

"""Installing the real applications once, outside the checkout.

Each application lives in its own directory under the cache (a virtualenv for PyPI packages, a
`node_modules` prefix for npm ones), named after what it pins, so a second run installs nothing
and a changed pin installs beside the old one. An install that did not finish leaves no `.ready`
mark and is redone from scratch; a file lock keeps two test processes from installing the same
thing at once.

The cache is `$FLIGHTDECK_REALAPPS_CACHE`, else `~/.cache/flightdeck-realapps` (the platform's
user cache dir).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import platformdirs

READY = ".ready"


class InstallError(RuntimeError):
    """An application could not be installed; the message holds the installer's last output."""


def cache_root() -> Path:
    root = os.environ.get("FLIGHTDECK_REALAPPS_CACHE") or platformdirs.user_cache_dir("flightdeck-realapps")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: list[str], cwd: Path | None, log: Path, timeout: float) -> None:
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise InstallError(f"{' '.join(argv[:4])}… failed ({proc.returncode}):\n" + "\n".join(tail))


def _prepare(name: str, key: str, build: Callable[[Path], None]) -> Path:
    target = cache_root() / f"{name}-{key}"
    with _locked(target):
        if (target / READY).exists():
            return target
        if target.exists():
            shutil.rmtree(target)  # an install cut short: start over
        target.mkdir(parents=True)
        started = time.monotonic()
        build(target)
        (target / READY).write_text(f"installed in {time.monotonic() - started:.0f} s\n")
    return target


def derived(name: str, parts: list[str], build: Callable[[Path], None]) -> Path:
    """Something built once from what was installed (an application's migrated template database,
    its collected static files), cached like an install: `build(target)` fills the directory,
    `parts` name everything it depends on (an install's directory, a version)."""
    return _prepare(name, _key(parts), build)


def pip_env(name: str, requirements: list[str], timeout: float = 900) -> Path:
    """A virtualenv holding `requirements` (pinned): returns its directory (`bin/python` inside)."""
    py = f"{sys.version_info.major}.{sys.version_info.minor}"

    def build(target: Path) -> None:
        log = target / "install.log"
        _run([sys.executable, "-m", "venv", str(target)], None, log, 120)
        pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run([*pip, *requirements], target, log, timeout)

    return _prepare(name, _key(py, requirements), build)


def npm_env(name: str, packages: list[str], timeout: float = 900) -> Path:
    """`packages` (pinned) installed into a prefix: returns it (`node_modules/.bin` inside)."""
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not installed (apt-get install nodejs npm)")

    def build(target: Path) -> None:
        log = target / "install.log"
        (target / "package.json").write_text(json.dumps({"name": f"realapp-{name}", "private": True}))
        # Native modules (sqlite3…) build against the system's Node headers when no prebuilt
        # binary can be downloaded (only the registries are reachable here).
        env_args = ["--no-audit", "--no-fund", "--loglevel=error"]
        _run([npm, "install", *env_args, *packages], target, log, timeout)

    return _prepare(name, _key(packages, _node_version()), build)


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "none"
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()

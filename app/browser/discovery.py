"""Finding a Chromium to drive, and the flags to launch it with (DESIGN.md "Browser").

Order: ``FLIGHTDECK_BROWSER``, Playwright's own Chromium, then a system Chromium/Chrome. Nothing
here starts a process: discovery runs every time a provider starts, so it only looks at files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from app.domain.errors import FlightdeckError

ENV_BROWSER = "FLIGHTDECK_BROWSER"

HOW_TO_GET_ONE = (
    "Get one with `python -m playwright install chromium`, "
    "or on Debian/Ubuntu `apt-get install chromium`, "
    f"or point {ENV_BROWSER} at a Chromium or Chrome executable."
)

# Debian's /usr/bin/chromium is a shell wrapper that adds GPU flags and prints shell errors;
# the real binary comes first (PLATFORM.md).
_SYSTEM_LINUX = (
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/snap/bin/chromium",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/opt/google/chrome/chrome",
)
_SYSTEM_MAC = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)
_WINDOWS_SUFFIXES = (
    r"Google\Chrome\Application\chrome.exe",
    r"Chromium\Application\chrome.exe",
)

# Executable paths inside a Playwright revision directory, newest layout first.
_PLAYWRIGHT_CHROMIUM = (
    "chrome-linux64/chrome",
    "chrome-linux-arm64/chrome",
    "chrome-linux/chrome",
    "chrome-mac-arm64/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
    "chrome-mac-x64/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
    "chrome-mac/Chromium.app/Contents/MacOS/Chromium",
    "chrome-win64/chrome.exe",
    "chrome-win/chrome.exe",
)
_PLAYWRIGHT_HEADLESS_SHELL = (
    "chrome-headless-shell-linux64/chrome-headless-shell",
    "chrome-headless-shell-linux-arm64/chrome-headless-shell",
    "chrome-linux/headless_shell",
    "chrome-headless-shell-mac-arm64/chrome-headless-shell",
    "chrome-headless-shell-mac-x64/chrome-headless-shell",
    "chrome-headless-shell-win64/chrome-headless-shell.exe",
    "chrome-win/headless_shell.exe",
)


class BrowserNotFound(FlightdeckError):
    """No usable Chromium. The message says how to get one."""


@dataclass(frozen=True)
class BrowserInfo:
    path: str
    source: str  # "env", "playwright", "playwright-headless-shell" or "system"
    version: str | None = None  # filled by browser_version() (it runs the binary)
    headless_only: bool = False  # Playwright's headless shell cannot show a window


def find_browser(*, headless: bool = True) -> BrowserInfo:
    """The Chromium to launch. Raises BrowserNotFound with instructions."""
    override = os.environ.get(ENV_BROWSER)
    if override:
        path = Path(override).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BrowserNotFound(
                f"{ENV_BROWSER} is set to {override!r}, which is not an executable file. "
                f"Fix or unset it. {HOW_TO_GET_ONE}"
            )
        return BrowserInfo(str(path), "env")
    found = _playwright_chromium(headless=headless) or _system_chrome()
    if found is None:
        raise BrowserNotFound(f"No Chromium or Chrome was found. {HOW_TO_GET_ONE}")
    return found


def browser_version(info: BrowserInfo, timeout: float = 10.0) -> BrowserInfo:
    """`info` with `version` filled in from `--version` (slow-ish: for `doctor`, not start-up)."""
    try:
        out = subprocess.run(
            [info.path, "--version"], capture_output=True, text=True, timeout=timeout, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return info
    found = re.search(r"\d+(\.\d+){1,3}", out)
    return BrowserInfo(info.path, info.source, found.group(0) if found else out or None, info.headless_only)


def playwright_browsers_dir() -> Path:
    """Where `playwright install` puts browsers (mirrors Playwright's own registry logic)."""
    env = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if env == "0":
        import playwright  # only for its location; importing it is cheap

        return Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"
    if env:
        return Path(env).expanduser().resolve()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ms-playwright"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(local) / "ms-playwright"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ms-playwright"


def _expected_revision() -> str | None:
    """The Chromium revision the installed Playwright was built against, if we can tell."""
    try:
        import playwright

        data = json.loads((Path(playwright.__file__).parent / "driver/package/browsers.json").read_text())
        return str(next(b["revision"] for b in data["browsers"] if b["name"] == "chromium"))
    except (OSError, ValueError, KeyError, StopIteration, ImportError):
        return None


def _revision_key(expected: str | None, directory: Path) -> tuple[int, int]:
    rev = directory.name.rsplit("-", 1)[-1]
    return (rev == expected, int(rev) if rev.isdigit() else -1)


def _playwright_chromium(*, headless: bool) -> BrowserInfo | None:
    root = playwright_browsers_dir()
    if not root.is_dir():
        return None
    expected = _expected_revision()
    kinds: list[tuple[str, tuple[str, ...], str]] = [
        ("chromium-*", _PLAYWRIGHT_CHROMIUM, "playwright"),
    ]
    if headless:
        kinds.append(("chromium_headless_shell-*", _PLAYWRIGHT_HEADLESS_SHELL, "playwright-headless-shell"))
    for pattern, layouts, source in kinds:
        # Prefer the revision this Playwright expects, then the newest installed one.
        dirs = sorted(root.glob(pattern), key=lambda d: _revision_key(expected, d), reverse=True)
        for directory in dirs:
            for rel in layouts:
                exe = directory / rel
                if exe.is_file():
                    return BrowserInfo(str(exe), source, headless_only=source.endswith("shell"))
    return None


def _system_chrome() -> BrowserInfo | None:
    candidates: list[str] = list(_SYSTEM_LINUX) + list(_SYSTEM_MAC)
    for var in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA"):
        base = os.environ.get(var)
        if base:
            candidates += [str(Path(base) / suffix) for suffix in _WINDOWS_SUFFIXES]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return BrowserInfo(candidate, "system")
    return None


def in_container() -> bool:
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"):
        return True
    if os.environ.get("container"):  # noqa: SIM112 - systemd/podman set it lowercase
        return True
    try:
        cgroup = Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(word in cgroup for word in ("docker", "kubepods", "containerd", "lxc"))


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def launch_args() -> list[str]:
    """Flags for a quiet, deterministic Chromium (PLATFORM.md).

    Without the background-networking flags Chromium keeps trying to reach the internet; the
    sandbox cannot start as root or inside most containers.
    """
    args = [
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-gpu",
    ]
    if _is_root() or in_container():
        args.append("--no-sandbox")
    return args

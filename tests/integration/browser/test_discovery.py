"""Finding a browser: the order, and what a person is told when there is none."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.browser import BrowserNotFound, discovery, find_browser, launch_args


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho Chromium 120.0.1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_system_browser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No system browser and an empty Playwright directory."""
    monkeypatch.setattr(discovery, "_SYSTEM_LINUX", ())
    monkeypatch.setattr(discovery, "_SYSTEM_MAC", ())
    for var in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA", discovery.ENV_BROWSER):
        monkeypatch.delenv(var, raising=False)
    browsers = tmp_path / "ms-playwright"
    browsers.mkdir()
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(browsers))
    return browsers


def test_env_override_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exe = _executable(tmp_path / "my-chrome")
    monkeypatch.setenv(discovery.ENV_BROWSER, str(exe))
    info = find_browser()
    assert (info.path, info.source) == (str(exe), "env")


def test_env_override_that_does_not_exist_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(discovery.ENV_BROWSER, str(tmp_path / "nope"))
    with pytest.raises(BrowserNotFound, match="FLIGHTDECK_BROWSER is set to"):
        find_browser()


def test_playwright_chromium_newest_revision(no_system_browser: Path) -> None:
    _executable(no_system_browser / "chromium-1100" / "chrome-linux" / "chrome")
    newest = _executable(no_system_browser / "chromium-1200" / "chrome-linux64" / "chrome")
    (no_system_browser / "chromium-1300").mkdir()  # a half-finished download: no executable
    info = find_browser()
    assert (info.path, info.source) == (str(newest), "playwright")


def test_headless_shell_only_for_headless(no_system_browser: Path) -> None:
    shell = _executable(
        no_system_browser
        / "chromium_headless_shell-1200"
        / "chrome-headless-shell-linux64"
        / "chrome-headless-shell"
    )
    info = find_browser(headless=True)
    assert info.path == str(shell) and info.headless_only
    with pytest.raises(BrowserNotFound):
        find_browser(headless=False)


def test_no_browser_says_how_to_get_one(no_system_browser: Path) -> None:
    with pytest.raises(BrowserNotFound) as raised:
        find_browser()
    message = str(raised.value)
    assert "python -m playwright install chromium" in message
    assert "apt-get install chromium" in message
    assert "FLIGHTDECK_BROWSER" in message


@pytest.mark.skipif(
    not os.path.exists("/usr/lib/chromium/chromium") and not os.environ.get("FLIGHTDECK_TEST_STRICT"),
    reason="no Debian Chromium (packaging/dev test installs it, and then this does not skip)",
)
def test_debian_real_binary_before_wrapper(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(discovery.ENV_BROWSER, raising=False)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    info = find_browser()
    assert (info.path, info.source) == ("/usr/lib/chromium/chromium", "system")
    assert discovery.browser_version(info).version


def test_launch_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "in_container", lambda: False)
    monkeypatch.setattr(discovery, "_is_root", lambda: False)
    args = launch_args()
    for flag in (
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-gpu",
    ):
        assert flag in args
    assert "--no-sandbox" not in args
    monkeypatch.setattr(discovery, "_is_root", lambda: True)
    assert "--no-sandbox" in launch_args()

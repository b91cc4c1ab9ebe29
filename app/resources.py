"""Where the bundled resources (demo site, demo tasks, icons) are, installed or not."""

from __future__ import annotations

from pathlib import Path


def resources_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_resources", here.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("Flightdeck's resources folder is missing; reinstall the package")


def demo_tasks_dir() -> Path:
    return resources_dir() / "demo" / "tasks"


def demo_site_dir() -> Path:
    return resources_dir() / "demo" / "site"

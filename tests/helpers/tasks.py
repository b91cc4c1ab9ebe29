"""Writing task files for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from app.domain.task import Task, load_task


def write_task(directory: Path, name: str, body: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def task_from(text: str, site: str) -> tuple[Task, str]:
    text = textwrap.dedent(text).lstrip().replace("SITE", site)
    return load_task(text, "test-task.yaml"), text

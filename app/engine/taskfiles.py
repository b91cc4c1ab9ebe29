"""Task files as the command line and the console open them."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.domain.errors import TaskValidationError, ValidationIssue
from app.domain.task import Task, load_task


def load_task_file(path: str, site: str | None = None) -> tuple[Task, str]:
    """The validated task and the text a run keeps as its snapshot (with `site` applied)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskValidationError(
            [ValidationIssue(path, None, "(file)", f"cannot read: {exc.strerror or exc}", "check the path")]
        ) from None
    task = load_task(text, str(file))
    if site:
        task = task.model_copy(update={"site": site.rstrip("/")})
        text = with_site(text, site)
    return task, text


def with_site(text: str, site: str) -> str:
    """Keep the run's task snapshot consistent with a site override (it is re-parsed on resume)."""
    data = yaml.safe_load(text)
    data["site"] = site.rstrip("/")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

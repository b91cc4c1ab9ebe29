"""`flightdeck check`: validate task files without running them (nothing is written anywhere).

For people who keep task files in a repository: the same checks `run` makes before it starts,
for one file, several, or every task file under a folder, in a form a CI job can gate on."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.cli import exitcodes
from app.cli.output import print_json
from app.domain.errors import TaskValidationError, ValidationIssue
from app.domain.task import Task
from app.engine.credentials import check_credentials
from app.engine.taskfiles import load_task_file

SUFFIXES = (".yaml", ".yml")


@dataclass
class Checked:
    path: str
    task: Task | None = None
    issues: list[ValidationIssue] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "valid": not self.issues}
        if self.task is not None:
            data.update(name=self.task.name, steps=len(self.task.steps), inputs=list(self.task.inputs))
        data["issues"] = [
            {"line": i.line, "field": i.field, "message": i.message, "fix": i.fix} for i in self.issues
        ]
        return data


def register(sub: Any) -> None:
    text = "validate task files without running them (a folder: every *.yaml / *.yml below it)"
    p = sub.add_parser("check", help=text, description=text)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--credentials",
        action="store_true",
        help="also check that every credential the tasks refer to is in the OS keyring",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.set_defaults(func=cmd_check)


def task_files(paths: list[str]) -> list[str]:
    """The files named, and the task files found under the folders named (sorted)."""
    found: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += sorted(str(p) for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        else:
            found.append(given)  # a missing file is reported by the check itself
    return found


def check_file(path: str, *, credentials: bool) -> Checked:
    checked = Checked(path)
    try:
        checked.task, _ = load_task_file(path)
    except TaskValidationError as exc:
        checked.issues = list(exc.issues)
        return checked
    if credentials:
        from app.secrets import KeyringSecrets  # the keyring's import is slow; only when asked

        try:
            check_credentials(checked.task, KeyringSecrets())
        except TaskValidationError as exc:
            checked.issues = list(exc.issues)
    return checked


def cmd_check(args: argparse.Namespace) -> int:
    files = task_files(args.paths)
    results = [check_file(f, credentials=args.credentials) for f in files]
    bad = [r for r in results if r.issues]
    if args.json:
        print_json(
            {"files": [r.to_json() for r in results], "valid": len(results) - len(bad), "invalid": len(bad)}
        )
    else:
        for r in results:
            if r.issues:
                print(f"✗ {r.path}")
                for issue in r.issues:
                    print("  " + str(issue).replace("\n", "\n  "))
            elif r.task is not None:
                inputs = f", inputs: {', '.join(r.task.inputs)}" if r.task.inputs else ""
                print(f"✓ {r.path}: {r.task.name}, {_count(len(r.task.steps), 'step')}{inputs}")
        if not results:
            print(f"no task files (*.yaml, *.yml) under {', '.join(args.paths)}")
        else:
            valid = len(results) - len(bad)
            print(f"{_count(len(results), 'task file')}: {valid} valid, {len(bad)} with errors")
    return exitcodes.INVALID if bad or not results else exitcodes.OK


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"

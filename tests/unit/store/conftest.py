from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.store import Database, Run, create_run


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flightdeck.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    # One transaction for the whole test, committed at the end.
    with db.session() as s, s.begin():
        yield s


def new_run(s: Session, steps: int = 3, task_name: str = "demo") -> Run:
    return create_run(
        s,
        task_name=task_name,
        task_source="tasks/demo.yaml",
        task_text="name: demo\n",
        inputs={"who": "ada"},
        site="example.test",
        steps=[(f"s{i}", "click", "write", f"Click button {i}") for i in range(steps)],
    )

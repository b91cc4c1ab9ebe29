"""A run's kind is a column, and an open run's agent steps are step rows (issue 13).

`runs.kind` ("task" | "open") replaces sniffing the snapshot for its `open: true` line: runs
created before this migration whose snapshot says `open: true` become "open". `steps.spec`
holds a step an agent sent (task-file syntax, JSON), so appending one no longer rewrites and
re-validates the run's whole snapshot; older open runs keep all their steps in the snapshot
(spec stays NULL) and run as before. The (run_id, step_id) index makes the check that a new
step's id is not taken a look-up rather than a scan of the run's steps.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import yaml
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_runs = sa.table("runs", sa.column("id", sa.String()), sa.column("task_text", sa.Text()), sa.column("kind"))


def upgrade() -> None:
    op.add_column("runs", sa.Column("kind", sa.String(length=32), server_default="task", nullable=False))
    op.add_column("steps", sa.Column("spec", sa.JSON(), nullable=True))
    op.create_index("ix_steps_run_id_step_id", "steps", ["run_id", "step_id"])
    conn = op.get_bind()
    # Only snapshots that mention the key are parsed; a YAML parse decides (`open: yes` too),
    # as the engine's own test of the snapshot did before this column existed.
    candidates = conn.execute(
        sa.select(_runs.c.id, _runs.c.task_text).where(_runs.c.task_text.like("%open:%"))
    )
    opened = [run_id for run_id, text in candidates if _is_open(text)]
    for start in range(0, len(opened), 500):
        chunk = opened[start : start + 500]
        conn.execute(sa.update(_runs).where(_runs.c.id.in_(chunk)).values(kind="open"))


def downgrade() -> None:
    op.drop_index("ix_steps_run_id_step_id", table_name="steps")
    # Agent steps stored as rows have no place in 0003's schema: an open run created since is
    # left with the snapshot it started from.
    op.drop_column("steps", "spec")
    op.drop_column("runs", "kind")


def _is_open(text: str | None) -> bool:
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and data.get("open") is True

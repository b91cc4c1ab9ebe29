"""An index on runs.updated_at: the console asks "what changed since I last looked?" on
every commit, which must not scan 100 000 runs.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_runs_updated_at", "runs", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_updated_at", table_name="runs")

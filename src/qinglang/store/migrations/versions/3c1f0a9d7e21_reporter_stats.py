"""reporter stats: per reporter key, reports attached to a case and reports rejected (for reporter trust)

Revision ID: 3c1f0a9d7e21
Revises: fb58346114ed
Create Date: 2026-11-24 07:05:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3c1f0a9d7e21'
down_revision: str | None = 'fb58346114ed'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reporter_stats',
    sa.Column('reporter_key', sa.String(length=64), nullable=False),
    sa.Column('reports', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('reporter_key')
    )
    # Existing history, so trust does not reset on upgrade.
    op.execute(
        "INSERT INTO reporter_stats (reporter_key, reports, rejected) "
        "SELECT reporter_key, COUNT(*), SUM(CASE WHEN rejected THEN 1 ELSE 0 END) FROM reports "
        "WHERE case_id IS NOT NULL GROUP BY reporter_key"
    )


def downgrade() -> None:
    op.drop_table('reporter_stats')

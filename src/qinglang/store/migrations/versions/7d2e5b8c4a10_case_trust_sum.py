"""case trust sum: reporter trust kept per case incrementally; reports indexed by (case, reporter)

Revision ID: 7d2e5b8c4a10
Revises: 3c1f0a9d7e21
Create Date: 2026-12-02 05:20:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7d2e5b8c4a10'
down_revision: str | None = '3c1f0a9d7e21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: not kept yet (cases from before this revision): the pipeline computes it in full at the next report.
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('trust_sum', sa.Float(), nullable=True))
    op.create_index('ix_reports_case_reporter', 'reports', ['case_id', 'reporter_key'])


def downgrade() -> None:
    op.drop_index('ix_reports_case_reporter', table_name='reports')
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('trust_sum')

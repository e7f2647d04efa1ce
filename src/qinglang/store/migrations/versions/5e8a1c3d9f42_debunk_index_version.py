"""debunk index version: the claim index checkpoint that last changed each debunk, for incremental catch-up

Revision ID: 5e8a1c3d9f42
Revises: 7d2e5b8c4a10
Create Date: 2026-12-03 18:10:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5e8a1c3d9f42'
down_revision: str | None = '7d2e5b8c4a10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('debunks') as batch:
        batch.add_column(sa.Column('index_version', sa.Integer(), nullable=True))
    op.create_index('ix_debunks_index_version', 'debunks', ['index_version'])
    # Every debunk as of the current checkpoint: an index saved at an older one is then too far behind to catch up
    # debunk by debunk, and is rebuilt as before; one saved at the current checkpoint needs nothing.
    op.execute("UPDATE debunks SET index_version = COALESCE("
               "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'claim_index_version'), 0)")


def downgrade() -> None:
    op.drop_index('ix_debunks_index_version', table_name='debunks')
    with op.batch_alter_table('debunks') as batch:
        batch.drop_column('index_version')

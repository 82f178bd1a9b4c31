"""index attachments and findings by submission

PostgreSQL does not index foreign-key columns, and SQLite does not either: reading one case's
files and findings, a recheck replacing them, and the per-case figures of staff lists
(photos, video length, failed findings) all look them up by submission_id.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_attachments_submission', 'attachments', ['submission_id'], unique=False)
    op.create_index('ix_findings_submission', 'findings', ['submission_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_findings_submission', table_name='findings')
    op.drop_index('ix_attachments_submission', table_name='attachments')

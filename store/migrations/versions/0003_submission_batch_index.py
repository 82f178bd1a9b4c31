"""one mail, several cases: submissions keyed by (message, batch_index)

A provincial office mails its recommended cases in one ZIP, one folder and one 申报表 per case; each becomes a
case of its own, so one message row files several submissions (batch_index 0, 1, 2 …).

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# 0001 left the unique constraint on message_row_id unnamed: PostgreSQL named it, SQLite did not (batch mode
# names reflected constraints by this convention so it can be dropped).
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    old = "uq_submissions_message_row_id" if sqlite else "submissions_message_row_id_key"
    with op.batch_alter_table('submissions', naming_convention=_SQLITE_NAMES if sqlite else None) as batch_op:
        batch_op.drop_constraint(old, type_='unique')
        batch_op.add_column(sa.Column('batch_index', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_unique_constraint('uq_submissions_message_case', ['message_row_id', 'batch_index'])


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch_op:
        batch_op.drop_constraint('uq_submissions_message_case', type_='unique')
        batch_op.drop_column('batch_index')
        batch_op.create_unique_constraint('uq_submissions_message_row_id', ['message_row_id'])

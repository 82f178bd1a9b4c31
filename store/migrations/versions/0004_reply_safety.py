"""addresses linked to cases, the generated reply-id key, outbox fields for safe sending

- ``case_addresses``: addresses staff allowed to add versions to a case besides its sender (issue 15.1).
- ``app_secrets``: the key of the reply Message-IDs when none is configured (generated once, shared by hosts).
- ``outbox.recipient_key``: the normalised recipient the per-sender limit counts by (filled for old rows).
- ``outbox.sending_at``: when the current SMTP attempt began (a row stuck in 'sending' is raised by health).
- ``outbox.automatic``: false for replies staff chose (they count against no automatic-reply limit).

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.addresses import address_key

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_addresses',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('cases.id'), nullable=False),
        sa.Column('address', sa.String(320), nullable=False),
        sa.Column('address_key', sa.String(320), nullable=False),
        sa.Column('added_by', sa.String(120), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('case_id', 'address_key'),
    )
    op.create_table(
        'app_secrets',
        sa.Column('name', sa.String(64), primary_key=True),
        sa.Column('value', sa.String(255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('recipient_key', sa.String(320), nullable=True))
        batch.add_column(sa.Column('sending_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('automatic', sa.Boolean(), nullable=False, server_default=sa.true()))
    outbox = sa.table('outbox', sa.column('id', sa.Integer()), sa.column('recipient', sa.String()),
                      sa.column('recipient_key', sa.String()), sa.column('message_id', sa.String()),
                      sa.column('automatic', sa.Boolean()))
    conn = op.get_bind()
    for row_id, recipient in conn.execute(sa.select(outbox.c.id, outbox.c.recipient)).all():
        conn.execute(outbox.update().where(outbox.c.id == row_id).values(recipient_key=address_key(recipient)))
    conn.execute(outbox.update().where(outbox.c.message_id.like('%.staff%')).values(automatic=False))
    op.create_index('ix_outbox_recipient_key', 'outbox', ['recipient_key', 'created_at'], unique=False)
    op.create_index('ix_outbox_created', 'outbox', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_created', table_name='outbox')
    op.drop_index('ix_outbox_recipient_key', table_name='outbox')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('automatic')
        batch.drop_column('sending_at')
        batch.drop_column('recipient_key')
    op.drop_table('app_secrets')
    op.drop_table('case_addresses')

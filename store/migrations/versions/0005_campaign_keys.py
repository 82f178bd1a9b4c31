"""many campaigns, one database: messages, mailbox states, outbox mails and events keyed by campaign

Cases had their campaign_id from the start; the rest of a campaign's rows now say theirs too, so one deployment
serves several calls (issue 20.1). A mail is deduplicated within its campaign (unique campaign_id + sha256): the
same bytes sent to two calls are filed by each.

Rows already there belong to one campaign: the one their case names where they have a case, else the campaign
of the cases already filed (a single-campaign database has one), else the campaign the running configuration
names first (``campaign_id`` in the Alembic attributes, from ``Store.open``).

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# 0001 left the unique constraint on messages.sha256 unnamed: PostgreSQL named it, SQLite did not (batch mode
# names reflected constraints by this convention so it can be dropped).
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
# Only a database that holds rows and no case needs the configured campaign; this stands in when none was given
# (``alembic upgrade`` run by hand on such a database), so the upgrade never stops half-way.
_UNKNOWN = "default"


def _default_campaign(conn: sa.Connection) -> str:
    found = [r[0] for r in conn.execute(sa.text("SELECT DISTINCT campaign_id FROM cases ORDER BY campaign_id"))]
    if len(found) == 1:
        return str(found[0])
    alembic_cfg = op.get_context().config
    configured = alembic_cfg.attributes.get("campaign_id") if alembic_cfg is not None else None
    if configured:
        return str(configured)
    return str(found[0]) if found else _UNKNOWN


def _add_column(table: str) -> None:
    # Nullable first: the rows are filled below, then the column is made NOT NULL (events may stay NULL).
    with op.batch_alter_table(table) as batch_op:
        batch_op.add_column(sa.Column('campaign_id', sa.String(64), nullable=True))


def _not_null(table: str) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.alter_column('campaign_id', existing_type=sa.String(64), nullable=False)


def upgrade() -> None:
    conn = op.get_bind()
    default = _default_campaign(conn)
    for table in ('messages', 'mailbox_state', 'outbox', 'events'):
        _add_column(table)
    # What a row's case says, then the default.
    conn.execute(sa.text(
        "UPDATE messages SET campaign_id = (SELECT c.campaign_id FROM submissions s JOIN cases c ON c.id = s.case_id"
        " WHERE s.message_row_id = messages.id ORDER BY s.id LIMIT 1)"))
    conn.execute(sa.text(
        "UPDATE outbox SET campaign_id = COALESCE((SELECT c.campaign_id FROM cases c WHERE c.id = outbox.case_id),"
        " (SELECT m.campaign_id FROM messages m WHERE m.id = outbox.message_row_id))"))
    conn.execute(sa.text(
        "UPDATE events SET campaign_id = COALESCE((SELECT c.campaign_id FROM cases c WHERE c.id = events.case_id),"
        " (SELECT m.campaign_id FROM messages m WHERE m.id = events.message_row_id))"))
    for table in ('messages', 'mailbox_state', 'outbox'):
        conn.execute(sa.text(f"UPDATE {table} SET campaign_id = :c WHERE campaign_id IS NULL"), {"c": default})
        _not_null(table)
    sqlite = conn.dialect.name == "sqlite"
    old = "uq_messages_sha256" if sqlite else "messages_sha256_key"
    with op.batch_alter_table('messages', naming_convention=_SQLITE_NAMES if sqlite else None) as batch_op:
        batch_op.drop_constraint(old, type_='unique')
        batch_op.create_unique_constraint('uq_messages_campaign_sha256', ['campaign_id', 'sha256'])
        batch_op.drop_index('ix_messages_status')
        batch_op.create_index('ix_messages_campaign_status', ['campaign_id', 'status'], unique=False)
    op.create_index('ix_outbox_campaign', 'outbox', ['campaign_id', 'status'], unique=False)
    op.create_index('ix_events_campaign', 'events', ['campaign_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_campaign', table_name='events')
    op.drop_index('ix_outbox_campaign', table_name='outbox')
    with op.batch_alter_table('messages') as batch_op:
        batch_op.drop_index('ix_messages_campaign_status')
        batch_op.create_index('ix_messages_status', ['status'], unique=False)
        batch_op.drop_constraint('uq_messages_campaign_sha256', type_='unique')
        batch_op.create_unique_constraint('uq_messages_sha256', ['sha256'])
    for table in ('messages', 'mailbox_state', 'outbox', 'events'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('campaign_id')
